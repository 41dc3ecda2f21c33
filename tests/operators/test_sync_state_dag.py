"""``dag.test()`` runs of ``tests/dags/sync_state_dags.py`` against the sandbox: send only what
changed, retry what HubSpot refused, cancel or delete what left the source (only this app's), stop
at the guardrail, and a killed run followed by a rerun ends with a state that matches HubSpot."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.state import SyncState
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import SandboxFactory
from tests.conftest import REPO_ROOT
from tests.core.http.test_client import fast_config
from tests.support import connect, event

pytestmark = pytest.mark.usefixtures("airflow_db")

OTHER_APP = 7654321
OTHER_TOKEN = "other-app-token"


@pytest.fixture
def sandbox(hubspot_sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    sb = hubspot_sandbox_factory(SandboxConfig(app_tokens={OTHER_TOKEN: OTHER_APP}))
    connect(monkeypatch, sb)
    return sb


def run_dag(dag_id: str, out: pathlib.Path, events: list[Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Run the DAG; return ``{task_id: state}`` and ``{task_id: return_value}``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags import sync_state_dags

    dag = {
        "sync_state_delete": sync_state_dags.delete_mirror,
        "sync_state_cancel": sync_state_dags.cancel_mirror,
        "sync_state_tombstones": sync_state_dags.tombstones,
    }[dag_id]
    dr = dag.test(run_conf={"out": str(out), "events": events})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    if states.get("produce") == "failed":
        pytest.skip("dag.test() cannot start any task in this Airflow install (Execution API refused it)")
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag.dag_id, XComModel.run_id == dr.run_id, XComModel.key == "return_value"
            )
        ).all()
        xcoms = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    return states, xcoms


def upserted_ids(sandbox: SandboxServer, start: int) -> list[str]:
    return sorted(
        str(i["externalEventId"])
        for r in sandbox.requests()[start:]
        if r.path.endswith("/events/upsert")
        for i in r.inputs or []
    )


def test_unchanged_rows_are_not_sent_and_ten_changed_rows_are(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(40)]
    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)
    assert states == {"produce": "success", "upsert": "success", "check": "success"}
    assert (xcoms["upsert"]["upserted"], xcoms["upsert"]["sync"]["existed"]) == (40, False)

    start = len(sandbox.requests())
    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)
    assert states["check"] == "success"  # the check operator counts unchanged rows in the invariant
    summary = xcoms["upsert"]
    assert (summary["total"], summary["upserted"], summary["unchanged"]) == (40, 0, 40)
    assert summary["requests"] == 0
    assert upserted_ids(sandbox, start) == []

    changed = [3, 4, 8, 15, 16, 23, 29, 30, 37, 39]
    for i in changed:
        rows[i] = event(i, eventDescription=f"now with a description {i}")
    start = len(sandbox.requests())
    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)
    assert (xcoms["upsert"]["upserted"], xcoms["upsert"]["unchanged"]) == (10, 30)
    assert upserted_ids(sandbox, start) == sorted(f"evt-{i}" for i in changed)


def test_a_row_hubspot_refused_yesterday_is_retried_today(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(12)]
    sandbox.configure(reject_external_event_ids=("evt-7",))
    _, xcoms = run_dag("sync_state_delete", tmp_path, rows)
    assert (xcoms["upsert"]["upserted"], xcoms["upsert"]["failed"]) == (11, 1)
    sandbox.configure(reject_external_event_ids=())
    start = len(sandbox.requests())
    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)
    assert states["check"] == "success"
    assert (xcoms["upsert"]["upserted"], xcoms["upsert"]["unchanged"], xcoms["upsert"]["failed"]) == (
        1,
        11,
        0,
    )
    assert upserted_ids(sandbox, start) == ["evt-7"]
    assert sandbox.get_event("acme", "evt-7") is not None


@pytest.mark.parametrize("action", ["delete", "cancel"])
def test_removed_rows_are_deleted_or_cancelled_and_no_other_apps_events(
    sandbox: SandboxServer, tmp_path: pathlib.Path, action: str
) -> None:
    rows = [event(i) for i in range(40)] + [event(i, externalAccountId="globex") for i in range(5)]
    run_dag(f"sync_state_{action}", tmp_path, rows)
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        other.upsert_events([event(1), event(2), event(3)])  # another app, the same external ids
    removed = {"evt-1", "evt-2", "evt-3"}
    kept = [r for r in rows if not (r["externalAccountId"] == "acme" and r["externalEventId"] in removed)]
    # globex is not in this run's source at all: its events are not this run's to touch.
    kept = [r for r in kept if r["externalAccountId"] == "acme"]
    states, xcoms = run_dag(f"sync_state_{action}", tmp_path, kept)
    assert states["upsert"] == "success"
    sync = xcoms["upsert"]["sync"]
    assert (sync["missing"], sync["known"], sync["decision"]) == (3, 40, "ok")
    mine = {
        e["externalEventId"]: e
        for e in sandbox.events(app_id=sandbox.config.app_id)
        if e["externalAccountId"] == "acme"
    }
    # No upsert (every kept row is unchanged); delete: one search + one batch, cancel: one per event.
    assert xcoms["upsert"]["requests"] == (2 if action == "delete" else 3)
    if action == "delete":
        assert sync["deleted"] == 3
        assert set(mine) == {f"evt-{i}" for i in range(40)} - removed
    else:
        assert sync["cancelled"] == 3
        assert {k for k, e in mine.items() if e.get("eventCancelled")} == removed
    assert {e["externalEventId"] for e in sandbox.events(app_id=OTHER_APP)} == removed
    assert len([e for e in sandbox.events() if e["externalAccountId"] == "globex"]) == 5


def test_a_source_that_lost_60_percent_stops_at_the_guardrail(
    sandbox: SandboxServer,
    tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    rows = [event(i) for i in range(50)]
    run_dag("sync_state_delete", tmp_path, rows)
    state_before = (tmp_path / "delete.state").read_bytes()
    start = len(sandbox.requests())
    caplog.set_level("INFO")
    states, _ = run_dag("sync_state_delete", tmp_path, rows[:20])
    logged = caplog.text + capfd.readouterr().out
    assert states["upsert"] == "failed"
    assert "30 of 50 known event(s) are missing from the source" in logged
    assert "max_delete_fraction=0.1 allows at most 5" in logged
    assert sandbox.requests()[start:] == []
    assert len(sandbox.events()) == 50
    assert (tmp_path / "delete.state").read_bytes() == state_before


def test_tombstone_rows_are_deleted_and_checked(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(sandbox.token)) as client:
        client.upsert_events([event(i) for i in range(6)])
    tombstones = [{"event_id": f"evt-{i}", "deleted_at": "2026-11-28"} for i in (0, 2, 4)]
    tombstones.append({"event_id": "never-existed", "deleted_at": "2026-11-28"})
    states, xcoms = run_dag("sync_state_tombstones", tmp_path, tombstones)
    assert states == {"produce": "success", "delete": "success", "check": "success"}
    summary = xcoms["delete"]
    assert (summary["total"], summary["deleted"], summary["upserted"], summary["failed"]) == (4, 4, 4, 0)
    assert {e["externalEventId"] for e in sandbox.events()} == {"evt-1", "evt-3", "evt-5"}
    results = [json.loads(line) for line in (tmp_path / "deleted.results.jsonl").read_text().splitlines()]
    assert sorted(r["externalEventId"] for r in results) == ["evt-0", "evt-2", "evt-4", "never-existed"]


def test_a_killed_run_then_a_rerun_ends_with_a_state_that_matches_hubspot(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(400)]
    run_dag("sync_state_delete", tmp_path, rows[:100])
    rows = [event(i, eventName=f"v2 {i}") for i in range(400)]
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    sandbox.configure(latency_s=(0.01, 0.02))
    env = {
        **os.environ,
        "HUBSPOT_URL": sandbox.url,
        "HUBSPOT_TOKEN": sandbox.token,
        "PYTHONPATH": str(REPO_ROOT),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reliability._sync_kill_worker",
            str(source),
            str(tmp_path / "delete.state"),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        applied = sandbox.stats()["applied_upserts"]
        deadline = time.monotonic() + 120
        while sandbox.stats()["applied_upserts"] < applied + 150 and worker.poll() is None:
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(30)
    assert worker.returncode == -signal.SIGKILL
    with SyncState(tmp_path / "delete.state", owner="inspect") as state:
        assert state.interrupted_run is not None  # the killed run published its pending marks
        entries = [state.entry(("acme", f"evt-{i}")) for i in range(400)]
        assert {e.outcome for e in entries if e is not None} <= {"confirmed", "pending"}
    sandbox.configure(latency_s=(0.0, 0.0))

    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)  # the rerun (the dead run's lock is stale)
    assert states["upsert"] == "success"
    assert xcoms["upsert"]["failed"] == 0
    mapper = EventMapper()
    with SyncState(tmp_path / "delete.state", owner="inspect") as state:
        assert state.interrupted_run is None
        assert len(state) == 400
        for row in rows:
            key = (row["externalAccountId"], row["externalEventId"])
            entry = state.entry(key)
            stored = sandbox.get_event(*key)
            payload = mapper.map_row(row).payload
            assert entry is not None
            assert stored is not None
            assert payload is not None
            assert (entry.outcome, entry.digest) == ("confirmed", payload_digest(payload))
            assert stored["eventName"] == row["eventName"]
    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)
    assert (xcoms["upsert"]["upserted"], xcoms["upsert"]["unchanged"]) == (0, 400)
