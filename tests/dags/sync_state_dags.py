"""DAGs for the sync-state ``dag.test()`` tests (``tests/operators/test_sync_state_dag.py``).

``produce`` returns ``dag_run.conf["events"]``; the upsert keeps a sync state under
``dag_run.conf["out"]`` (a templated ``state_path``) and mirrors the source: ``sync_state_delete``
deletes the events that left it, ``sync_state_cancel`` cancels them; a check operator reads each
summary (it counts ``unchanged`` rows). ``sync_state_tombstones`` deletes the events its rows name.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task

from hubspot_events_provider.operators.marketing_events import (
    DeleteMarketingEventsOperator,
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_OUT = "{{ dag_run.conf['out'] }}"


@task
def produce() -> Any:
    """The rows of ``dag_run.conf["events"]`` as an XCom."""
    return get_current_context()["dag_run"].conf["events"]


def _mirror(dag_id: str, on_missing: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=_START, catchup=False) as dag:
        upsert = UpsertMarketingEventsOperator(
            task_id="upsert",
            events=produce(),
            state_path=_OUT + f"/{on_missing}.state",
            on_missing=on_missing,
            rejected_path=_OUT + "/rejected.jsonl",
            max_in_flight=2,
        )
        upsert >> MarketingEventsUpsertCheckOperator(task_id="check", upsert_task_id="upsert", max_errors=1)
    return dag


delete_mirror = _mirror("sync_state_delete", "delete")
cancel_mirror = _mirror("sync_state_cancel", "cancel")

with DAG("sync_state_tombstones", schedule=None, start_date=_START, catchup=False) as tombstones:
    DeleteMarketingEventsOperator(
        task_id="delete",
        events=produce(),
        field_map={"event_id": "externalEventId"},
        defaults={"externalAccountId": "acme"},
        ignore_fields=["deleted_at"],
        rejected_path=_OUT + "/deleted.rejected.jsonl",
        results_path=_OUT + "/deleted.results.jsonl",
    ) >> MarketingEventsUpsertCheckOperator(task_id="check", upsert_task_id="delete", max_errors=0)
