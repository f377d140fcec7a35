"""Feature-table partitions of random values in the tables' real schemas (include/hql/feature_tables.hql).

For the tests and benchmarks that need the extract's output without running the extract:
drift, population scoring. Counts are Poisson, amounts Gamma, ratios uniform, countries
drawn from three; ``shift`` scales the counts and amounts (a drifted day).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    import pyarrow as pa


def table_columns(table: str) -> list[tuple[str, str]]:
    """``(column, hive type)`` of ``table`` as the DDL declares it, partition columns left out."""
    from integrity_risk.features.hql import read_hql
    from integrity_risk.features.table_schema import ddl_schema

    return ddl_schema(table, read_hql("feature_tables.hql"))


def arrow_schema(table: str) -> pa.Schema:
    """The arrow schema of ``table``'s data files."""
    import pyarrow as pa

    types = {"string": pa.string(), "double": pa.float64(), "int": pa.int32(), "bigint": pa.int64()}
    return pa.schema(
        [(c, pa.timestamp("us", tz="UTC") if t == "timestamp" else types[t]) for c, t in table_columns(table)]
    )


def random_partition(table: str, accounts: Sequence[str], ds: str, seed: int, shift: float = 1.0) -> pd.DataFrame:
    """One ``ds`` partition of ``table`` for ``accounts``: ``feature_ts`` the next midnight, values random."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = len(accounts)
    out = {}
    for name, dtype in table_columns(table):
        if name == "account_pk":
            out[name] = list(accounts)
        elif name == "feature_ts":
            out[name] = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
        elif dtype == "string":
            out[name] = rng.choice(["DE", "US", "BR"], size=n, p=[0.5, 0.4, 0.1])
        elif dtype in ("bigint", "int"):
            out[name] = np.round(rng.poisson(3, size=n) * shift).astype("int64" if dtype == "bigint" else "int32")
        elif "ratio" in name:
            out[name] = rng.random(n)
        else:
            out[name] = rng.gamma(2.0, 10.0, size=n) * shift
    return pd.DataFrame(out)


def load_partition(hook, table: str, frame: pd.DataFrame, ds: str) -> None:
    """Replace partition ``ds`` of ``table`` with ``frame`` through HiveServer2 (``load_arrow_partition``)."""
    import pyarrow as pa

    data = pa.Table.from_pandas(frame, schema=arrow_schema(table), preserve_index=False)
    hook.load_arrow_partition(table, data, {"ds": ds})
