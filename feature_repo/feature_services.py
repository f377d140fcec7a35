"""Feature services: exactly what each model reads.

``<risk>_v1`` is a single-risk model's input: its own view (and its request-time
ratios) plus the shared ``account_daily``. ``all_risks`` feeds the multi-task model. Changing what a model
reads means a new service (``<risk>_v2``), so a trained model's service never changes
under it.
"""

from feast import FeatureService
from features import (
    abusive_account_daily,
    account_daily,
    account_ratios,
    fake_engagement_daily,
    fraud_daily,
    fraud_ratios,
    scraping_daily,
    spam_redirect_daily,
)

abusive_account_v1 = FeatureService(
    name="abusive_account_v1",
    features=[account_daily, account_ratios, abusive_account_daily],
    tags={"risk_type": "abusive_account"},
)

fake_engagement_v1 = FeatureService(
    name="fake_engagement_v1",
    features=[account_daily, fake_engagement_daily],
    tags={"risk_type": "fake_engagement"},
)

spam_redirect_v1 = FeatureService(
    name="spam_redirect_v1",
    features=[account_daily, spam_redirect_daily],
    tags={"risk_type": "spam_redirect"},
)

scraping_v1 = FeatureService(
    name="scraping_v1",
    features=[account_daily, scraping_daily],
    tags={"risk_type": "scraping"},
)

fraud_v1 = FeatureService(
    name="fraud_v1",
    features=[account_daily, fraud_daily, fraud_ratios],
    tags={"risk_type": "fraud"},
)

all_risks = FeatureService(
    name="all_risks",
    features=[
        account_daily,
        account_ratios,
        abusive_account_daily,
        fake_engagement_daily,
        spam_redirect_daily,
        scraping_daily,
        fraud_daily,
        fraud_ratios,
    ],
    tags={"risk_type": "all"},
)
