"""DAGs for the Airflow-native tests: ``@task.hubspot_marketing_events`` streaming a generator into
the upsert with a ``hubspot://`` outlet whose asset event carries the counts, and a file upsert for
the OpenLineage run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
#: The sandbox's default portal (``SandboxConfig.hub_id``).
HUBSPOT_EVENTS = Asset("hubspot://62515/marketing-events")

with DAG("native_decorated_upsert", schedule=None, start_date=_START, catchup=False) as decorated:

    @task.hubspot_marketing_events(
        field_map={"id": "externalEventId", "title": "eventName"},
        defaults={"externalAccountId": "acme", "eventOrganizer": "Acme"},
        hook_params={"max_requests_per_10s": 100000},
        outlets=[HUBSPOT_EVENTS],
    )
    def webinars(dag_run: Any = None) -> Iterator[dict[str, Any]]:
        conf = dag_run.conf if dag_run is not None else {}
        for i in range(int(conf.get("n", 10))):
            yield {"id": f"w{i}", "title": f"Webinar {i}" if i % 50 else ""}  # every 50th is rejected

    webinars()

with DAG("native_file_upsert", schedule=None, start_date=_START, catchup=False) as from_file:
    UpsertMarketingEventsOperator(
        task_id="upsert",
        events_file="{{ dag_run.conf['path'] }}",
        field_map={"id": "externalEventId", "title": "eventName"},
        custom_properties=["topic"],
        defaults={"externalAccountId": "acme", "eventOrganizer": "Acme"},
    )
