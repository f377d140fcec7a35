"""Airflow DAGs `integrity_abusive_account` (the abusive_account risk pipeline) and `integrity_abusive_account_online_features`, declared in include/risks/abusive_account.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline

dag = build_risk_pipeline("abusive_account")
online_features = build_online_features("abusive_account")
