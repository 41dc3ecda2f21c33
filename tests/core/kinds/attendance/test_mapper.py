"""AttendanceMapper: mapping, normalisation and validation tables, keys, request planning, properties."""

from __future__ import annotations

import datetime as dt
import pickle
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubspot_events_provider.core.kinds.attendance.fields import (
    AMBIGUOUS_CONTACT,
    INVALID_CONTACT_ID,
    INVALID_CONTACT_PROPERTY,
    INVALID_EMAIL,
    INVALID_SUBSCRIBER_STATE,
    LEFT_BEFORE_JOINED,
    MAX_INT64,
    PROPERTY_NOT_ALLOWED,
    to_epoch_ms,
    to_vid,
)
from hubspot_events_provider.core.kinds.attendance.keys import dedup_key, group_key, hubspot_input
from hubspot_events_provider.core.kinds.attendance.mapper import (
    AttendanceMapper,
    UnmappedAttendanceFieldsError,
)
from hubspot_events_provider.core.rows.normalize import (
    INVALID_DATETIME,
    INVALID_ROW,
    MISSING_REQUIRED_FIELD,
)
from tests.contract.openapi import validate_request_body

T0_MS = 1_777_626_000_000  # 2026-05-01T09:00:00Z


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "externalAccountId": "acme",
        "externalEventId": "w1",
        "subscriberState": "attend",
        "email": "ann@example.com",
        "interactionDateTime": "2026-05-01T09:00:00Z",
    }
    base.update(fields)
    return base


def mapped(mapper: AttendanceMapper | None = None, **fields: Any) -> dict[str, Any]:
    result = (mapper or AttendanceMapper()).map_row(row(**fields))
    assert result.errors == [], result.errors
    assert result.payload is not None
    return result.payload


def problems(mapper: AttendanceMapper | None = None, **fields: Any) -> list[tuple[str | None, str]]:
    result = (mapper or AttendanceMapper()).map_row(row(**fields))
    assert result.payload is None
    assert result.key is None
    return [(e.field, e.category) for e in result.errors]


def test_full_row_maps_to_the_normalised_payload_and_hubspot_input() -> None:
    mapper = AttendanceMapper(
        field_map={
            "mail": "email",
            "status": "subscriberState",
            "at": "interactionDateTime",
            "in": "joinedAt",
        },
        contact_properties={"first": "firstname", "company": "company"},
        defaults={"externalAccountId": "acme"},
        timezone="Europe/Paris",
    )
    source = {
        "externalEventId": 42,
        "mail": " Ann@Example.com ",
        "status": "ATTENDED",
        "at": "2026-05-01 11:00",  # naive: Paris time
        "in": "2026-05-01T09:00:00.250Z",
        "leftAt": dt.datetime(2026, 5, 1, 11, 45),  # naive datetime: Paris time
        "first": "Ann",
        "company": None,
    }
    result = mapper.map_row(source)
    assert result.errors == []
    assert result.payload == {
        "externalAccountId": "acme",
        "externalEventId": "42",
        "subscriberState": "attend",
        "email": "Ann@Example.com",
        "interactionDateTime": T0_MS,
        "properties": {"joinedAt": "2026-05-01T09:00:00.250Z", "leftAt": "2026-05-01T09:45:00Z"},
        "contactProperties": {"firstname": "Ann"},
    }
    assert result.key == ("acme", "42", "email:ann@example.com", "attend")
    assert hubspot_input(result.payload) == {
        "email": "Ann@Example.com",
        "interactionDateTime": T0_MS,
        "properties": {"joinedAt": "2026-05-01T09:00:00.250Z", "leftAt": "2026-05-01T09:45:00Z"},
        "contactProperties": {"firstname": "Ann"},
    }
    assert group_key(result.payload) == ("acme", "42", "attend", "email")


