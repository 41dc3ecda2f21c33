"""Test-bundle entry for the example Airflow DAG `hubspot_marketing_events_reconcile` (dags_example/)."""

from __future__ import annotations

from dags_example.hubspot_marketing_events_reconcile import dag

__all__ = ["dag"]
