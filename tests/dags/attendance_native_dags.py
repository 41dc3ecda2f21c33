"""DAG for the attendance operator's Airflow-native test: a file of participations recorded with a
``hubspot://<portalId>/marketing-event-participations`` outlet whose asset event carries the counts."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset

from hubspot_events_provider.operators.marketing_events import RecordMarketingEventAttendanceOperator

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
#: The sandbox's default portal (``SandboxConfig.hub_id``).
HUBSPOT_PARTICIPATIONS = Asset("hubspot://62515/marketing-event-participations")

with DAG("native_attendance", schedule=None, start_date=_START, catchup=False) as attendance:
    RecordMarketingEventAttendanceOperator(
        task_id="record",
        attendance_file="{{ dag_run.conf['path'] }}",
        rejected_path="{{ dag_run.conf['rejected_path'] }}",
        field_map={
            "event": "externalEventId",
            "action": "subscriberState",
            "mail": "email",
            "at": "interactionDateTime",
            "joined": "joinedAt",
            "left": "leftAt",
        },
        defaults={"externalAccountId": "acme"},
        contact_properties={"first": "firstname"},
        outlets=[HUBSPOT_PARTICIPATIONS],
    )
