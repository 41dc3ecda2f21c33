"""DAGs for the read-back after an overlapped upsert (``tests/sensors/test_overlap_readback.py``):
the verifying sensor, in poke mode and deferrable side by side, on the results file of
``dag_run.conf["results_path"]``. ``overlap_verify_one`` samples one line (seed 0 keeps the first of
two), ``overlap_verify_sample`` forty."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

_START = pendulum.datetime(2026, 1, 1, tz="UTC")


def _verify(dag_id: str, sample_size: int) -> DAG:
    with DAG(dag_id, schedule=None, start_date=_START, catchup=False) as dag:
        for deferrable in (False, True):
            MarketingEventsSensor(
                task_id="deferred" if deferrable else "poke",
                results_path="{{ dag_run.conf['results_path'] }}",
                sample_size=sample_size,
                verify_fields=True,
                deferrable=deferrable,
                poke_interval=0.05,
                timeout=3,
            )
    return dag


one = _verify("overlap_verify_one", 1)
sample = _verify("overlap_verify_sample", 40)
