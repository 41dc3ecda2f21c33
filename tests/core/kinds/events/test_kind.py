"""The upsert runner against the sandbox over HTTP: accounting, partial failures, splitting, dry runs."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.errors import HubSpotServerError, InputError, UnmappedFieldsError
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import Fault, SandboxServer
from tests.support import event, make_client


def run(
    events: list[Any],
    sandbox: SandboxServer | None,
    *,
    options: UpsertOptions | None = None,
    mapper: EventMapper | None = None,
) -> tuple[UpsertReport, list[dict[str, Any]], list[dict[str, Any]]]:
    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(
        dry_run=bool(options and options.dry_run),
        rejected=JsonLinesWriter(rejected_buf),
        results=JsonLinesWriter(results_buf),
    )
    client = make_client(sandbox) if sandbox is not None else None
    try:
        run_upsert(
            rows_from_events(events, source="events"),
            mapper or EventMapper(),
            client,
            report,
            options=options or UpsertOptions(batch_size=10, max_in_flight=3),
            stats=client.stats.snapshot if client else None,
        )
    finally:
        if client is not None:
            client.close()
    rejected = [json.loads(line) for line in rejected_buf.getvalue().splitlines()]
    results = [json.loads(line) for line in results_buf.getvalue().splitlines()]
    return report, rejected, results


def assert_accounted(report: UpsertReport, rejected: list[dict[str, Any]]) -> None:
    s = report.summary()
    assert s["upserted"] + s["rejected"] + s["failed"] + s["superseded"] == s["total"]
    assert len(rejected) == s["rejected"] + s["failed"] + s["superseded"]
    assert s["numErrors"] == s["rejected"] + s["failed"]


def test_all_valid_rows_land_in_the_sandbox_with_object_ids(sandbox: SandboxServer) -> None:
    report, rejected, results = run([event(i) for i in range(45)], sandbox)
    assert report.summary()["upserted"] == 45
    assert report.summary()["batches"] == 5
    assert rejected == []
    assert {(r["externalAccountId"], r["externalEventId"]) for r in results} == {
        ("acme", f"evt-{i}") for i in range(45)
    }
    stored = {e["externalEventId"]: e for e in sandbox.events()}
    assert set(stored) == {f"evt-{i}" for i in range(45)}
    by_id = {r["externalEventId"]: r["objectId"] for r in results}
    assert all(by_id[eid] == str(stored[eid]["objectId"]) for eid in stored)


@pytest.mark.parametrize("mode", ["200", "207", "400"])
def test_a_hubspot_side_rejection_costs_only_its_own_row(sandbox: SandboxServer, mode: str) -> None:
    sandbox.configure(partial_mode=mode, reject_external_event_ids=("evt-13", "evt-27"))
    report, rejected, _ = run([event(i) for i in range(40)], sandbox)
    s = report.summary()
    assert (s["upserted"], s["failed"], s["rejected"]) == (38, 2, 0)
    assert_accounted(report, rejected)
    assert {r["row"]["externalEventId"] for r in rejected} == {"evt-13", "evt-27"}
    assert {r["stage"] for r in rejected} == {"hubspot"}
    assert {e["externalEventId"] for e in sandbox.events()} == {f"evt-{i}" for i in range(40)} - {
        "evt-13",
        "evt-27",
    }


def test_whole_batch_400_is_split_until_the_single_bad_row_is_isolated(sandbox: SandboxServer) -> None:
    sandbox.configure(partial_mode="400", reject_external_event_ids=("evt-57",))
    report, rejected, _ = run([event(i) for i in range(100)], sandbox, options=UpsertOptions(batch_size=100))
    s = report.summary()
    assert (s["upserted"], s["failed"]) == (99, 1)
    assert rejected[0]["row"]["externalEventId"] == "evt-57"
    assert rejected[0]["position"] == 58
    # Binary search over log2(100) ~ 7 levels: the first half of each is sent; the second is sent
    # whole only when the first also failed (else it is known bad and split unsent): 1 or 2 per level.
    upserts = [r for r in sandbox.requests() if r.path.endswith("/events/upsert")]
    assert 1 + 6 <= len(upserts) <= 12
    assert not any(
        r.inputs and len(r.inputs) == 50 and r.inputs[0]["externalEventId"] == "evt-50" for r in upserts
    )


def test_invalid_rows_are_never_sent_and_are_reported_with_position_and_field(sandbox: SandboxServer) -> None:
    rows = [event(0), event(1, startDateTime="next tuesday"), event(2, eventName="  "), event(3)]
    report, rejected, _ = run(rows, sandbox)
    s = report.summary()
    assert (s["upserted"], s["rejected"]) == (2, 2)
    assert_accounted(report, rejected)
    by_pos = {r["position"]: r for r in rejected}
    assert by_pos[2]["field"] == "startDateTime"
    assert by_pos[2]["category"] == "INVALID_DATETIME"
    assert by_pos[3]["field"] == "eventName"
    sent = [i["externalEventId"] for r in sandbox.requests() for i in (r.inputs or [])]
    assert sorted(sent) == ["evt-0", "evt-3"]


def test_duplicates_last_row_wins_and_the_others_are_superseded(sandbox: SandboxServer) -> None:
    rows = [event(1, eventName="old"), event(2), event(1, eventName="new")]
    report, rejected, _ = run(rows, sandbox)
    s = report.summary()
    assert (s["upserted"], s["superseded"]) == (2, 1)
    assert_accounted(report, rejected)
    assert rejected[0]["stage"] == "superseded"
    assert rejected[0]["position"] == 1
    assert sandbox.get_event("acme", "evt-1")["eventName"] == "new"  # type: ignore[index]


def test_unmapped_keys_are_refused_before_anything_is_sent(sandbox: SandboxServer) -> None:
    rows = [event(1), event(2, eventDescripton="typo"), event(3, warehouse_col=1)]
    with pytest.raises(UnmappedFieldsError) as info:
        run(rows, sandbox)
    assert info.value.keys == ["eventDescripton", "warehouse_col"]
    assert "eventDescription" in str(info.value)
    assert sandbox.requests() == []


def test_empty_input_is_an_error_unless_allowed(sandbox: SandboxServer) -> None:
    with pytest.raises(InputError, match="no rows"):
        run([], sandbox)
    report, _, _ = run([], sandbox, options=UpsertOptions(allow_empty=True))
    assert report.summary()["total"] == 0
    assert sandbox.requests() == []


def test_dry_run_sends_nothing_and_says_what_would_be_sent() -> None:
    rows = [event(1), event(2, endDateTime="2026-11-01T00:00:00Z"), event(3)]
    report, rejected, _ = run(rows, None, options=UpsertOptions(dry_run=True))
    s = report.summary()
    assert s["dry_run"] is True
    assert s["would_upsert"] == 2
    assert s["upserted"] == 0
    assert rejected[0]["category"] == "END_BEFORE_START"


def test_a_server_failure_outlasting_retries_fails_the_run_and_keeps_what_was_done(
    sandbox: SandboxServer,
) -> None:
    sandbox.add_fault(Fault(kind="5xx_before", probability=1.0, route="upsert", status=503))
    rejected_buf = io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf))
    client = make_client(sandbox, max_retries=2, max_retry_time=5.0)
    with pytest.raises(HubSpotServerError):
        run_upsert(
            rows_from_events([event(i) for i in range(5)] + [event(9, eventName="")]),
            EventMapper(),
            client,
            report,
            options=UpsertOptions(batch_size=10),
        )
    client.close()
    assert report.upserted == 0
    assert report.rejected == 1  # the invalid row was still reported
    assert sandbox.events() == []
