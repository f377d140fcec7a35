"""Feature views: one per extract table, and ratios computed at request time.

Every view is keyed by ``account`` and reads one daily extract table (columns and
their meaning: docs/contracts.md, "Extract output columns"). Its TTL says how old a
row may be and still describe the account: the tables are daily, so a row older
than two days means the account was not seen since (a ``<risk>_daily`` row exists
only for accounts with events in the last 7 days; no row reads as null, i.e. no
activity). Fields derived from an identifier (device, IP, IP geolocation, other
accounts) carry ``tags={"pii": "derived"}``.

Types follow the Hive DDL (include/hql/feature_tables.hql): BIGINT is Int64,
INT is Int32, DOUBLE is Float64.
"""

from datetime import timedelta

import pandas as pd
from data_sources import (
    abusive_account_daily_source,
    account_daily_source,
    fake_engagement_daily_source,
    fraud_daily_source,
    scraping_daily_source,
    spam_redirect_daily_source,
)
from entities import account
from feast import FeatureView, Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int32, Int64, String

PII_DERIVED = {"pii": "derived"}
DAILY_TTL = timedelta(days=2)

account_daily = FeatureView(
    name="account_daily",
    description="Shared traits of every account: profile, activity, device and IP sharing.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="has_profile", dtype=Int32),
        Field(name="account_age_days", dtype=Float64),
        Field(name="phone_verified", dtype=Int32),
        Field(name="is_business", dtype=Int32),
        Field(name="country", dtype=String),
        Field(name="events_1d", dtype=Int64),
        Field(name="events_7d", dtype=Int64),
        Field(name="max_events_1h", dtype=Int64),
        Field(name="active_hours_1d", dtype=Int64),
        Field(name="distinct_event_types_1d", dtype=Int64),
        Field(name="distinct_devices_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="distinct_ips_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="device_shared_accounts_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="ip_shared_accounts_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="fail_ratio_1d", dtype=Float64),
        Field(name="country_mismatch_ratio_1d", dtype=Float64, tags=PII_DERIVED),
        Field(name="automation_ua_ratio_1d", dtype=Float64),
    ],
    source=account_daily_source,
    online=True,
    tags={"team": "integrity", "table": "features.account_daily"},
    owner="integrity-ml@example.com",
)

abusive_account_daily = FeatureView(
    name="abusive_account_daily",
    description="Bulk and fake accounts: shared signup devices and IPs, bursts after signup.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="signup_device_accounts", dtype=Int64, tags=PII_DERIVED),
        Field(name="signup_ip_accounts", dtype=Int64, tags=PII_DERIVED),
        Field(name="logins_1d", dtype=Int64),
        Field(name="login_fail_ratio_7d", dtype=Float64),
        Field(name="follows_1d", dtype=Int64),
        Field(name="follows_7d", dtype=Int64),
        Field(name="distinct_follow_targets_7d", dtype=Int64, tags=PII_DERIVED),
        Field(name="posts_1d", dtype=Int64),
        Field(name="messages_1d", dtype=Int64),
        Field(name="distinct_ips_7d", dtype=Int64, tags=PII_DERIVED),
        Field(name="distinct_devices_7d", dtype=Int64, tags=PII_DERIVED),
        Field(name="active_days_7d", dtype=Int64),
    ],
    source=abusive_account_daily_source,
    online=True,
    tags={"team": "integrity", "risk_type": "abusive_account", "table": "features.abusive_account_daily"},
    owner="trust-accounts@example.com",
)

fake_engagement_daily = FeatureView(
    name="fake_engagement_daily",
    description="Bought or automated engagement: likes, follows, comments and shares on few targets.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="engagements_1d", dtype=Int64),
        Field(name="engagements_7d", dtype=Int64),
        Field(name="likes_1d", dtype=Int64),
        Field(name="follows_1d", dtype=Int64),
        Field(name="comments_1d", dtype=Int64),
        Field(name="shares_1d", dtype=Int64),
        Field(name="max_engagements_1h", dtype=Int64),
        Field(name="distinct_engaged_accounts_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="distinct_engaged_accounts_7d", dtype=Int64, tags=PII_DERIVED),
        Field(name="distinct_engaged_items_1d", dtype=Int64),
        Field(name="engagement_ratio_1d", dtype=Float64),
    ],
    source=fake_engagement_daily_source,
    online=True,
    tags={"team": "integrity", "risk_type": "fake_engagement", "table": "features.fake_engagement_daily"},
    owner="integrity-ml@example.com",
)

