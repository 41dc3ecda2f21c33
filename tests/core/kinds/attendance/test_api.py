"""Attendance API calls against the sandbox over HTTP: one request group row by row (the engine's
``send_batch`` with :class:`AttendanceKind`), complete, participation reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from hubspot_events_provider.core.engine.batching import send_batch
from hubspot_events_provider.core.errors import HubSpotNotFoundError
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient, HubSpotResponse
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.attendance.api import (
    EVENT_NOT_FOUND,
    attendance_path,
    complete_as_held,
    get_participation,
    get_participation_breakdown,
    get_participation_counters,
    iter_participation_breakdown,
)
from hubspot_events_provider.core.kinds.attendance.keys import dedup_key
from hubspot_events_provider.core.kinds.attendance.kind import AttendanceKind
from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper
from hubspot_events_provider.core.kinds.events.api import complete_event
from hubspot_events_provider.core.rows.identity import RowRef, WriteItem
from hubspot_events_provider.sandbox import Fault, SandboxServer
from hubspot_events_provider.sandbox.config import SEED_CONTACTS
from tests.support import wait_out_read_lag

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


@dataclass
class Failure:
    index: int
    category: str
    message: str
    field: str | None


@dataclass
class Outcome:
    """The engine's batch outcome by input index: ``recorded`` ``(index, vid)``, ``failed``."""

    recorded: list[tuple[int, int | None]]
    failed: list[Failure]
    requests: int
    splits: int


def send_group(
    client: HubSpotClient, payloads: Sequence[Mapping[str, Any]], kind: AttendanceKind | None = None
) -> Outcome:
    """Send one request group through the engine's batch sender, as the pipeline does."""
    kind = kind or AttendanceKind(MAPPER)
    items = []
    for i, payload in enumerate(payloads):
        key = dedup_key(payload)
        group, phase = kind.route(key, payload)
        items.append(WriteItem(RowRef(i + 1, None, payload), key, payload, group, phase))
    outcome = send_batch(kind, client, items)
    recorded = sorted((item.ref.position - 1, None if v is None else int(v)) for item, v in outcome.written)
    failed = sorted(
        (Failure(f.item.ref.position - 1, f.category, f.message, f.field) for f in outcome.failed),
        key=lambda f: f.index,
    )
    return Outcome(recorded, failed, outcome.requests, outcome.splits)


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer) -> SandboxServer:
    # reads show writes at once; errors name their row (the other shapes: test_every_error_shape...)
    hubspot_sandbox.configure(participation_lag_s=0, row_error_shape="full")
    with client_for(hubspot_sandbox) as c:
        c.upsert_events([EVENT])
    wait_out_read_lag(hubspot_sandbox)
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
    outcome = send_group(client, payloads("register", "new@example.com", erin["email"], firstname="Nia"))
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
    outcome = send_group(client, payloads("register", big, 123456789012, 151))
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
    outcome = send_group(client, payloads("attend", "ok@example.com", "ann..smith@example.com"))
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
    outcome = send_group(client, group)
    assert sorted(i for i, _ in outcome.recorded) == [0, 2, 3, 5]
    assert sorted((f.index, f.field) for f in outcome.failed) == [(1, "vid"), (4, "vid")]
    assert (outcome.splits > 0) is (mode == "400")
    assert sorted(p["vid"] for p in sandbox.participations()) == sorted([vids[0], vids[1], vids[2], vids[4]])


@pytest.mark.parametrize("shape", ["count", "event_id", "message"])
@pytest.mark.parametrize("mode", ["200", "207", "400"])
def test_every_error_shape_refuses_exactly_the_bad_rows(
    sandbox: SandboxServer, client: HubSpotClient, shape: str, mode: str
) -> None:
    """However HubSpot names (or does not name) a refused row, the same rows are refused and the
    others recorded once."""
    sandbox.configure(row_error_shape=shape, partial_mode=mode)
    vids = [c["vid"] for c in SEED_CONTACTS]
    outcome = send_group(client, payloads("register", vids[0], 999, vids[1], vids[2], 998, vids[4]))
    assert sorted(i for i, _ in outcome.recorded) == [0, 2, 3, 5]
    assert sorted(f.index for f in outcome.failed) == [1, 4]
    assert sorted(p["vid"] for p in sandbox.participations()) == sorted([vids[0], vids[1], vids[2], vids[4]])
    recorded = [i.get("vid") for r in sandbox.requests() if r.status in (200, 207) for i in (r.inputs or [])]
    assert all(recorded.count(v) == 1 for v in (vids[0], vids[1], vids[2], vids[4]))


