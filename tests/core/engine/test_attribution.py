"""What per-row errors HubSpot does not attribute cost, measured from the sandbox's request log.

1,000 rows, 2 % of them refused HubSpot-side (``reject_external_event_ids``), batches of 100, in
every per-row error shape the sandbox offers and both partial-success answers (200, 207). Every row
must be accounted for exactly once, and the requests must stay close to the batch count.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import event, make_client

ROWS = 1_000
BATCH = 100
BATCHES = ROWS // BATCH
REFUSED = tuple(f"evt-{i}" for i in range(7, ROWS, 50))  # 20 rows: 2 %
SHAPES = ("full", "event_id", "message", "count")


def run(sandbox: SandboxServer, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    client = make_client(sandbox)
    try:
        run_upsert(
            rows_from_events(rows, source="events"),
            EventMapper(),
            client,
            report,
            options=UpsertOptions(batch_size=BATCH, max_in_flight=4),
            stats=client.stats.snapshot,
        )
    finally:
        client.close()
    rejected = [json.loads(line) for line in rejected_buf.getvalue().splitlines()]
    results = [json.loads(line) for line in results_buf.getvalue().splitlines()]
    return dict(report.summary()), rejected, results


def upsert_requests(sandbox: SandboxServer) -> int:
    return sum(1 for r in sandbox.requests() if r.path.endswith("/events/upsert"))


def assert_every_row_once(summary: dict[str, Any], rejected: list[Any], results: list[Any]) -> None:
    assert (summary["total"], summary["upserted"], summary["failed"]) == (
        ROWS,
        ROWS - len(REFUSED),
        len(REFUSED),
    )
    assert summary["upserted"] + summary["rejected"] + summary["failed"] + summary["superseded"] == ROWS
    positions = [r["position"] for r in rejected] + [r["position"] for r in results]
    assert sorted(positions) == list(range(1, ROWS + 1))
    assert sorted(r["row"]["externalEventId"] for r in rejected) == sorted(REFUSED)
    assert {r["stage"] for r in rejected} == {"hubspot"}


@pytest.mark.parametrize("mode", ["200", "207"])
@pytest.mark.parametrize("shape", SHAPES)
def test_refused_rows_cost_at_most_ten_percent_more_requests(
    sandbox: SandboxServer, mode: str, shape: str
) -> None:
    # Each event differs from the others in a field HubSpot echoes (its name), as real events do:
    # even an answer with nothing but a count is attributed by the results, without a re-send.
    sandbox.configure(partial_mode=mode, row_error_shape=shape, reject_external_event_ids=REFUSED)
    summary, rejected, results = run(sandbox, [event(i) for i in range(ROWS)])
    assert_every_row_once(summary, rejected, results)
    requests = upsert_requests(sandbox)
    assert requests <= BATCHES * 1.1
    assert (summary["batches"], summary["requests"]) == (BATCHES, requests)
    assert summary["isolation_requests"] == requests - BATCHES
    stored = {e["externalEventId"] for e in sandbox.events()}
    assert stored == {f"evt-{i}" for i in range(ROWS)} - set(REFUSED)


@pytest.mark.parametrize("mode", ["200", "207"])
def test_rows_nothing_tells_apart_cost_one_half_per_level(sandbox: SandboxServer, mode: str) -> None:
    # The worst case: nothing but a count, and rows identical in every field HubSpot echoes (the
    # same session published under many ids): only re-sending tells which failed. A re-sent half
    # answers with its count, which gives the other half's count for free; a count answer carries
    # at most one bit when one row failed, so finding 1 row in 100 takes log2(100) ~ 7 requests:
    # 3x the batches is out of reach here, 7x is what it costs.
    refused = tuple(f"evt-{i}" for i in range(37, ROWS, BATCH))  # one per batch
    sandbox.configure(partial_mode=mode, row_error_shape="count", reject_external_event_ids=refused)
    rows = [event(i, eventName="Daily stand-up") for i in range(ROWS)]
    summary, rejected, results = run(sandbox, rows)
    assert summary["failed"] == len(refused)
    assert sorted(r["row"]["externalEventId"] for r in rejected) == sorted(refused)
    positions = [r["position"] for r in rejected] + [r["position"] for r in results]
    assert sorted(positions) == list(range(1, ROWS + 1))
    requests = upsert_requests(sandbox)
    assert requests <= BATCHES * 7  # 100 -> 50 -> 25 -> 12 -> 6 -> 3 -> 1: six re-sends at most
    assert summary["isolation_requests"] == requests - BATCHES
    assert summary["splits"] == summary["isolation_requests"]  # one re-sent half per split
    sent = [i["externalEventId"] for r in sandbox.requests() for i in (r.inputs or [])]
    # Only one half is ever re-sent: at most 50 + 25 + 13 + 7 + 4 + 2 rows per batch again.
    assert len(sent) <= ROWS + BATCHES * (50 + 25 + 13 + 7 + 4 + 2)
    assert max(sent.count(eid) for eid in refused) <= 7


@pytest.mark.parametrize("shape", SHAPES)
def test_whole_batch_400_in_every_shape(sandbox: SandboxServer, shape: str) -> None:
    sandbox.configure(partial_mode="400", row_error_shape=shape, reject_external_event_ids=REFUSED)
    summary, rejected, results = run(sandbox, [event(i) for i in range(ROWS)])
    assert_every_row_once(summary, rejected, results)
    requests = upsert_requests(sandbox)
    assert summary["isolation_requests"] == requests - BATCHES
    if shape != "count":
        # The 400's details name the bad rows: each batch is re-sent once without them.
        assert requests == 2 * BATCHES
        assert summary["splits"] == 0
    else:
        # Nothing applied, nothing named, nothing counted: both halves go, down to each bad row
        # (two per batch here: about 27 requests a batch; no count to save a half with).
        assert BATCHES * 2 < requests <= BATCHES * 2 * 2 * 7
