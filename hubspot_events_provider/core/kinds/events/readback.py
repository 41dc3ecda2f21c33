"""Read-back verification: does HubSpot hold, field by field, what an upsert sent?

HubSpot answers an upsert with success and still drops custom properties the account does not
define ("they will be filtered out and not set"). The results file records, for each event it
confirms, what was sent (``sent``); a sensor reads a bounded sample of those events back and
:func:`compare_event` holds the stored values against the sent ones, normalised the same way on
both sides (date-times as instants to the millisecond, booleans, numbers and text of custom
properties). Airflow-free: the sensor and its deferrable trigger call the same functions, so they
reach the same verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DATETIME_FIELDS",
    "Mismatch",
    "compare_event",
    "describe",
    "dropped_in",
    "failure_message",
    "sent_of",
    "still_differ_message",
    "summarize",
]

#: Event fields holding date-times (compared as instants, to the millisecond HubSpot keeps).
DATETIME_FIELDS = frozenset({"startDateTime", "endDateTime"})
#: Fields never compared: the ids that found the event.
_IDS = frozenset({"externalAccountId", "externalEventId"})
_MAX_SHOWN = 10
_MAX_EVENTS = 5
_VALUE_CHARS = 120
DROPPED_HINT = (
    "HubSpot silently drops custom properties the account does not define on its marketing event "
    "object: check the spelling, or create the property in HubSpot"
)


@dataclass(frozen=True)
class Mismatch:
    """One field HubSpot does not hold as it was sent.

    :param field: the event field, or ``customProperties.<name>`` for a custom property.
    :param sent: the value sent (as sent).
    :param stored: the value HubSpot holds (``None`` when it holds none).
    :param dropped: a custom property HubSpot does not hold at all: it dropped it silently,
        which it does for a property the account does not define.
    """

    field: str
    sent: Any
    stored: Any
    dropped: bool = False

    def text(self) -> str:
        """One line: the field and both values."""
        if self.dropped:
            return f"custom property {self.property_name!r} was dropped by HubSpot (sent {_show(self.sent)})"
        return f"{self.field}: sent {_show(self.sent)}, HubSpot holds {_show(self.stored)}"

    @property
    def property_name(self) -> str | None:
        """The custom property's name, for a ``customProperties.<name>`` field."""
        prefix = "customProperties."
        return self.field[len(prefix) :] if self.field.startswith(prefix) else None


def summarize(differs: Mapping[tuple[str, str], Sequence[Mismatch]], sampled: int) -> str:
    """One message for every sampled event that differs: each dropped custom property once (with
    how many events lost it and one example), then the other differences event by event.

    :param differs: ``(externalAccountId, externalEventId)`` -> what :func:`compare_event` found.
    :param sampled: how many events were compared.
    """
    dropped: dict[str, list[tuple[tuple[str, str], Any]]] = {}
    others: dict[tuple[str, str], list[Mismatch]] = {}
    for key, found in differs.items():
        for mismatch in found:
            if mismatch.dropped and mismatch.property_name is not None:
                dropped.setdefault(mismatch.property_name, []).append((key, mismatch.sent))
            else:
                others.setdefault(key, []).append(mismatch)
    parts = []
    for name, where in dropped.items():
        (account, event), value = where[0]
        parts.append(
            f"custom property {name!r} was dropped by HubSpot in {len(where)} of {sampled} sampled "
            f"event(s) (e.g. event {event!r} of externalAccountId {account!r}, sent {_show(value)})"
        )
    if dropped:
        parts[-1] += f"; {DROPPED_HINT}"
    keys = list(others)
    parts.extend(describe(key, others[key]) for key in keys[:_MAX_EVENTS])
    if len(keys) > _MAX_EVENTS:
        parts.append(f"and {len(keys) - _MAX_EVENTS} more event(s) differ")
    return " | ".join(parts)


def dropped_in(
    differs: Mapping[tuple[str, str], Sequence[Mismatch]],
) -> dict[tuple[str, str], Sequence[Mismatch]]:
    """The events that lost a custom property: waiting cannot help them (HubSpot never sets a
    property it dropped), so a read-back fails at once on them.

    :param differs: event -> its mismatches.
    """
    return {key: found for key, found in differs.items() if any(m.dropped for m in found)}