def test_vid_rows_never_narrow_and_drop_contact_properties() -> None:
    mapper = AttendanceMapper(contact_properties=["firstname"])
    payload = mapped(mapper, email=None, vid="9007199254740993", firstname="Ann", subscriberState="register")
    assert payload["vid"] == 9007199254740993
    assert "contactProperties" not in payload
    assert hubspot_input(payload) == {"vid": 9007199254740993, "interactionDateTime": T0_MS, "properties": {}}
    assert dedup_key(payload) == ("acme", "w1", "vid:9007199254740993", "register")
    assert group_key(payload)[3] == "vid"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("register", "register"),
        ("REGISTER", "register"),
        (" Registered ", "register"),
        ("REGISTERED", "register"),
        ("attend", "attend"),
        ("ATTENDED", "attend"),
        ("Cancel", "cancel"),
        ("CANCELLED", "cancel"),
        ("canceled", "cancel"),
    ],
)
def test_subscriber_state_aliases(raw: str, state: str) -> None:
    payload = mapped(subscriberState=raw)
    assert payload["subscriberState"] == state


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (T0_MS, T0_MS),
        (T0_MS // 1000, T0_MS),  # epoch seconds
        (str(T0_MS), T0_MS),
        ("2026-05-01T11:00:00+02:00", T0_MS),
        ("2026-05-01 09:00:00", T0_MS),
        (dt.datetime(2026, 5, 1, 9, 0, 0, 999_999, tzinfo=dt.UTC), T0_MS + 999),
        (dt.date(2026, 5, 1), T0_MS - 9 * 3_600_000),
        ("2026-05-01T09:00:00.5Z", T0_MS + 500),
    ],
)
def test_interaction_time_is_epoch_milliseconds(raw: Any, expected: int) -> None:
    assert mapped(interactionDateTime=raw)["interactionDateTime"] == expected


BAD_ROWS: list[tuple[str, dict[str, Any], list[tuple[str | None, str]]]] = [
    ("bad email", {"email": "ann@example"}, [("email", INVALID_EMAIL)]),
    ("email with blank", {"email": "ann smith@example.com"}, [("email", INVALID_EMAIL)]),
    ("two @", {"email": "a@b@example.com"}, [("email", INVALID_EMAIL)]),
    ("email not text", {"email": 3.5}, [("email", "INVALID_TYPE")]),
    ("both contacts", {"vid": 151}, [("vid", AMBIGUOUS_CONTACT)]),
    ("no contact", {"email": None}, [("email", MISSING_REQUIRED_FIELD)]),
    ("blank contact", {"email": "  ", "vid": ""}, [("email", MISSING_REQUIRED_FIELD)]),
    ("bad vid only", {"email": None, "vid": "12a"}, [("vid", INVALID_CONTACT_ID)]),
    ("negative vid", {"email": None, "vid": -5}, [("vid", INVALID_CONTACT_ID)]),
    ("vid beyond int64", {"email": None, "vid": MAX_INT64 + 1}, [("vid", INVALID_CONTACT_ID)]),
    ("boolean vid", {"email": None, "vid": True}, [("vid", INVALID_CONTACT_ID)]),
    ("inexact float vid", {"email": None, "vid": 2.0**60}, [("vid", INVALID_CONTACT_ID)]),
    ("fraction vid", {"email": None, "vid": Decimal("1.5")}, [("vid", INVALID_CONTACT_ID)]),
    ("state unknown", {"subscriberState": "NO_SHOW"}, [("subscriberState", INVALID_SUBSCRIBER_STATE)]),
    ("state missing", {"subscriberState": ""}, [("subscriberState", MISSING_REQUIRED_FIELD)]),
    ("account missing", {"externalAccountId": None}, [("externalAccountId", MISSING_REQUIRED_FIELD)]),
    ("event missing", {"externalEventId": " "}, [("externalEventId", MISSING_REQUIRED_FIELD)]),
    ("time missing", {"interactionDateTime": None}, [("interactionDateTime", MISSING_REQUIRED_FIELD)]),
    ("time garbage", {"interactionDateTime": "soon"}, [("interactionDateTime", INVALID_DATETIME)]),
    (
        "time before 1970",
        {"interactionDateTime": "1969-12-31T23:59:59Z"},
        [("interactionDateTime", INVALID_DATETIME)],
    ),
    ("joined garbage", {"joinedAt": "half past"}, [("joinedAt", INVALID_DATETIME)]),
    (
        "left before joined",
        {"joinedAt": "2026-05-01T10:00:00Z", "leftAt": "2026-05-01T09:59:59Z"},
        [("leftAt", LEFT_BEFORE_JOINED)],
    ),
    (
        "times on register",
        {"subscriberState": "register", "joinedAt": "2026-05-01T10:00:00Z", "leftAt": "2026-05-01T11:00:00Z"},
        [("joinedAt", PROPERTY_NOT_ALLOWED), ("leftAt", PROPERTY_NOT_ALLOWED)],
    ),
    ("time on cancel", {"subscriberState": "CANCELLED", "leftAt": 1}, [("leftAt", PROPERTY_NOT_ALLOWED)]),
    (
        "contact props not json",
        {"contactProperties": "{nope"},
        [("contactProperties", INVALID_CONTACT_PROPERTY)],
    ),
    ("contact props list", {"contactProperties": [1, 2]}, [("contactProperties", INVALID_CONTACT_PROPERTY)]),
]


