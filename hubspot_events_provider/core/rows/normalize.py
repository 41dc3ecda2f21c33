"""Value normalisation for HubSpot event fields: datetimes, booleans, strings, custom property values.

Every helper takes one raw value (from JSON, CSV, a DB-API cursor or an XCom) and returns the
normalised value, ``None`` when the value is empty (``None``, blank string), or raises
:class:`ValueProblem` carrying a stable error category and a message that quotes the offending
value (truncated). The helpers are hot: they run once per field of every row, so the common cases
take the shortest path.

Datetimes become RFC 3339 UTC strings ending in ``Z`` (``YYYY-MM-DDTHH:MM:SSZ``, with ``.fff`` only
when the value has a sub-second part; below a millisecond is dropped, HubSpot keeps milliseconds).
Accepted: ``datetime`` (naive ones are read in the configured time zone), ``date`` (midnight in
that zone), ISO 8601 / RFC 3339 strings with or without an offset, epoch seconds or milliseconds as
numbers or numeric strings (absolute value above ``1e11`` means milliseconds).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from decimal import Decimal
from typing import Any

import pendulum
from pendulum.parsing.exceptions import ParserError

__all__ = [
    "END_BEFORE_START",
    "INVALID_BOOLEAN",
    "INVALID_CUSTOM_PROPERTY",
    "INVALID_DATETIME",
    "INVALID_ROW",
    "INVALID_TYPE",
    "MAX_STRING_LENGTH",
    "MISSING_REQUIRED_FIELD",
    "VALUE_TOO_LONG",
    "ValueProblem",
    "check_date_format",
    "format_rfc3339",
    "preview",
    "resolve_timezone",
    "to_bool",
    "to_custom_value",
    "to_string",
    "to_utc_datetime",
]

# Stable error categories (thresholds and users' alerting match on these strings).
MISSING_REQUIRED_FIELD = "MISSING_REQUIRED_FIELD"
INVALID_TYPE = "INVALID_TYPE"
INVALID_DATETIME = "INVALID_DATETIME"
END_BEFORE_START = "END_BEFORE_START"
INVALID_BOOLEAN = "INVALID_BOOLEAN"
INVALID_CUSTOM_PROPERTY = "INVALID_CUSTOM_PROPERTY"
VALUE_TOO_LONG = "VALUE_TOO_LONG"
INVALID_ROW = "INVALID_ROW"

#: Longest string accepted in any field or custom property value. HubSpot documents no limit for
#: marketing events; 65,535 characters is HubSpot's limit for CRM string property values, so a longer
#: value is refused here (VALUE_TOO_LONG) rather than risking a whole-batch 400.
MAX_STRING_LENGTH = 65_535

_EPOCH_MS_THRESHOLD = 1e11
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
_PREVIEW_CHARS = 80


class ValueProblem(ValueError):
    """A value that cannot be normalised.

    :param category: one of the stable error categories of this module.
    :param message: what is wrong, quoting the value (truncated).
    """

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


def preview(value: Any, limit: int = _PREVIEW_CHARS) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters, for error messages.

    :param value: any value.
    :param limit: the maximum length of the result.
    """
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
        return repr(value)[:-1] + "...'"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_timezone(name: str) -> dt.tzinfo:
    """Return the tzinfo for an IANA time zone name (``UTC``, ``Europe/Paris``...).

    :param name: the IANA name.
    :raises ValueError: the name is not a known IANA time zone.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"timezone must be an IANA time zone name such as 'UTC', got {preview(name)}")
    if name.strip().upper() in {"UTC", "Z", "ETC/UTC"}:
        return dt.UTC
    try:
        return pendulum.timezone(name.strip())
    except (ValueError, KeyError) as exc:
        raise ValueError(f"unknown IANA time zone {preview(name)}: {exc}") from None


def format_rfc3339(value: dt.datetime) -> str:
    """Format an aware UTC datetime as ``YYYY-MM-DDTHH:MM:SS[.fff]Z``.

    :param value: an aware datetime already in UTC.
    """
    # isoformat() of an aware UTC datetime ends in "+00:00": swap it for "Z" (cheaper than replace()).
    if value.microsecond >= 1000:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.isoformat(timespec="seconds")[:-6] + "Z"


def _from_epoch(number: float, raw: Any) -> dt.datetime:
    if math.isnan(number) or math.isinf(number):
        raise ValueProblem(INVALID_DATETIME, f"not a date/time: {preview(raw)}")
    seconds = number / 1000.0 if abs(number) > _EPOCH_MS_THRESHOLD else number
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueProblem(INVALID_DATETIME, f"epoch value out of range: {preview(raw)}") from None


def _aware_utc(value: dt.datetime, tz: dt.tzinfo, raw: Any) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValueProblem(INVALID_DATETIME, f"date/time out of range: {preview(raw)}") from None


def _parse_text(text: str, tz: dt.tzinfo, raw: Any) -> dt.datetime:
    if text[4:5] != "-" and _NUMERIC.fullmatch(text):
        return _from_epoch(float(text), raw)
    try:
        iso: dt.datetime | None = dt.datetime.fromisoformat(text)
    except ValueError:
        iso = None
    if iso is not None:
        return _aware_utc(iso, tz, raw)
    try:
        parsed = pendulum.parse(text, exact=True, tz=tz)
    except (ParserError, ValueError, OverflowError, TypeError):
        raise ValueProblem(INVALID_DATETIME, f"not an ISO 8601 date/time: {preview(raw)}") from None
    if isinstance(parsed, dt.datetime):
        return _aware_utc(parsed, tz, raw)
    if isinstance(parsed, dt.date):
        return _aware_utc(dt.datetime(parsed.year, parsed.month, parsed.day), tz, raw)
    raise ValueProblem(INVALID_DATETIME, f"not a date/time (a time or duration?): {preview(raw)}")


def check_date_format(date_format: str) -> str:
    """Check a ``strptime`` format (``"%d/%m/%Y %H:%M"``) by a round trip; return it.

    :raises ValueError: not a string with a ``%`` directive, or one ``strptime`` cannot read back.
    """
    if not isinstance(date_format, str) or "%" not in date_format:
        raise ValueError(
            f"date_format must be a strptime format such as '%d/%m/%Y', got {preview(date_format)}"
        )
    sample = dt.datetime(2026, 1, 31, 13, 45, 30)
    try:
        dt.datetime.strptime(sample.strftime(date_format), date_format)
    except ValueError as exc:
        raise ValueError(f"date_format {date_format!r} is not a usable strptime format: {exc}") from None
    return date_format


def _parse_with_format(text: str, date_format: str, tz: dt.tzinfo, raw: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.strptime(text, date_format)
    except ValueError:
        return None  # not in this format: the ISO 8601 / epoch readers get their turn
    return _aware_utc(parsed, tz, raw)


def to_utc_datetime(value: Any, tz: dt.tzinfo = dt.UTC, date_format: str | None = None) -> dt.datetime | None:
    """Normalise a date/time value to an aware UTC datetime.

    :param value: ``datetime``, ``date``, ISO 8601 string, epoch seconds/milliseconds (number or
        numeric string), ``None`` or a blank string.
    :param tz: the zone of naive datetimes, dates and offset-less strings.
    :param date_format: a ``strptime`` format tried first for strings (day-first dates...).
    :returns: the UTC datetime, or ``None`` for an empty value.
    :raises ValueProblem: ``INVALID_DATETIME`` (unparseable, out of range) or ``INVALID_TYPE``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if date_format is not None:
            parsed = _parse_with_format(text, date_format, tz, value)
            if parsed is not None:
                return parsed
            try:
                return _parse_text(text, tz, value)
            except ValueProblem:
                raise ValueProblem(
                    INVALID_DATETIME,
                    f"not a date/time in date_format {date_format!r} nor ISO 8601: {preview(value)}",
                ) from None
        return _parse_text(text, tz, value)
    if isinstance(value, dt.datetime):
        return _aware_utc(value, tz, value)
    if isinstance(value, dt.date):
        return _aware_utc(dt.datetime(value.year, value.month, value.day), tz, value)
    if isinstance(value, bool):
        raise ValueProblem(INVALID_TYPE, f"expected a date/time, got a boolean {preview(value)}")
    if isinstance(value, int | float | Decimal):
        return _from_epoch(float(value), value)
    raise ValueProblem(INVALID_TYPE, f"expected a date/time, got {type(value).__name__} {preview(value)}")


