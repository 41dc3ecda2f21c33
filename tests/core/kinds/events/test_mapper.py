"""EventMapper: mapping, defaults, custom properties, validation, unmapped keys, properties."""

from __future__ import annotations

import datetime as dt
import pickle
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubspot_events_provider.core.errors import UnmappedFieldsError
from hubspot_events_provider.core.kinds.events.mapper import (
    ERROR_CATEGORIES,
    HUBSPOT_FIELDS,
    REQUIRED_FIELDS,
    EventMapper,
    MappedRow,
    suggest_field,
)

BASE = {
    "externalAccountId": "acme",
    "externalEventId": "evt-1",
    "eventName": "Webinar",
    "eventOrganizer": "Acme Inc",
}
Z_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


def _map(row: Any, **kwargs: Any) -> MappedRow:
    return EventMapper(**kwargs).map_row(row)


def test_identity_row_maps_to_itself() -> None:
    row = {
        **BASE,
        "eventType": "WEBINAR",
        "eventDescription": "  An intro  ",
        "eventUrl": "https://example.com",
        "startDateTime": "2024-05-01T10:00:00+02:00",
        "endDateTime": "2024-05-01T11:00:00+02:00",
        "eventCancelled": "no",
        "eventCompleted": True,
    }
    mapped = _map(row)
    assert mapped.errors == []
    assert mapped.key == ("acme", "evt-1")
    assert mapped.payload == {
        **BASE,
        "eventType": "WEBINAR",
        "eventDescription": "An intro",
        "eventUrl": "https://example.com",
        "startDateTime": "2024-05-01T08:00:00Z",
        "endDateTime": "2024-05-01T09:00:00Z",
        "eventCancelled": False,
        "eventCompleted": True,
    }


def test_field_map_defaults_and_timezone() -> None:
    mapper = EventMapper(
        field_map={"id": "externalEventId", "title": "eventName", "starts": "startDateTime"},
        defaults={"externalAccountId": "acme", "eventOrganizer": "Acme", "eventType": "WEBINAR"},
        timezone="America/New_York",
    )
    mapped = mapper.map_row({"id": 42, "title": "Launch", "starts": dt.datetime(2024, 1, 15, 9, 30)})
    assert mapped.errors == []
    assert mapped.payload == {
        "externalAccountId": "acme",
        "externalEventId": "42",
        "eventName": "Launch",
        "eventOrganizer": "Acme",
        "eventType": "WEBINAR",
        "startDateTime": "2024-01-15T14:30:00Z",
    }


def test_defaults_fill_empty_values_but_row_values_win() -> None:
    mapper = EventMapper(defaults={"eventOrganizer": "Default Org", "eventCancelled": "false"})
    assert mapper.map_row({**BASE, "eventOrganizer": "  "}).payload["eventOrganizer"] == "Default Org"  # type: ignore[index]
    assert mapper.map_row({**BASE}).payload["eventOrganizer"] == "Acme Inc"  # type: ignore[index]
    assert mapper.map_row({**BASE}).payload["eventCancelled"] is False  # type: ignore[index]


def test_explicit_mapping_first_then_same_named_key() -> None:
    mapper = EventMapper(field_map={"title": "eventName"})
    assert mapper.map_row({**BASE, "title": "From title"}).payload["eventName"] == "From title"  # type: ignore[index]
    assert mapper.map_row({**BASE, "title": None}).payload["eventName"] == "Webinar"  # type: ignore[index]


def test_a_field_name_mapped_elsewhere_is_not_identity() -> None:
    mapper = EventMapper(field_map={"eventName": "eventDescription", "title": "eventName"})
    mapped = mapper.map_row({**BASE, "title": "T"})
    assert mapped.payload is not None
    assert mapped.payload["eventName"] == "T"
    assert mapped.payload["eventDescription"] == "Webinar"


def test_empty_optional_fields_are_dropped() -> None:
    mapped = _map({**BASE, "eventType": "", "eventUrl": None, "startDateTime": " ", "eventCancelled": ""})
    assert mapped.payload == BASE


