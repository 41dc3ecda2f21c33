"""Triggers run by Airflow's triggerer for the provider's deferrable operators and sensors."""
