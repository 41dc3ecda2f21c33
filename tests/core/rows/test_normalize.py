"""Normalisation helpers: datetimes, booleans, strings, custom property values (table-driven)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from hubspot_events_provider.core.rows.normalize import (
    INVALID_BOOLEAN,
    INVALID_CUSTOM_PROPERTY,
    INVALID_DATETIME,
    INVALID_TYPE,
    MAX_STRING_LENGTH,
    VALUE_TOO_LONG,
    ValueProblem,
    format_rfc3339,
    preview,
    resolve_timezone,
    to_bool,
    to_custom_value,
    to_string,
    to_utc_datetime,
)

PARIS = resolve_timezone("Europe/Paris")
NY = resolve_timezone("America/New_York")


def _rfc(value: Any, tz: dt.tzinfo = dt.UTC) -> str | None:
    parsed = to_utc_datetime(value, tz)
    return None if parsed is None else format_rfc3339(parsed)


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        (dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC), dt.UTC, "2024-05-01T10:00:00Z"),
        (dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC), dt.UTC, "2024-05-01T10:00:00.123Z"),
        (dt.datetime(2024, 5, 1, 10, 0, 0, 999, tzinfo=dt.UTC), dt.UTC, "2024-05-01T10:00:00Z"),
        (dt.datetime(2024, 5, 1, 10, 0), PARIS, "2024-05-01T08:00:00Z"),
        (dt.datetime(2024, 1, 15, 10, 0), NY, "2024-01-15T15:00:00Z"),
        (dt.date(2024, 5, 1), dt.UTC, "2024-05-01T00:00:00Z"),
        (dt.date(2024, 5, 1), PARIS, "2024-04-30T22:00:00Z"),
        ("2024-05-01T10:00:00Z", PARIS, "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00+02:00", dt.UTC, "2024-05-01T08:00:00Z"),
        ("2024-05-01T10:00:00-05:30", dt.UTC, "2024-05-01T15:30:00Z"),
        ("2024-05-01 10:00:00", PARIS, "2024-05-01T08:00:00Z"),
        ("  2024-05-01T10:00:00.5Z ", dt.UTC, "2024-05-01T10:00:00.500Z"),
        ("2024-05-01", dt.UTC, "2024-05-01T00:00:00Z"),
        ("2024-05-01T10:00:00.1234567Z", dt.UTC, "2024-05-01T10:00:00.123Z"),
        ("2024-W18-3", dt.UTC, "2024-05-01T00:00:00Z"),
        (1714557600, dt.UTC, "2024-05-01T10:00:00Z"),
        (1714557600123, dt.UTC, "2024-05-01T10:00:00.123Z"),
        (1714557600.25, dt.UTC, "2024-05-01T10:00:00.250Z"),
        ("1714557600", PARIS, "2024-05-01T10:00:00Z"),
        ("1714557600123", dt.UTC, "2024-05-01T10:00:00.123Z"),
        (Decimal("1714557600"), dt.UTC, "2024-05-01T10:00:00Z"),
        (0, dt.UTC, "1970-01-01T00:00:00Z"),
        (None, dt.UTC, None),
        ("", dt.UTC, None),
        ("   ", dt.UTC, None),
    ],
)
def test_datetimes_become_rfc3339_utc(value: Any, tz: dt.tzinfo, expected: str | None) -> None:
    assert _rfc(value, tz) == expected


@pytest.mark.parametrize(
    ("value", "category", "quoted"),
    [
        ("not a date", INVALID_DATETIME, "'not a date'"),
        ("2024-13-01", INVALID_DATETIME, "2024-13-01"),
        ("2024-02-30T10:00:00Z", INVALID_DATETIME, "2024-02-30"),
        ("10:00", INVALID_DATETIME, "10:00"),
        ("P1D", INVALID_DATETIME, "P1D"),
        ("x" * 500, INVALID_DATETIME, "..."),
        (float("nan"), INVALID_DATETIME, "nan"),
        (float("inf"), INVALID_DATETIME, "inf"),
        (10**20, INVALID_DATETIME, "out of range"),
        (True, INVALID_TYPE, "boolean"),
        ([2024, 5, 1], INVALID_TYPE, "list"),
        ({"date": "2024-05-01"}, INVALID_TYPE, "dict"),
    ],
)
def test_bad_datetimes_are_refused_with_the_value(value: Any, category: str, quoted: str) -> None:
    with pytest.raises(ValueProblem) as info:
        to_utc_datetime(value)
    assert info.value.category == category
    assert quoted in info.value.message
    assert len(info.value.message) < 200


def test_out_of_range_after_timezone_shift_is_refused() -> None:
    with pytest.raises(ValueProblem) as info:
        to_utc_datetime(dt.datetime(9999, 12, 31, 23, 30), NY)
    assert info.value.category == INVALID_DATETIME


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("y", True),
        ("1", True),
        ("on", True),
        ("t", True),
        ("false", False),
        ("No", False),
        ("0", False),
        ("off", False),
        ("f", False),
        (1, True),
        (0, False),
        (1.0, True),
        (None, None),
        ("", None),
        ("  ", None),
    ],
)
def test_booleans(value: Any, expected: bool | None) -> None:
    assert to_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "2", 2, -1, 0.5, [True], {"a": 1}, "tru"])
def test_bad_booleans(value: Any) -> None:
    with pytest.raises(ValueProblem) as info:
        to_bool(value)
    assert info.value.category == INVALID_BOOLEAN
    assert preview(value) in info.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Webinar  ", "Webinar"),
        ("", None),
        (" \t\n", None),
        (None, None),
        (42, "42"),
        (-7, "-7"),
        (12345678901234567890, "12345678901234567890"),
        (Decimal("42"), "42"),
        (Decimal("42.000"), "42"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ("Événement 日本 🎉", "Événement 日本 🎉"),
    ],
)
def test_strings(value: Any, expected: str | None) -> None:
    assert to_string(value) == expected


@pytest.mark.parametrize(
    ("value", "category"),
    [
        (1.5, INVALID_TYPE),
        (True, INVALID_TYPE),
        (Decimal("1.5"), INVALID_TYPE),
        (["a"], INVALID_TYPE),
        ({"a": 1}, INVALID_TYPE),
        (dt.date(2024, 1, 1), INVALID_TYPE),
        ("x" * (MAX_STRING_LENGTH + 1), VALUE_TOO_LONG),
    ],
)
def test_bad_strings(value: Any, category: str) -> None:
    with pytest.raises(ValueProblem) as info:
        to_string(value)
    assert info.value.category == category


def test_string_at_the_limit_is_accepted() -> None:
    assert to_string("x" * MAX_STRING_LENGTH) == "x" * MAX_STRING_LENGTH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("EMEA", "EMEA"),
        ("  ", None),
        (None, None),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (0.1, "0.1"),
        (1e-7, "1e-07"),
        (123456789.123456789, "123456789.12345679"),
        (Decimal("3.14159265358979323846"), "3.14159265358979323846"),
        (dt.datetime(2024, 5, 1, 12, 0), "2024-05-01T12:00:00Z"),
        (dt.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_custom_property_values(value: Any, expected: str | None) -> None:
    assert to_custom_value(value) == expected


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, float("nan"), float("-inf"), Decimal("NaN"), object()])
def test_bad_custom_property_values(value: Any) -> None:
    with pytest.raises(ValueProblem) as info:
        to_custom_value(value)
    assert info.value.category == INVALID_CUSTOM_PROPERTY


@pytest.mark.parametrize("name", ["UTC", "utc", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_known_timezones(name: str) -> None:
    tz = resolve_timezone(name)
    assert dt.datetime(2024, 1, 1, tzinfo=tz).utcoffset() is not None


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "  ", "Europe/Pariss"])
def test_unknown_timezones(name: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        resolve_timezone(name)


def test_preview_truncates_long_values() -> None:
    text = preview("a" * 1000)
    assert len(text) <= 85
    assert text.endswith("...'")
