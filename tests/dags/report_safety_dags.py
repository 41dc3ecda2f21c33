"""A DAG for ``tests/operators/test_report_safety.py``: one upsert whose input and report paths come
from ``dag_run.conf`` (the same ``{{ dag_run.conf['out'] }}`` report paths on every run, as a
``{{ ds }}`` path is for a rerun or a retry). One event per request so a run can fail half-way."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

with DAG(
    "report_safety",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
) as report_safety:
    UpsertMarketingEventsOperator(
        task_id="upsert",
        events_file="{{ dag_run.conf['events_file'] }}",
        defaults={"externalAccountId": "safety", "eventOrganizer": "Acme"},
        rejected_path="{{ dag_run.conf['out'] }}/day.rejected.jsonl",
        results_path="{{ dag_run.conf['out'] }}/day.results.jsonl",
        batch_size=1,
        max_in_flight=1,
    )
