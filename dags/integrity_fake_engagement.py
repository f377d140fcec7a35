"""Airflow DAG `integrity_fake_engagement`: the fake_engagement risk pipeline, declared in include/risks/fake_engagement.yaml."""

from integrity_risk.dag_factory import build_risk_pipeline

dag = build_risk_pipeline("fake_engagement")
