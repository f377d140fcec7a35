"""Airflow DAGs `integrity_fraud` (the fraud risk pipeline) and `integrity_fraud_online_features`, declared in include/risks/fraud.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline

dag = build_risk_pipeline("fraud")
online_features = build_online_features("fraud")
