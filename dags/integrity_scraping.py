"""Airflow DAGs `integrity_scraping` (the scraping risk pipeline) and `integrity_scraping_online_features`, declared in include/risks/scraping.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline

dag = build_risk_pipeline("scraping")
online_features = build_online_features("scraping")
