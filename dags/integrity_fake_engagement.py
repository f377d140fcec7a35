"""Airflow DAGs `integrity_fake_engagement` (the fake_engagement risk pipeline), `integrity_fake_engagement_online_features` and `integrity_fake_engagement_promotion`, declared in include/risks/fake_engagement.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline
from integrity_risk.promotion_dag import build_promotion_dag

dag = build_risk_pipeline("fake_engagement")
online_features = build_online_features("fake_engagement")
promotion = build_promotion_dag("fake_engagement")
