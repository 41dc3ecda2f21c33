"""Airflow adapters: thin wrappers that turn Airflow objects into core calls."""
