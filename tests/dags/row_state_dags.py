"""DAGs for the attendance and delete sync-state ``dag.test()`` tests
(``tests/operators/test_row_state_dag.py``).

``produce`` returns ``dag_run.conf["rows"]``. ``attendance_state`` records them as participations
through a sync state under ``dag_run.conf["out"]`` (``attendance_state_refresh`` with
``full_refresh=True``); a check operator gates each summary (it counts ``unchanged`` rows).
``delete_with_state`` (``delete_with_state_dry``: a dry run) deletes the events the rows name and
forgets them in the state of ``tests/dags/sync_state_dags.py``'s ``sync_state_delete`` upsert
(``<out>/delete.state``).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task

from hubspot_events_provider.operators.marketing_events import (
    DeleteMarketingEventsOperator,
    MarketingEventsUpsertCheckOperator,
    RecordMarketingEventAttendanceOperator,
)

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_OUT = "{{ dag_run.conf['out'] }}"


@task
def produce() -> Any:
    """The rows of ``dag_run.conf["rows"]`` as an XCom."""
    return get_current_context()["dag_run"].conf["rows"]


def _attendance(dag_id: str, *, full_refresh: bool) -> DAG:
    with DAG(dag_id, schedule=None, start_date=_START, catchup=False) as dag:
        RecordMarketingEventAttendanceOperator(
            task_id="attendance",
            attendance=produce(),
            field_map={"event": "externalEventId", "action": "subscriberState", "at": "interactionDateTime"},
            defaults={"externalAccountId": "acme"},
            state_path=_OUT + "/attendance.state",
            full_refresh=full_refresh,
            rejected_path=_OUT + "/attendance.rejected.jsonl",
            max_in_flight=2,
        ) >> MarketingEventsUpsertCheckOperator(task_id="check", upsert_task_id="attendance", max_errors=10)
    return dag


attendance_state = _attendance("attendance_state", full_refresh=False)
attendance_state_refresh = _attendance("attendance_state_refresh", full_refresh=True)


def _delete(dag_id: str, *, dry_run: bool) -> DAG:
    with DAG(dag_id, schedule=None, start_date=_START, catchup=False) as dag:
        DeleteMarketingEventsOperator(
            task_id="delete",
            events=produce(),
            field_map={"event_id": "externalEventId"},
            defaults={"externalAccountId": "acme"},
            state_path=_OUT + "/delete.state",
            rejected_path=_OUT + "/deleted.rejected.jsonl",
            dry_run=dry_run,
        ) >> MarketingEventsUpsertCheckOperator(task_id="check", upsert_task_id="delete", max_errors=0)
    return dag


delete_with_state = _delete("delete_with_state", dry_run=False)
delete_with_state_dry = _delete("delete_with_state_dry", dry_run=True)
