"""DAGs for the deferrable attendance sensor's ``dag.test()`` tests: wait for a sample of the
attendance results file named in ``dag_run.conf["results_path"]`` (the trigger runs in process)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.sensors.marketing_events import MarketingEventAttendanceSensor

_START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("attendance_sensor_deferred", schedule=None, start_date=_START, catchup=False) as deferred:
    MarketingEventAttendanceSensor(
        task_id="confirm",
        results_path="{{ dag_run.conf['results_path'] }}",
        sample_size=6,
        deferrable=True,
        poke_interval=0.1,
        timeout=60,
    )

with DAG("attendance_sensor_deferred_timeout", schedule=None, start_date=_START, catchup=False) as times_out:
    MarketingEventAttendanceSensor(
        task_id="confirm",
        results_path="{{ dag_run.conf['results_path'] }}",
        sample_size=2,
        deferrable=True,
        poke_interval=0.1,
        timeout=1,
        retries=2,
    )
