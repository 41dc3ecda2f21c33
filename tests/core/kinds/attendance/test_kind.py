"""The attendance write kind on the engine, against the sandbox over HTTP: phases in order, one
request per (event, state, route) group, an unknown event failing its rows (not the run), and the
results file naming each participation's contact and HubSpot contact id."""

from __future__ import annotations

import io
import json
from typing import Any

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions
from hubspot_events_provider.core.kinds.attendance.api import EVENT_NOT_FOUND
from hubspot_events_provider.core.kinds.attendance.kind import ATTENDANCE_KEY_FIELDS, run_attendance
from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import event, make_client

MAPPER = AttendanceMapper(defaults={"externalAccountId": "acme"})


def _row(state: str, contact: str | int, when: str, event_id: str = "evt-1") -> dict[str, Any]:
    key = "vid" if isinstance(contact, int) else "email"
    return {"externalEventId": event_id, "subscriberState": state, key: contact, "interactionDateTime": when}


def _lines(buffer: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().decode().splitlines()]


def test_phases_groups_unknown_event_and_results(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.configure(participation_lag_s=0)
    client = make_client(hubspot_sandbox)
    client.upsert_events([event(1)])
    rows = [
        _row("cancel", "ann@example.com", "2026-12-01T12:00:00Z"),  # read first, sent last
        _row("attend", "ann@example.com", "2026-12-01T10:05:00Z"),
        _row("register", "ann@example.com", "2026-11-20T08:00:00Z"),
        _row("register", 151, "2026-11-21T08:00:00Z"),
        _row("register", "bo@example.com", "2026-11-22T08:00:00Z"),
        _row("register", "zed@example.com", "2026-11-22T08:00:00Z", event_id="nope"),
        _row("REGISTERED", "BO@example.com", "2026-11-23T08:00:00Z"),  # supersedes bo's first row
    ]
    rejected, results = io.BytesIO(), io.BytesIO()
    report = UpsertReport(
        rejected=JsonLinesWriter(rejected), results=JsonLinesWriter(results), key_fields=ATTENDANCE_KEY_FIELDS
    )
    run_attendance(rows_from_events(rows), MAPPER, client, report, options=WriteOptions(max_in_flight=4))
    summary = report.summary()
    assert (summary["total"], summary["upserted"], summary["failed"], summary["superseded"]) == (7, 5, 1, 1)
    assert report.invariant_holds()
    sent = [
        (r.path.rsplit("/", 3)[1:], [i.get("email", i.get("vid")) for i in r.inputs or []])
        for r in hubspot_sandbox.requests()
        if "/attendance/" in r.path
    ]
    registers = sorted(sent[:3])
    assert registers == [
        (["evt-1", "register", "create"], [151]),
        (["evt-1", "register", "email-create"], ["ann@example.com", "BO@example.com"]),
        (["nope", "register", "email-create"], ["zed@example.com"]),
    ]
    assert sent[3:] == [
        (["evt-1", "attend", "email-create"], ["ann@example.com"]),
        (["evt-1", "cancel", "email-create"], ["ann@example.com"]),
    ]
    (failed,) = [r for r in _lines(rejected) if r["stage"] == "hubspot"]
    assert (failed["position"], failed["category"], failed["field"]) == (
        6,
        EVENT_NOT_FOUND,
        "externalEventId",
    )
    assert "'nope'" in failed["message"]
    ann = hubspot_sandbox.get_contact("ann@example.com")
    bo = hubspot_sandbox.get_contact("bo@example.com")
    assert ann is not None
    assert bo is not None
    assert sorted(
        (r["position"], r["contact"], r["subscriberState"], r["objectId"]) for r in _lines(results)
    ) == [
        (1, "email:ann@example.com", "cancel", str(ann["vid"])),
        (2, "email:ann@example.com", "attend", str(ann["vid"])),
        (3, "email:ann@example.com", "register", str(ann["vid"])),
        (4, "vid:151", "register", "151"),
        (7, "email:bo@example.com", "register", str(bo["vid"])),
    ]
    states = {(p["email"], p["state"], p["occurredAt"]) for p in hubspot_sandbox.participations()}
    assert states == {
        ("ann@example.com", "CANCELLED", 1_796_126_400_000),
        (bo["email"], "REGISTERED", 1_795_420_800_000),
        (hubspot_sandbox.get_contact(151)["email"], "REGISTERED", 1_795_248_000_000),  # type: ignore[index]
    }
