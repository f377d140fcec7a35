"""The streaming path: Kafka's ``user_events`` to per-account sliding-window counters online.

``windows`` names the window sets and their counters, ``job`` is the Spark Structured
Streaming job, ``buckets`` adds its minutes up into windows, ``sink`` hands each micro-batch
to Feast, ``status`` is what the job reports for Airflow to supervise.
"""

#: The topic the upstream events arrive on, as JSON objects of ``raw.user_events``' columns.
TOPIC = "user_events"


def upstream_columns() -> list[tuple[str, str]]:
    """``raw.user_events``' columns and Hive types (the partition left out): a message's fields."""
    from integrity_risk.features.hql import read_hql
    from integrity_risk.features.table_schema import ddl_schema

    return [
        (name, kind) for name, kind in ddl_schema("raw.user_events", read_hql("upstream_tables.hql")) if name != "ds"
    ]
