"""``@task.hubspot_marketing_events`` against the sandbox: a generator's rows stream into the upsert
in the same task (flat memory), the task returns the summary, the ``hubspot://`` outlet's asset event
carries the counts, and the extra links are stored after the run."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from hubspot_events_provider.decorators.marketing_events import hubspot_marketing_events_task
from hubspot_events_provider.sandbox import SandboxServer


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}),
    )
    return hubspot_sandbox


def rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "externalAccountId": "acme",
            "externalEventId": f"e{i}",
            "eventName": f"Webinar {i}",
            "eventOrganizer": "Acme",
            "eventDescription": "x" * 200,
        }


def operator(n: int, **kwargs: Any) -> Any:
    def produce() -> Iterator[dict[str, Any]]:
        return rows(n)

    decorated = hubspot_marketing_events_task(produce, **kwargs)
    return decorated.operator_class(python_callable=produce, **{"task_id": "produce", **decorated.kwargs})


def test_registered_as_task_hubspot_marketing_events() -> None:
    from airflow.sdk import task

    assert task.hubspot_marketing_events is hubspot_marketing_events_task


def test_inputs_come_from_the_function_only() -> None:
    with pytest.raises(ValueError, match="decorated function"):
        operator(1, sql="SELECT 1", sql_conn_id="x")


def test_returned_list_is_upserted(sandbox: SandboxServer, tmp_path: Any) -> None:
    op = operator(3, rejected_path=str(tmp_path / "r.jsonl"))
    summary = op.execute({})
    assert (summary["total"], summary["upserted"]) == (3, 3)
    assert sorted(e["externalEventId"] for e in sandbox.events()) == ["e0", "e1", "e2"]


def test_generator_memory_stays_flat(sandbox: SandboxServer, tmp_path: Any) -> None:
    """Peak traced memory for 4x the rows stays within 1.5x: nothing holds all the rows."""

    def peak(n: int) -> int:
        op = operator(n, dry_run=True, rejected_path=str(tmp_path / f"r{n}.jsonl"))
        tracemalloc.start()
        try:
            summary = op.execute({})
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert summary["would_upsert"] == n

    small, large = peak(2_500), peak(10_000)
    assert large < 1.5 * small + 256 * 1024, (small, large)
    assert large < 8 * 1024 * 1024  # 10k such rows held at once would take well over 8 MB


@pytest.mark.usefixtures("airflow_db")
def test_dag_run_streams_rows_and_sends_counts_to_the_asset(sandbox: SandboxServer) -> None:
    from airflow import __version__ as airflow_version
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags.native_dags import decorated

    if airflow_version.startswith("3.0."):
        # Airflow 3.0's dag.test() leaves a new asset inactive (only a scheduler activates it) and
        # the task then fails on its outlet: AirflowInactiveAssetInInletOrOutletException.
        pytest.skip("dag.test() cannot run a task with an asset outlet on Airflow 3.0")
    dr = decorated.test(run_conf={"n": 250})
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {"webinars": "success"}
    with create_session() as session:
        xcoms = {
            row.key: XComModel.deserialize_value(row)
            for row in session.scalars(
                select(XComModel).where(XComModel.dag_id == dr.dag_id, XComModel.run_id == dr.run_id)
            )
        }
        extras = [
            e.extra for e in session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dr.run_id))
        ]
    summary = xcoms["return_value"]
    assert (summary["total"], summary["upserted"], summary["rejected"]) == (250, 245, 5)
    assert len(sandbox.events()) == 245
    assert extras == [
        {
            "upserted": 245,
            "rejected": 5,
            "failed": 0,
            "total": 250,
            "error_rate": summary["error_rate"],
            "rejected_path": summary["rejected_path"],
        }
    ]
    assert xcoms["_link_HubSpotMarketingEventsLink"] == "https://app.hubspot.com/marketing-events/62515"
    assert xcoms["_link_HubSpotRejectedRowsLink"] == f"file://{summary['rejected_path']}"


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_dag_run_upserts_a_100k_row_generator(sandbox: SandboxServer) -> None:
    from tests.dags.native_dags import decorated

    dr = decorated.test(run_conf={"n": 100_000})
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {"webinars": "success"}
    assert len(sandbox.events()) == 98_000  # every 50th row has no name and is rejected
