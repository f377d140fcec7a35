"""The storage root: what crosses tasks goes there, and HiveServer2 loads from it, never from a worker's disk."""

from __future__ import annotations

import pyarrow as pa
import pytest

from integrity_risk.storage import storage_root

TABLE = "storage_root_test.t"


def test_the_root_is_a_url_from_the_environment_or_the_local_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("INTEGRITY_LOCAL_DIR", str(tmp_path))
    monkeypatch.delenv("INTEGRITY_STORAGE_ROOT", raising=False)
    assert str(storage_root()) == (tmp_path / "storage").as_uri()
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", f"file://{tmp_path}/elsewhere")
    assert str(storage_root()) == f"file://{tmp_path}/elsewhere"
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", str(tmp_path))  # a path says nothing of the store
    with pytest.raises(ValueError, match="INTEGRITY_STORAGE_ROOT=.* must be a URL"):
        storage_root()


@pytest.fixture
def table(hive_hook):
    hive_hook.run("CREATE DATABASE IF NOT EXISTS storage_root_test")
    hive_hook.run(f"DROP TABLE IF EXISTS {TABLE}")
    hive_hook.run(f"CREATE TABLE {TABLE} (a BIGINT, b STRING) PARTITIONED BY (ds STRING) STORED AS PARQUET")
    return TABLE


def test_a_partition_is_loaded_from_the_root_and_its_staging_is_removed(hive_hook, table, monkeypatch, tmp_path):
    root = tmp_path / "root"
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", root.as_uri())
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    for rows in ([1, 2, 3], [7]):  # the second load replaces the first
        hook.load_arrow_partition(table, pa.table({"a": rows, "b": ["x"] * len(rows)}), {"ds": "2026-05-01"})
    assert sorted(r[0] for r in hook.get_records(f"SELECT a FROM {table} WHERE ds = '2026-05-01'")) == [7]
    staged = root / "staging" / "hive_load"
    assert staged.is_dir() and not any(staged.iterdir())  # nothing left behind under the root


def test_a_worker_path_is_refused_before_the_server_is_asked(table, tmp_path):
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    with pytest.raises(ValueError, match="needs a URL the server can read"):
        IntegrityHiveServer2Hook().load_partition(table, str(tmp_path), {"ds": "2026-05-01"})
