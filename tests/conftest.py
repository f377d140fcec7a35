"""Session fixtures: the real local services, started once and torn down at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests keep their state apart from the demo's, so both can run on one machine.
os.environ.setdefault("INTEGRITY_LOCAL_DIR", str(ROOT / ".local" / "test"))
os.environ.setdefault("AIRFLOW_HOME", str(Path(os.environ["INTEGRITY_LOCAL_DIR"]) / "airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# The test deployments (which inherit this environment) parse each DAG file when it appears;
# their DAG files and risk YAMLs never change while they run, so no re-parse every 30 s.
os.environ.setdefault("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "600")


@pytest.fixture(scope="session")
def hiveserver2():
    """A real HiveServer2 endpoint (Spark Thrift Server) on loopback with a fresh metastore.

    Set INTEGRITY_TEST_HS2_PORT to run two test sessions side by side.
    """
    from integrity_local.hiveserver2 import LocalHiveServer
    from integrity_risk.paths import local_dir

    port = int(os.environ.get("INTEGRITY_TEST_HS2_PORT", "10100"))
    state = local_dir() / "hiveserver2" / str(port)
    server = LocalHiveServer(port=port, state_dir=state)
    server.stop()
    shutil.rmtree(state, ignore_errors=True)
    server = LocalHiveServer(port=port, state_dir=state)
    server.start()
    os.environ["AIRFLOW_CONN_HIVESERVER2_DEFAULT"] = server.uri
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hive_hook(hiveserver2):
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    return HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")


@pytest.fixture(scope="module")
def airflow_db():
    """The Airflow metadata DB under the module's AIRFLOW_HOME (SQLite), migrated once per module that runs DAGs."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=dict(os.environ),
        timeout=300,
    )