spam_redirect_daily = FeatureView(
    name="spam_redirect_daily",
    description="Links posted, messaged and clicked to send users off the platform.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="url_events_1d", dtype=Int64),
        Field(name="url_events_7d", dtype=Int64),
        Field(name="url_event_ratio_1d", dtype=Float64),
        Field(name="distinct_domains_1d", dtype=Int64),
        Field(name="distinct_domains_7d", dtype=Int64),
        Field(name="top_domain_share_7d", dtype=Float64),
        Field(name="click_links_1d", dtype=Int64),
        Field(name="content_events_1d", dtype=Int64),
        Field(name="content_url_ratio_1d", dtype=Float64),
        Field(name="distinct_message_targets_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="max_url_events_1h", dtype=Int64),
    ],
    source=spam_redirect_daily_source,
    online=True,
    tags={"team": "integrity", "risk_type": "spam_redirect", "table": "features.spam_redirect_daily"},
    owner="integrity-ml@example.com",
)

scraping_daily = FeatureView(
    name="scraping_daily",
    description="Bulk reading of profiles and content, through the API or a headless browser.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="requests_1d", dtype=Int64),
        Field(name="requests_7d", dtype=Int64),
        Field(name="views_1d", dtype=Int64),
        Field(name="api_requests_1d", dtype=Int64),
        Field(name="max_requests_1h", dtype=Int64),
        Field(name="request_active_hours_1d", dtype=Int64),
        Field(name="distinct_viewed_accounts_1d", dtype=Int64, tags=PII_DERIVED),
        Field(name="distinct_viewed_items_1d", dtype=Int64),
        Field(name="api_fail_ratio_1d", dtype=Float64),
        Field(name="distinct_user_agents_1d", dtype=Int64),
        Field(name="request_automation_ua_ratio_1d", dtype=Float64),
    ],
    source=scraping_daily_source,
    online=True,
    tags={"team": "integrity", "risk_type": "scraping", "table": "features.scraping_daily"},
    owner="integrity-ml@example.com",
)

fraud_daily = FeatureView(
    name="fraud_daily",
    description="Payment attempts: failures, amounts, devices, country mismatches.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="payment_attempts_1d", dtype=Int64),
        Field(name="payment_attempts_7d", dtype=Int64),
        Field(name="payment_fail_ratio_1d", dtype=Float64),
        Field(name="payment_fail_ratio_7d", dtype=Float64),
        Field(name="payment_amount_sum_1d", dtype=Float64),
        Field(name="payment_amount_max_1d", dtype=Float64),
        Field(name="payment_amount_sum_7d", dtype=Float64),
        Field(name="max_payments_1h", dtype=Int64),
        Field(name="payment_devices_7d", dtype=Int64, tags=PII_DERIVED),
        Field(name="payment_country_mismatch_ratio_7d", dtype=Float64, tags=PII_DERIVED),
    ],
    source=fraud_daily_source,
    online=True,
    tags={"team": "integrity", "risk_type": "fraud", "table": "features.fraud_daily"},
    owner="payments-risk@example.com",
)


# Ratios of two windows or of a sum and a count: computed at request time, so the
# extract keeps additive columns and both sides always come from the same row.
# Rule of each: 0.0 for an empty denominator (as the extract's ratios), null where
# the account has no row (unknown, or older than the view's TTL). Feast stores a
# UDF by its source text, so each one is self-contained (no module-level helpers). They
# work on numpy arrays: pandas' own operations cost 2 ms on a 100-account online read.
@on_demand_feature_view(
    sources=[account_daily],
    schema=[Field(name="events_1d_share_7d", dtype=Float64)],
    mode="pandas",
    description="Share of the last 7 days' events that happened on the last day: a burst.",
    tags={"risk_type": "abusive_account"},
)
def account_ratios(inputs: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    def ratio(num: pd.Series, den: pd.Series) -> np.ndarray:
        num, den = num.to_numpy("float64", na_value=np.nan), den.to_numpy("float64", na_value=np.nan)
        positive = den > 0
        out = np.where(positive, num / np.where(positive, den, 1.0), 0.0)
        out[np.isnan(den)] = np.nan
        return out

    return pd.DataFrame({"events_1d_share_7d": ratio(inputs["events_1d"], inputs["events_7d"])}, index=inputs.index)


@on_demand_feature_view(
    sources=[fraud_daily],
    schema=[
        Field(name="payment_amount_per_attempt_7d", dtype=Float64),
        Field(name="payment_attempts_1d_share_7d", dtype=Float64),
    ],
    mode="pandas",
    description="Average amount per payment attempt over 7 days, and the last day's share of attempts.",
    tags={"risk_type": "fraud"},
)
def fraud_ratios(inputs: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    def ratio(num: pd.Series, den: pd.Series) -> np.ndarray:
        num, den = num.to_numpy("float64", na_value=np.nan), den.to_numpy("float64", na_value=np.nan)
        positive = den > 0
        out = np.where(positive, num / np.where(positive, den, 1.0), 0.0)
        out[np.isnan(den)] = np.nan
        return out

    attempts = inputs["payment_attempts_7d"]
    return pd.DataFrame(
        {
            "payment_amount_per_attempt_7d": ratio(inputs["payment_amount_sum_7d"], attempts),
            "payment_attempts_1d_share_7d": ratio(inputs["payment_attempts_1d"], attempts),
        },
        index=inputs.index,
    )
