"""The verifying sensor after overlapped upserts, in ``dag.test()`` runs of
``tests/dags/overlap_verify_dags.py`` (poke mode and deferrable), against the sandbox over HTTP.

A key whose first row left while the input was read is sent twice; HubSpot holds the later
version, and the sensor must compare with that one, whatever the timing of the run."""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import JsonLinesWriter, WriteReport
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import SourceRow, rows_from_events
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests.core.engine.test_overlap_counts import LATENCIES, source, wait_for
from tests.support import connect, event, make_client, read_jsonl


def upsert(sandbox: SandboxServer, rows: Iterator[SourceRow], path: pathlib.Path, **options: Any) -> None:
    """An overlapped upsert of ``rows`` (the default), its results file written to ``path``."""
    buf = io.BytesIO()
    report = WriteReport(results=JsonLinesWriter(buf))
    with make_client(sandbox) as client:
        run_upsert(rows, EventMapper(), client, report, options=UpsertOptions(**options))
    path.write_bytes(buf.getvalue())


def renamed_after_it_left(sandbox: SandboxServer) -> Iterator[SourceRow]:
    """evt-77, then (once HubSpot has answered its first request) evt-77 renamed."""
    rows = [
        event(77, eventName="Event 77 - Ops summit"),
        event(77, eventName="Event 77 - Ops summit (updated)"),
    ]
    for row in rows_from_events(rows):
        if row.position == 2:
            assert wait_for(sandbox, "evt-77", 5.0)
        yield row


def states(dag: Any, results: pathlib.Path) -> dict[str, str]:
    dr = dag.test(run_conf={"results_path": str(results)})
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


@pytest.mark.usefixtures("airflow_db")
def test_a_key_whose_first_row_had_left_is_verified_against_its_last_version(
    hubspot_sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dags import overlap_verify_dags

    connect(monkeypatch, hubspot_sandbox, max_requests_per_10s=10_000)
    results = tmp_path / "results.jsonl"
    upsert(hubspot_sandbox, renamed_after_it_left(hubspot_sandbox), results, batch_size=1)
    ids = [str(i["externalEventId"]) for r in hubspot_sandbox.requests() for i in (r.inputs or ())]
    assert ids == ["evt-77", "evt-77"]  # sent twice: the first row had left
    stored = hubspot_sandbox.get_event("acme", "evt-77")
    assert stored is not None
    assert stored["eventName"] == "Event 77 - Ops summit (updated)"
    assert states(overlap_verify_dags.one, results) == {"poke": "success", "deferred": "success"}
    # the results file holds the winner only: the row HubSpot holds
    assert [line["sent"]["eventName"] for line in read_jsonl(results)] == ["Event 77 - Ops summit (updated)"]


@pytest.mark.usefixtures("airflow_db")
def test_the_sensor_is_green_after_the_same_input_under_any_latency(
    hubspot_sandbox_factory: Any, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dags import overlap_verify_dags

    for latency in LATENCIES:
        sandbox = hubspot_sandbox_factory(SandboxConfig(latency_s=(latency, latency)))
        connect(monkeypatch, sandbox, max_requests_per_10s=10_000)
        results = tmp_path / f"results-{latency}.jsonl"
        upsert(sandbox, source(sandbox), results, batch_size=10, max_in_flight=2)
        sandbox.configure(latency_s=(0.0, 0.0))  # the reads need not wait
        assert states(overlap_verify_dags.sample, results) == {"poke": "success", "deferred": "success"}, (
            latency
        )