@pytest.mark.parametrize(
    ("custom_properties", "row", "expected"),
    [
        (["region"], {"region": "EMEA"}, [{"name": "region", "value": "EMEA"}]),
        ({"seats": "max_seats"}, {"seats": 250}, [{"name": "max_seats", "value": "250"}]),
        (
            ["vip", "ratio"],
            {"vip": True, "ratio": 0.1},
            [{"name": "vip", "value": "true"}, {"name": "ratio", "value": "0.1"}],
        ),
        (["region"], {"region": "  "}, None),
        (
            ["when"],
            {"when": dt.datetime(2024, 5, 1, 10, 0)},
            [{"name": "when", "value": "2024-05-01T10:00:00Z"}],
        ),
        ("region", {"region": "APAC"}, [{"name": "region", "value": "APAC"}]),
    ],
)
def test_custom_properties_from_columns(custom_properties: Any, row: dict[str, Any], expected: Any) -> None:
    mapped = _map({**BASE, **row}, custom_properties=custom_properties)
    assert mapped.errors == []
    assert mapped.payload is not None
    assert mapped.payload.get("customProperties") == expected


@pytest.mark.parametrize(
    "value",
    [
        [{"name": "a", "value": "1"}, {"name": "b", "value": 2}],
        {"a": "1", "b": 2},
        '[{"name": "a", "value": "1"}, {"name": "b", "value": 2}]',
        '{"a": 1, "b": 2}',
    ],
)
def test_row_custom_properties_both_shapes(value: Any) -> None:
    mapped = _map({**BASE, "customProperties": value})
    assert mapped.payload is not None
    assert mapped.payload["customProperties"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]


def test_mapped_columns_override_row_custom_properties() -> None:
    mapped = _map(
        {**BASE, "customProperties": {"region": "old", "x": "1"}, "region": "new"},
        custom_properties=["region"],
    )
    assert mapped.payload is not None
    assert mapped.payload["customProperties"] == [
        {"name": "region", "value": "new"},
        {"name": "x", "value": "1"},
    ]


@pytest.mark.parametrize(
    ("row", "field", "category"),
    [
        ({**BASE, "eventName": ""}, "eventName", "MISSING_REQUIRED_FIELD"),
        (
            {k: v for k, v in BASE.items() if k != "externalAccountId"},
            "externalAccountId",
            "MISSING_REQUIRED_FIELD",
        ),
        ({**BASE, "externalEventId": 1.5}, "externalEventId", "INVALID_TYPE"),
        ({**BASE, "eventName": True}, "eventName", "INVALID_TYPE"),
        ({**BASE, "eventOrganizer": {"name": "x"}}, "eventOrganizer", "INVALID_TYPE"),
        ({**BASE, "eventType": ["WEBINAR"]}, "eventType", "INVALID_TYPE"),
        ({**BASE, "startDateTime": "yesterday"}, "startDateTime", "INVALID_DATETIME"),
        (
            {**BASE, "startDateTime": "2024-05-02", "endDateTime": "2024-05-01"},
            "endDateTime",
            "END_BEFORE_START",
        ),
        ({**BASE, "eventCancelled": "maybe"}, "eventCancelled", "INVALID_BOOLEAN"),
        ({**BASE, "customProperties": [{"value": "no name"}]}, "customProperties", "INVALID_CUSTOM_PROPERTY"),
        ({**BASE, "customProperties": "not json"}, "customProperties", "INVALID_CUSTOM_PROPERTY"),
        ({**BASE, "customProperties": 5}, "customProperties", "INVALID_CUSTOM_PROPERTY"),
        ({**BASE, "customProperties": {"": "x"}}, "customProperties", "INVALID_CUSTOM_PROPERTY"),
        ({**BASE, "eventDescription": "x" * 70_000}, "eventDescription", "VALUE_TOO_LONG"),
    ],
)
def test_invalid_rows_name_field_and_category(row: dict[str, Any], field: str, category: str) -> None:
    mapped = _map(row)
    assert mapped.payload is None
    assert (field, category) in [(e.field, e.category) for e in mapped.errors]
    assert all(e.message for e in mapped.errors)


def test_invalid_custom_column_is_named() -> None:
    mapped = _map({**BASE, "tags": ["a", "b"]}, custom_properties=["tags"])
    assert mapped.payload is None
    assert [(e.field, e.category) for e in mapped.errors] == [
        ("customProperties.tags", "INVALID_CUSTOM_PROPERTY")
    ]


