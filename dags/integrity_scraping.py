"""Airflow DAG `integrity_scraping`: the scraping risk pipeline, declared in include/risks/scraping.yaml."""

from integrity_risk.dag_factory import build_risk_pipeline

dag = build_risk_pipeline("scraping")
