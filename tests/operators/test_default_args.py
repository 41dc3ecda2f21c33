"""A DAG's ``default_args`` reach the parameters the row-writing operators share.

They are declared once, keyword-only, on ``RowWriteOperator.__init__`` and each operator passes them
on with ``**kwargs``; Airflow fills a parameter from ``default_args`` only where an ``__init__``
declares it, so these tests hold the base's declaration to that.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubspot_events_provider.operators.marketing_events import (
    DeleteMarketingEventsOperator,
    RecordMarketingEventAttendanceOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import connect

DEFAULT_ARGS: dict[str, Any] = {
    "hubspot_conn_id": "hubspot_other",
    "batch_size": 7,
    "max_in_flight": 3,
    "dry_run": True,
    "allow_empty": True,
    "fetch_size": 50,
    "progress_interval": 2.5,
    "hook_params": {"max_requests_per_10s": 40},
    "rejected_path": "out/{{ ds }}.rejected.jsonl",
}

OPERATORS: list[tuple[type[Any], dict[str, Any]]] = [
    (UpsertMarketingEventsOperator, {"events": []}),
    (DeleteMarketingEventsOperator, {"events_file": "gone.csv"}),
    (RecordMarketingEventAttendanceOperator, {"sql": "select 1", "sql_conn_id": "warehouse"}),
]


@pytest.mark.parametrize(("operator", "given"), OPERATORS, ids=lambda v: getattr(v, "__name__", ""))
def test_default_args_reach_the_shared_parameters(operator: type[Any], given: dict[str, Any]) -> None:
    from airflow.sdk import DAG

    with DAG("defaults", schedule=None, default_args=DEFAULT_ARGS):
        op = operator(task_id="write", **given)
    assert op.hubspot_conn_id == "hubspot_other"
    assert (op.batch_size, op.max_in_flight, op.fetch_size, op.progress_interval) == (7, 3, 50, 2.5)
    assert (op.send_nothing, op.allow_empty) == (True, True)
    assert op.hook_params == {"max_requests_per_10s": 40}
    assert op.rejected_path == "out/{{ ds }}.rejected.jsonl"
    assert op.retries == 0  # BaseOperator's own defaults still come through


@pytest.mark.parametrize(("operator", "given"), OPERATORS, ids=lambda v: getattr(v, "__name__", ""))
def test_an_argument_wins_over_default_args(operator: type[Any], given: dict[str, Any]) -> None:
    from airflow.sdk import DAG

    with DAG("defaults", schedule=None, default_args=DEFAULT_ARGS):
        op = operator(task_id="write", hubspot_conn_id="hubspot_mine", batch_size=20, **given)
    assert (op.hubspot_conn_id, op.batch_size) == ("hubspot_mine", 20)
    assert op.fetch_size == 50


def test_default_args_are_checked_like_arguments() -> None:
    """A value from ``default_args`` is refused at DAG parse time as the same argument would be."""
    from airflow.sdk import DAG

    with (
        DAG("defaults", schedule=None, default_args={"batch_size": 101}),
        pytest.raises(ValueError, match="batch_size"),
    ):
        DeleteMarketingEventsOperator(task_id="write", events=[])
    with (
        DAG("secrets", schedule=None, default_args={"hook_params": {"token": "x"}}),
        pytest.raises(ValueError, match="'token' is refused"),
        pytest.warns(UserWarning, match="'token' is refused"),
    ):
        UpsertMarketingEventsOperator(task_id="write", events=[])


@pytest.mark.filterwarnings("ignore:Task 'typo' was never mapped")
def test_a_shared_parameter_can_be_expanded() -> None:
    """Airflow validates ``expand()`` names against every ``__init__`` in the MRO: the base's count."""
    from airflow.sdk import DAG

    with DAG("mapped", schedule=None):
        mapped = UpsertMarketingEventsOperator.partial(task_id="write", events=[]).expand(batch_size=[10, 20])
        with pytest.raises(TypeError, match="batch_sizes"):
            UpsertMarketingEventsOperator.partial(task_id="typo", events=[]).expand(batch_sizes=[10])
    assert mapped.expand_input.value == {"batch_size": [10, 20]}


def _event(i: int) -> dict[str, Any]:
    return {"externalEventId": f"d-{i}", "eventName": f"Event {i}"}


@pytest.mark.usefixtures("airflow_db")
def test_dag_run_with_default_args(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dag.test()``: the connection and batch size of both tasks come from ``default_args`` alone
    (no ``hubspot_default`` exists; 5 events in batches of 2 are 3 batches)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags.default_args_dags import BATCH_SIZE, CONN_ID, writes

    connect(monkeypatch, hubspot_sandbox, conn_id=CONN_ID, max_requests_per_10s=10_000)
    conf = {
        "events": json.dumps([_event(i) for i in range(5)]),
        "deletes": json.dumps([{"externalEventId": "d-0"}, {"externalEventId": "d-1"}]),
    }
    dr = writes.test(run_conf=conf)
    assert {ti.task_id: str(ti.state) for ti in dr.get_task_instances()} == {
        "upsert": "success",
        "delete": "success",
    }
    with create_session() as session:
        summaries = {
            row.task_id: XComModel.deserialize_value(row)
            for row in session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == dr.dag_id,
                    XComModel.run_id == dr.run_id,
                    XComModel.key == "return_value",
                )
            )
        }
    upsert, delete = summaries["upsert"], summaries["delete"]
    assert (upsert["upserted"], upsert["batches"]) == (5, -(-5 // BATCH_SIZE))
    assert (delete["deleted"], delete["batches"]) == (2, 1)
    assert sorted(e["externalEventId"] for e in hubspot_sandbox.events()) == ["d-2", "d-3", "d-4"]
