"""Fixtures of the reliability tests: synthetic upstream worlds on the session's HiveServer2,
a private Feast store, a Redis and a private MLflow store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import faults
import pytest
from faults import ServerLog
from stores import PREVIOUS_DAY, Warehouse, features_fixtures

if TYPE_CHECKING:
    import subprocess

# The Feast tests' real redis-server on a free port ("127.0.0.1:<port>"), for this folder too.
redis_server = features_fixtures.redis_server

PSEUDONYMIZATION_CONN = "AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    # `-m reliability` selects this folder with the checks of the same kind that live
    # beside the code they check (tests/extract, tests/e2e); see README.md here.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def spawn(tmp_path):
    """``spawn(call, **kwargs)``: ``faults.spawn`` with its log in the test's folder; kills leftovers."""
    children: list[subprocess.Popen] = []

    def start(call: str, **kwargs) -> subprocess.Popen:
        children.append(faults.spawn(call, tmp_path / f"{call}_{len(children)}.log", **kwargs))
        return children[-1]

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


@pytest.fixture(scope="session")
def hive(hive_hook):
    """The session's HiveServer2 with the raw.* tables and a pseudonymization key."""
    from integrity_local.upstream import create_upstream_tables

    # Another suite's key may already be set for the session; any key will do here.
    os.environ.setdefault(
        PSEUDONYMIZATION_CONN, json.dumps({"conn_type": "generic", "password": "reliability-key-0123456789"})
    )
    create_upstream_tables(hive_hook)
    return hive_hook


@pytest.fixture(scope="session")
def worlds(tmp_path_factory) -> dict[str, Path]:
    """Two synthetic upstream worlds over PREVIOUS_DAY and DAY: "old" (300 accounts) and
    "new" (450), so partitions written from each differ, in row count too."""
    from integrity_local.synthetic import WorldConfig, write_world

    out = tmp_path_factory.mktemp("worlds")
    sizes = {"old": (1, 300), "new": (2, 450)}
    return {
        name: write_world(
            WorldConfig(seed=seed, start_ds=PREVIOUS_DAY, days=2, n_accounts=accounts), out / name
        ).out_dir
        for name, (seed, accounts) in sizes.items()
    }


@pytest.fixture(scope="session")
def hive_log(hiveserver2) -> ServerLog:
    return ServerLog(hiveserver2.log_file)


@pytest.fixture
def feast_env(tmp_path, monkeypatch) -> Warehouse:
    """A private warehouse and Feast folder, profile ``local``; child processes inherit them."""
    warehouse = Warehouse(tmp_path / "warehouse")
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(warehouse.root))
    monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(tmp_path / "feast"))
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local")
    warehouse.feast_dir = tmp_path / "feast"
    return warehouse


@pytest.fixture
def mlflow_home(tmp_path, monkeypatch) -> Path:
    """A private embedded-default MLflow (SQLite under ``<local>/mlflow``), no task try in the env."""
    from integrity_risk.tracking import mlflow_dir
    from integrity_risk.training.registry import TASK_INSTANCE_ENV, TRY_NUMBER_ENV

    monkeypatch.setenv("INTEGRITY_LOCAL_DIR", str(tmp_path / "local"))
    for name in ("MLFLOW_TRACKING_URI", TASK_INSTANCE_ENV, TRY_NUMBER_ENV):
        monkeypatch.delenv(name, raising=False)
    return mlflow_dir()
