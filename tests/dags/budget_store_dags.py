"""DAG of the shared budget store's ``dag.test()`` test (``tests/operators/test_budget_store_dag.py``).

Two upserts against the sandbox: ``shared`` through the connection ``hubspot_store`` (its extras
name a running ``redis-server`` as ``budget_store``), ``store_down`` through ``hubspot_store_down``
(a ``budget_store`` where nobody listens: one warning, the local limiter, the run still succeeds).
Each writes its own ``externalAccountId`` so the sandbox's log tells their requests apart.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

#: Events of the ``shared`` task: five batches of 100.
SHARED_EVENTS = 450
DOWN_EVENTS = 120


def events(account: str, count: int) -> list[dict[str, Any]]:
    """``count`` events under ``account``."""
    return [
        {"externalEventId": f"{account}-{i}", "eventName": f"Event {i}", "eventOrganizer": "Acme"}
        for i in range(count)
    ]


with DAG(
    "budget_store_dags", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False
) as dag:
    shared = UpsertMarketingEventsOperator(
        task_id="shared",
        events=events("shared", SHARED_EVENTS),
        defaults={"externalAccountId": "shared"},
        hubspot_conn_id="hubspot_store",
        max_in_flight=2,
    )
    down = UpsertMarketingEventsOperator(
        task_id="store_down",
        events=events("down", DOWN_EVENTS),
        defaults={"externalAccountId": "down"},
        hubspot_conn_id="hubspot_store_down",
    )
    shared >> down