def failure_message(dropped: Mapping[tuple[str, str], Sequence[Mismatch]], sampled: int) -> str:
    """The message a read-back fails with at once (poke mode and trigger alike).

    :param dropped: :func:`dropped_in`'s events.
    :param sampled: how many events were sampled.
    """
    return (
        f"HubSpot does not hold what was sent for {len(dropped)} of {sampled} sampled event(s): "
        f"{summarize(dropped, sampled)}"
    )


def still_differ_message(differs: Mapping[tuple[str, str], Sequence[Mismatch]], sampled: int) -> str:
    """The end of the message a read-back times out with when events still differ.

    :param differs: event -> its mismatches.
    :param sampled: how many events were sampled.
    """
    return (
        f"{len(differs)} of {sampled} event(s) still differ in HubSpot from what was sent: "
        f"{summarize(differs, sampled)}"
    )


def sent_of(line: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """What a results-file line says was sent, or ``None`` (a file written before it recorded it).

    :param line: one decoded line of an upsert's results file.
    """
    sent = line.get("sent")
    return sent if isinstance(sent, Mapping) else None


def compare_event(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> list[Mismatch]:
    """Every field of ``sent`` that ``stored`` (HubSpot's read answer) does not hold as sent.

    Fields HubSpot was not sent are not compared; the external ids are not (they found the event).

    :param sent: the event input as sent (the results file's ``sent``).
    :param stored: HubSpot's answer to reading the event.
    """
    out: list[Mismatch] = []
    for name, value in sent.items():
        if name in _IDS:
            continue
        if name == "customProperties":
            out.extend(_compare_properties(value, stored.get("customProperties")))
            continue
        held = stored.get(name)
        if not _same(name, value, held):
            out.append(Mismatch(name, value, held))
    return out


def describe(event: Sequence[str], mismatches: Sequence[Mismatch]) -> str:
    """A message naming the event and each field that differs, with both values.

    :param event: ``(externalAccountId, externalEventId)``.
    :param mismatches: what :func:`compare_event` found for it.
    """
    account, event_id = event
    shown = "; ".join(m.text() for m in mismatches[:_MAX_SHOWN])
    more = len(mismatches) - _MAX_SHOWN
    return f"event {event_id!r} (externalAccountId {account!r}): {shown}" + (
        f"; and {more} more field(s)" if more > 0 else ""
    )


def _compare_properties(sent: Any, stored: Any) -> list[Mismatch]:
    held = _properties(stored)
    out: list[Mismatch] = []
    for name, value in _properties(sent).items():
        if name not in held:
            out.append(Mismatch(f"customProperties.{name}", value, None, dropped=True))
        elif _property_text(value) != _property_text(held[name]):
            out.append(Mismatch(f"customProperties.{name}", value, held[name]))
    return out


def _properties(value: Any) -> dict[str, Any]:
    """``[{name, value, ...}]`` (HubSpot's ``PropertyValue`` list) as ``{name: value}``."""
    out: dict[str, Any] = {}
    if isinstance(value, Sequence) and not isinstance(value, str):
        for prop in value:
            if isinstance(prop, Mapping) and isinstance(prop.get("name"), str):
                out[prop["name"]] = prop.get("value")
    return out


def _same(name: str, sent: Any, held: Any) -> bool:
    if name in DATETIME_FIELDS:
        return _instant(sent) == _instant(held) and _instant(sent) is not None
    if isinstance(sent, bool):
        return _boolean(held) is sent
    if isinstance(sent, str) and isinstance(held, str):
        return sent.strip() == held.strip()
    return bool(sent == held)


def _instant(value: Any) -> dt.datetime | None:
    """A date-time as a UTC instant truncated to the millisecond (HubSpot keeps milliseconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        parsed = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
    else:
        return None
    parsed = parsed.astimezone(dt.UTC)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _property_text(value: Any) -> str:
    """A custom property value as comparable text: booleans lower-case, numbers by value,
    date-times as UTC instants."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    instant = _instant(text) if text[:1].isdigit() and "-" in text else None
    if instant is not None:
        return instant.isoformat()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if number == number else text  # NaN stays text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."
