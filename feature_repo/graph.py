"""The account graph's features: each account's connected component through the devices
and IPs it shared over the last 14 days (``features.graph_daily``; docs/contracts.md,
"Graph features"). Daily, like the extracts: a row of the day's end, for two days.
"""

from datetime import timedelta

from data_sources import extract_table
from entities import account
from feast import FeatureView, Field
from feast.types import Float64, Int64

PII_DERIVED = {"pii": "derived"}

graph_daily = FeatureView(
    name="graph_daily",
    description="The account's component through shared devices and IPs (14 days, hubs left out).",
    entities=[account],
    ttl=timedelta(days=2),
    schema=[
        Field(name="component_accounts", dtype=Int64, tags=PII_DERIVED),
        Field(name="component_devices", dtype=Int64, tags=PII_DERIVED),
        Field(name="component_ips", dtype=Int64, tags=PII_DERIVED),
        Field(name="component_created_spread_days", dtype=Float64, tags=PII_DERIVED),
        Field(name="hub_nodes", dtype=Int64, tags=PII_DERIVED),
        Field(name="component_labelled_share", dtype=Float64, tags=PII_DERIVED),
        Field(name="component_shared_target_share", dtype=Float64, tags=PII_DERIVED),
        Field(name="component_anomaly_score", dtype=Float64, tags=PII_DERIVED),
    ],
    source=extract_table("graph_daily"),
    online=True,
    tags={"team": "integrity", "table": "features.graph_daily"},
    owner="integrity-ml@example.com",
)
