"""``dag.test()`` runs of ``tests/dags/reconcile_dags.py`` against the sandbox in its least helpful
defaults (read lag on, per-row errors as counts only): 1,000 events synced with a state, then 5
edited and 3 deleted in HubSpot by hand. The state's view sends nothing; a reconcile finds and
repairs exactly those 8 events for at most ceil(1000 / 100) + 5 read requests; its dry run reports
the same drift and sends nothing; the check operator fails on drift above ``max_drift``."""

from __future__ import annotations

import math
import pathlib
import time
from typing import Any

import pytest

from hubspot_events_provider.core.kinds.events.readback import compare_event
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import TEST_READ_LAG_S
from tests.support import connect, event

pytestmark = pytest.mark.usefixtures("airflow_db")

N = 1000
EDITED = {
    "evt-10": {"eventName": "Renamed by a marketer"},
    "evt-250": {"eventOrganizer": "Someone else"},
    "evt-500": {"startDateTime": "2026-12-02T10:00:00Z"},
    "evt-750": {"eventType": "CONFERENCE", "eventName": "Also renamed"},
    "evt-999": {"endDateTime": "2026-12-01T12:30:00Z"},
}
DELETED = ("evt-3", "evt-404", "evt-998")


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    connect(monkeypatch, hubspot_sandbox)
    return hubspot_sandbox


def run_dag(dag_id: str, out: pathlib.Path, events: list[Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Run the DAG; return ``{task_id: state}`` and ``{task_id: return_value}``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags import reconcile_dags

    dag = {
        "reconcile_sync": reconcile_dags.sync,
        "reconcile_weekly": reconcile_dags.weekly,
        "reconcile_weekly_dry": reconcile_dags.weekly_dry,
        "reconcile_gated": reconcile_dags.gated,
        "reconcile_alone": reconcile_dags.alone,
    }[dag_id]
    dr = dag.test(run_conf={"out": str(out), "events": events})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    if states.get("produce") == "failed":
        pytest.skip("dag.test() cannot start any task in this Airflow install (Execution API refused it)")
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag.dag_id,
                XComModel.run_id == dr.run_id,
                XComModel.key.in_(("return_value", "check_result")),
            )
        ).all()
        xcoms = {
            row.task_id + ("" if row.key == "return_value" else f":{row.key}"): XComModel.deserialize_value(
                row
            )
            for row in rows
        }
    return states, xcoms


def upserted_ids(sandbox: SandboxServer, start: int) -> list[str]:
    return sorted(
        str(i["externalEventId"])
        for r in sandbox.requests()[start:]
        if r.path.endswith("/events/upsert")
        for i in r.inputs or []
    )


def reads(sandbox: SandboxServer, start: int) -> int:
    """The reads of events (the operator's account-details read for lineage is not the reconcile's)."""
    return sum(
        1 for r in sandbox.requests()[start:] if r.method == "GET" and "/marketing-events/" in r.path + "/"
    )


def edit_by_hand(sandbox: SandboxServer) -> None:
    for event_id, fields in EDITED.items():
        sandbox.edit_event_by_hand("acme", event_id, **fields)
    # Fields the source does not set are HubSpot's to keep: neither is drift.
    sandbox.edit_event_by_hand("acme", "evt-20", eventDescription="a note the source does not set")
    sandbox.edit_event_by_hand("acme", "evt-21", eventCancelled=True)
    for event_id in DELETED:
        sandbox.delete_event_by_hand("acme", event_id)
    time.sleep(TEST_READ_LAG_S * 4)  # API reads see the hand edits after HubSpot's read lag


def assert_hubspot_equals(sandbox: SandboxServer, rows: list[dict[str, Any]]) -> None:
    held = {e["externalEventId"]: e for e in sandbox.events() if e["externalAccountId"] == "acme"}
    assert len(held) == len(rows)
    differ = {r["externalEventId"]: compare_event(r, held[r["externalEventId"]]) for r in rows}
    assert {k: v for k, v in differ.items() if v} == {}


def assert_drift(drift: dict[str, Any]) -> None:
    assert (drift["differed"], drift["missing"], drift["drifted"]) == (5, 3, 8)
    assert (drift["matched"], drift["lagging"], drift["dropped"]) == (N - 8, 0, 0)
    assert drift["requests"] <= math.ceil(N / 100) + 5
    named = {s["externalEventId"]: s for s in drift["sample"]}
    assert {k: sorted(named[k]["fields"]) for k in EDITED} == {k: sorted(v) for k, v in EDITED.items()}
    assert {k: named[k]["verdict"] for k in DELETED} == dict.fromkeys(DELETED, "missing")


