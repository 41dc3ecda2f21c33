"""Test-bundle entry for the example Airflow DAG `hubspot_webinar_attendance` (dags_example/).

``dag.test()`` needs the DAG in the DAGS_FOLDER bundle (tests/dags); the DagBag picks up the
module-level DAG object imported here.
"""

from __future__ import annotations

from dags_example.hubspot_webinar_attendance import dag

__all__ = ["dag"]
