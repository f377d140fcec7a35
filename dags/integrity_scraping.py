"""Airflow DAGs `integrity_scraping` (the scraping risk pipeline), `integrity_scraping_online_features` and `integrity_scraping_promotion`, declared in include/risks/scraping.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline
from integrity_risk.promotion_dag import build_promotion_dag

dag = build_risk_pipeline("scraping")
online_features = build_online_features("scraping")
promotion = build_promotion_dag("scraping")