@pytest.mark.parametrize(("fields", "expected"), [b[1:] for b in BAD_ROWS], ids=[b[0] for b in BAD_ROWS])
def test_invalid_rows_are_refused_with_field_and_category(
    fields: dict[str, Any], expected: list[tuple[str | None, str]]
) -> None:
    assert problems(**fields) == expected


def test_every_problem_of_a_row_is_reported() -> None:
    found = problems(email="bad", subscriberState="maybe", interactionDateTime="x", externalEventId=None)
    assert found == [
        ("subscriberState", INVALID_SUBSCRIBER_STATE),
        ("email", INVALID_EMAIL),
        ("interactionDateTime", INVALID_DATETIME),
        ("externalEventId", MISSING_REQUIRED_FIELD),
    ]
    assert AttendanceMapper().map_row(["not", "a", "dict"]).errors[0].category == INVALID_ROW


def test_contact_properties_sources_defaults_and_row_object() -> None:
    mapper = AttendanceMapper(
        contact_properties=["firstname", "employees"],
        defaults={"contactProperties": {"lifecyclestage": "lead"}, "subscriberState": "register"},
    )
    payload = mapped(mapper, subscriberState=None, firstname="Ann", employees=250)
    assert payload["subscriberState"] == "register"
    assert payload["contactProperties"] == {"firstname": "Ann", "employees": "250"}
    from_row = mapped(mapper, contactProperties='{"jobtitle": "CTO"}', firstname=None, employees=None)
    assert from_row["contactProperties"] == {"jobtitle": "CTO"}
    default_only = mapped(mapper, firstname="", employees=None)
    assert default_only["contactProperties"] == {"lifecyclestage": "lead"}
    assert problems(mapper, firstname={"a": 1}) == [("contactProperties.firstname", INVALID_CONTACT_PROPERTY)]


def test_field_map_falls_back_to_the_same_named_key_and_ignore_fields() -> None:
    mapper = AttendanceMapper(field_map={"work_email": "email"}, ignore_fields=["note"])
    assert mapped(mapper, work_email=None, email="b@example.com")["email"] == "b@example.com"
    assert mapped(mapper, work_email="w@example.com", email="b@example.com")["email"] == "w@example.com"
    assert mapper.map_row(row(note="x")).unmapped == frozenset()
    renamed = AttendanceMapper(field_map={"mail": "email"}, ignore_fields=["email"])
    assert renamed.unmapped_keys(["mail", "email"]) == set()
    result = renamed.map_row(row(mail=None))
    assert [(e.field, e.category) for e in result.errors] == [("email", MISSING_REQUIRED_FIELD)]


