"""DAG for the reliability suite's ``dag.test()`` runs: upsert the events of ``dag_run.conf`` through
the ``hubspot_default`` connection (set by the test as an environment variable), with the report
files under ``conf['out']``. No retries: each test decides itself whether to rerun."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

with DAG(
    "reliability_upsert",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
) as reliability_upsert:
    UpsertMarketingEventsOperator(
        task_id="upsert",
        events="{{ dag_run.conf['events'] | tojson }}",
        rejected_path="{{ dag_run.conf['out'] }}/rejected.jsonl",
        results_path="{{ dag_run.conf['out'] }}/results.jsonl",
        batch_size=20,
        max_in_flight=2,
    )
