"""Arrow schemas of the upstream tables, column for column as in include/hql/upstream_tables.hql.

Hive TIMESTAMP is written as a UTC-naive microsecond timestamp, INT as int32,
DOUBLE as float64 and BOOLEAN as bool. tests/test_synthetic.py checks these against
the DDL, so a change upstream fails loudly here.
"""

from __future__ import annotations

import pyarrow as pa

USER_EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us")),
        ("account_id", pa.string()),
        ("device_id", pa.string()),
        ("ip", pa.string()),
        ("user_agent", pa.string()),
        ("country", pa.string()),
        ("event_type", pa.string()),
        ("target_account_id", pa.string()),
        ("target_item_id", pa.string()),
        ("url", pa.string()),
        ("amount", pa.float64()),
        ("status", pa.string()),
    ]
)

ACCOUNT_PROFILES_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("country", pa.string()),
        ("signup_ip", pa.string()),
        ("signup_device_id", pa.string()),
        ("email_domain", pa.string()),
        ("phone_verified", pa.bool_()),
        ("is_business", pa.bool_()),
    ]
)

ENFORCEMENT_LABELS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("risk_type", pa.string()),
        ("label", pa.int32()),
        ("source", pa.string()),
        ("labeled_at", pa.timestamp("us")),
    ]
)

# Table name (without the `raw.` database) -> schema, in the DDL's order.
SCHEMAS = {
    "user_events": USER_EVENTS_SCHEMA,
    "account_profiles": ACCOUNT_PROFILES_SCHEMA,
    "enforcement_labels": ENFORCEMENT_LABELS_SCHEMA,
}

GROUND_TRUTH_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("truth", pa.string()),  # benign | one of RISK_TYPES
        ("abuse_start_ds", pa.string()),  # first day of abuse; NULL for benign accounts
        ("created_at", pa.timestamp("us")),
        ("cluster_id", pa.int32()),  # bulk batch / ring / campaign / crew; -1 for none
        ("benign_trait", pa.string()),  # the lookalike trait of a benign account; NULL for attackers
    ]
)

DIRTY_MANIFEST_SCHEMA = pa.schema(
    [
        ("ds", pa.string()),
        ("event_id", pa.string()),
        ("kind", pa.string()),
    ]
)
