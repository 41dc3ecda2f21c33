"""Airflow DAG ``hubspot_marketing_events_from_file``: a file an upstream system drops -> HubSpot.

The event platform exports one file a day into an inbox folder (or bucket):
``<inbox>/marketing_events_<ds>.jsonl`` (JSON Lines) or ``.csv``, optionally gzip-compressed. The
file is streamed, never loaded whole; the rejected rows land next to it as
``marketing_events_<ds>.rejected.jsonl`` so whoever owns the export sees what was wrong.

Connections: ``hubspot_default`` (see ``hubspot_marketing_events_sync.py``). Airflow Variable
``hubspot_events_inbox``: the folder or object-storage URI (``s3://bucket/exports``...); default
``/tmp/hubspot-events/inbox``. The extension is the DAG param ``file_extension``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

DAG_ID = "hubspot_marketing_events_from_file"
INBOX = "{{ var.value.get('hubspot_events_inbox', '/tmp/hubspot-events/inbox') }}"
INPUT_FILE = INBOX + "/marketing_events_{{ ds }}.{{ params.file_extension }}"
REJECTED_FILE = INBOX + "/marketing_events_{{ ds }}.rejected.jsonl"
RESULTS_FILE = INBOX + "/marketing_events_{{ ds }}.results.jsonl"

#: key in the export -> HubSpot field.
FIELD_MAP = {
    "id": "externalEventId",
    "account": "externalAccountId",
    "title": "eventName",
    "format": "eventType",
    "host": "eventOrganizer",
    "summary": "eventDescription",
    "url": "eventUrl",
    "starts": "startDateTime",
    "ends": "endDateTime",
    "cancelled": "eventCancelled",
    "completed": "eventCompleted",
}
#: export key -> HubSpot custom property name.
CUSTOM_PROPERTIES = {"region": "region", "seats": "capacity"}

DOC_MD = """
### HubSpot Marketing Events from a dropped file

The upstream event platform writes `marketing_events_<ds>.jsonl` (or `.csv`, `.jsonl.gz`...) into
the inbox (`hubspot_events_inbox` Variable: a folder or an `s3://`/`gs://` URI) every day.

* **upsert_marketing_events**: streams the file, maps its keys to HubSpot fields (`title` ->
  `eventName`, `seats` -> custom property `capacity`...), upserts the valid rows and writes every
  rejected row, with its line number and reason, to `marketing_events_<ds>.rejected.jsonl` next
  to the input. A missing file fails the task (and Airflow retries it: the export may be late).
* **check_upsert_errors**: fails the run when more than 5 % of the rows were rejected.
* **verify_in_hubspot**: reads a sample of the upserted events back (from
  `marketing_events_<ds>.results.jsonl`) and compares every field with what was sent: a custom
  property HubSpot dropped silently (say `capacity` was never created in the portal) fails the run,
  naming it.
"""

with DAG(
    dag_id=DAG_ID,
    description="Upsert the event platform's daily export file into HubSpot",
    doc_md=DOC_MD,
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    params={
        "file_extension": Param(
            "jsonl",
            enum=["jsonl", "jsonl.gz", "csv", "csv.gz"],
            description="Extension of the export file: its format (JSON Lines or CSV, optionally gzipped).",
        )
    },
    default_args={
        "owner": "marketing-data",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=10),
    },
    tags=["hubspot", "marketing-events", "example"],
) as dag:
    upsert = UpsertMarketingEventsOperator(
        task_id="upsert_marketing_events",
        doc_md="The day's export file -> HubSpot upsert; rejected rows next to the file.",
        events_file=INPUT_FILE,
        field_map=FIELD_MAP,
        custom_properties=CUSTOM_PROPERTIES,
        rejected_path=REJECTED_FILE,
        results_path=RESULTS_FILE,
        hubspot_conn_id="hubspot_default",
        execution_timeout=dt.timedelta(hours=1),
    )
    check = MarketingEventsUpsertCheckOperator(
        task_id="check_upsert_errors",
        doc_md="Fails the run past 5 % rejected rows; never retried.",
        upsert_task_id=upsert.task_id,
        max_error_rate=0.05,
        retries=0,
    )
    verify = MarketingEventsSensor(
        task_id="verify_in_hubspot",
        doc_md="Reads a sample of the upserted events back and compares every field with what was sent.",
        results_path=RESULTS_FILE,
        sample_size=10,
        hubspot_conn_id="hubspot_default",
        mode="reschedule",
        poke_interval=60,
        timeout=60 * 30,
        retries=0,
    )
    upsert >> check >> verify
