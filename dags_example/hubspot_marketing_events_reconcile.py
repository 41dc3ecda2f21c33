"""Airflow DAG ``hubspot_marketing_events_reconcile``: HubSpot checked against the warehouse, weekly.

The weekly companion of ``hubspot_marketing_events_sync`` (the daily incremental sync): the same
connections, field map and custom properties (imported from it), over the whole table. Copy both
files and ``sql/`` into your DAGs folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.sdk import DAG

from dags_example.events_mapping import (
    CUSTOM_PROPERTIES,
    FIELD_MAP,
    HUBSPOT_CONN_ID,
    IGNORE_FIELDS,
    REPORTS_DIR,
    WAREHOUSE_CONN_ID,
)
from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)

DAG_ID = "hubspot_marketing_events_reconcile"
RUN_DIR = REPORTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '') | replace('+', '') }}"

DOC_MD = """
### HubSpot Marketing Events: weekly reconcile

The daily sync sends what changed in the warehouse; it cannot see an event renamed or deleted in
HubSpot by hand. Once a week this DAG reads what HubSpot holds for the app's events (the paged
list, 100 events per request, so 10,000 events cost about 100 reads) and compares every field the
warehouse sets, the way the read-back sensor does.

* **reconcile_marketing_events**: the whole table; only the events whose HubSpot copy differs or
  is missing are sent (the rest are `unchanged`). The summary's `reconcile` names what drifted and
  which fields. Set `dry_run=True` to report the drift without repairing it.
* **check_drift**: fails the run when more than 50 events had drifted (a sign of bulk edits in
  HubSpot worth a look; they were repaired) or any row failed.
"""

with DAG(
    dag_id=DAG_ID,
    description="Weekly: repair events changed or deleted in HubSpot behind the warehouse's back",
    doc_md=DOC_MD,
    schedule="@weekly",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    template_searchpath=[str(Path(__file__).resolve().parent / "sql")],
    default_args={"owner": "marketing-data", "retries": 2, "retry_delay": dt.timedelta(minutes=5)},
    tags=["hubspot", "marketing-events", "example"],
) as dag:
    reconcile = UpsertMarketingEventsOperator(
        task_id="reconcile_marketing_events",
        doc_md="The whole table against HubSpot: send only what HubSpot does not hold as the table says.",
        sql="all_marketing_events.sql",
        sql_conn_id=WAREHOUSE_CONN_ID,
        field_map=FIELD_MAP,
        custom_properties=CUSTOM_PROPERTIES,
        ignore_fields=IGNORE_FIELDS,
        reconcile=True,
        allow_empty=True,
        rejected_path=RUN_DIR + "/rejected.jsonl",
        results_path=RUN_DIR + "/results.jsonl",
        hubspot_conn_id=HUBSPOT_CONN_ID,
        execution_timeout=dt.timedelta(hours=2),
    )
    check = MarketingEventsUpsertCheckOperator(
        task_id="check_drift",
        doc_md="Fails past 50 drifted events (repaired, but worth a look) or on any failed row.",
        upsert_task_id=reconcile.task_id,
        max_errors=0,
        max_drift=50,
        retries=0,
    )
    reconcile >> check
