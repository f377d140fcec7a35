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


def test_the_trainer_reads_a_set_in_place_or_from_a_copy_without_importing_airflow(tmp_path):
    # The trainer is a process of its own under the task: importing Airflow there would try to
    # configure a metadata database the task's subprocess has no access to.
    import subprocess
    import sys

    folder = tmp_path / "training sets" / "fraud"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    probe = (
        "import sys, fsspec\n"
        "from integrity_risk.storage import local_copy\n"
        f"with local_copy({folder.as_uri()!r}) as here:\n"
        "    assert (here / 'manifest.json').read_text() == '{}', here\n"
        "remote = fsspec.filesystem('memory')\n"
        "remote.pipe('/sets/fraud/manifest.json', b'{\"rows\": 1}')\n"
        "remote.pipe('/sets/fraud/train.parquet', b'PAR1')\n"
        "with local_copy('memory://sets/fraud') as copy:\n"
        "    assert sorted(p.name for p in copy.iterdir()) == ['manifest.json', 'train.parquet']\n"
        "print('airflow imported:', 'airflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "airflow imported: False", out
