"""DAG for ``tests/operators/test_default_args.py``: a DAG's ``default_args`` reach the parameters the
row-writing operators share (declared once on ``RowWriteOperator``): no task names its HubSpot
connection or batch size, the DAG's ``default_args`` do."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.operators.marketing_events import (
    DeleteMarketingEventsOperator,
    UpsertMarketingEventsOperator,
)

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
#: The only HubSpot connection the test defines (there is no ``hubspot_default``).
CONN_ID = "hubspot_from_default_args"
BATCH_SIZE = 2

with DAG(
    "default_args_writes",
    schedule=None,
    start_date=_START,
    catchup=False,
    default_args={"hubspot_conn_id": CONN_ID, "batch_size": BATCH_SIZE, "retries": 0},
) as writes:
    upsert = UpsertMarketingEventsOperator(
        task_id="upsert",
        events="{{ dag_run.conf['events'] }}",  # JSON text
        defaults={"externalAccountId": "dflt", "eventOrganizer": "Acme"},
    )
    delete = DeleteMarketingEventsOperator(
        task_id="delete",
        events="{{ dag_run.conf['deletes'] }}",
        defaults={"externalAccountId": "dflt"},
    )
    upsert >> delete
