"""Feature services: exactly what each model reads.

``<risk>_v1`` is a single-risk model's input: its own view (and its request-time
ratios) plus the shared ``account_daily``. ``<risk>_v2`` adds the streaming job's
real-time windows (``realtime.py``) where minutes matter: card testing (fraud) and
scraping sessions; for bulk accounts and engagement rings, the account graph's component
(``graph.py``). ``all_risks`` feeds the multi-task model. Changing what a model reads
means a new service, so a trained model's service never changes under it.
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
from graph import graph_daily
from realtime import account_realtime_1h, account_realtime_5m

abusive_account_v1 = FeatureService(
    name="abusive_account_v1",
    features=[account_daily, account_ratios, abusive_account_daily],
    tags={"risk_type": "abusive_account"},
)

abusive_account_v2 = FeatureService(
    name="abusive_account_v2",
    features=[account_daily, account_ratios, abusive_account_daily, graph_daily],
    tags={"risk_type": "abusive_account"},
)

fake_engagement_v1 = FeatureService(
    name="fake_engagement_v1",
    features=[account_daily, fake_engagement_daily],
    tags={"risk_type": "fake_engagement"},
)

fake_engagement_v2 = FeatureService(
    name="fake_engagement_v2",
    features=[account_daily, fake_engagement_daily, graph_daily],
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

scraping_v2 = FeatureService(
    name="scraping_v2",
    features=[account_daily, scraping_daily, account_realtime_5m, account_realtime_1h],
    tags={"risk_type": "scraping"},
)

fraud_v1 = FeatureService(
    name="fraud_v1",
    features=[account_daily, fraud_daily, fraud_ratios],
    tags={"risk_type": "fraud"},
)

fraud_v2 = FeatureService(
    name="fraud_v2",
    features=[account_daily, fraud_daily, fraud_ratios, account_realtime_5m, account_realtime_1h],
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
