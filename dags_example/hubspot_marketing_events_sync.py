"""Airflow DAG ``hubspot_marketing_events_sync``: warehouse table -> HubSpot Marketing Events, daily.

Copy this file and ``sql/`` into your DAGs folder. It needs two Airflow connections:

* ``hubspot_default`` (conn type ``hubspot``): password = a private app access token or Service
  Key with the ``crm.objects.marketing_events.write`` and ``.read`` scopes; host empty for
  ``https://api.hubapi.com``. Extra ``{"max_requests_per_10s": 100}`` = your app's burst budget.
* ``warehouse``: any common-sql connection (``sqlite``, ``postgres``, ``snowflake``,
  ``google_cloud_platform`` for BigQuery...). Point ``WAREHOUSE_CONN_ID`` elsewhere if you like, and
  adapt ``sql/changed_marketing_events.sql`` to your table.

Optional Airflow Variable ``hubspot_events_reports_dir``: where the rejected/results files go (a
local folder or an object-storage URI such as ``s3://bucket/hubspot``); default ``/tmp/hubspot-events``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from dags_example.events_mapping import (
    CUSTOM_PROPERTIES as MAPPED_PROPERTIES,
)
from dags_example.events_mapping import (
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
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

DAG_ID = "hubspot_marketing_events_sync"
RUN_DIR = REPORTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '') | replace('+', '') }}"

CUSTOM_PROPERTIES = dict(MAPPED_PROPERTIES)
if os.environ.get("HUBSPOT_EVENTS_DEMO_MISSPELL"):
    # `python -m dags_example.demo --misspell`: a typo HubSpot accepts with a 200 and drops; the
    # upsert and the check stay green, the sensor's field-by-field read-back ends the run red.
    CUSTOM_PROPERTIES["capacity"] = "capcity"

DOC_MD = """
### HubSpot Marketing Events: daily warehouse sync

Every day, the events whose `updated_at` falls in the run's data interval
`[data_interval_start, data_interval_end)` are upserted into HubSpot (keyed by
`externalAccountId` + `externalEventId`, so a rerun changes nothing but HubSpot's `updatedAt`).
To re-sync a past day, backfill it (`airflow backfill create --dag-id hubspot_marketing_events_sync
--from-date 2025-06-01 --to-date 2025-06-01`): a plain manual trigger covers the latest complete day.

* **upsert_marketing_events**: runs `sql/changed_marketing_events.sql` on the `warehouse`
  connection (streamed with `fetchmany`), maps columns to HubSpot fields, validates every row,
  sends batches of 100 within the app's rate budget. Invalid rows (bad dates, missing names...)
  are *not sent* and go to `rejected.jsonl` with their reason; when one event appears twice the
  later row wins. Retried by Airflow on failure (safe: upserts are idempotent).
* **check_upsert_errors**: fails the run (no retry: it is a data problem) when more than 5 % of
  the rows were rejected or any row was refused by HubSpot itself. The log lists sample rows and
  the rejected file's path.
* **wait_for_events_in_hubspot**: reads a sample of the upserted events back from HubSpot
  (from `results.jsonl`) and compares each field with what was sent, so green means "in HubSpot,
  as sent". A custom property HubSpot dropped (misspelled, or never created in the portal: HubSpot
  answers success and drops it) fails it at once, naming the property. Reschedule mode: it frees
  its worker slot between pokes.
"""

with DAG(
    dag_id=DAG_ID,
    description="Daily incremental sync of the warehouse's marketing events into HubSpot",
    doc_md=DOC_MD,
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    template_searchpath=[str(Path(__file__).resolve().parent / "sql")],
    default_args={
        "owner": "marketing-data",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=5),
        "max_retry_delay": dt.timedelta(minutes=30),
    },
    tags=["hubspot", "marketing-events", "example"],
) as dag:
    upsert = UpsertMarketingEventsOperator(
        task_id="upsert_marketing_events",
        doc_md="Rows changed in the data interval -> HubSpot upsert; invalid rows -> rejected.jsonl.",
        sql="changed_marketing_events.sql",
        sql_conn_id=WAREHOUSE_CONN_ID,
        field_map=FIELD_MAP,
        custom_properties=CUSTOM_PROPERTIES,
        ignore_fields=IGNORE_FIELDS,
        allow_empty=True,
        max_in_flight=4,
        rejected_path=RUN_DIR + "/rejected.jsonl",
        results_path=RUN_DIR + "/results.jsonl",
        hubspot_conn_id=HUBSPOT_CONN_ID,
        execution_timeout=dt.timedelta(hours=2),
    )
    check = MarketingEventsUpsertCheckOperator(
        task_id="check_upsert_errors",
        doc_md="Fails the run past 5 % rejected rows or on any row HubSpot refused; never retried.",
        upsert_task_id=upsert.task_id,
        max_error_rate=0.05,
        max_errors_by_stage={"hubspot": 0},
        retries=0,
    )
    wait = MarketingEventsSensor(
        task_id="wait_for_events_in_hubspot",
        doc_md="Reads a sample of the upserted events back and compares every field with what was sent.",
        results_path=RUN_DIR + "/results.jsonl",
        sample_size=10,
        hubspot_conn_id=HUBSPOT_CONN_ID,
        mode="reschedule",
        poke_interval=60,
        timeout=60 * 30,
        retries=0,
    )
    upsert >> check >> wait
