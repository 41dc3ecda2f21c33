"""``MarketingEventsSensor(deferrable=True)`` under a real Airflow triggerer (``slow``).

Starts ``airflow api-server``, ``dag-processor``, ``scheduler`` (LocalExecutor) and ``triggerer`` on a
private SQLite home with a one-DAG folder, triggers a run waiting for two events of which only one
exists, waits until the task is ``deferred`` (the worker slot is free), creates the second event in
the sandbox and waits for the run to succeed: the triggerer's reads found it, and the task resumed on
a worker and pushed both object ids. (Timeouts and errors: ``tests/triggers/``, through ``run()``.)
The same for ``MarketingEventAttendanceSensor(deferrable=True)``: sampled participations that HubSpot
does not show yet (its read lag) until the triggerer sees them.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox import SandboxServer
from tests.test_dags_example_scheduler import _free_port, _wait_for_port

DAG_ID = "hubspot_deferred_sensor"
ATTENDANCE_DAG_ID = "hubspot_deferred_attendance_sensor"
DEADLINE_S = 300.0
DAG_FILE = f'''
import pendulum
from airflow.sdk import DAG
from hubspot_events_provider.sensors.marketing_events import (
    MarketingEventAttendanceSensor,
    MarketingEventsSensor,
)

with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    MarketingEventsSensor(
        task_id="wait",
        external_ids="{{{{ dag_run.conf['ids'] | tojson }}}}",
        deferrable=True,
        poke_interval=1,
        timeout=240,
    )

with DAG("{ATTENDANCE_DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False):
    MarketingEventAttendanceSensor(
        task_id="wait",
        results_path="{{{{ dag_run.conf['results_path'] }}}}",
        deferrable=True,
        poke_interval=1,
        timeout=240,
    )
'''


def _upsert(sandbox: SandboxServer, eid: str) -> None:
    client = HubSpotClient(ClientConfig(base_url=sandbox.url), StaticTokenAuth(sandbox.token))
    try:
        client.upsert_events(
            [{"externalAccountId": "acme", "externalEventId": eid, "eventName": eid, "eventOrganizer": "A"}]
        )
    finally:
        client.close()


def _reads_of(sandbox: SandboxServer, eid: str) -> list[object]:
    return [r for r in sandbox.requests() if r.method == "GET" and r.path.endswith(f"/events/{eid}")]


def _query(db: Path, sql: str, *args: str) -> list[tuple[object, ...]]:
    try:
        with sqlite3.connect(db) as conn:
            return list(conn.execute(sql, args).fetchall())
    except sqlite3.Error:
        return []


def _ti_state(db: Path, run_id: str, dag_id: str = DAG_ID) -> str | None:
    rows = _query(db, "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
    return str(rows[0][0]) if rows else None


def _wait_for(predicate: object, deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def airflow(tmp_path: Path, hubspot_sandbox: SandboxServer) -> Iterator[tuple[dict[str, str], Path]]:
    """A running api-server, dag-processor, scheduler and triggerer; yields (env, metadata DB)."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deferred_sensor.py").write_text(DAG_FILE)
    home = tmp_path / "airflow"
    home.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "triggerer-test-secret-not-a-real-one",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(
                {"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}
            ),
        }
    )
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    log = (tmp_path / "cli.log").open("ab")
    assert (
        subprocess.run(
            [airflow_bin, "db", "migrate"], env=env, stdout=log, stderr=log, timeout=180
        ).returncode
        == 0
    )
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for command in ("api-server", "dag-processor", "scheduler", "triggerer"):
            if command == "scheduler":
                _wait_for_port(port, deadline=time.monotonic() + 180)
            out = (tmp_path / f"{command}.log").open("ab")
            daemons.append(
                subprocess.Popen(
                    [airflow_bin, command],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield env, home / "airflow.db"
    finally:
        for proc in daemons:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in daemons:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _trigger(
    env: dict[str, str], run_id: str, conf: dict[str, object], deadline: float, dag_id: str = DAG_ID
) -> None:
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    command = [airflow_bin, "dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf)]
    while time.monotonic() < deadline:  # the DAG must be parsed first
        if subprocess.run(command, env=env, capture_output=True, timeout=180).returncode == 0:
            return
        time.sleep(3)
    raise AssertionError("the DAG was never triggerable")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_deferred_sensor_completes_under_a_real_triggerer(
    airflow: tuple[dict[str, str], Path], hubspot_sandbox: SandboxServer, tmp_path: Path
) -> None:
    env, db = airflow
    deadline = time.monotonic() + DEADLINE_S
    _upsert(hubspot_sandbox, "here")
    _trigger(env, "deferred", {"ids": [["acme", "here"], ["acme", "later"]]}, deadline)
    _wait_for(lambda: _ti_state(db, "deferred") == "deferred", deadline, "the task to defer")
    trigger_rows = _query(db, "SELECT classpath, kwargs FROM trigger")
    assert [row[0] for row in trigger_rows] == [
        "hubspot_events_provider.triggers.marketing_events.MarketingEventsTrigger"
    ]
    assert hubspot_sandbox.token not in str(trigger_rows)

    # The worker's one poke read "later" once; wait for the triggerer's reads before creating it.
    _wait_for(lambda: len(_reads_of(hubspot_sandbox, "later")) >= 3, deadline, "the triggerer's reads")
    # Airflow 3.3 race (not ours): if the trigger fires before the executor has reported the first
    # workload's end, the scheduler takes that late "success" for the resumed try and fails it. Let
    # the executor report first, as it does when events take minutes to appear.
    scheduler_log = tmp_path / "scheduler.log"
    _wait_for(
        lambda: "final_state=deferred" in scheduler_log.read_text(errors="replace"), deadline, "the report"
    )
    time.sleep(6)
    _upsert(hubspot_sandbox, "later")
    _wait_for(lambda: _ti_state(db, "deferred") in ("success", "failed"), deadline, "the task to finish")
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert _ti_state(db, "deferred") == "success", logs[-4000:]
    xcom = _query(
        db,
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
        DAG_ID,
        "deferred",
    )
    value = json.loads(str(xcom[0][0]))
    ids = {e["externalEventId"]: e["objectId"] for e in value["found"]}
    assert set(ids) == {"here", "later"}
    for eid, oid in ids.items():
        stored = hubspot_sandbox.get_event("acme", eid)
        assert stored is not None
        assert oid == str(stored["objectId"])
    # The triggerer (not a worker) read "later" until it appeared; its log lands beside the task's.
    (trigger_log,) = (tmp_path / "airflow" / "logs").rglob("attempt=1.log.trigger.*.log")
    text = trigger_log.read_text()
    assert "1 of 1 event(s) not readable yet" in text
    assert "Trigger fired event" in text
    assert hubspot_sandbox.token not in logs


def _record_attendance(sandbox: SandboxServer, results: Path) -> list[str]:
    """Register three contacts for an event and write the results file the operator would; their emails."""
    from hubspot_events_provider.core.kinds.attendance.api import record_attendance

    emails = [f"t{i}@example.com" for i in range(3)]
    client = HubSpotClient(ClientConfig(base_url=sandbox.url), StaticTokenAuth(sandbox.token))
    try:
        client.upsert_events(
            [{"externalAccountId": "acme", "externalEventId": "web", "eventName": "W", "eventOrganizer": "A"}]
        )
        inputs = [{"email": e, "interactionDateTime": 1_795_000_000_000, "properties": {}} for e in emails]
        record_attendance(client, "acme", "web", "register", inputs, by_email=True)
    finally:
        client.close()
    lines = [
        {"position": i + 1, "externalAccountId": "acme", "externalEventId": "web", "contact": f"email:{e}",
         "subscriberState": "register", "objectId": ""}
        for i, e in enumerate(emails)
    ]  # fmt: skip
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return emails


def _breakdown_reads(sandbox: SandboxServer) -> int:
    return sum(1 for r in sandbox.requests() if r.method == "GET" and r.path.endswith("/breakdown"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_deferred_attendance_sensor_completes_under_a_real_triggerer(
    airflow: tuple[dict[str, str], Path], hubspot_sandbox: SandboxServer, tmp_path: Path
) -> None:
    env, db = airflow
    deadline = time.monotonic() + DEADLINE_S
    hubspot_sandbox.configure(participation_lag_s=3600)  # HubSpot shows nothing yet: the sensor defers
    results = tmp_path / "results.jsonl"
    emails = _record_attendance(hubspot_sandbox, results)
    _trigger(env, "attendance", {"results_path": str(results)}, deadline, ATTENDANCE_DAG_ID)

    def state() -> str | None:
        return _ti_state(db, "attendance", ATTENDANCE_DAG_ID)

    _wait_for(lambda: state() == "deferred", deadline, "the task to defer")
    trigger_rows = _query(db, "SELECT classpath, kwargs FROM trigger")
    assert [row[0] for row in trigger_rows] == [
        "hubspot_events_provider.triggers.attendance.MarketingEventAttendanceTrigger"
    ]
    assert hubspot_sandbox.token not in str(trigger_rows)

    # The worker's one poke read 3 breakdowns; wait for the triggerer's rounds, then the executor's
    # report of the first workload (the Airflow 3.3 race the events case above explains).
    _wait_for(lambda: _breakdown_reads(hubspot_sandbox) >= 9, deadline, "the triggerer's reads")
    scheduler_log = tmp_path / "scheduler.log"
    _wait_for(
        lambda: "final_state=deferred" in scheduler_log.read_text(errors="replace"), deadline, "the report"
    )
    time.sleep(6)
    hubspot_sandbox.configure(participation_lag_s=0)
    _wait_for(lambda: state() in ("success", "failed"), deadline, "the task to finish")
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert state() == "success", logs[-4000:]
    xcom = _query(
        db,
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
        ATTENDANCE_DAG_ID,
        "attendance",
    )
    value = json.loads(str(xcom[0][0]))
    held = {p["email"]: str(p["vid"]) for p in hubspot_sandbox.participations()}
    assert (value["checked"], value["sampled_from"]) == (3, 3)
    assert [(f["contact"], f["attendanceState"], f["contactId"]) for f in value["found"]] == [
        (f"email:{e}", "REGISTERED", held[e]) for e in emails
    ]
    (trigger_log,) = (tmp_path / "airflow" / "logs").rglob("attempt=1.log.trigger.*.log")
    text = trigger_log.read_text()
    assert "3 of 3 participation(s) not visible yet" in text
    assert "Trigger fired event" in text
    assert hubspot_sandbox.token not in logs
