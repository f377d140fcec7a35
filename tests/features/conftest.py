"""Fixtures for the Feast tests: a private warehouse and Feast folder per test.

The extract's tables are parquet files in a Spark warehouse
(``<warehouse>/features.db/<table>/ds=YYYY-MM-DD/*.parquet``); these tests write
files of that shape themselves, so each test controls every value and timestamp.
Columns are taken from the feature views' schemas, so the files follow the repo.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from integrity_risk.paths import local_dir

if TYPE_CHECKING:
    from pathlib import Path

VIEW_TABLES = [
    "account_daily",
    "abusive_account_daily",
    "fake_engagement_daily",
    "spam_redirect_daily",
    "scraping_daily",
    "fraud_daily",
]


def feature_ts(ds: str) -> datetime:
    """The contract's ``feature_ts`` of a partition: ``ds`` + 1 day, 00:00 UTC."""
    return datetime.combine(date.fromisoformat(ds) + timedelta(days=1), datetime.min.time(), UTC)


def _view_fields(view: str) -> dict[str, str]:
    """Field name -> Feast type name of a view of feature_repo/ (features.py, realtime.py)."""
    from integrity_risk.features.feast_store import load_repo_modules

    fv = next(getattr(m, view) for m in load_repo_modules().values() if hasattr(m, view))
    return {f.name: str(f.dtype) for f in fv.schema if f.name != "account_pk"}


class Warehouse:
    """Writes extract partitions and label partitions the way Spark lays them out."""

    def __init__(self, root: Path):
        self.root = root
        self._fields: dict[str, dict[str, str]] = {}

    def table_dir(self, table: str) -> Path:
        return self.root / "features.db" / table

    def write(self, table: str, ds: str, rows: list[dict]) -> Path:
        """One partition of an extract table; unspecified features get a value from ``base``."""
        import pandas as pd

        fields = self._fields.setdefault(table, _view_fields(table))
        records = []
        for i, row in enumerate(rows):
            record = {"account_pk": row["account_pk"], "feature_ts": row.get("feature_ts", feature_ts(ds))}
            base = row.get("base", i)
            for name, dtype in fields.items():
                if name in row:
                    record[name] = row[name]
                elif "String" in dtype:
                    record[name] = "US"
                elif "Float" in dtype:
                    record[name] = float(base) + 0.5
                else:
                    record[name] = int(base)
            records.append(record)
        frame = pd.DataFrame(records)
        for name, dtype in fields.items():
            # The Hive DDL's types: INT is int32, BIGINT int64, DOUBLE float64.
            for feast_type, pandas_type in (("Int32", "int32"), ("Int64", "int64"), ("Float64", "float64")):
                if feast_type in dtype:
                    frame[name] = frame[name].astype(pandas_type)
        return self._write_frame(table, ds, frame)

    def write_labels(self, ds: str, rows: list[dict]) -> Path:
        """A ``features.labels`` partition: account_pk, risk_type, label, labeled_at, observed_at."""
        import pandas as pd

        frame = pd.DataFrame(rows)
        frame["labeled_at"] = pd.to_datetime(frame["labeled_at"], utc=True)
        frame["observed_at"] = frame["labeled_at"].dt.floor("D")
        frame["label"] = frame["label"].astype("int32")
        return self._write_frame("labels", ds, frame)

    def _write_frame(self, table: str, ds: str, frame) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for col in frame.columns:
            if str(frame[col].dtype).startswith("datetime64"):
                frame[col] = frame[col].dt.tz_convert("UTC") if frame[col].dt.tz else frame[col].dt.tz_localize("UTC")
        part = self.table_dir(table) / f"ds={ds}"
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        table_ = pa.Table.from_pandas(frame, preserve_index=False)
        # Spark writes TIMESTAMP_MICROS adjusted to UTC; so do we.
        table_ = table_.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
                    for f in table_.schema
                ]
            )
        )
        pq.write_table(table_, part / "part-00000.snappy.parquet")
        (part / "_SUCCESS").touch()
        return part


@pytest.fixture
def feast_env(tmp_path, monkeypatch):
    """A private warehouse and Feast folder under the area's local dir; profile ``local``."""
    root = local_dir() / "feast_tests" / tmp_path.name
    shutil.rmtree(root, ignore_errors=True)
    warehouse = Warehouse(root / "warehouse")
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(warehouse.root))
    monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(root / "feast"))
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local")
    warehouse.feast_dir = root / "feast"
    warehouse.output_root = root / "training_sets"
    yield warehouse
    shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server():
    """A real ``redis-server`` on loopback, on a free port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (Debian package redis-server; scripts/test.sh installs it)")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"redis-server did not listen on 127.0.0.1:{port}")
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