@pytest.mark.parametrize("mode", ["404", "row"])
def test_unknown_event_fails_the_rows_not_the_task(
    sandbox: SandboxServer, client: HubSpotClient, mode: str
) -> None:
    sandbox.configure(attendance_unknown_event=mode)
    group = payloads("attend", "a@example.com", "b@example.com", externalEventId="nope")
    outcome = send_group(client, group)
    assert outcome.recorded == []
    assert [(f.index, f.category) for f in outcome.failed] == [(0, EVENT_NOT_FOUND), (1, EVENT_NOT_FOUND)]
    assert all("nope" in f.message for f in outcome.failed)
    assert sandbox.participations() == []


class FirstAnswerCanned(AttendanceKind):
    """HubSpot's first answer is given (an error naming no row); later requests reach the sandbox."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(MAPPER)
        self.answer: dict[str, Any] | None = answer

    def send(self, client: HubSpotClient, group: Any, payloads: Sequence[Mapping[str, Any]]) -> Any:
        if self.answer is None:
            return super().send(client, group, payloads)
        body, self.answer = self.answer, None
        return HubSpotResponse(200, body, {}, "POST", "/attendance")


class FirstAnswerStripped(AttendanceKind):
    """HubSpot applies the first request as usual but its answer names no row and lists no result
    (the least helpful plausible answer); later requests are answered as the sandbox answers."""

    def __init__(self) -> None:
        super().__init__(MAPPER)
        self.stripped = False

    def send(self, client: HubSpotClient, group: Any, payloads: Sequence[Mapping[str, Any]]) -> Any:
        response = super().send(client, group, payloads)
        if self.stripped:
            return response
        self.stripped = True
        body = dict(response.body)
        body["results"] = []
        body["errors"] = [
            {"category": e["category"], "message": "something", "context": {}} for e in body["errors"]
        ]
        return HubSpotResponse(200, body, {}, "POST", "/attendance")


def test_errors_hubspot_does_not_place_are_isolated_by_resending(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    bad = "ann..smith@example.com"  # HubSpot refuses it; its answer does not say which row
    group = payloads("register", "r0@example.com", bad, "r2@example.com", "r3@example.com")
    outcome = send_group(client, group, FirstAnswerStripped())
    # numErrors says one of the four failed. The good rows were applied by the first request, so only
    # [r0, bad] is re-sent: its answer names the bad row, and [r2, r3] then hold no error (not re-sent).
    assert (outcome.requests, outcome.splits) == (2, 1)
    created = {c["email"]: c["vid"] for c in sandbox.contacts()}
    assert sorted(i for i, _ in outcome.recorded) == [0, 2, 3]
    assert dict(outcome.recorded)[0] == created["r0@example.com"]  # from the re-sent answer
    assert [(f.index, f.field) for f in outcome.failed] == [(1, "email")]
    assert sorted(p["email"] for p in sandbox.participations()) == [
        "r0@example.com",
        "r2@example.com",
        "r3@example.com",
    ]
    sent = [i.get("email") for r in sandbox.requests() for i in (r.inputs or [])]
    assert sent.count("r2@example.com") == 1  # a good row already applied is not re-sent


def test_group_rules(client: HubSpotClient) -> None:
    assert send_group(client, []).requests == 0
    assert attendance_path(client, "a/b c", "attend", by_email=False).endswith(
        "/attendance/a%2Fb%20c/attend/create"
    )
    with pytest.raises(ValueError, match="subscriber_state"):
        attendance_path(client, "w1", "ATTEND", by_email=True)


def test_transient_failures_are_retried_by_the_client(sandbox: SandboxServer, client: HubSpotClient) -> None:
    sandbox.add_fault(Fault(kind="5xx_after", route="attendance", status=502, times=1))
    outcome = send_group(client, payloads("register", "t@example.com"))
    assert [i for i, _ in outcome.recorded] == [0]
    assert client.stats.snapshot()["retries"] == 1
    assert len(sandbox.participations()) == 1  # applied twice, recorded once
    assert sandbox.stats()["timeline_events"] == 1


def test_complete_counters_and_breakdown(sandbox: SandboxServer, client: HubSpotClient) -> None:
    emails = [f"p{i}@example.com" for i in range(5)]
    send_group(client, payloads("register", *emails))
    send_group(
        client,
        payloads("attend", *emails[:2], joinedAt="2026-05-01T09:10:00Z", leftAt="2026-05-01T09:40:00Z"),
    )
    send_group(client, payloads("cancel", emails[4]))
    assert get_participation_counters(client, "acme", "w1") == {
        "registered": 2,
        "attended": 2,
        "cancelled": 1,
        "noShows": 0,
    }
    assert complete_event(client, ("acme", "w1"), EVENT["startDateTime"], EVENT["endDateTime"]) == "completed"
    wait_out_read_lag(sandbox)
    assert client.get_event("w1", "acme")["eventCompleted"] is True
    assert get_participation_counters(client, "acme", "w1")["noShows"] == 2
    every = list(iter_participation_breakdown(client, "acme", "w1", page_size=2))
    assert [r["associations"]["contact"]["email"] for r in every] == emails
    attended = list(iter_participation_breakdown(client, "acme", "w1", state="ATTENDED"))
    assert [r["properties"]["attendanceDurationSeconds"] for r in attended] == [1800, 1800]
    one = get_participation_breakdown(client, "acme", "w1", contact=emails[4])
    assert (one["total"], one["results"][0]["properties"]["attendanceState"]) == (1, "CANCELLED")
    with pytest.raises(ValueError, match="state"):
        get_participation_breakdown(client, "acme", "w1", state="attended")
    unknown = complete_event(client, ("acme", "nope"), EVENT["startDateTime"], EVENT["endDateTime"])
    assert unknown == "not_found"
    with pytest.raises(HubSpotNotFoundError):
        get_participation_counters(client, "acme", "nope")


@pytest.mark.parametrize("version", ["2026-09", "v3"])
def test_other_api_versions(sandbox: SandboxServer, version: str) -> None:
    with client_for(sandbox, api_version=version) as c:
        outcome = send_group(c, payloads("register", SEED_CONTACTS[3]["vid"]))
        assert outcome.recorded == [(0, SEED_CONTACTS[3]["vid"])]
        assert get_participation_counters(c, "acme", "w1")["registered"] == 1


def test_complete_as_held_and_single_participation(sandbox: SandboxServer, client: HubSpotClient) -> None:
    send_group(
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
    wait_out_read_lag(sandbox)
    skipped = complete_as_held(client, "acme", "undated")
    assert skipped.status == "skipped"
    assert "startDateTime" in (skipped.reason or "")


def test_errors_naming_rows_by_email_or_vid_only_are_attributed_without_resending(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    # HubSpot's error context may name the contact and no inputIndex: the row is found by its contact.
    group = payloads("register", "r0@example.com", "r1@example.com", "r2@example.com")
    answer = {
        "status": "COMPLETE",
        "results": [{"email": "r0@example.com", "vid": 5}, {"email": "r2@example.com", "vid": 7}],
        "numErrors": 1,
        "errors": [
            {"category": "VALIDATION_ERROR", "message": "bad", "context": {"email": ["R1@Example.com"]},
             "errors": [{"message": "bad", "in": "email"}]}
        ],
    }  # fmt: skip
    outcome = send_group(client, group, FirstAnswerCanned(answer))
    assert outcome.recorded == [(0, 5), (2, 7)]
    assert [(f.index, f.category, f.field) for f in outcome.failed] == [(1, "VALIDATION_ERROR", "email")]
    assert (outcome.requests, outcome.splits) == (1, 0)
    vid_group = payloads("register", 151, SEED_CONTACTS[3]["vid"])
    by_vid = {
        "status": "COMPLETE",
        "results": [{"vid": 151}],
        "numErrors": 1,
        "errors": [
            {
                "category": "OBJECT_NOT_FOUND",
                "message": "no",
                "context": {"vid": [str(SEED_CONTACTS[3]["vid"])]},
            }
        ],
    }
    outcome = send_group(client, vid_group, FirstAnswerCanned(by_vid))
    assert outcome.recorded == [(0, 151)]
    assert [(f.index, f.category) for f in outcome.failed] == [(1, "OBJECT_NOT_FOUND")]
    assert (outcome.requests, outcome.splits) == (1, 0)


def test_complete_as_held_waits_through_the_read_lag(sandbox: SandboxServer, client: HubSpotClient) -> None:
    """An event written moments ago is not readable yet (HubSpot's read lag): with ``until`` the read is
    made again until it shows; without, the 404 is the outcome."""
    sandbox.configure(read_lag_s=1.0)
    client.upsert_events([{**EVENT, "externalEventId": "fresh"}])
    assert complete_as_held(client, "acme", "fresh").status == "failed"
    started = time.monotonic()
    done = complete_as_held(client, "acme", "fresh", until=time.monotonic() + 20)
    assert done.status == "completed"
    assert time.monotonic() - started < 10
    reads = [r.status for r in sandbox.requests() if r.method == "GET" and r.path.endswith("/events/fresh")]
    assert reads[:2] == [404, 404]
    assert reads[-1] == 200
    gone = complete_as_held(client, "acme", "never", until=time.monotonic() + 0.3)
    assert gone.status == "failed"
    assert "does not know" in (gone.reason or "")