def test_equal_start_and_end_is_fine() -> None:
    mapped = _map({**BASE, "startDateTime": "2024-05-01T10:00:00Z", "endDateTime": 1714557600})
    assert mapped.errors == []


def test_all_errors_of_a_row_are_reported() -> None:
    mapped = _map({"externalEventId": 1.5, "startDateTime": "bad", "eventCompleted": "?"})
    fields = {e.field for e in mapped.errors}
    assert fields == {
        "externalAccountId",
        "externalEventId",
        "eventName",
        "eventOrganizer",
        "startDateTime",
        "eventCompleted",
    }
    assert mapped.key is None


@pytest.mark.parametrize("row", [[1, 2], "text", 5, None])
def test_non_object_rows_are_invalid_rows(row: Any) -> None:
    mapped = _map(row)
    assert mapped.payload is None
    assert [e.category for e in mapped.errors] == ["INVALID_ROW"]


def test_unmapped_keys_are_reported_not_dropped() -> None:
    mapper = EventMapper(
        field_map={"id": "externalEventId"}, custom_properties=["region"], ignore_fields=["note"]
    )
    row = {
        **BASE,
        "id": "x",
        "region": "EU",
        "note": "internal",
        "eventDescripton": "typo",
        "warehouse_col": 1,
    }
    assert mapper.unmapped_keys(row) == {"eventDescripton", "warehouse_col"}
    assert mapper.map_row(row).unmapped == {"eventDescripton", "warehouse_col"}
    err = mapper.unmapped_error(mapper.unmapped_keys(row), source="events_file 'x.csv'", line=2)
    assert isinstance(err, UnmappedFieldsError)
    assert err.keys == ["eventDescripton", "warehouse_col"]
    text = str(err)
    assert "x.csv" in text
    assert "line 2" in text
    assert "'eventDescripton' -> 'eventDescription'" in text
    assert "ignore_fields" in text
    assert isinstance(pickle.loads(pickle.dumps(err)), UnmappedFieldsError)  # noqa: S301 - our own bytes


def test_unmapped_error_keeps_its_suggestions_across_pickling() -> None:
    err = EventMapper().unmapped_error(["eventDescripton", "zzz"], source="events", line=3)
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert isinstance(back, UnmappedFieldsError)
    assert back.suggestions == err.suggestions == {"eventDescripton": "eventDescription"}
    assert (back.keys, back.source, back.line) == (["eventDescripton", "zzz"], "events", 3)
    assert str(back) == str(err)
    assert str(err).endswith("Did you mean 'eventDescripton' -> 'eventDescription'?")


@pytest.mark.parametrize(
    ("row", "kwargs", "field", "message"),
    [
        (
            {**BASE, "starts_at": "tomorrow"},
            {"field_map": {"starts_at": "startDateTime"}},
            "startDateTime",
            "startDateTime (from column 'starts_at'): not an ISO 8601 date/time: 'tomorrow'",
        ),
        (
            {**BASE, "startDateTime": "tomorrow"},
            {},
            "startDateTime",
            "startDateTime: not an ISO 8601 date/time: 'tomorrow'",
        ),
        (
            {**BASE, "done": "maybe"},
            {"field_map": {"done": "eventCompleted"}},
            "eventCompleted",
            "eventCompleted (from column 'done'): expected a boolean (true/false, yes/no, 1/0), got 'maybe'",
        ),
        (
            {**BASE, "kind": 1.5},
            {"field_map": {"kind": "eventType"}},
            "eventType",
            "eventType (from column 'kind'): expected a string, got float 1.5",
        ),
        (
            {**BASE, "reg": [1]},
            {"custom_properties": {"reg": "region"}},
            "customProperties.region",
            "customProperties.region (from column 'reg'): ",
        ),
        (
            {**BASE, "region": [1]},
            {"custom_properties": ["region"]},
            "customProperties.region",
            "customProperties.region: ",
        ),
    ],
)
def test_a_bad_value_names_the_source_column_and_the_hubspot_field(
    row: dict[str, Any], kwargs: dict[str, Any], field: str, message: str
) -> None:
    (error,) = _map(row, **kwargs).errors
    assert error.field == field
    assert error.message.startswith(message)


