"""DAGs for the Airflow-native tests: ``@task.hubspot_marketing_events`` streaming a generator into
the upsert with a ``hubspot://`` outlet, and a downstream DAG scheduled on that asset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

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

with DAG(
    "native_on_hubspot_asset", schedule=[HUBSPOT_EVENTS], start_date=_START, catchup=False
) as downstream:

    @task
    def counts(triggering_asset_events: Any = None) -> dict[str, Any]:
        (events,) = triggering_asset_events.values()
        return dict(events[-1].extra)

    counts()
