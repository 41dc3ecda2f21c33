"""DAGs for the sensor's ``dag.test()`` tests: wait for the events named in ``dag_run.conf["ids"]``
(or sampled from ``dag_run.conf["results_path"]``) against the HubSpot sandbox of the test."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

_START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("sensor_wait", schedule=None, start_date=_START, catchup=False) as wait:
    MarketingEventsSensor(
        task_id="wait_for_events",
        external_ids="{{ dag_run.conf['ids'] | tojson }}",
        poke_interval=0.05,
        timeout=60,
    )

with DAG("sensor_timeout", schedule=None, start_date=_START, catchup=False) as times_out:
    MarketingEventsSensor(
        task_id="wait_for_events",
        external_ids="{{ dag_run.conf['ids'] | tojson }}",
        poke_interval=0.05,
        timeout=0.3,
        retries=2,
    )

with DAG("sensor_sample", schedule=None, start_date=_START, catchup=False) as sample:
    MarketingEventsSensor(
        task_id="wait_for_sample",
        results_path="{{ dag_run.conf['results_path'] }}",
        sample_size=3,
        poke_interval=0.05,
        timeout=60,
    )

with DAG("sensor_deferred", schedule=None, start_date=_START, catchup=False) as deferred:
    MarketingEventsSensor(
        task_id="wait_for_events",
        external_ids="{{ dag_run.conf['ids'] | tojson }}",
        deferrable=True,
        poke_interval=0.05,
        timeout=60,
    )
