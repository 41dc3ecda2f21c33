"""A downstream DAG scheduled on the ``hubspot://`` asset runs after the upsert (``slow``).

A real ``airflow scheduler`` (LocalExecutor), ``dag-processor`` and ``api-server`` on a private
SQLite home load two DAGs: ``asset_producer`` upserts a JSON Lines file into the sandbox with the
outlet ``hubspot://62515/marketing-events``; ``asset_consumer`` is scheduled on that asset and writes
the triggering asset event's ``extra`` to a file. The test triggers the producer once and waits for the
scheduler to start the consumer on its own: the asset event, with the run's counts, is what linked them.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubspot_events_provider.sandbox import SandboxServer
from tests._airflow_procs import (
    free_port,
    local_executor_env,
    run_airflow,
    start_daemon,
    stop_daemons,
    wait_for_port,
    wait_for_run_state,
)

EVENTS = 25
BAD = 2  # rows without a name: rejected, and counted in the asset event
DEADLINE_S = 360.0

PRODUCER = """
import pendulum
from airflow.sdk import DAG, Asset

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("asset_producer", schedule=None, start_date=START, catchup=False):
    UpsertMarketingEventsOperator(
        task_id="upsert",
        events_file={events_file!r},
        field_map={{"id": "externalEventId", "title": "eventName"}},
        defaults={{"externalAccountId": "acme", "eventOrganizer": "Acme"}},
        rejected_path={rejected!r},
        outlets=[Asset("hubspot://62515/marketing-events")],
    )
"""

CONSUMER = """
import json

import pendulum
from airflow.sdk import DAG, Asset, task

EVENTS = Asset("hubspot://62515/marketing-events")

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("asset_consumer", schedule=[EVENTS], start_date=START, catchup=False):

    @task
    def note_counts(triggering_asset_events=None):
        (event,) = triggering_asset_events[EVENTS]
        with open({out!r}, "w", encoding="utf-8") as fh:
            json.dump({{"uri": event.asset.uri, "extra": dict(event.extra)}}, fh)

    note_counts()
"""


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def _env(tmp: Path, sandbox: SandboxServer, dags: Path, api_port: int) -> dict[str, str]:
    env = local_executor_env(tmp / "airflow", dags=dags, api_port=api_port, parallelism=2)
    hubspot = {"conn_type": "hubspot", "host": sandbox.url, "password": sandbox.token}
    env["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(hubspot)
    return env


def _write_dags(tmp: Path) -> tuple[Path, Path]:
    """The two DAG files and the producer's input; returns (dags folder, consumer's output file)."""
    dags, out = tmp / "dags", tmp / "consumer-saw.json"
    dags.mkdir()
    events = tmp / "events.jsonl"
    rows = [{"id": f"w{i}", "title": "" if i < BAD else f"Webinar {i}"} for i in range(EVENTS)]
    events.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    producer = PRODUCER.format(events_file=str(events), rejected=str(tmp / "rejected.jsonl"))
    (dags / "asset_producer.py").write_text(textwrap.dedent(producer), encoding="utf-8")
    (dags / "asset_consumer.py").write_text(textwrap.dedent(CONSUMER.format(out=str(out))), encoding="utf-8")
    return dags, out


def _consumer_state(db: Path) -> str | None:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT state FROM dag_run WHERE dag_id = 'asset_consumer' ORDER BY id DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _trigger(env: dict[str, str], log: Path, deadline: float) -> None:
    """Trigger the producer once the dag-processor has parsed it."""
    while time.monotonic() < deadline:
        if run_airflow("dags", "trigger", "asset_producer", env=env, log=log).returncode == 0:
            return
        time.sleep(5)
    raise AssertionError(log.read_text()[-3000:])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_dag_scheduled_on_the_hubspot_asset_runs_after_the_upsert(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    dags, out = _write_dags(tmp_path)
    env = _env(tmp_path, sandbox, dags, free_port())
    log = tmp_path / "airflow.log"
    assert run_airflow("db", "migrate", env=env, log=log).returncode == 0, log.read_text()[-3000:]
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for command in (["api-server"], ["dag-processor"], ["scheduler"]):
            if command == ["scheduler"]:
                wait_for_port(int(env["AIRFLOW__API__PORT"]), deadline=time.monotonic() + 180)
            daemons.append(start_daemon(command, env, tmp_path / f"{command[0]}.log"))
        deadline = time.monotonic() + DEADLINE_S
        _trigger(env, log, deadline)
        db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
        state = wait_for_run_state(lambda: _consumer_state(db), deadline, every=2)
    finally:
        stop_daemons(daemons, timeout=30)

    tail = (tmp_path / "scheduler.log").read_text(errors="replace")[-4000:]
    assert state == "success", f"consumer run state {state!r}\n{tail}"
    saw = json.loads(out.read_text(encoding="utf-8"))
    assert saw["uri"] == "hubspot://62515/marketing-events"
    extra = saw["extra"]
    assert (extra["total"], extra["upserted"], extra["rejected"], extra["failed"]) == (
        EVENTS,
        EVENTS - BAD,
        BAD,
        0,
    )
    assert len(sandbox.events()) == EVENTS - BAD
