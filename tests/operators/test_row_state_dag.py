"""``dag.test()`` runs of ``tests/dags/row_state_dags.py`` against the sandbox: attendance with a
sync state sends only what changed and retries what HubSpot refused, a corrupt state fails the task
naming the file unless ``full_refresh``; a delete given the upsert's state makes the deleted events
leave it, so the upsert sends them again only if they are back in the source."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider.operators.marketing_events import RecordMarketingEventAttendanceOperator
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import connect, event, make_client

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    connect(monkeypatch, hubspot_sandbox, max_requests_per_10s=10_000)
    hubspot_sandbox.configure(participation_lag_s=0)
    with make_client(hubspot_sandbox) as client:
        client.upsert_events([event(1)])
    return hubspot_sandbox


def run_dag(dag_id: str, out: pathlib.Path, rows: list[Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Run the DAG; return ``{task_id: state}`` and ``{task_id: return_value}``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags import row_state_dags, sync_state_dags

    dag = {
        "attendance_state": row_state_dags.attendance_state,
        "attendance_state_refresh": row_state_dags.attendance_state_refresh,
        "delete_with_state": row_state_dags.delete_with_state,
        "delete_with_state_dry": row_state_dags.delete_with_state_dry,
        "sync_state_delete": sync_state_dags.delete_mirror,
    }[dag_id]
    dr = dag.test(run_conf={"out": str(out), "rows": rows, "events": rows})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    if states.get("produce") == "failed":
        pytest.skip("dag.test() cannot start any task in this Airflow install (Execution API refused it)")
    with create_session() as session:
        found = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag.dag_id, XComModel.run_id == dr.run_id, XComModel.key == "return_value"
            )
        ).all()
        xcoms = {row.task_id: XComModel.deserialize_value(row) for row in found}
    return states, xcoms


def registration(i: int, event_id: str = "evt-1", at: str = "2026-11-20T08:00:00Z") -> dict[str, Any]:
    return {"event": event_id, "action": "register", "email": f"guest{i}@example.com", "at": at}


def attendance_requests(sandbox: SandboxServer, start: int) -> list[Any]:
    return [r for r in sandbox.requests()[start:] if "/attendance/" in r.path]


def sent_emails(sandbox: SandboxServer, start: int) -> list[str]:
    return sorted(str(i["email"]) for r in attendance_requests(sandbox, start) for i in r.inputs or [])


# -- attendance ---------------------------------------------------------------------------------------


def test_a_rerun_sends_nothing_and_ten_changed_rows_send_exactly_those(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [registration(i) for i in range(40)]
    states, xcoms = run_dag("attendance_state", tmp_path, rows)
    assert states == {"produce": "success", "attendance": "success", "check": "success"}
    summary = xcoms["attendance"]
    assert (summary["upserted"], summary["sync"]["existed"], summary["sync"]["sent"]) == (40, False, 40)
    assert len(sandbox.participations("acme", "evt-1")) == 40

    start = len(sandbox.requests())
    states, xcoms = run_dag("attendance_state", tmp_path, rows)
    assert states["check"] == "success"  # the check operator counts unchanged rows in the invariant
    summary = xcoms["attendance"]
    assert (summary["total"], summary["upserted"], summary["unchanged"]) == (40, 0, 40)
    assert summary["requests"] == 0
    assert sandbox.requests()[start:] == []  # not one request of any kind
    assert (summary["sync"]["known"], summary["sync"]["sent"]) == (40, 0)

    changed = [2, 5, 7, 11, 13, 17, 19, 23, 29, 31]
    for i in changed:
        rows[i] = registration(i, at="2026-11-25T09:30:00Z")  # registered again, later
    start = len(sandbox.requests())
    states, xcoms = run_dag("attendance_state", tmp_path, rows)
    assert states["check"] == "success"
    assert (xcoms["attendance"]["upserted"], xcoms["attendance"]["unchanged"]) == (10, 30)
    assert sent_emails(sandbox, start) == sorted(f"guest{i}@example.com" for i in changed)


def test_refused_rows_are_retried_on_the_next_run(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    rows = [registration(i) for i in range(10)] + [registration(i, "evt-2") for i in range(10, 13)]
    states, xcoms = run_dag("attendance_state", tmp_path, rows)  # evt-2 is not in HubSpot yet
    assert states["check"] == "success"
    assert (xcoms["attendance"]["upserted"], xcoms["attendance"]["failed"]) == (10, 3)
    assert xcoms["attendance"]["errors_by_category"] == {"EVENT_NOT_FOUND": 3}

    with make_client(sandbox) as client:
        client.upsert_events([event(2)])
    start = len(sandbox.requests())
    states, xcoms = run_dag("attendance_state", tmp_path, rows)
    summary = xcoms["attendance"]
    assert (summary["upserted"], summary["unchanged"], summary["failed"]) == (3, 10, 0)
    assert sent_emails(sandbox, start) == [
        "guest10@example.com",
        "guest11@example.com",
        "guest12@example.com",
    ]
    assert len(sandbox.participations("acme", "evt-2")) == 3

    start = len(sandbox.requests())
    _, xcoms = run_dag("attendance_state", tmp_path, rows)
    assert (xcoms["attendance"]["unchanged"], sandbox.requests()[start:]) == (13, [])


def test_a_corrupt_state_fails_naming_the_file_unless_full_refresh(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [registration(i) for i in range(5)]
    state_file = tmp_path / "attendance.state"
    state_file.write_bytes(b"\x00garbage, not a sync state" * 64)
    start = len(sandbox.requests())
    states, _ = run_dag("attendance_state", tmp_path, rows)
    assert states["attendance"] == "failed"
    assert attendance_requests(sandbox, start) == []
    operator = RecordMarketingEventAttendanceOperator(
        task_id="attendance",
        attendance=rows,
        field_map={"event": "externalEventId", "action": "subscriberState", "at": "interactionDateTime"},
        defaults={"externalAccountId": "acme"},
        state_path=str(state_file),
        rejected_path=str(tmp_path / "rejected.jsonl"),
    )
    with pytest.raises(AirflowFailException, match=f"sync state {state_file} is unreadable or corrupt"):
        operator.execute({})

    states, xcoms = run_dag("attendance_state_refresh", tmp_path, rows)
    assert states == {"produce": "success", "attendance": "success", "check": "success"}
    assert (xcoms["attendance"]["upserted"], xcoms["attendance"]["sync"]["rebuilt"]) == (5, True)
    start = len(sandbox.requests())
    _, xcoms = run_dag("attendance_state", tmp_path, rows)  # rebuilt: the next run is a plain rerun
    assert (xcoms["attendance"]["unchanged"], sandbox.requests()[start:]) == (5, [])


def test_attendance_refuses_the_upserts_state(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    run_dag("sync_state_delete", tmp_path, [event(i) for i in range(3)])
    (tmp_path / "delete.state").rename(tmp_path / "attendance.state")
    states, _ = run_dag("attendance_state_refresh", tmp_path, [registration(0)])
    assert states["attendance"] == "failed"  # even full_refresh must not destroy the events' state
    assert (tmp_path / "attendance.state").stat().st_size > 0


# -- a delete and the upsert sharing one state ---------------------------------------------------------


def test_deleted_events_are_sent_again_only_if_back_in_the_source(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(20)]
    states, xcoms = run_dag("sync_state_delete", tmp_path, rows)  # on_missing="delete"
    assert (states["check"], xcoms["upsert"]["upserted"]) == ("success", 20)

    tombstones = [{"event_id": f"evt-{i}"} for i in (3, 4, 5)]
    states, xcoms = run_dag("delete_with_state", tmp_path, tombstones)
    assert states == {"produce": "success", "delete": "success", "check": "success"}
    assert (xcoms["delete"]["deleted"], xcoms["delete"]["sync"]["forgotten"]) == (3, 3)
    assert xcoms["delete"]["sync"]["known"] == 17
    assert all(sandbox.get_event("acme", f"evt-{i}") is None for i in (3, 4, 5))

    # evt-5 is back in the source; evt-3 and evt-4 stay gone
    source = [row for row in rows if row["externalEventId"] not in ("evt-3", "evt-4")]
    start = len(sandbox.requests())
    states, xcoms = run_dag("sync_state_delete", tmp_path, source)
    summary = xcoms["upsert"]
    assert states["check"] == "success"
    assert (summary["upserted"], summary["unchanged"]) == (1, 17)
    assert (summary["sync"]["missing"], summary["sync"]["deleted"]) == (0, 0)  # not deleted twice
    later = sandbox.requests()[start:]
    assert [
        i["externalEventId"] for r in later if r.path.endswith("/events/upsert") for i in r.inputs or []
    ] == ["evt-5"]
    assert [r for r in later if r.method == "DELETE" or r.path.endswith("/events/delete")] == []
    assert sandbox.get_event("acme", "evt-5") is not None
    assert sandbox.get_event("acme", "evt-3") is None


def test_a_dry_run_delete_leaves_the_state_alone(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    run_dag("sync_state_delete", tmp_path, [event(i) for i in range(12)])
    before = (tmp_path / "delete.state").read_bytes()
    states, xcoms = run_dag("delete_with_state_dry", tmp_path, [{"event_id": "evt-3"}])
    assert states["delete"] == "success"
    assert (xcoms["delete"]["would_upsert"], xcoms["delete"]["sync"]["forgotten"]) == (1, 0)
    assert (tmp_path / "delete.state").read_bytes() == before
    assert sandbox.get_event("acme", "evt-3") is not None
