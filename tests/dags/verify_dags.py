"""DAGs for the read-back verification ``dag.test()`` tests: upsert the events of
``dag_run.conf["events"]`` (with a ``region`` column) into the test's HubSpot sandbox, check, then
let the sensor compare a sample with what was sent. ``verify_misspelled`` sends the column as the
custom property ``regoin``, which the sandbox account does not define (HubSpot drops it silently)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor


def _pipeline(dag_id: str, custom_properties: dict[str, str]) -> DAG:
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
        upsert = UpsertMarketingEventsOperator(
            task_id="upsert",
            events="{{ dag_run.conf['events'] | tojson }}",
            defaults={"externalAccountId": "acme", "eventOrganizer": "Acme"},
            custom_properties=custom_properties,
            rejected_path="{{ dag_run.conf['out'] }}/rejected.jsonl",
            results_path="{{ dag_run.conf['out'] }}/results.jsonl",
        )
        check = MarketingEventsUpsertCheckOperator(task_id="check", upsert_task_id="upsert")
        wait = MarketingEventsSensor(
            task_id="wait",
            results_path="{{ ti.xcom_pull(task_ids='upsert')['results_path'] }}",
            sample_size=3,
            poke_interval=0.05,
            timeout=60,
        )
        upsert >> check >> wait
    return dag


correct = _pipeline("verify_correct", {"region": "region"})
misspelled = _pipeline("verify_misspelled", {"region": "regoin"})