def test_reconcile_repairs_exactly_what_was_changed_in_hubspot_by_hand(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(N)]
    states, xcoms = run_dag("reconcile_sync", tmp_path, rows)
    assert states == {"produce": "success", "upsert": "success", "check": "success"}
    assert xcoms["upsert"]["upserted"] == N
    edit_by_hand(sandbox)

    start = len(sandbox.requests())
    _, xcoms = run_dag("reconcile_sync", tmp_path, rows)  # the state's view: nothing changed
    assert (xcoms["upsert"]["unchanged"], xcoms["upsert"]["requests"]) == (N, 0)
    assert len(sandbox.requests()) == start

    _, xcoms = run_dag("reconcile_weekly_dry", tmp_path, rows)
    dry = xcoms["upsert"]
    assert (dry["would_upsert"], dry["unchanged"]) == (8, N - 8)
    assert_drift(dry["reconcile"])
    assert upserted_ids(sandbox, start) == []
    assert reads(sandbox, start) == dry["reconcile"]["requests"]

    start = len(sandbox.requests())
    states, xcoms = run_dag("reconcile_weekly", tmp_path, rows)
    assert states["check"] == "success"
    summary = xcoms["upsert"]
    assert (summary["upserted"], summary["unchanged"], summary["failed"]) == (8, N - 8, 0)
    assert_drift(summary["reconcile"])
    assert upserted_ids(sandbox, start) == sorted([*EDITED, *DELETED])
    assert reads(sandbox, start) == summary["reconcile"]["requests"] <= math.ceil(N / 100) + 5
    assert_hubspot_equals(sandbox, rows)
    kept = sandbox.get_event("acme", "evt-20")
    assert kept is not None
    assert kept["eventDescription"] == "a note the source does not set"

    time.sleep(TEST_READ_LAG_S * 4)
    start = len(sandbox.requests())
    _, xcoms = run_dag("reconcile_weekly", tmp_path, rows)  # repaired: nothing drifted any more
    assert (xcoms["upsert"]["unchanged"], xcoms["upsert"]["reconcile"]["drifted"]) == (N, 0)
    assert upserted_ids(sandbox, start) == []


def test_the_check_fails_on_drift_above_max_drift_naming_the_counts(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from hubspot_events_provider.operators.check import MarketingEventsUpsertCheckOperator

    rows = [event(i) for i in range(N)]
    run_dag("reconcile_sync", tmp_path, rows)
    edit_by_hand(sandbox)
    states, xcoms = run_dag("reconcile_gated", tmp_path, rows)
    assert (states["upsert"], states["check"]) == ("success", "failed")
    result = xcoms["check:check_result"]
    assert result["violations"] == [
        f"8 events drifted in HubSpot (5 differed, 3 missing; {N - 8} matched of {N - 3} read) "
        "exceed max_drift=5"
    ]
    # The same summary through the operator again: its message (dag.test() keeps no task log).
    again = MarketingEventsUpsertCheckOperator(
        task_id="again", summary=xcoms["upsert"], max_errors=0, max_drift=5, allow_dry_run=True
    )
    with pytest.raises(AirflowFailException, match="8 events drifted in HubSpot") as failed:
        again.execute({})
    assert "differed: event 'evt-10' (externalAccountId 'acme'), fields: eventName" in str(failed.value)
    assert MarketingEventsUpsertCheckOperator(
        task_id="passes", summary=xcoms["upsert"], max_drift=8, allow_dry_run=True
    ).execute({})["passed"]


def test_reconcile_without_a_state_hubspot_is_the_state(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(300)]
    _, xcoms = run_dag("reconcile_alone", tmp_path, rows)  # HubSpot holds nothing yet: all missing
    assert xcoms["upsert"]["upserted"] == 300
    first = xcoms["upsert"]["reconcile"]
    assert (first["missing"], first["single_reads"], first["requests"]) == (300, 0, 1)  # one empty page
    time.sleep(TEST_READ_LAG_S * 4)
    sandbox.edit_event_by_hand("acme", "evt-7", eventName="Renamed")
    sandbox.delete_event_by_hand("acme", "evt-8")
    time.sleep(TEST_READ_LAG_S * 4)
    start = len(sandbox.requests())
    _, xcoms = run_dag("reconcile_alone", tmp_path, rows)
    drift = xcoms["upsert"]["reconcile"]
    assert (drift["matched"], drift["differed"], drift["missing"]) == (298, 1, 1)
    assert upserted_ids(sandbox, start) == ["evt-7", "evt-8"]
    assert reads(sandbox, start) == drift["requests"] <= math.ceil(300 / 100) + 5
    assert_hubspot_equals(sandbox, rows)
