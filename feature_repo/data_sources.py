"""Data sources: the extract's Hive tables (database ``features``, partitioned by ``ds``).

One setting picks where they are read from (``INTEGRITY_FEAST_PROFILE``):

- ``local`` / ``local_redis`` (the embedded default): the parquet files of the local
  Spark warehouse's partitions, ``$INTEGRITY_FEATURE_WAREHOUSE/features.db/<table>/ds=*/*.parquet``;
- ``production``: the Hive tables themselves through the Spark offline store.

A row with ``feature_ts = T`` uses only events before ``T`` (see docs/contracts.md).
"""

import os
from pathlib import Path

from feast import FileSource
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

PROFILE = os.environ.get("INTEGRITY_FEAST_PROFILE", "local")
WAREHOUSE = os.environ.get("INTEGRITY_FEATURE_WAREHOUSE") or str(
    Path(os.environ.get("INTEGRITY_LOCAL_DIR", Path(__file__).resolve().parents[1] / ".local"))
    / "hiveserver2"
    / "warehouse"
)

PARTITION_FILES = "ds=*/*.parquet"


def extract_table(table: str):
    """The source of ``features.<table>`` for the chosen profile."""
    if PROFILE == "production":
        return SparkSource(
            name=table,
            table=f"features.{table}",
            timestamp_field="feature_ts",
            date_partition_column="ds",
        )
    return FileSource(
        name=table,
        # The partitions' files, not the table's folder: Spark stages a partition it writes
        # in a hidden folder of the table (.spark-staging-<job>), and Feast's file store
        # (dask) would read those half-written files as data, or fail on them.
        path=f"{WAREHOUSE}/features.db/{table}/{PARTITION_FILES}",
        timestamp_field="feature_ts",
    )


account_daily_source = extract_table("account_daily")
abusive_account_daily_source = extract_table("abusive_account_daily")
fake_engagement_daily_source = extract_table("fake_engagement_daily")
spam_redirect_daily_source = extract_table("spam_redirect_daily")
scraping_daily_source = extract_table("scraping_daily")
fraud_daily_source = extract_table("fraud_daily")
