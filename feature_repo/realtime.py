"""Real-time counters: what the streaming job pushes, per account and sliding window.

One view per window set (``integrity_risk.streaming.windows``): 5-minute windows every
minute, 1-hour windows every 5 minutes. A row is the account's window that ends at the
first boundary after its newest event, at ``feature_ts`` = that event's time; the counters
are defined once, in include/hql/features/_account_windows.hql, for the stream and for the
batch tables ``features.account_realtime_<set>`` that training sets join point in time.
The TTL is the window's length: a row older than that describes a window that has ended,
so the account has had no activity since (null, read as 0).
"""

from datetime import timedelta

from data_sources import extract_table
from entities import account
from feast import FeatureView, Field, PushSource
from feast.types import Float64, Int64

PII_DERIVED = {"pii": "derived"}


def realtime_view(suffix: str, length: timedelta) -> FeatureView:
    name = f"account_realtime_{suffix}"
    push = PushSource(name=f"{name}_push", batch_source=extract_table(name))

    def counter(stem: str, dtype=Int64, tags=None) -> Field:
        return Field(name=f"{stem}_{suffix}", dtype=dtype, tags=tags or {})

    return FeatureView(
        name=name,
        description=f"Events of the last {suffix} per account, from the stream: logins, payments, engagement, links.",
        entities=[account],
        ttl=length,
        schema=[
            counter("events"),
            counter("login_fails"),
            counter("payment_attempts"),
            counter("payment_fails"),
            counter("payment_amount_sum", Float64),
            counter("follows"),
            counter("likes"),
            counter("distinct_ips", tags=PII_DERIVED),
            counter("distinct_devices", tags=PII_DERIVED),
            counter("link_posts"),
        ],
        source=push,
        online=True,
        tags={"team": "integrity", "table": f"features.{name}", "freshness": "streaming"},
        owner="integrity-ml@example.com",
    )


account_realtime_5m = realtime_view("5m", timedelta(minutes=5))
account_realtime_1h = realtime_view("1h", timedelta(hours=1))
