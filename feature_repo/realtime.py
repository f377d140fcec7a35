"""Real-time counters: what the streaming job pushes, per account and sliding window.

One view per window set (``integrity_risk.streaming.windows``): 5-minute windows every
minute, 1-hour windows every 5 minutes. A row is the account's window that ends at the
first boundary after its newest event, at ``feature_ts`` = that event's time; the counters
are defined once, in include/hql/features/_account_windows.hql, for the stream and for the
batch tables ``features.account_realtime_<set>`` that training sets join point in time.

What a model reads, in training and in serving alike, is the account's *latest* window:
the one around its newest event, for a day after it (``LATEST_WINDOW_TTL``), then null (no
activity that day). A TTL of the window's length would leave nearly every training example
null: a daily example is taken at its label's observation or at the day's end, rarely
within minutes of the account's last event. A burst updates the value within seconds of
reaching the stream. Feast's online read serves a row whatever its age, so the project's
reader (``integrity_risk.features.online_reader``) applies this TTL to the views a stream
writes, as the training set's point-in-time join does.
"""

from datetime import timedelta

from data_sources import extract_table
from entities import account
from feast import FeatureView, Field, PushSource
from feast.types import Float64, Int64

PII_DERIVED = {"pii": "derived"}
LATEST_WINDOW_TTL = timedelta(days=1)


def realtime_view(suffix: str) -> FeatureView:
    name = f"account_realtime_{suffix}"
    push = PushSource(name=f"{name}_push", batch_source=extract_table(name))

    def counter(stem: str, dtype=Int64, tags=None) -> Field:
        return Field(name=f"{stem}_{suffix}", dtype=dtype, tags=tags or {})

    return FeatureView(
        name=name,
        description=(
            f"Events of the {suffix} window around the account's newest event (for a day), from the stream: "
            "logins, payments, engagement, links."
        ),
        entities=[account],
        ttl=LATEST_WINDOW_TTL,
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


account_realtime_5m = realtime_view("5m")
account_realtime_1h = realtime_view("1h")