def test_unmapped_keys_are_refused_with_suggestions() -> None:
    mapper = AttendanceMapper()
    result = mapper.map_row(row(subscriber_state="attend", joined_at="x", venue="Berlin"))
    assert result.unmapped == frozenset({"subscriber_state", "joined_at", "venue"})
    err = mapper.unmapped_error(result.unmapped, source="attendance.csv", line=2)
    assert isinstance(err, UnmappedAttendanceFieldsError)
    assert err.keys == ["joined_at", "subscriber_state", "venue"]
    assert err.suggestions == {"joined_at": "joinedAt", "subscriber_state": "subscriberState"}
    text = str(err)
    assert text.startswith("attendance.csv, line 2: source keys")
    assert "contact_properties" in text
    assert "'subscriber_state' -> 'subscriberState'" in text
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes (Airflow pickles errors)
    assert (str(again), again.suggestions) == (text, err.suggestions)
    assert AttendanceMapper(ignore_unmapped=True).unmapped_keys(["venue"]) == set()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"field_map": {"x": "subscriber_state"}}, "'subscriber_state' -> 'subscriberState'"),
        ({"defaults": {"vid": "abc"}}, "defaults['vid']"),
        ({"defaults": {"eventName": "x"}}, "is not an attendance field"),
        ({"timezone": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"field_map": {"a": "email"}, "ignore_fields": ["a"]}, "both in field_map and in ignore_fields"),
        ({"contact_properties": [""]}, "non-empty strings"),
    ],
)
def test_bad_configuration_is_refused_early(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        AttendanceMapper.validate_config(**kwargs)


def test_dedup_key_ignores_email_case_and_separates_states() -> None:
    first = mapped(email="Ann@Example.com")
    second = mapped(email="ann@example.com", interactionDateTime=T0_MS + 1)
    assert dedup_key(first) == dedup_key(second)
    assert dedup_key(mapped(subscriberState="register")) != dedup_key(first)


# -- properties ------------------------------------------------------------------------------------

OPTIONAL_EMPTY = st.sampled_from([None, "", "  "])


@given(st.integers(min_value=1, max_value=MAX_INT64), st.sampled_from([int, str, Decimal]))
def test_any_int64_vid_survives_exactly(vid: int, kind: type) -> None:
    assert to_vid(kind(vid)) == vid
    payload = mapped(email=None, vid=kind(vid))
    assert payload["vid"] == vid
    assert type(payload["vid"]) is int


@given(
    st.datetimes(
        min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
    )
)
def test_interaction_time_round_trips_to_the_millisecond(moment: dt.datetime) -> None:
    exact = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    for raw in (moment, moment.isoformat(), moment.replace(tzinfo=None)):
        assert to_epoch_ms(raw) == exact


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "vid": OPTIONAL_EMPTY,
            "joinedAt": OPTIONAL_EMPTY,
            "leftAt": OPTIONAL_EMPTY,
            "contactProperties": OPTIONAL_EMPTY,
            "firstname": OPTIONAL_EMPTY,
        },
    )
)
def test_null_or_empty_is_the_same_as_absent(extra: dict[str, Any]) -> None:
    mapper = AttendanceMapper(contact_properties=["firstname"])
    assert mapper.map_row(row(**extra)) == mapper.map_row(row())


@given(st.sampled_from(["register", "attend", "cancel", "registered", "attended", "cancelled"]), st.data())
def test_state_in_any_case(state: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(state), max_size=len(state)))
    cased = "".join(c.upper() if f else c for c, f in zip(state, flips, strict=True))
    assert mapped(subscriberState=cased)["subscriberState"] == state[: {"r": 8, "a": 6, "c": 6}[state[0]]]


@pytest.mark.parametrize("version", ["2026-03", "2026-09", "v3"])
def test_hubspot_inputs_match_the_spec_strictly(version: str) -> None:
    mapper = AttendanceMapper(contact_properties=["firstname"])
    by_email = mapped(mapper, firstname="Ann", joinedAt="2026-05-01T09:00:00Z", leftAt="2026-05-01T10:00:00Z")
    by_vid = mapped(mapper, email=None, vid=86097279137, subscriberState="cancel")
    bare = mapped(mapper, subscriberState="register")
    for path, payloads in (
        ("/attendance/{externalEventId}/{subscriberState}/email-create", [by_email, bare]),
        ("/attendance/{externalEventId}/{subscriberState}/create", [by_vid]),
    ):
        body = {"inputs": [hubspot_input(p) for p in payloads]}
        validate_request_body(version, "POST", path, body, strict=True)
