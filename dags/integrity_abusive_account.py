"""Airflow DAGs `integrity_abusive_account` (the abusive_account risk pipeline), `integrity_abusive_account_online_features` and `integrity_abusive_account_promotion`, declared in include/risks/abusive_account.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline
from integrity_risk.promotion_dag import build_promotion_dag

dag = build_risk_pipeline("abusive_account")
online_features = build_online_features("abusive_account")
promotion = build_promotion_dag("abusive_account")
