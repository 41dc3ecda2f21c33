"""DAGs for ``tests/hooks/test_failures.py``: an upsert and a sensor with Airflow retries, run
against a HubSpot sandbox that refuses the connection's token or scope. Both tasks must fail at
once (``AirflowFailException``), not wait ``retry_delay`` for a retry that cannot heal."""

from __future__ import annotations

import datetime

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
# A short delay so that, were the failures retried, dag.test() would run the retries (and the test
# would see try 3) instead of waiting ten minutes.
_RETRIES = {"retries": 2, "retry_delay": datetime.timedelta(seconds=0.5)}

with DAG(
    "permanent_failures", schedule=None, start_date=_START, catchup=False, default_args=_RETRIES
) as permanent_failures:
    UpsertMarketingEventsOperator(
        task_id="upsert",
        events=[{"externalAccountId": "acme", "externalEventId": "ev-1", "eventName": "Webinar"}],
        defaults={"eventOrganizer": "Acme"},
        rejected_path="{{ dag_run.conf['out'] }}/rejected.jsonl",
    )
    MarketingEventsSensor(
        task_id="wait",
        external_ids=[{"externalAccountId": "acme", "externalEventId": "ev-1"}],
        poke_interval=0.05,
        timeout=60,
    )
