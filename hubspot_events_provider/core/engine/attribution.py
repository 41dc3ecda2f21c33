"""Which rows of a batch HubSpot refused, learned from its answer without sending anything more.

HubSpot does not document how a per-row error in a batch answer names its row. This module reads
every shape seen or plausible, most certain first, and attributes an error only when exactly one
row of the batch fits it; nothing ambiguous is ever attributed:

1. ``context.inputIndex`` (when the context also names fields of the input, they must agree);
2. the key the write kind reads from the context (``kind.key_from_context``), unique in the batch
   (compared with the kind's ``context_key(item)``: the row's key unless the kind says less);
3. the context's values matched against the inputs' fields of the same name (e.g. only
   ``externalEventId``, or only ``email``), when exactly one input has them all;
4. an id of exactly one input named in the error's message as an exact token (``'evt-12'`` names
   ``evt-12``, never ``evt-1``).

When errors stay unattributed, the successful ``results`` can still tell: HubSpot answers one result
per applied row, echoing its fields (``eventName``, ``eventOrganizer``, dates... are required in the
result schema). :func:`eliminate` groups the unknown rows by the values they share with every result;
a group with as many results as rows was applied, a group with none was refused, and only groups in
between (rows identical in every echoed field) are left for re-sending.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubspot_events_provider.core.engine.contract import WriteKind
from hubspot_events_provider.core.rows.identity import Key, WriteItem

__all__ = ["Elimination", "attribute", "context_value", "eliminate", "error_count"]

#: Result fields that never echo an input field (ids HubSpot assigns, timestamps of the write).
_NOT_ECHOED = frozenset({"id", "objectId", "createdAt", "updatedAt", "customProperties", "properties"})
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
# A token boundary: an id counts as named only when nothing id-like touches it on either side.
_LEFT = r"(?<![^\s'\"`(\[{<,;=])"
_RIGHT = r"(?=$|[\s'\"`)\]}>,;]|[.:!?](?:\s|$))"


def context_value(context: Mapping[str, Any], name: str) -> str | None:
    """A string in a HubSpot error ``context`` (values are one-element lists of strings).

    :param context: the error's ``context``.
    :param name: e.g. ``externalEventId``.
    """
    return _first(context.get(name))


def error_count(body: Mapping[str, Any], errors: Sequence[Mapping[str, Any]]) -> int:
    """How many rows HubSpot says failed: ``numErrors`` when given, never fewer than listed errors.

    :param body: the batch answer.
    :param errors: its ``errors[]`` objects.
    """
    value = body.get("numErrors")
    counted = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return max(counted, len(errors))


def attribute(
    kind: WriteKind, errors: Sequence[Mapping[str, Any]], items: Sequence[WriteItem]
) -> tuple[dict[int, Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Place each error on its row when exactly one row fits it.

    :param kind: the write kind (``key_from_context``).
    :param errors: the answer's error objects (``StandardError`` or ``ErrorDetail``).
    :param items: the rows of the request, in the order sent.
    :returns: ``(placed, unplaced)``: row index -> its error, and the errors no single row fits
        (two errors landing on one row leave the second unplaced).
    """
    index = _BatchIndex(items, kind.context_key)
    placed: dict[int, Mapping[str, Any]] = {}
    unplaced: list[Mapping[str, Any]] = []
    for error in errors:
        found = _place(kind, error, index)
        if found is None or found in placed:
            unplaced.append(error)
        else:
            placed[found] = error
    return placed, unplaced


@dataclass
class _BatchIndex:
    """Look-ups over one batch, built lazily (most answers need none of them)."""

    items: Sequence[WriteItem]
    named_by: Callable[[WriteItem], Key]
    _by_key: dict[Key, list[int]] | None = None
    _unique_ids: dict[str, int] | None = None

    def by_key(self, key: Key) -> list[int]:
        if self._by_key is None:
            self._by_key = {}
            for position, item in enumerate(self.items):
                self._by_key.setdefault(self.named_by(item), []).append(position)
        return self._by_key.get(key, [])

    def unique_ids(self) -> dict[str, int]:
        """Key parts that belong to exactly one row of the batch -> that row."""
        if self._unique_ids is None:
            owners: dict[str, set[int]] = {}
            for position, item in enumerate(self.items):
                for part in item.key:
                    if part:
                        owners.setdefault(part, set()).add(position)
            self._unique_ids = {part: next(iter(o)) for part, o in owners.items() if len(o) == 1}
        return self._unique_ids


def _place(kind: WriteKind, error: Mapping[str, Any], index: _BatchIndex) -> int | None:
    raw_context = error.get("context")
    context: Mapping[str, Any] = raw_context if isinstance(raw_context, Mapping) else {}
    named = _named_fields(context)
    position = _input_index(context, len(index.items))
    if position is not None:
        # An index that contradicts the ids beside it is not trusted.
        return position if _fits(index.items[position], named) else None
    key = kind.key_from_context(context) if context else None
    if key is not None:
        candidates = index.by_key(key)
        if len(candidates) == 1:
            return candidates[0]
    if named:
        matches = [p for p, item in enumerate(index.items) if _fits(item, named, required=True)]
        if len(matches) == 1:
            return matches[0]
    return _named_in_message(error, index)


