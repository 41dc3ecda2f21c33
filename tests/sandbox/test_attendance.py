"""Attendance in the sandbox: contacts, participations, per-row errors, /complete, participation reads.

Every JSON answer is checked against the spec of the prefix it came from (``Api.call``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hubspot_events_provider.sandbox import Fault, SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.config import SEED_CONTACTS
from tests.sandbox.conftest import Api, event, settle

EMAIL_ROUTE = "/attendance/{externalEventId}/{subscriberState}/email-create"
VID_ROUTE = "/attendance/{externalEventId}/{subscriberState}/create"
T0 = 1_777_626_000_000  # 2026-05-01T09:00:00Z in epoch milliseconds
ERIN = SEED_CONTACTS[0]  # vid 47733471576
BIG = SEED_CONTACTS[3]  # vid 2**53 + 1: lost by any float round trip


class AttendanceApi(Api):
    """:class:`Api` plus the attendance routes."""

    def record(
        self,
        state: str,
        inputs: Any,
        *,
        event_id: str = "w1",
        account: str | None = "acct",
        by: str = "email",
    ) -> requests.Response:
        params = {} if account is None else {"externalAccountId": account}
        return self.call(
            "POST",
            EMAIL_ROUTE if by == "email" else VID_ROUTE,
            path_params={"externalEventId": event_id, "subscriberState": state},
            params=params,
            json={"inputs": inputs},
        )

    def counters(self, event_id: str = "w1", account: str = "acct") -> requests.Response:
        return self.call(
            "GET",
            "/participations/{externalAccountId}/{externalEventId}",
            path_params={"externalAccountId": account, "externalEventId": event_id},
        )

    def breakdown(self, event_id: str = "w1", account: str = "acct", **params: Any) -> requests.Response:
        return self.call(
            "GET",
            "/participations/{externalAccountId}/{externalEventId}/breakdown",
            path_params={"externalAccountId": account, "externalEventId": event_id},
            params=params,
        )

    def complete(self, body: Any, event_id: str = "w1", account: str = "acct") -> requests.Response:
        return self.call(
            "POST",
            "/events/{externalEventId}/complete",
            path_params={"externalEventId": event_id},
            params={"externalAccountId": account},
            json=body,
        )


@pytest.fixture
def att(hubspot_sandbox: SandboxServer) -> Iterator[AttendanceApi]:
    """An attendance API on a fresh sandbox holding event ``acct``/``w1`` (its read lag waited out);
    participation reads show writes at once,
    per-row errors name their input fully (``row_error_shape="full"``; the other shapes are tested
    on their own)."""
    hubspot_sandbox.configure(participation_lag_s=0, row_error_shape="full")
    client = AttendanceApi(hubspot_sandbox)
    assert client.upsert([event("w1")]).status_code == 200
    settle(hubspot_sandbox)
    yield client
    client.session.close()


def email_input(email: str, at: int = T0, **extra: Any) -> dict[str, Any]:
    return {"email": email, "interactionDateTime": at, "properties": {}, "contactProperties": {}, **extra}


def vid_input(vid: int, at: int = T0, **extra: Any) -> dict[str, Any]:
    return {"vid": vid, "interactionDateTime": at, "properties": {}, **extra}


def test_email_create_creates_missing_contacts_and_never_updates_existing(att: AttendanceApi) -> None:
    new = email_input("Nia.New@example.com", contactProperties={"firstname": "Nia", "company": "Acme"})
    existing = email_input(ERIN["email"].upper(), contactProperties={"firstname": "Changed"})
    resp = att.record("register", [new, existing])
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "COMPLETE"
    assert "numErrors" not in body
    created = att.sandbox.get_contact("nia.new@example.com")
    assert created is not None
    assert created["properties"] == {"firstname": "Nia", "company": "Acme"}
    assert created["origin"] == "email-create"
    assert created["vid"] > 2**31
    assert body["results"] == [
        {"email": "Nia.New@example.com", "vid": created["vid"]},
        {"email": ERIN["email"].upper(), "vid": ERIN["vid"]},
    ]
    erin = att.sandbox.get_contact(ERIN["vid"])
    assert erin is not None
    assert erin["properties"] == ERIN["properties"]
    assert att.sandbox.stats()["contacts_created"] == 1
    parts = att.sandbox.participations("acct", "w1")
    assert [(p["vid"], p["state"], p["occurredAt"]) for p in parts] == [
        (created["vid"], "REGISTERED", T0),
        (ERIN["vid"], "REGISTERED", T0),
    ]


def test_create_by_vid_keeps_int64_ids_exact_and_reports_unknown_ids(att: AttendanceApi) -> None:
    resp = att.record(
        "register", [vid_input(BIG["vid"]), vid_input(123456789012), vid_input(ERIN["vid"])], by="vid"
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["results"] == [{"vid": BIG["vid"]}, {"vid": ERIN["vid"]}]
    assert body["numErrors"] == 1
    (error,) = body["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"inputIndex": ["1"], "vid": ["123456789012"]}
    assert error["errors"][0]["code"] == "CONTACT_NOT_FOUND"
    assert "123456789012" in error["message"]
    assert sorted(p["vid"] for p in att.sandbox.participations()) == sorted([BIG["vid"], ERIN["vid"]])
    assert att.sandbox.stats()["rejected_attendance_rows"] == 1


ROW_PROBLEMS: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("bad email", "register", email_input("not-an-email"), "email", "INVALID_EMAIL"),
    ("email no dot", "register", email_input("a@localhost"), "email", "INVALID_EMAIL"),
    ("email double dot", "register", email_input("ann..smith@example.com"), "email", "INVALID_EMAIL"),
    ("email numeric tld", "register", email_input("a@example.c0"), "email", "INVALID_EMAIL"),
    ("email missing", "register", {"interactionDateTime": T0}, "email", "REQUIRED_FIELD"),
    (
        "joinedAt on register",
        "register",
        email_input("a@example.com", properties={"joinedAt": "2026-05-01T09:00:00Z"}),
        "properties.joinedAt",
        "PROPERTY_NOT_ALLOWED",
    ),
    (
        "leftAt on cancel",
        "cancel",
        email_input("a@example.com", properties={"leftAt": "2026-05-01T09:00:00Z"}),
        "properties.leftAt",
        "PROPERTY_NOT_ALLOWED",
    ),
    (
        "unknown property on attend",
        "attend",
        email_input("a@example.com", properties={"duration": "5"}),
        "properties.duration",
        "PROPERTY_NOT_ALLOWED",
    ),
    (
        "joinedAt without offset",
        "attend",
        email_input("a@example.com", properties={"joinedAt": "2026-05-01T09:00:00"}),
        "properties.joinedAt",
        "INVALID_DATE",
    ),
    (
        "time as text",
        "register",
        email_input("a@example.com", at="2026-05-01"),
        "interactionDateTime",
        "INVALID_INTEGER",
    ),
    ("time missing", "register", {"email": "a@example.com"}, "interactionDateTime", "REQUIRED_FIELD"),
    ("unknown field", "register", email_input("a@example.com", vid=5), "vid", "UNKNOWN_FIELD"),
    (
        "contact property not text",
        "register",
        email_input("a@example.com", contactProperties={"n": 1}),
        "contactProperties",
        "INVALID_TYPE",
    ),
]


@pytest.mark.parametrize(
    ("state", "item", "where", "code"), [r[1:] for r in ROW_PROBLEMS], ids=[r[0] for r in ROW_PROBLEMS]
)
def test_invalid_input_is_a_row_error_and_its_neighbours_are_recorded(
    att: AttendanceApi, state: str, item: dict[str, Any], where: str, code: str
) -> None:
    good = email_input(ERIN["email"])
    resp = att.record(state, [good, item])
    assert resp.status_code == 200
    body = resp.json()
    assert body["results"] == [{"email": ERIN["email"], "vid": ERIN["vid"]}]
    assert body["numErrors"] == 1
    (error,) = body["errors"]
    assert error["category"] == "VALIDATION_ERROR"
    assert error["context"]["inputIndex"] == ["1"]
    assert (where, code) in [(e["in"], e["code"]) for e in error["errors"]]
    assert len(att.sandbox.participations()) == 1


def test_vid_route_refuses_contact_properties_and_bad_ids(att: AttendanceApi) -> None:
    resp = att.record(
        "register",
        [
            vid_input(ERIN["vid"], contactProperties={}),
            vid_input(True),
            vid_input("47733471576"),
            vid_input(-3),
        ],
        by="vid",
    )
    body = resp.json()
    assert body["results"] == []
    assert [e["errors"][0]["code"] for e in body["errors"]] == [
        "UNKNOWN_FIELD",
        "INVALID_INTEGER",
        "INVALID_INTEGER",
        "INVALID_INTEGER",
    ]


def test_unknown_event_is_a_whole_request_404_by_default(att: AttendanceApi) -> None:
    resp = att.record("register", [email_input("a@example.com")], event_id="nope")
    assert resp.status_code == 404
    assert resp.json()["category"] == "OBJECT_NOT_FOUND"
    other_account = att.record("register", [email_input("a@example.com")], account="other")
    assert other_account.status_code == 404
    assert att.sandbox.participations() == []
    assert att.sandbox.get_contact("a@example.com") is None


def test_unknown_event_per_row_mode(att: AttendanceApi) -> None:
    att.sandbox.configure(attendance_unknown_event="row")
    resp = att.record(
        "register", [email_input("a@example.com"), email_input("b@example.com")], event_id="nope"
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["results"] == []
    assert body["numErrors"] == 2
    assert {e["category"] for e in body["errors"]} == {"OBJECT_NOT_FOUND"}
    assert [e["context"]["email"] for e in body["errors"]] == [["a@example.com"], ["b@example.com"]]
    assert att.sandbox.participations() == []


def test_partial_modes_207_and_400(att: AttendanceApi) -> None:
    att.sandbox.configure(partial_mode="207")
    resp = att.record("register", [email_input(ERIN["email"]), email_input("bad")])
    assert resp.status_code == 207
    assert resp.json()["numErrors"] == 1
    att.sandbox.configure(partial_mode="400")
    resp = att.record("register", [email_input("x@example.com"), email_input("bad")])
    assert resp.status_code == 400
    assert resp.json()["errors"] == [
        {"message": "Invalid value in field 'email' (INVALID_EMAIL).", "in": "email"}
    ]
    assert "inputIndex" not in resp.text  # the row is not named
    assert att.sandbox.get_contact("x@example.com") is None
    assert len(att.sandbox.participations()) == 1


@pytest.mark.parametrize(
    ("query", "path_state", "status"),
    [
        ({}, "register", 400),
        ({"externalAccountId": "acct"}, "REGISTER", 400),
        ({"externalAccountId": "acct"}, "attended", 400),
    ],
)
def test_whole_request_problems(
    att: AttendanceApi, query: dict[str, str], path_state: str, status: int
) -> None:
    resp = att.call(
        "POST",
        EMAIL_ROUTE,
        path_params={"externalEventId": "w1", "subscriberState": path_state},
        params=query,
        json={"inputs": [email_input("a@example.com")]},
    )
    assert resp.status_code == status
    assert resp.json()["category"] == "VALIDATION_ERROR"
    too_many = att.record("register", [email_input(f"u{i}@example.com") for i in range(101)])
    assert too_many.status_code == 400


def _load_three_states(att: AttendanceApi) -> dict[str, int]:
    """Register four contacts, two attend (one without times), one cancels."""
    emails = ["r1@example.com", "r2@example.com", "r3@example.com", ERIN["email"]]
    assert att.record("register", [email_input(e) for e in emails]).status_code == 200
    attend = [
        email_input(
            "r1@example.com",
            T0 + 60_000,
            properties={"joinedAt": "2026-05-01T09:05:00Z", "leftAt": "2026-05-01T09:35:00Z"},
        ),
        email_input(ERIN["email"], T0 + 60_000, properties={"joinedAt": "2026-05-01T11:00:00+02:00"}),
    ]
    assert "numErrors" not in att.record("attend", attend).json()
    assert "numErrors" not in att.record("cancel", [email_input("r2@example.com", T0 + 90_000)]).json()
    return {c["email"]: c["vid"] for c in att.sandbox.contacts()}


def test_current_state_counters_on_participations_and_event_reads(att: AttendanceApi) -> None:
    _load_three_states(att)
    expected = {"registered": 1, "attended": 2, "cancelled": 1, "noShows": 0}
    assert att.counters().json() == expected
    read = att.read("w1").json()
    assert (read["registrants"], read["attendees"], read["cancellations"], read["noShows"]) == (1, 2, 1, 0)
    listed = att.call("GET", "", params={"limit": 10}).json()["results"][0]
    assert (listed["registrants"], listed["attendees"], listed["cancellations"]) == (1, 2, 1)
    assert att.sandbox.get_event("acct", "w1")["attendees"] == 2  # type: ignore[index]
    # A register arriving after an attend moves the contact back: arrival order, not interaction time.
    att.record("register", [email_input("r1@example.com", T0)])
    assert att.counters().json() == {**expected, "registered": 2, "attended": 1}


def test_resending_the_same_input_changes_nothing(att: AttendanceApi) -> None:
    att.record("register", [email_input("r1@example.com")])
    before = (att.sandbox.participations(), att.sandbox.stats()["timeline_events"])
    att.record("register", [email_input("R1@example.com")])
    after = (att.sandbox.participations(), att.sandbox.stats()["timeline_events"])
    assert [(p["vid"], p["state"], p["occurredAt"]) for p in after[0]] == [
        (p["vid"], p["state"], p["occurredAt"]) for p in before[0]
    ]
    assert after[1] == before[1] == 1
    att.record("register", [email_input("r1@example.com", T0 + 1)])
    assert att.sandbox.stats()["timeline_events"] == 2


def test_complete_computes_durations_and_marks_no_shows(att: AttendanceApi) -> None:
    vids = _load_three_states(att)
    before = att.breakdown(state="ATTENDED").json()["results"]
    assert all("attendanceDurationSeconds" not in r["properties"] for r in before)
    resp = att.complete({"startDateTime": "2026-05-01T09:00:00Z", "endDateTime": "2026-05-01T10:00:00Z"})
    assert resp.status_code == 200
    assert resp.json()["eventCompleted"] is True
    stored = att.sandbox.get_event("acct", "w1")
    assert stored is not None
    assert (stored["startDateTime"], stored["endDateTime"]) == (
        "2026-05-01T09:00:00.000Z",
        "2026-05-01T10:00:00.000Z",
    )
    by_vid = {p["vid"]: p for p in att.sandbox.participations()}
    assert by_vid[vids["r1@example.com"]]["attendanceDurationSeconds"] == 1800
    assert by_vid[vids["r1@example.com"]]["attendancePercentage"] == "50.0"
    assert by_vid[ERIN["vid"]]["attendanceDurationSeconds"] is None  # no leftAt, no duration
    assert by_vid[vids["r3@example.com"]]["state"] == "NO_SHOW"
    assert att.counters().json() == {"registered": 0, "attended": 2, "cancelled": 1, "noShows": 1}
    (r1,) = att.breakdown(contactIdentifier="r1@example.com").json()["results"]
    assert r1["properties"]["attendanceDurationSeconds"] == 1800
    assert r1["properties"]["attendancePercentage"] == "50.0"


def test_complete_without_no_shows_and_its_errors(att: AttendanceApi) -> None:
    att.sandbox.configure(complete_marks_no_shows=False)
    att.record("register", [email_input("r1@example.com")])
    window = {"startDateTime": "2026-05-01T09:00:00Z", "endDateTime": "2026-05-01T10:00:00Z"}
    assert att.complete(window).status_code == 200
    assert att.counters().json()["registered"] == 1
    assert att.complete(window, event_id="nope").status_code == 404
    assert att.complete({"startDateTime": "2026-05-01T09:00:00Z"}).status_code == 400
    backwards = {"startDateTime": window["endDateTime"], "endDateTime": window["startDateTime"]}
    assert att.complete(backwards).status_code == 400
    assert att.complete(window, account="").status_code == 400


def test_breakdown_pages_filters_and_totals(att: AttendanceApi) -> None:
    emails = [f"p{i}@example.com" for i in range(7)]
    att.record("register", [email_input(e) for e in emails])
    att.record("cancel", [email_input(emails[0], T0 + 5)])
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"after": after} if after else {})}
        page = att.breakdown(**params).json()
        assert page["total"] == 7
        seen.extend(r["associations"]["contact"]["email"] for r in page["results"])
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == emails
    registered = att.breakdown(state="REGISTERED", limit=100).json()
    assert registered["total"] == 6
    first = att.breakdown(contactIdentifier=emails[0]).json()["results"]
    assert [r["properties"]["attendanceState"] for r in first] == ["CANCELLED"]
    assert first[0]["properties"]["occurredAt"] == T0 + 5
    assert first[0]["associations"]["marketingEvent"] == {
        "marketingEventId": att.sandbox.get_event("acct", "w1")["objectId"],  # type: ignore[index]
        "name": "Event w1",
        "externalAccountId": "acct",
        "externalEventId": "w1",
    }
    vid = first[0]["associations"]["contact"]["contactId"]
    assert att.breakdown(contactIdentifier=vid).json()["total"] == 1
    assert att.breakdown(contactIdentifier="nobody@example.com").json() == {"results": [], "total": 0}
    assert att.breakdown(limit=101).status_code == 400
    assert att.breakdown(state="attended").status_code == 400
    assert att.breakdown(event_id="nope").status_code == 404
    assert att.counters(event_id="nope").status_code == 404


def test_object_id_routes_and_contact_breakdown(att: AttendanceApi) -> None:
    object_id = att.sandbox.get_event("acct", "w1")["objectId"]  # type: ignore[index]
    resp = att.call(
        "POST",
        "/{objectId}/attendance/{subscriberState}/create",
        path_params={"objectId": object_id, "subscriberState": "attend"},
        json={"inputs": [vid_input(ERIN["vid"], properties={"joinedAt": "2026-05-01T09:00:00Z"})]},
    )
    assert resp.json()["results"] == [{"vid": ERIN["vid"]}]
    counters = att.call(
        "GET", "/participations/{marketingEventId}", path_params={"marketingEventId": object_id}
    )
    assert counters.json()["attended"] == 1
    by_object = att.call(
        "GET", "/participations/{marketingEventId}/breakdown", path_params={"marketingEventId": object_id}
    ).json()
    assert by_object["total"] == 1
    by_contact = att.call(
        "GET",
        "/participations/contacts/{contactIdentifier}/breakdown",
        path_params={"contactIdentifier": ERIN["email"]},
    ).json()
    assert [r["associations"]["marketingEvent"]["externalEventId"] for r in by_contact["results"]] == ["w1"]
    unknown = att.call(
        "POST",
        "/{objectId}/attendance/{subscriberState}/email-create",
        path_params={"objectId": "999", "subscriberState": "attend"},
        json={"inputs": [email_input("a@example.com")]},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize("version", ["2026-09", "v3"])
def test_other_prefixes_serve_attendance(hubspot_sandbox: SandboxServer, version: str) -> None:
    hubspot_sandbox.configure(participation_lag_s=0)
    client = AttendanceApi(hubspot_sandbox, version)
    client.upsert([event("w1")])
    resp = client.record("register", [vid_input(BIG["vid"])], by="vid")
    assert resp.json()["results"] == [{"vid": BIG["vid"]}]  # never narrowed, whatever 2026-09 says
    client.record("attend", [email_input("n@example.com", properties={"leftAt": "2026-05-01T10:00:00Z"})])
    assert client.counters().json() == {"registered": 1, "attended": 1, "cancelled": 0, "noShows": 0}
    client.session.close()


def test_reads_lag_behind_writes_by_default(hubspot_sandbox: SandboxServer) -> None:
    assert SandboxConfig().participation_lag_s == 1.0
    hubspot_sandbox.configure(participation_lag_s=0.4)
    client = AttendanceApi(hubspot_sandbox)
    client.upsert([event("w1")])
    settle(hubspot_sandbox)
    client.record("register", [email_input("late@example.com")])
    zero = {"registered": 0, "attended": 0, "cancelled": 0, "noShows": 0}
    assert client.counters().json() == zero
    assert client.breakdown().json() == {"results": [], "total": 0}
    assert client.read("w1").json()["registrants"] == 0
    assert [p["state"] for p in hubspot_sandbox.participations()] == ["REGISTERED"]  # introspection: now
    assert hubspot_sandbox.get_event("acct", "w1")["registrants"] == 1  # type: ignore[index]
    time.sleep(0.5)
    assert client.counters().json() == {**zero, "registered": 1}
    client.record("attend", [email_input("late@example.com", T0 + 1)])
    (seen,) = client.breakdown().json()["results"]
    assert (seen["properties"]["attendanceState"], seen["properties"]["occurredAt"]) == ("REGISTERED", T0)
    time.sleep(0.5)
    assert client.counters().json() == {**zero, "attended": 1}
    client.session.close()


def test_attendance_fault_route_and_stats(att: AttendanceApi) -> None:
    att.sandbox.add_fault(Fault(kind="5xx_before", route="attendance", status=503, times=1))
    assert att.record("register", [email_input("a@example.com")]).status_code == 503
    assert att.upsert([event("w2")]).status_code == 200
    assert att.record("register", [email_input("a@example.com")]).status_code == 200
    stats = att.sandbox.stats()
    assert stats["attendance_requests"] == 2
    assert stats["participations"] == 1
    assert stats["contacts"] == len(SEED_CONTACTS) + 1


def test_http_introspection_and_reset(att: AttendanceApi) -> None:
    att.record("register", [email_input("a@example.com")])
    contacts = requests.get(f"{att.sandbox.url}/_sandbox/contacts", timeout=5).json()["results"]
    assert {c["email"] for c in contacts} == {c["email"] for c in SEED_CONTACTS} | {"a@example.com"}
    parts = requests.get(f"{att.sandbox.url}/_sandbox/participations", timeout=5).json()["results"]
    assert [(p["email"], p["state"]) for p in parts] == [("a@example.com", "REGISTERED")]
    att.sandbox.reset()
    assert att.sandbox.participations() == []
    assert [c["vid"] for c in att.sandbox.contacts()] == [c["vid"] for c in SEED_CONTACTS]


def test_seed_contacts_are_configurable(hubspot_sandbox_factory: Any) -> None:
    sandbox = hubspot_sandbox_factory(SandboxConfig(seed_contacts=({"vid": 5, "email": "five@example.com"},)))
    assert [(c["vid"], c["email"], c["properties"]) for c in sandbox.contacts()] == [
        (5, "five@example.com", {})
    ]
    with pytest.raises(ValueError, match="attendance_unknown_event"):
        SandboxConfig(attendance_unknown_event="400")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="participation_lag_s"):
        SandboxConfig(participation_lag_s=-1)


@pytest.mark.parametrize(
    ("shape", "context", "names_contact_in_message"),
    [
        ("full", {"inputIndex": ["1"], "email": ["bad"]}, False),
        ("event_id", {"email": ["bad"]}, False),
        ("message", {}, True),
    ],
)
def test_row_error_shapes_name_the_input_as_configured(
    att: AttendanceApi, shape: str, context: dict[str, list[str]], names_contact_in_message: bool
) -> None:
    att.sandbox.configure(row_error_shape=shape)
    resp = att.record("register", [email_input(ERIN["email"]), email_input("bad")])
    body = resp.json()
    assert (resp.status_code, body["numErrors"]) == (200, 1)
    (error,) = body["errors"]
    assert error["context"] == context
    assert ("Contact 'bad'" in error["message"]) is names_contact_in_message
    assert error["errors"][0]["in"] == "email"


def test_default_row_error_shape_is_a_bare_count(hubspot_sandbox: SandboxServer) -> None:
    """The least helpful shape by default, as for upserts: ``numErrors`` and no ``errors[]``."""
    hubspot_sandbox.configure(participation_lag_s=0)
    api = AttendanceApi(hubspot_sandbox)
    assert api.upsert([event("w1")]).status_code == 200
    resp = api.record("register", [email_input(ERIN["email"]), email_input("bad")])
    body = resp.json()
    assert (resp.status_code, body["numErrors"], "errors" in body) == (200, 1, False)
    assert body["results"] == [{"email": ERIN["email"], "vid": ERIN["vid"]}]
    api.session.close()
