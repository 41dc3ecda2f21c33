"""DAGs for the check operator's ``dag.test()`` tests: a producer task returns the summary given in
``dag_run.conf`` (plain, or one per map index with ``.expand``), then the check reads it."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task

from hubspot_events_provider.operators.check import MarketingEventsUpsertCheckOperator

_START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task
def produce() -> Any:
    """Stand-in for the upsert: returns ``dag_run.conf["summary"]`` as its XCom."""
    return get_current_context()["dag_run"].conf["summary"]


@task
def produce_part(part: Any) -> Any:
    """Stand-in for a mapped upsert: each map index returns one summary."""
    return part


@task
def parts() -> Any:
    return get_current_context()["dag_run"].conf["parts"]


with DAG(
    "check_single", schedule=None, start_date=_START, catchup=False, default_args={"retries": 2}
) as single:
    produce() >> MarketingEventsUpsertCheckOperator(
        task_id="check",
        upsert_task_id="produce",
        max_errors=5,
        max_errors_by_stage={"hubspot": 0},
    )

with DAG(
    "check_mapped", schedule=None, start_date=_START, catchup=False, default_args={"retries": 2}
) as mapped:
    upserts = produce_part.expand(part=parts())
    upserts >> MarketingEventsUpsertCheckOperator(
        task_id="check_by_task_id", upsert_task_id="produce_part", max_errors=5
    )
    MarketingEventsUpsertCheckOperator(task_id="check_by_xcomarg", summary=upserts, max_error_rate=0.1)
