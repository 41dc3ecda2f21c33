"""Strict validation of upsert and batch-delete request bodies.

Whole-request problems (not JSON, not an object, bad ``inputs``) raise :class:`RequestError`;
per-input problems are returned as :class:`RowProblem` lists so the server can answer according to
its partial-failure mode.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

MAX_INPUTS = 100
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
REQUIRED_STRINGS = ("externalAccountId", "externalEventId", "eventName", "eventOrganizer")
OPTIONAL_STRINGS = ("eventType", "eventDescription", "eventUrl")
BOOLEANS = ("eventCancelled", "eventCompleted")
DATETIMES = ("startDateTime", "endDateTime")
KNOWN_FIELDS = frozenset((*REQUIRED_STRINGS, *OPTIONAL_STRINGS, *BOOLEANS, *DATETIMES, "customProperties"))

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class RequestError(Exception):
    """The whole request is unusable (answered 400 ``VALIDATION_ERROR``).

    :param message: summary message.
    :param where: the ``in`` of the single ``ErrorDetail``.
    """

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


@dataclass(frozen=True)
class RowProblem:
    """One invalid field of one input.

    :param field: the offending field (``in`` of the ErrorDetail).
    :param message: what is wrong.
    :param code: HubSpot-like error code.
    """

    field: str
    message: str
    code: str


def parse_rfc3339(value: str) -> dt.datetime | None:
    """Parse an RFC 3339 date-time that carries an offset; ``None`` when invalid.

    :param value: the text, e.g. ``2026-05-01T09:00:00Z`` or ``2026-05-01T09:00:00.5+02:00``.
    """
    if not _RFC3339.match(value):
        return None
    text = value.replace("t", "T").replace("z", "Z")
    try:
        parsed = dt.datetime.fromisoformat(text)
        # Stored and echoed in UTC: an instant whose UTC year leaves 1..9999 (0001-01-01T00:00+01:00)
        # cannot be written back as an RFC 3339 date-time, so it is refused like any invalid date.
        parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return parsed


def parse_batch(raw: bytes) -> list[Any]:
    """Decode a batch body and return its ``inputs`` list.

    :param raw: the request body.
    :raises RequestError: not JSON, not an object, ``inputs`` missing / not a list / empty / > 100.
    """
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("Invalid input: the request body is not UTF-8.", "body") from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}", "body"
        ) from None
    if not isinstance(body, dict):
        raise RequestError("Invalid input: the request body must be a JSON object.", "body")
    if "inputs" not in body:
        raise RequestError("Invalid input: 'inputs' is required.", "inputs")
    inputs = body["inputs"]
    if not isinstance(inputs, list):
        raise RequestError("Invalid input: 'inputs' must be an array.", "inputs")
    if not inputs:
        raise RequestError("Invalid input: 'inputs' must contain at least one item.", "inputs")
    if len(inputs) > MAX_INPUTS:
        raise RequestError(
            f"Invalid input: 'inputs' has {len(inputs)} items; batch operations are limited to "
            f"{MAX_INPUTS} records at a time.",
            "inputs",
        )
    return inputs


def validate_event(item: Any, rejected_ids: tuple[str, ...] = ()) -> list[RowProblem]:
    """Validate one upsert input; an empty list means valid.

    :param item: one element of ``inputs``.
    :param rejected_ids: external event ids refused although valid.
    """
    if not isinstance(item, dict):
        return [RowProblem("inputs", "Each input must be a JSON object.", "INVALID_TYPE")]
    problems: list[RowProblem] = []
    for name in sorted(set(item) - KNOWN_FIELDS):
        problems.append(RowProblem(name, f"Unknown field '{name}'.", "UNKNOWN_FIELD"))
    for name in REQUIRED_STRINGS:
        value = item.get(name)
        if value is None:
            problems.append(RowProblem(name, f"'{name}' is required.", "REQUIRED_FIELD"))
        elif not isinstance(value, str) or not value.strip():
            problems.append(RowProblem(name, f"'{name}' must be a non-empty string.", "INVALID_STRING"))
    for name in OPTIONAL_STRINGS:
        if name in item and not isinstance(item[name], str):
            problems.append(RowProblem(name, f"'{name}' must be a string.", "INVALID_STRING"))
    for name in BOOLEANS:
        if name in item and not isinstance(item[name], bool):
            problems.append(RowProblem(name, f"'{name}' must be a boolean.", "INVALID_BOOLEAN"))
    for name in DATETIMES:
        if name in item:
            value = item[name]
            if not isinstance(value, str) or parse_rfc3339(value) is None:
                problems.append(
                    RowProblem(
                        name,
                        f"'{name}' must be an RFC 3339 date-time with an offset (e.g. 2026-05-01T09:00:00Z).",
                        "INVALID_DATE",
                    )
                )
    if "customProperties" in item:
        problems.extend(_custom_property_problems(item["customProperties"]))
    event_id = item.get("externalEventId")
    if isinstance(event_id, str) and event_id in rejected_ids:
        problems.append(RowProblem("externalEventId", "HubSpot refused this marketing event.", "REFUSED"))
    return problems


def _custom_property_problems(value: Any) -> list[RowProblem]:
    """Problems of a ``customProperties`` value: a list of ``{name: str, value: str}`` objects."""
    where = "customProperties"
    if not isinstance(value, list):
        return [RowProblem(where, "'customProperties' must be an array.", "INVALID_TYPE")]
    problems: list[RowProblem] = []
    for index, prop in enumerate(value):
        ok = (
            isinstance(prop, dict)
            and set(prop) == {"name", "value"}
            and isinstance(prop["name"], str)
            and bool(prop["name"])
            and isinstance(prop["value"], str)
        )
        if not ok:
            problems.append(
                RowProblem(
                    f"customProperties[{index}]",
                    "Each custom property must be an object {name: string, value: string}.",
                    "INVALID_PROPERTY",
                )
            )
    return problems


def validate_delete_input(item: Any) -> bool:
    """Whether one batch-delete input has ``appId`` (int32) and the two external ids (strings).

    :param item: one element of ``inputs``.
    """
    app_id = item.get("appId") if isinstance(item, dict) else None
    return (
        isinstance(item, dict)
        and isinstance(app_id, int)
        and not isinstance(app_id, bool)
        # The spec types appId as int32: a larger number cannot name a HubSpot app.
        and INT32_MIN <= app_id <= INT32_MAX
        and isinstance(item.get("externalAccountId"), str)
        and isinstance(item.get("externalEventId"), str)
    )
