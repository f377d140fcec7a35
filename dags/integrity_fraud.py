"""Airflow DAG `integrity_fraud`: the fraud risk pipeline, declared in include/risks/fraud.yaml."""

from integrity_risk.dag_factory import build_risk_pipeline

dag = build_risk_pipeline("fraud")