def test_ignore_unmapped_opts_out() -> None:
    mapper = EventMapper(ignore_unmapped=True)
    assert mapper.unmapped_keys({**BASE, "anything": 1}) == set()
    assert mapper.map_row({**BASE, "anything": 1}).payload == BASE


def test_ignored_field_is_not_sent() -> None:
    mapped = _map({**BASE, "eventUrl": "https://x"}, ignore_fields=["eventUrl"])
    assert mapped.payload == BASE
    assert mapped.unmapped == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"field_map": {"desc": "eventDescripton"}}, "'eventDescripton' -> 'eventDescription'"),
        ({"field_map": {"a": "nope", "b": "alsonope"}}, "are not HubSpot event fields"),
        ({"defaults": {"eventOrganiser": "x"}}, "'eventOrganiser' -> 'eventOrganizer'"),
        ({"defaults": {"startDateTime": "not a date"}}, r"defaults\['startDateTime'\]"),
        ({"defaults": {"eventCancelled": "perhaps"}}, "boolean"),
        ({"timezone": "Nowhere/Land"}, "time zone"),
        ({"field_map": {"x": "eventName"}, "ignore_fields": ["x"]}, "both in field_map and in ignore_fields"),
        ({"custom_properties": ["ok", ""]}, "custom_properties"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EventMapper(**kwargs)
    with pytest.raises(ValueError, match=match):
        EventMapper.validate_config(**kwargs)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("eventDescripton", "eventDescription"), ("eventname", "eventName"), ("warehouse_col", None)],
)
def test_suggest_field(name: str, expected: str | None) -> None:
    assert suggest_field(name) == expected


# -- properties ----------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=5).map(lambda s: " " + s + " "),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.sampled_from(
        ["2024-05-01T10:00:00Z", "2024-02-30", "1714557600", "10:00", "P1D", "yes", "0", "", " "]
    ),
)
_values = st.one_of(
    _scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=5), _scalars, max_size=3)
)
_keys = st.sampled_from([*HUBSPOT_FIELDS, "id", "region", "extra", "eventDescripton"])
_rows = st.dictionaries(_keys, _values, max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=_rows)
def test_map_row_never_raises_and_valid_rows_are_complete(row: dict[str, Any]) -> None:
    mapper = EventMapper(
        field_map={"id": "externalEventId"}, custom_properties=["region"], timezone="Europe/Paris"
    )
    mapped = mapper.map_row(row)
    assert isinstance(mapped, MappedRow)
    assert mapped.unmapped == {k for k in row if k in ("extra", "eventDescripton")}
    for error in mapped.errors:
        assert error.category in ERROR_CATEGORIES
        assert error.message
        assert len(error.message) < 400
    if mapped.errors:
        assert mapped.payload is None
        return
    payload = mapped.payload
    assert payload is not None
    for field in REQUIRED_FIELDS:
        assert isinstance(payload[field], str)
        assert payload[field] == payload[field].strip() != ""
    assert mapped.key == (payload["externalAccountId"], payload["externalEventId"])
    assert set(payload) <= set(HUBSPOT_FIELDS)
    for field in ("startDateTime", "endDateTime"):
        if field in payload:
            assert Z_DATE.match(payload[field]), payload[field]
    if "startDateTime" in payload and "endDateTime" in payload:
        assert payload["startDateTime"][:19] <= payload["endDateTime"][:19]
    for field in ("eventCancelled", "eventCompleted"):
        if field in payload:
            assert isinstance(payload[field], bool)
    for prop in payload.get("customProperties", []):
        assert set(prop) == {"name", "value"}
        assert isinstance(prop["value"], str)
        assert prop["value"]


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(min_size=1, max_size=200),
    big=st.integers(min_value=65_536, max_value=70_000),
)
def test_unicode_and_huge_strings(text: str, big: int) -> None:
    mapped = _map({**BASE, "eventName": text, "eventDescription": "é" * big})
    assert mapped.payload is None
    assert "VALUE_TOO_LONG" in [e.category for e in mapped.errors]
    ok = _map({**BASE, "eventName": text})
    if text.strip():
        assert ok.payload is not None
        assert ok.payload["eventName"] == text.strip()
    else:
        assert [e.category for e in ok.errors] == ["MISSING_REQUIRED_FIELD"]
