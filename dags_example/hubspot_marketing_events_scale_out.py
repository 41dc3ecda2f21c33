"""Airflow DAG ``hubspot_marketing_events_scale_out``: the daily sync split into parallel partitions.

How a sync outgrows one worker: the changed rows are split by a stable hash of the event key into
``PARTITIONS`` slices, one mapped task instance per slice (dynamic task mapping), and Airflow's
executor runs them in parallel on as many workers as you have (LocalExecutor on one machine,
CeleryExecutor or KubernetesExecutor across machines). Every row of one event lands in the same
partition, so de-duplication (the later row wins) still holds.

The HubSpot rate budget is per app, not per worker, so the partitions must share it:

* Airflow pool ``hubspot_api`` (``airflow pools set hubspot_api 4 "HubSpot app rate budget"``):
  its slots = how many partitions may call HubSpot at once, whatever the executor's parallelism.
  Size it to the budget, not to the cluster: one partition with a few batches in flight can send
  most of the app's budget, so 2-4 slots fill it and more slots only split the same budget finer.
* Connection ``hubspot_partitioned``: the same token as ``hubspot_default`` and the app's whole
  budget (``{"max_requests_per_10s": 100}``). Each mapped instance tells its limiter how many tasks
  share that budget (``budget_sharers``): the map's length, capped by ``max_active_tis_per_dagrun``
  (here ``POOL_SLOTS``); the task log says "Sharing the app's rate budget with 4 mapped tasks".
  When a pool shared with other DAGs runs fewer partitions at once than that, set it yourself:
  ``hook_params={"budget_sharers": <partitions calling HubSpot at once>}``. Each limiter also slows
  down when HubSpot's ``X-HubSpot-RateLimit-Remaining`` header says the app's window is nearly spent.
* Exact sharing through Redis (optional, the ``redis`` extra): add ``"budget_store":
  "redis://:<password>@<broker-host>:6379/0"`` to the connection's extras (the Celery broker's Redis,
  or any Redis every worker reaches; ``rediss://`` for TLS). Every partition on every worker then
  takes a slot in one rolling window kept in Redis before each request, so the app's budget is
  counted exactly instead of inferred from the headers and ``budget_sharers``, and the partitions
  are served in turn so they finish together (measured with 2-16 processes: 0.96-0.98 of a
  compressed 1 s window's ceiling, 0 % 429s, slowest over fastest 1.00-1.06, against 0.66-0.78
  without; 0.97-0.98 simulated at HubSpot's 10 s window; docs/scaling.md). The key names the app (the
  host and a digest of the token), ``budget_key`` overrides it; the URL's password is masked in logs.
  A store down never fails a partition: one warning, the local limiter, the store again when it
  answers. Keep the URL in the connection, not in ``hook_params``: a DAG argument is stored with the
  serialized DAG. Without the extra (as in this example's tests) nothing changes.

Executor settings (``airflow.cfg`` or ``AIRFLOW__SECTION__KEY``): ``core.executor`` =
``LocalExecutor`` / ``CeleryExecutor`` / ``KubernetesExecutor``; ``core.parallelism`` >= pool slots
(per scheduler); ``core.max_active_tasks_per_dag`` >= ``POOL_SLOTS``; for Celery, worker
``celery.worker_concurrency`` x workers >= pool slots, a broker (Redis) and a shared metadata DB;
for Kubernetes, this provider in the worker image and the connection in a secrets backend. The
metadata DB must be Postgres or MySQL for parallel executors in production.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from dags_example.events_mapping import FIELD_MAP
from hubspot_events_provider.operators.marketing_events import (
    MarketingEventsUpsertCheckOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

DAG_ID = "hubspot_marketing_events_scale_out"
HUBSPOT_CONN_ID = "hubspot_partitioned"
WAREHOUSE_CONN_ID = "warehouse"
POOL = "hubspot_api"
PARTITIONS = 4
#: Partitions calling HubSpot at once: the pool's slots. Fewer than ``PARTITIONS`` is fine: the
#: rest wait for a slot, and each limiter shares the budget with this many (``budget_sharers``).
POOL_SLOTS = 4
REPORTS_DIR = "{{ var.value.get('hubspot_events_reports_dir', '/tmp/hubspot-events') }}"
RUN_DIR = REPORTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '') | replace('+', '') }}"

#: One query per partition. ``partition_key`` is a stored hash of the event key; in your warehouse
#: use its own hash function instead, e.g. Snowflake ``MOD(ABS(HASH(event_id)), 4)``, BigQuery
#: ``MOD(ABS(FARM_FINGERPRINT(event_id)), 4)``, Postgres ``abs(hashtext(event_id)) % 4``.
PARTITION_SQL = """
SELECT event_id, account_id, event_name, event_type, organizer, description, event_url,
       starts_at, ends_at, cancelled, completed, region, capacity, updated_at
