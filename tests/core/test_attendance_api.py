"""Attendance API calls against the sandbox over HTTP: one group row by row, complete, participation reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hubspot_events_provider.core.attendance import AttendanceMapper
from hubspot_events_provider.core.attendance_api import (
    EVENT_NOT_FOUND,
    AttendanceOutcome,
    _account,
    attendance_path,
    complete_as_held,
    complete_event,
    get_participation,
    get_participation_breakdown,
    get_participation_counters,
    iter_participation_breakdown,
    send_attendance_group,
)
from hubspot_events_provider.core.auth import StaticTokenAuth
from hubspot_events_provider.core.client import HubSpotClient
from hubspot_events_provider.core.config import ClientConfig
from hubspot_events_provider.core.errors import HubSpotNotFoundError
from hubspot_events_provider.sandbox import Fault, SandboxServer
from hubspot_events_provider.sandbox.config import SEED_CONTACTS

Factory = Callable[..., SandboxServer]
MAPPER = AttendanceMapper(contact_properties=["firstname"], defaults={"externalAccountId": "acme"})
EVENT = {
    "externalAccountId": "acme",
    "externalEventId": "w1",
    "eventName": "Webinar",
    "eventOrganizer": "Acme",
    "startDateTime": "2026-05-01T09:00:00Z",
    "endDateTime": "2026-05-01T10:00:00Z",
}


def client_for(sb: SandboxServer, **kwargs: Any) -> HubSpotClient:
    config = ClientConfig(base_url=sb.url, backoff_base=0.01, backoff_cap=0.05, **kwargs)  # type: ignore[arg-type]
    return HubSpotClient(config, StaticTokenAuth(sb.token))


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer) -> SandboxServer:
    hubspot_sandbox.configure(participation_lag_s=0)  # reads show writes at once
    with client_for(hubspot_sandbox) as c:
        c.upsert_events([EVENT])
    return hubspot_sandbox


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[HubSpotClient]:
    with client_for(sandbox) as c:
        yield c


def payloads(state: str, *contacts: str | int, **fields: Any) -> list[dict[str, Any]]:
    out = []
    for contact in contacts:
        key = "vid" if isinstance(contact, int) else "email"
        row = {
            "externalEventId": "w1",
            "subscriberState": state,
            key: contact,
            "interactionDateTime": 1_777_626_000,
        }
        result = MAPPER.map_row({**row, **fields})
        assert result.payload is not None, result.errors
        out.append(result.payload)
    return out


def test_email_group_records_every_row_and_creates_contacts(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    erin = SEED_CONTACTS[0]
    outcome = send_attendance_group(
        client, payloads("register", "new@example.com", erin["email"], firstname="Nia")
    )
    new = sandbox.get_contact("new@example.com")
    assert new is not None
    assert outcome.recorded == [(0, new["vid"]), (1, erin["vid"])]
    assert (outcome.failed, outcome.requests, outcome.splits) == ([], 1, 0)
    assert new["properties"] == {"firstname": "Nia"}
    assert sandbox.get_contact(erin["vid"])["properties"] == erin["properties"]  # type: ignore[index]
    assert [p["occurredAt"] for p in sandbox.participations()] == [1_777_626_000_000] * 2
    (request,) = [r for r in sandbox.requests() if "/attendance/" in r.path]
    assert request.path == "/marketing/marketing-events/2026-03/attendance/w1/register/email-create"
    assert request.query == "externalAccountId=acme"


def test_vid_group_attributes_an_unknown_contact_id(sandbox: SandboxServer, client: HubSpotClient) -> None:
    big = SEED_CONTACTS[3]["vid"]
    outcome = send_attendance_group(client, payloads("register", big, 123456789012, 151))
    assert outcome.recorded == [(0, big), (2, 151)]
    (failure,) = outcome.failed
    assert (failure.index, failure.category, failure.field) == (1, "OBJECT_NOT_FOUND", "vid")
    assert "123456789012" in failure.message
    assert outcome.requests == 1
    assert sorted(p["vid"] for p in sandbox.participations()) == [151, big]


def test_an_email_hubspot_refuses_is_attributed_to_its_row(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    # The client's syntax check lets "ann..smith@" through; HubSpot (the sandbox) is stricter.
    outcome = send_attendance_group(client, payloads("attend", "ok@example.com", "ann..smith@example.com"))
    assert [i for i, _ in outcome.recorded] == [0]
    (failure,) = outcome.failed
    assert (failure.index, failure.category, failure.field) == (1, "VALIDATION_ERROR", "email")
    assert "ann..smith@example.com" in failure.message
    assert sandbox.get_contact("ann..smith@example.com") is None


@pytest.mark.parametrize("mode", ["207", "400"])
def test_partial_modes_isolate_the_bad_rows(sandbox: SandboxServer, client: HubSpotClient, mode: str) -> None:
    sandbox.configure(partial_mode=mode)
    vids = [c["vid"] for c in SEED_CONTACTS]
    group = payloads("register", vids[0], 999, vids[1], vids[2], 998, vids[4])
    outcome = send_attendance_group(client, group)
    assert sorted(i for i, _ in outcome.recorded) == [0, 2, 3, 5]
    assert sorted((f.index, f.field) for f in outcome.failed) == [(1, "vid"), (4, "vid")]
    assert (outcome.splits > 0) is (mode == "400")
    assert sorted(p["vid"] for p in sandbox.participations()) == sorted([vids[0], vids[1], vids[2], vids[4]])


@pytest.mark.parametrize("mode", ["404", "row"])
def test_unknown_event_fails_the_rows_not_the_task(
    sandbox: SandboxServer, client: HubSpotClient, mode: str
) -> None:
    sandbox.configure(attendance_unknown_event=mode)
    group = payloads("attend", "a@example.com", "b@example.com", externalEventId="nope")
    outcome = send_attendance_group(client, group)
    assert outcome.recorded == []
    assert [(f.index, f.category) for f in outcome.failed] == [(0, EVENT_NOT_FOUND), (1, EVENT_NOT_FOUND)]
    assert all("nope" in f.message for f in outcome.failed)
    assert sandbox.participations() == []


def test_errors_hubspot_does_not_place_are_isolated_by_resending(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    group = payloads("register", "r0@example.com", "r1@example.com", "r2@example.com", "r3@example.com")
    answer = {
        "status": "COMPLETE",
        "results": [{"email": "R0@example.com", "vid": 5}],
        "numErrors": 1,
        "errors": [{"category": "VALIDATION_ERROR", "message": "something", "context": {}}],
    }
    outcome = _account(client, group, answer, AttendanceOutcome())
    created = {c["email"]: c["vid"] for c in sandbox.contacts()}
    assert sorted(outcome.recorded) == [(0, 5)] + [(i, created[f"r{i}@example.com"]) for i in (1, 2, 3)]
    assert outcome.failed == []
    assert (outcome.requests, outcome.splits) == (2, 1)  # the three unknown rows re-sent: [r1], [r2, r3]
    assert sorted(p["email"] for p in sandbox.participations()) == [
        "r1@example.com",
        "r2@example.com",
        "r3@example.com",
    ]


def test_group_rules(client: HubSpotClient) -> None:
    mixed = payloads("register", "a@example.com") + payloads("attend", "a@example.com")
    with pytest.raises(ValueError, match="one group"):
        send_attendance_group(client, mixed)
    with pytest.raises(ValueError, match="one group"):
        send_attendance_group(client, payloads("register", *[f"u{i}@example.com" for i in range(101)]))
    assert send_attendance_group(client, []).requests == 0
    assert attendance_path(client, "a/b c", "attend", by_email=False).endswith(
        "/attendance/a%2Fb%20c/attend/create"
    )
    with pytest.raises(ValueError, match="subscriber_state"):
        attendance_path(client, "w1", "ATTEND", by_email=True)


def test_transient_failures_are_retried_by_the_client(sandbox: SandboxServer, client: HubSpotClient) -> None:
    sandbox.add_fault(Fault(kind="5xx_after", route="attendance", status=502, times=1))
    outcome = send_attendance_group(client, payloads("register", "t@example.com"))
    assert [i for i, _ in outcome.recorded] == [0]
    assert client.stats.snapshot()["retries"] == 1
    assert len(sandbox.participations()) == 1  # applied twice, recorded once
    assert sandbox.stats()["timeline_events"] == 1


def test_complete_counters_and_breakdown(sandbox: SandboxServer, client: HubSpotClient) -> None:
    emails = [f"p{i}@example.com" for i in range(5)]
    send_attendance_group(client, payloads("register", *emails))
    send_attendance_group(
        client,
        payloads("attend", *emails[:2], joinedAt="2026-05-01T09:10:00Z", leftAt="2026-05-01T09:40:00Z"),
    )
    send_attendance_group(client, payloads("cancel", emails[4]))
    assert get_participation_counters(client, "acme", "w1") == {
        "registered": 2,
        "attended": 2,
        "cancelled": 1,
        "noShows": 0,
    }
    event = complete_event(client, "acme", "w1", EVENT["startDateTime"], EVENT["endDateTime"])
    assert event["eventCompleted"] is True
    assert get_participation_counters(client, "acme", "w1")["noShows"] == 2
    every = list(iter_participation_breakdown(client, "acme", "w1", page_size=2))
    assert [r["associations"]["contact"]["email"] for r in every] == emails
    attended = list(iter_participation_breakdown(client, "acme", "w1", state="ATTENDED"))
    assert [r["properties"]["attendanceDurationSeconds"] for r in attended] == [1800, 1800]
    one = get_participation_breakdown(client, "acme", "w1", contact=emails[4])
    assert (one["total"], one["results"][0]["properties"]["attendanceState"]) == (1, "CANCELLED")
    with pytest.raises(ValueError, match="state"):
        get_participation_breakdown(client, "acme", "w1", state="attended")
    with pytest.raises(HubSpotNotFoundError):
        complete_event(client, "acme", "nope", EVENT["startDateTime"], EVENT["endDateTime"])
    with pytest.raises(HubSpotNotFoundError):
        get_participation_counters(client, "acme", "nope")


@pytest.mark.parametrize("version", ["2026-09", "v3"])
def test_other_api_versions(sandbox: SandboxServer, version: str) -> None:
    with client_for(sandbox, api_version=version) as c:
        outcome = send_attendance_group(c, payloads("register", SEED_CONTACTS[3]["vid"]))
        assert outcome.recorded == [(0, SEED_CONTACTS[3]["vid"])]
        assert get_participation_counters(c, "acme", "w1")["registered"] == 1


def test_complete_as_held_and_single_participation(sandbox: SandboxServer, client: HubSpotClient) -> None:
    send_attendance_group(
        client, payloads("attend", 151, joinedAt="2026-05-01T09:00:00Z", leftAt="2026-05-01T09:15:00Z")
    )
    found = get_participation(client, "acme", "w1", 151)
    assert found is not None
    assert found["properties"]["attendanceState"] == "ATTENDED"
    assert get_participation(client, "acme", "w1", "nobody@example.com") is None
    done = complete_as_held(client, "acme", "w1")
    assert done.as_dict() == {
        "externalAccountId": "acme",
        "externalEventId": "w1",
        "status": "completed",
        "reason": None,
        "startDateTime": "2026-05-01T09:00:00.000Z",
        "endDateTime": "2026-05-01T10:00:00.000Z",
    }
    assert get_participation(client, "acme", "w1", 151)["properties"]["attendanceDurationSeconds"] == 900  # type: ignore[index]
    missing = complete_as_held(client, "acme", "nope")
    assert (missing.status, missing.start) == ("failed", None)
    assert "does not know" in (missing.reason or "")
    undated = {k: v for k, v in EVENT.items() if not k.endswith("DateTime")}
    assert client.upsert_events([{**undated, "externalEventId": "undated"}]).status == 200
    skipped = complete_as_held(client, "acme", "undated")
    assert skipped.status == "skipped"
    assert "startDateTime" in (skipped.reason or "")
