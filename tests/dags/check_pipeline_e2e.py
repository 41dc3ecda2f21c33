"""End-to-end DAG for ``dag.test()``: upsert the events of ``dag_run.conf`` into the test's HubSpot
sandbox, check the summary (validation rejects allowed, HubSpot-side failures not), then wait until
a sample of the upserted events is readable."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

with DAG(
    "check_pipeline_e2e",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1},
) as pipeline:
    upsert = UpsertMarketingEventsOperator(
        task_id="upsert",
        events="{{ dag_run.conf['events'] | tojson }}",
        defaults={"externalAccountId": "acme", "eventOrganizer": "Acme"},
        rejected_path="{{ dag_run.conf['out'] }}/rejected.jsonl",
        results_path="{{ dag_run.conf['out'] }}/results.jsonl",
    )
    check = MarketingEventsUpsertCheckOperator(
        task_id="check",
        upsert_task_id="upsert",
        max_errors_by_stage={"validation": 1, "hubspot": 0},
    )
    wait = MarketingEventsSensor(
        task_id="wait",
        results_path="{{ ti.xcom_pull(task_ids='upsert')['results_path'] }}",
        sample_size=2,
        poke_interval=0.05,
        timeout=60,
    )
    upsert >> check >> wait
