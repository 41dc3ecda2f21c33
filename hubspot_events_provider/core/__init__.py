"""Airflow-free core: HTTP client, event model, batching and the run report."""
