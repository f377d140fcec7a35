"""Airflow DAGs `integrity_spam_redirect` (the spam_redirect risk pipeline) and `integrity_spam_redirect_online_features`, declared in include/risks/spam_redirect.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline

dag = build_risk_pipeline("spam_redirect")
online_features = build_online_features("spam_redirect")
