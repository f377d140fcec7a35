"""The upstream tables (fixed, owned by other teams) on a HiveServer2 endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from integrity_risk.features.hql import read_hql, split_statements
from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

UPSTREAM_TABLES = ("raw.user_events", "raw.account_profiles", "raw.enforcement_labels")


def create_upstream_tables(hook: HiveServer2Hook) -> None:
    """Create `raw.*` from include/hql/upstream_tables.hql (a copy of the upstream DDL)."""
    hook.run(split_statements(read_hql("upstream_tables.hql")))


def load_partition(hook: HiveServer2Hook, table: str, ds: str, parquet_dir: Path) -> None:
    """Replace one partition of an upstream table with the parquet files in ``parquet_dir``.

    Only the local demo and tests load upstream tables; in production other teams
    write them. ``LOAD DATA ... OVERWRITE`` swaps the partition in one metastore
    operation, so a reader sees the old or the new partition, never a mix.
    """
    if table not in UPSTREAM_TABLES:
        raise ValueError(f"{table!r} is not an upstream table; expected one of {UPSTREAM_TABLES}")
    ds = parse_ds(ds).isoformat()
    path = Path(parquet_dir).resolve()
    if "'" in str(path):
        raise ValueError(f"refusing a path with a quote in it: {path}")
    hook.run(f"LOAD DATA LOCAL INPATH '{path}' OVERWRITE INTO TABLE {table} PARTITION (ds='{ds}')")
