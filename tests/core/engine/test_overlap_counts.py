"""Counts are a function of the input alone, whatever the timing of an overlapped run.

One input with duplicates runs under sandbox latencies of 0, 100 and 400 ms. Which first copies of
a duplicate leave while the input is read depends on the timing (the first batch always does; the
second only when the first is answered before it fills); the summary, the rejected file and the
results file must not: a row replaced by a later row of the same key is ``superseded`` every time,
sent or not, and the results file holds the last version of every key, which is what HubSpot holds.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from hubspot_events_provider.core.engine.report import JsonLinesWriter, WriteReport
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import SourceRow, rows_from_events
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests.support import event, make_client

LATENCIES = (0.0, 0.1, 0.4)
OPTIONS = UpsertOptions(batch_size=10, max_in_flight=2)
#: Keys sent again later with a new name: evt-0..9 leave in the first batch (the limiter's probe)
#: in every run, evt-13 in the second batch only when the probe was answered in time (at 0 ms).
UPDATED = (0, 3, 7, 9, 13, 47, 77)
#: Not timing-dependent: summary fields that count requests or say when.
TIMING = {"batches", "splits", "isolation_requests", "requests", "retries", "rate_limited"}
TIMING |= {"started_at", "completed_at", "rejected_path", "results_path"}


class Run(NamedTuple):
    summary: dict[str, Any]
    rejected: list[dict[str, Any]]
    results: list[dict[str, Any]]


def wait_for(sandbox: SandboxServer, key: str, timeout: float) -> bool:
    """Wait until the sandbox has answered a request carrying ``key`` (its log is written on answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(key == str(i["externalEventId"]) for r in sandbox.requests() for i in (r.inputs or ())):
            return True
        time.sleep(0.005)
    return False


def source(sandbox: SandboxServer) -> Iterator[SourceRow]:
    """109 rows: evt-0..99, then a later version of every key in :data:`UPDATED` and an adjacent
    duplicate of evt-100. A slow source: a pause before the last row of the second batch (the probe
    is answered by then at 0 ms, not at 100 or 400 ms), and before the later versions a wait until
    the first batch is answered, so their first copies have certainly left."""
    rows = [event(i) for i in range(100)]
    rows += [event(i, eventName=f"Webinar {i} (updated)") for i in UPDATED]
    rows += [event(100), event(100, eventName="Webinar 100 (updated)")]
    for row in rows_from_events(rows):
        if row.position == 20:
            time.sleep(0.05)
        if row.position == 101:
            assert wait_for(sandbox, "evt-9", 5.0)
            time.sleep(0.05)  # the client has the answer too
        yield row


def run(sandbox: SandboxServer) -> Run:
    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = WriteReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    with make_client(sandbox) as client:
        run_upsert(source(sandbox), EventMapper(), client, report, options=OPTIONS)
    summary = {k: v for k, v in report.summary().items() if k not in TIMING}
    rejected = [json.loads(line) for line in rejected_buf.getvalue().splitlines()]
    return Run(summary, rejected, [json.loads(line) for line in results_buf.getvalue().splitlines()])


def sent_twice(sandbox: SandboxServer) -> set[str]:
    ids = [str(i["externalEventId"]) for r in sandbox.requests() for i in (r.inputs or ())]
    return {key for key in ids if ids.count(key) > 1}


def test_the_same_input_gives_the_same_counts_and_files_under_any_latency(
    hubspot_sandbox_factory: Any,
) -> None:
    runs: list[Run] = []
    for latency in LATENCIES:
        sandbox = hubspot_sandbox_factory(SandboxConfig(latency_s=(latency, latency)))
        outcome = run(sandbox)
        # the case at stake happened: first copies left before their later version was read
        assert {f"evt-{i}" for i in (0, 3, 7, 9)} <= sent_twice(sandbox)
        s = outcome.summary
        assert (s["total"], s["upserted"], s["superseded"], s["rejected"], s["failed"]) == (109, 101, 8, 0, 0)
        parts = ("upserted", "unchanged", "rejected", "failed", "superseded")
        assert sum(s.get(k, 0) for k in parts) == s["total"]
        # the rejected file: one "superseded" line per replaced row, the same rows every time
        assert sorted((r["position"], r["stage"], r["replaced_by"]) for r in outcome.rejected) == sorted(
            [(i + 1, "superseded", 101 + n) for n, i in enumerate(UPDATED)] + [(108, "superseded", 109)]
        )
        # the results file: one line per key, holding what HubSpot holds
        keys = [line["externalEventId"] for line in outcome.results]
        assert sorted(keys) == sorted({f"evt-{i}" for i in range(101)})
        stored = {e["externalEventId"]: e["eventName"] for e in sandbox.events()}
        assert {line["externalEventId"]: line["sent"]["eventName"] for line in outcome.results} == stored
        runs.append(outcome)
    assert runs[0].summary == runs[1].summary == runs[2].summary
