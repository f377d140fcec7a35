"""Airflow DAGs `integrity_fake_engagement` (the fake_engagement risk pipeline) and `integrity_fake_engagement_online_features`, declared in include/risks/fake_engagement.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline

dag = build_risk_pipeline("fake_engagement")
online_features = build_online_features("fake_engagement")
