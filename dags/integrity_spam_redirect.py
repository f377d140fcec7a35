"""Airflow DAGs `integrity_spam_redirect` (the spam_redirect risk pipeline), `integrity_spam_redirect_online_features` and `integrity_spam_redirect_promotion`, declared in include/risks/spam_redirect.yaml."""

from integrity_risk.dag_factory import build_online_features, build_risk_pipeline
from integrity_risk.promotion_dag import build_promotion_dag

dag = build_risk_pipeline("spam_redirect")
online_features = build_online_features("spam_redirect")
promotion = build_promotion_dag("spam_redirect")
