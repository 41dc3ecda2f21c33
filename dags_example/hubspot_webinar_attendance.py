"""Airflow DAG ``hubspot_webinar_attendance``: webinars and their attendance -> HubSpot, per export.

A webinar platform (Zoom, ON24, Goldcast...) exports two warehouse tables: ``webinars`` (one row
per webinar) and ``webinar_attendance`` (registrations, attendance with join/leave times,
cancellations; one row per action, by email or by HubSpot contact id). This DAG upserts the webinars
as HubSpot marketing events, records every registration, attendance and cancellation as a
participation (new contacts are created with their name and company; existing ones are left
untouched), completes the webinars so HubSpot computes attendance durations, gates the run on its
error rate and confirms in HubSpot that a sample of participations is visible.

It needs the ``hubspot_default`` connection (scopes ``crm.objects.marketing_events.read`` and
``.write``, plus ``crm.objects.contacts.write`` to create contacts) and a common-sql connection
``warehouse``. Optional Variable ``hubspot_events_reports_dir`` as for the other examples.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    RecordMarketingEventAttendanceOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sensors.marketing_events import MarketingEventAttendanceSensor

DAG_ID = "hubspot_webinar_attendance"
HUBSPOT_CONN_ID = "hubspot_default"
WAREHOUSE_CONN_ID = "warehouse"
REPORTS_DIR = "{{ var.value.get('hubspot_events_reports_dir', '/tmp/hubspot-events') }}"
RUN_DIR = REPORTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '') | replace('+', '') }}"

#: ``webinars`` column -> HubSpot event field.
WEBINAR_FIELD_MAP = {
    "webinar_id": "externalEventId",
    "account_id": "externalAccountId",
    "topic": "eventName",
    "host": "eventOrganizer",
    "start_time": "startDateTime",
    "end_time": "endDateTime",
    "join_url": "eventUrl",
}
WEBINAR_DEFAULTS = {"eventType": "WEBINAR"}
#: ``webinar_attendance`` column -> attendance field (``action`` holds register / attend / cancel
#: in any case, or REGISTERED / ATTENDED / CANCELLED; a row has an email or a HubSpot contact id).
ATTENDANCE_FIELD_MAP = {
    "webinar_id": "externalEventId",
    "account_id": "externalAccountId",
    "action": "subscriberState",
    "email": "email",
    "hubspot_contact_id": "vid",
    "action_at": "interactionDateTime",
    "join_time": "joinedAt",
    "leave_time": "leftAt",
}
#: Columns sent as ``contactProperties``: HubSpot applies them only to contacts it creates.
ATTENDANCE_CONTACT_PROPERTIES = {"first_name": "firstname", "last_name": "lastname", "company": "company"}
#: Read on purpose but not sent; any other unmapped column fails the task before sending.
ATTENDANCE_IGNORE_FIELDS = ["row_id"]

DOC_MD = """
### HubSpot webinar attendance

Run it after each export of the webinar platform (or on a schedule): every step is idempotent, so
a rerun changes nothing in HubSpot.

* **upsert_webinars**: `webinars` -> HubSpot marketing events (keyed by account and webinar id).
* **record_attendance**: `webinar_attendance` -> participations. Rows go register, then attend,
  then cancel; the last row of the same webinar, contact and action wins. Rows that cannot be
  recorded (a bad email, an unknown webinar or contact id, join/leave on a registration...) are
  in `rejected.jsonl` with the reason. Then each webinar that received attendance is completed
  with its start and end as HubSpot holds them, so HubSpot computes attendance durations.
* **check_attendance_errors**: fails the run (no retry) past 10 % of rows not recorded.
* **confirm_attendance_in_hubspot**: reads a sample of the recorded participations back from
  HubSpot (which processes them asynchronously). Reschedule mode between pokes.
"""

with DAG(
    dag_id=DAG_ID,
    description="Webinars and their registrations/attendance from the warehouse into HubSpot",
    doc_md=DOC_MD,
    schedule=None,
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "marketing-data", "retries": 2, "retry_delay": dt.timedelta(minutes=5)},
    tags=["hubspot", "marketing-events", "attendance", "example"],
) as dag:
    upsert = UpsertMarketingEventsOperator(
        task_id="upsert_webinars",
        doc_md="The webinars table -> HubSpot marketing events.",
        sql="SELECT * FROM webinars ORDER BY webinar_id",
        sql_conn_id=WAREHOUSE_CONN_ID,
        field_map=WEBINAR_FIELD_MAP,
        defaults=WEBINAR_DEFAULTS,
        rejected_path=RUN_DIR + "/webinars.rejected.jsonl",
        hubspot_conn_id=HUBSPOT_CONN_ID,
    )
    record = RecordMarketingEventAttendanceOperator(
        task_id="record_attendance",
        doc_md="Registrations, attendance and cancellations -> participations; then complete the webinars.",
        sql="SELECT * FROM webinar_attendance ORDER BY row_id",
        sql_conn_id=WAREHOUSE_CONN_ID,
        field_map=ATTENDANCE_FIELD_MAP,
        contact_properties=ATTENDANCE_CONTACT_PROPERTIES,
        ignore_fields=ATTENDANCE_IGNORE_FIELDS,
        complete_events=True,
        max_in_flight=4,
        rejected_path=RUN_DIR + "/rejected.jsonl",
        results_path=RUN_DIR + "/results.jsonl",
        hubspot_conn_id=HUBSPOT_CONN_ID,
    )
    check = MarketingEventsUpsertCheckOperator(
        task_id="check_attendance_errors",
        doc_md="Fails the run past 10 % of rows not recorded; never retried.",
        upsert_task_id=record.task_id,
        max_error_rate=0.10,
        retries=0,
    )
    confirm = MarketingEventAttendanceSensor(
        task_id="confirm_attendance_in_hubspot",
        doc_md="Reads a sample of the recorded participations back from HubSpot.",
        results_path=RUN_DIR + "/results.jsonl",
        sample_size=20,
        hubspot_conn_id=HUBSPOT_CONN_ID,
        mode="reschedule",
        poke_interval=30,
        timeout=60 * 30,
        retries=0,
    )
    upsert >> record >> check >> confirm
