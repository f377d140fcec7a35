"""Airflow DAGs `integrity_fraud` (the fraud risk pipeline), `integrity_fraud_online_features` and `integrity_fraud_promotion`, declared in include/risks/fraud.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline
from integrity_risk.promotion_dag import build_promotion_dag

dag = build_risk_pipeline("fraud")
online_features = build_online_features("fraud")
promotion = build_promotion_dag("fraud")
