"""Airflow DAG `integrity_abusive_account`: the abusive_account risk pipeline, declared in include/risks/abusive_account.yaml."""

from integrity_risk.dag_factory import build_risk_pipeline

dag = build_risk_pipeline("abusive_account")
