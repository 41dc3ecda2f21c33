"""The scale-out example under a real Airflow scheduler with the LocalExecutor (``slow``).

Starts ``airflow api-server`` (the tasks' Execution API), ``airflow dag-processor`` and
``airflow scheduler`` with ``LocalExecutor`` and ``parallelism=4`` on a private SQLite home, creates
the ``hubspot_api`` pool, backfills one day of ``hubspot_marketing_events_scale_out`` and waits (bounded) for
the run to succeed. The sandbox (a thread of this process, with latency and a small rate window)
logs every request: the partitions' requests must interleave (they ran in parallel) and no rolling
window may hold more requests than the app's budget (no 429 either).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dags_example import warehouse
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests._airflow_procs import (
    assert_run_succeeded,
    backfill,
    free_port,
    local_executor_env,
    run_airflow,
    start_daemon,
    stop_daemons,
    wait_for_port,
    wait_for_run_state,
)

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "hubspot_marketing_events_scale_out"
RATE_LIMIT = 12  # requests per window for the whole app, as HubSpot counts them
RATE_WINDOW_S = 2.0
EVENTS = 1500  # ~375 rows per partition: 4 batches of 100 each
DEADLINE_S = 420.0
#: A backfill of this day runs the data interval [DAY, DAY + 1 day), where every row changed. (A manual
#: trigger would not do: Airflow 3 infers a manual run's data interval from "now".)
DAY = "2025-06-01"
# tests/sensors/test_deferrable_triggerer.py imports these names from here.
_free_port = free_port
_wait_for_port = wait_for_port


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(rate_limit=RATE_LIMIT, rate_window_s=RATE_WINDOW_S, latency_s=(0.2, 0.4))
    with SandboxServer(config) as server:
        yield server


def _env(tmp: Path, sandbox: SandboxServer, database: Path, api_port: int) -> dict[str, str]:
    env = local_executor_env(tmp / "airflow", dags=REPO / "dags_example", api_port=api_port, parallelism=4)
    hubspot = {"conn_type": "hubspot", "host": sandbox.url, "password": sandbox.token}
    share = {"max_requests_per_10s": RATE_LIMIT // 4, "rate_window_s": RATE_WINDOW_S}
    env.update(
        {
            "AIRFLOW_CONN_HUBSPOT_PARTITIONED": json.dumps({**hubspot, "extra": share}),
            "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(database)}),
            "AIRFLOW_VAR_HUBSPOT_EVENTS_REPORTS_DIR": str(tmp / "reports"),
        }
    )
    return env


def _run_state(db: Path) -> str | None:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT state FROM dag_run WHERE dag_id = ? AND run_type = 'backfill' "
                "ORDER BY id DESC LIMIT 1",
                (DAG_ID,),
            ).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _partition_spans(records: list[Any]) -> dict[int, tuple[float, float]]:
    spans: dict[int, tuple[float, float]] = {}
    for record in records:
        if not record.path.endswith("/events/upsert") or not record.inputs:
            continue
        first = record.inputs[0]
        part = warehouse.partition_of(first["externalAccountId"], first["externalEventId"]) % 4
        start, end = spans.get(part, (record.at, record.at))
        spans[part] = (min(start, record.at), max(end, record.at))
    return spans


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, moment in enumerate(times):
        while moment - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_scale_out_runs_partitions_in_parallel_within_the_rate_window(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    database = warehouse.build_warehouse(tmp_path / "warehouse.db", count=EVENTS)
    env = _env(tmp_path, sandbox, database, free_port())
    log = tmp_path / "airflow.log"
    assert run_airflow("db", "migrate", env=env, log=log).returncode == 0, log.read_text()[-3000:]
    assert (
        run_airflow(
            "pools", "set", "hubspot_api", "4", "HubSpot app rate budget", env=env, log=log
        ).returncode
        == 0
    )

    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for command in (["api-server"], ["dag-processor"], ["scheduler"]):
            if command == ["scheduler"]:  # tasks fail if the Execution API is not up yet
                wait_for_port(int(env["AIRFLOW__API__PORT"]), deadline=time.monotonic() + 180)
            daemons.append(start_daemon(command, env, tmp_path / f"{command[0]}.log"))
        deadline = time.monotonic() + DEADLINE_S
        backfill(DAG_ID, DAY, env=env, log=log, deadline=deadline)
        database_path = Path(env["AIRFLOW_HOME"]) / "airflow.db"
        state = wait_for_run_state(lambda: _run_state(database_path), deadline, every=2)
    finally:
        stop_daemons(daemons, timeout=30)

    assert_run_succeeded(state, tmp_path / "scheduler.log")
    expected = warehouse.expected_events(database)
    assert {(e["externalAccountId"], e["externalEventId"]) for e in sandbox.events()} == set(expected)

    records = sandbox.requests()
    assert [r.status for r in records if r.status == 429] == []
    assert _max_in_window([r.at for r in records], RATE_WINDOW_S) <= RATE_LIMIT
    spans = _partition_spans(records)
    assert sorted(spans) == [0, 1, 2, 3]
    overlapping = [
        (a, b)
        for a in spans
        for b in spans
        if a < b and max(spans[a][0], spans[b][0]) < min(spans[a][1], spans[b][1])
    ]
    assert overlapping, spans