FROM marketing_events
WHERE updated_at >= '{{{{ data_interval_start.strftime("%Y-%m-%d %H:%M:%S") }}}}'
  AND updated_at <  '{{{{ data_interval_end.strftime("%Y-%m-%d %H:%M:%S") }}}}'
  AND partition_key % {partitions} = {partition}
ORDER BY updated_at
"""


DOC_MD = f"""
### HubSpot Marketing Events: the daily sync, partitioned

* **upsert_marketing_events** (mapped, {PARTITIONS} instances): each runs the incremental query
  restricted to `partition_key % {PARTITIONS} = map_index` and upserts its slice. All instances run
  in the `{POOL}` pool ({POOL_SLOTS} slots), whose slots bound how many call HubSpot at once; each
  uses the `{HUBSPOT_CONN_ID}` connection (the app's whole budget) and shares it with the
  {POOL_SLOTS} partitions running at once (`budget_sharers`, detected from the map and
  `max_active_tis_per_dagrun`). With `budget_store` in the connection's extras (a Redis URL) they
  share the budget exactly through Redis instead. Each writes `rejected_<map_index>.jsonl`.
* **check_upsert_errors**: one check over the summed summaries of every partition: fails past
  5 % rejected rows or on any row HubSpot refused.
* **verify_in_hubspot**: one sample drawn from every partition's `results_<map_index>.jsonl`, read
  back and compared field by field with what was sent (a custom property HubSpot dropped fails it).
"""

with DAG(
    dag_id=DAG_ID,
    description="Daily incremental HubSpot sync, partitioned over parallel workers",
    doc_md=DOC_MD,
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "marketing-data",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=5),
        "max_retry_delay": dt.timedelta(minutes=30),
    },
    tags=["hubspot", "marketing-events", "example", "scale-out"],
) as dag:
    upsert = UpsertMarketingEventsOperator.partial(
        task_id="upsert_marketing_events",
        doc_md="One partition of the changed rows -> HubSpot upsert.",
        sql_conn_id=WAREHOUSE_CONN_ID,
        field_map=FIELD_MAP,
        custom_properties=["region", "capacity"],
        ignore_fields=["updated_at"],
        allow_empty=True,
        max_in_flight=2,
        rejected_path=RUN_DIR + "/rejected_{{ ti.map_index }}.jsonl",
        results_path=RUN_DIR + "/results_{{ ti.map_index }}.jsonl",
        hubspot_conn_id=HUBSPOT_CONN_ID,
        pool=POOL,
        # Also the cap of the detected budget_sharers; a pool shared with other DAGs that runs fewer
        # at once needs hook_params={"budget_sharers": <that many>} instead.
        max_active_tis_per_dagrun=POOL_SLOTS,
        execution_timeout=dt.timedelta(hours=2),
    ).expand(sql=[PARTITION_SQL.format(partitions=PARTITIONS, partition=i) for i in range(PARTITIONS)])
    check = MarketingEventsUpsertCheckOperator(
        task_id="check_upsert_errors",
        doc_md="One check over every partition's summary.",
        upsert_task_id="upsert_marketing_events",
        max_error_rate=0.05,
        max_errors_by_stage={"hubspot": 0},
        retries=0,
    )
    verify = MarketingEventsSensor(
        task_id="verify_in_hubspot",
        doc_md="A sample from every partition's results, compared field by field with what was sent.",
        results_path=[RUN_DIR + f"/results_{i}.jsonl" for i in range(PARTITIONS)],
        sample_size=10,
        hubspot_conn_id=HUBSPOT_CONN_ID,
        mode="reschedule",
        poke_interval=60,
        timeout=60 * 30,
        retries=0,
    )
    upsert >> check >> verify