def _named_fields(context: Mapping[str, Any]) -> dict[str, str]:
    """The context's single string values, except ``inputIndex``."""
    out: dict[str, str] = {}
    for name, raw in context.items():
        value = _first(raw)
        if name != "inputIndex" and value is not None:
            out[name] = value
    return out


def _fits(item: WriteItem, named: Mapping[str, str], *, required: bool = False) -> bool:
    """Whether every named field the payload has holds that value (``required``: has them all)."""
    payload = item.payload
    seen = 0
    for name, value in named.items():
        if name not in payload:
            continue
        seen += 1
        # Case-insensitive: an email HubSpot lower-cases still names its row; two rows that differ
        # only by case are then both candidates, so neither is attributed.
        if _text(payload[name]).casefold() != value.casefold():
            return False
    return seen == len(named) if required else True


def _named_in_message(error: Mapping[str, Any], index: _BatchIndex) -> int | None:
    texts = [error.get("message")]
    details = error.get("errors")
    if isinstance(details, list):
        texts.extend(d.get("message") for d in details if isinstance(d, Mapping))
    message = " ".join(t for t in texts if isinstance(t, str) and t)
    if not message:
        return None
    unique = index.unique_ids()
    named = {
        row
        for part, row in unique.items()
        if part in message and re.search(_LEFT + re.escape(part) + _RIGHT, message)
    }
    return named.pop() if len(named) == 1 else None


def _input_index(context: Mapping[str, Any], size: int) -> int | None:
    raw = context.get("inputIndex")
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    try:
        position = int(raw)
    except ValueError:
        return None
    return position if 0 <= position < size else None


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


# -- elimination by results -------------------------------------------------------------------------


@dataclass
class Elimination:
    """What the results of a 200/207 answer say about the rows no error named.

    :param good: row index -> object id (``None`` when several identical rows share results).
    :param bad: rows with no result at all among rows identical to them.
    :param unsure: groups of rows identical in every echoed field, with how many of them failed.
    """

    good: dict[int, str | None] = field(default_factory=dict)
    bad: list[int] = field(default_factory=list)
    unsure: list[tuple[list[int], int]] = field(default_factory=list)


def eliminate(
    kind: WriteKind,
    items: Sequence[WriteItem],
    unknown: Sequence[int],
    results: Sequence[Mapping[str, Any]],
    failed: int,
) -> Elimination | None:
    """Tell applied rows from refused ones by the fields the results echo.

    :param kind: the write kind (``object_id``).
    :param items: the rows of the request.
    :param unknown: indexes of the rows no error named (every result belongs to one of them).
    :param results: the answer's results (one per applied row).
    :param failed: how many of the ``unknown`` rows failed.
    :returns: ``None`` when the results cannot be matched consistently (no shared field, a result
        fitting no row, counts that do not add up): the caller must re-send to find out.
    """
    if len(results) != len(unknown) - failed:
        return None
    names = _echoed_names([items[i].payload for i in unknown], results)
    if not names:
        return None
    groups: dict[tuple[Any, ...], list[int]] = {}
    for position in unknown:
        groups.setdefault(_signature(items[position].payload, names), []).append(position)
    by_signature: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for result in results:
        by_signature.setdefault(_signature(result, names), []).append(result)
    counts = Counter({sig: len(found) for sig, found in by_signature.items()})
    if any(sig not in groups or n > len(groups[sig]) for sig, n in counts.items()):
        return None
    outcome = Elimination()
    for sig, rows in groups.items():
        applied = counts.get(sig, 0)
        if applied == len(rows):
            for position, result in zip(rows, by_signature[sig], strict=True):
                outcome.good[position] = kind.object_id(result) if len(rows) == 1 else None
        elif applied == 0:
            outcome.bad.extend(rows)
        else:
            outcome.unsure.append((rows, len(rows) - applied))
    return outcome


def _echoed_names(payloads: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Scalar fields present in every payload and every result whose results' values are all among
    the payloads' values: the fields HubSpot echoes as sent (one it rewrites is left out)."""
    if not payloads or not results:
        return []
    common = {n for n, v in payloads[0].items() if _scalar(v)} - _NOT_ECHOED
    for obj in (*payloads, *results):
        common &= {n for n, v in obj.items() if _scalar(v)}
        if not common:
            return []
    return sorted(
        name for name in common if {_normal(r[name]) for r in results} <= {_normal(p[name]) for p in payloads}
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _signature(obj: Mapping[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    return tuple(_normal(obj[name]) for name in names)


def _normal(value: Any) -> Any:
    """A value as HubSpot echoes it: date-times as instants, numbers and booleans as text."""
    if isinstance(value, str):
        text = value.strip()
        if _DATE_LIKE.match(text):
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                return text
            return parsed.astimezone(dt.UTC) if parsed.tzinfo is not None else parsed
        return text
    return _text(value)
