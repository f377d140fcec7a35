"""Airflow DAG `integrity_spam_redirect`: the spam_redirect risk pipeline, declared in include/risks/spam_redirect.yaml."""

from integrity_risk.dag_factory import build_risk_pipeline

dag = build_risk_pipeline("spam_redirect")
