"""Integrity risk-model pipelines on Airflow: operators, hooks and local services."""
