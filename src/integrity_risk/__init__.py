"""Integrity risk-model pipelines on Airflow: hooks, sensors, operators, features, training, evaluation."""