def to_bool(value: Any) -> bool | None:
    """Normalise a boolean: ``True``/``False``, 0/1, or a string true/false, yes/no, y/n, t/f, on/off, 1/0.

    :param value: the raw value.
    :returns: the boolean, or ``None`` for an empty value.
    :raises ValueProblem: ``INVALID_BOOLEAN``.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if not text:
            return None
    elif isinstance(value, int | float | Decimal) and value in (0, 1):
        return bool(value)
    raise ValueProblem(INVALID_BOOLEAN, f"expected a boolean (true/false, yes/no, 1/0), got {preview(value)}")


def _check_length(text: str) -> str:
    if len(text) > MAX_STRING_LENGTH:
        raise ValueProblem(
            VALUE_TOO_LONG, f"value is {len(text)} characters long, the limit is {MAX_STRING_LENGTH}"
        )
    return text


def to_string(value: Any) -> str | None:
    """Normalise a string field: strip blanks; integers (and integral Decimals, UUIDs) become strings.

    :param value: the raw value.
    :returns: the stripped string, or ``None`` for an empty value.
    :raises ValueProblem: ``INVALID_TYPE`` for floats, booleans, containers...; ``VALUE_TOO_LONG``.
    """
    if isinstance(value, str):
        text = value.strip()
        return _check_length(text) if text else None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    raise ValueProblem(INVALID_TYPE, f"expected a string, got {type(value).__name__} {preview(value)}")


def to_custom_value(value: Any, tz: dt.tzinfo = dt.UTC) -> str | None:
    """Normalise a custom property value to the string HubSpot expects.

    Booleans become ``"true"``/``"false"``, numbers their shortest exact text (no precision lost),
    datetimes RFC 3339 UTC ``Z``, dates ``YYYY-MM-DD``, strings are stripped.

    :param value: the raw value.
    :param tz: the zone of naive datetimes.
    :returns: the string, or ``None`` for an empty value (the property is then not sent).
    :raises ValueProblem: ``INVALID_CUSTOM_PROPERTY`` (containers, NaN, infinity), ``VALUE_TOO_LONG``.
    """
    if isinstance(value, str):
        text = value.strip()
        return _check_length(text) if text else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _check_length(str(value))
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        raise ValueProblem(INVALID_CUSTOM_PROPERTY, f"not a finite number: {preview(value)}")
    if isinstance(value, Decimal):
        if value.is_finite():
            return _check_length(str(value))
        raise ValueProblem(INVALID_CUSTOM_PROPERTY, f"not a finite number: {preview(value)}")
    if isinstance(value, dt.datetime):
        return format_rfc3339(_aware_utc(value, tz, value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise ValueProblem(
        INVALID_CUSTOM_PROPERTY,
        f"a custom property value must be a string, number, boolean or date, "
        f"got {type(value).__name__} {preview(value)}",
    )
