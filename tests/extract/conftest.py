"""Fixtures of the extract tests: the upstream tables on the session's HiveServer2, a known key."""

from __future__ import annotations

import json
import os

import pytest
from extract_helpers import TEST_KEY


@pytest.fixture(scope="session")
def hive(hive_hook):
    """HiveServer2Hook with the raw.* tables created and the pseudonymization key set."""
    from integrity_local.upstream import create_upstream_tables

    os.environ["AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"] = json.dumps({"conn_type": "generic", "password": TEST_KEY})
    os.environ.pop("INTEGRITY_ALLOW_DEMO_KEY", None)
    create_upstream_tables(hive_hook)
    return hive_hook
