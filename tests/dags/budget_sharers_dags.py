"""DAG of the ``budget_sharers`` ``dag.test()`` test (``tests/operators/test_budget_sharers.py``).

Four upserts against the sandbox named by ``hubspot_default``, each over its own
``externalAccountId``: ``detected`` mapped over 3 partitions (each instance's limiter gets
``sharers=3`` from the map's length), ``capped`` mapped over 3 with ``max_active_tis_per_dagrun=2``
(``sharers=2``), ``explicit`` mapped over 3 with ``hook_params={"budget_sharers": 5}`` (the
explicit value wins) and ``unmapped`` (``sharers`` stays unknown).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

PARTITIONS = 3


def partitions(account: str) -> list[list[dict[str, Any]]]:
    """``PARTITIONS`` lists of two events each, all under ``account``."""
    return [
        [
            {"externalEventId": f"{account}-{p}-{i}", "eventName": f"Event {p}.{i}", "eventOrganizer": "Acme"}
            for i in range(2)
        ]
        for p in range(PARTITIONS)
    ]


with DAG(
    "budget_sharers_dags", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False
) as dag:
    UpsertMarketingEventsOperator.partial(
        task_id="detected", defaults={"externalAccountId": "detected"}
    ).expand(events=partitions("detected"))
    UpsertMarketingEventsOperator.partial(
        task_id="capped", defaults={"externalAccountId": "capped"}, max_active_tis_per_dagrun=2
    ).expand(events=partitions("capped"))
    UpsertMarketingEventsOperator.partial(
        task_id="explicit", defaults={"externalAccountId": "explicit"}, hook_params={"budget_sharers": 5}
    ).expand(events=partitions("explicit"))
    UpsertMarketingEventsOperator(
        task_id="unmapped", events=partitions("unmapped")[0], defaults={"externalAccountId": "unmapped"}
    )
