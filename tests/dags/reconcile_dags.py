"""DAGs for the reconcile ``dag.test()`` tests (``tests/operators/test_reconcile_dag.py``).

``produce`` returns ``dag_run.conf["events"]``. ``reconcile_sync`` is the daily sync with a sync
state, or with ``dag_run.conf["reconcile"]`` the weekly reconcile over the same state (and
``dag_run.conf["dry_run"]`` to only report the drift); ``reconcile_alone`` reconciles without a
state; each checks its summary, the reconcile with ``max_drift`` from ``dag_run.conf``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task

from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_OUT = "{{ dag_run.conf['out'] }}"


@task
def produce() -> Any:
    """The rows of ``dag_run.conf["events"]`` as an XCom."""
    return get_current_context()["dag_run"].conf["events"]


def _dag(dag_id: str, *, reconcile: bool, dry_run: bool, state: bool, max_drift: int | None) -> DAG:
    with DAG(dag_id, schedule=None, start_date=_START, catchup=False) as dag:
        upsert = UpsertMarketingEventsOperator(
            task_id="upsert",
            events=produce(),
            state_path=_OUT + "/events.state" if state else None,
            reconcile=reconcile,
            dry_run=dry_run,
            rejected_path=_OUT + f"/{dag_id}.rejected.jsonl",
            max_in_flight=2,
        )
        upsert >> MarketingEventsUpsertCheckOperator(
            task_id="check", upsert_task_id="upsert", max_errors=0, max_drift=max_drift, allow_dry_run=dry_run
        )
    return dag


sync = _dag("reconcile_sync", reconcile=False, dry_run=False, state=True, max_drift=None)
weekly = _dag("reconcile_weekly", reconcile=True, dry_run=False, state=True, max_drift=None)
weekly_dry = _dag("reconcile_weekly_dry", reconcile=True, dry_run=True, state=True, max_drift=None)
gated = _dag("reconcile_gated", reconcile=True, dry_run=True, state=True, max_drift=5)
alone = _dag("reconcile_alone", reconcile=True, dry_run=False, state=False, max_drift=None)
