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
    write them. The files are copied under the storage root first (the server may run on
    another machine, which does not see this one's disk: never ``LOAD DATA LOCAL``), then
    ``LOAD DATA ... OVERWRITE`` moves them in and swaps the partition in one metastore
    operation, so a reader sees the old or the new partition, never a mix.
    """
    from integrity_risk.storage import staging_dir

    if table not in UPSTREAM_TABLES:
        raise ValueError(f"{table!r} is not an upstream table; expected one of {UPSTREAM_TABLES}")
    ds = parse_ds(ds).isoformat()
    files = sorted(p for p in Path(parquet_dir).glob("*") if p.is_file() and not p.name.startswith((".", "_")))
    if not files:
        raise FileNotFoundError(f"no data files in {parquet_dir} for {table} ds={ds}")
    staging = staging_dir("upstream_load")
    try:
        for file in files:
            (staging / file.name).write_bytes(file.read_bytes())
        location = str(staging)
        if "'" in location:
            raise ValueError(f"refusing a location with a quote in it: {location}")
        hook.run(f"LOAD DATA INPATH '{location}' OVERWRITE INTO TABLE {table} PARTITION (ds='{ds}')")
    finally:
        if staging.exists():  # the load moved the files out, or the folder itself
            staging.rmdir(recursive=True)
