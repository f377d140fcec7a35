"""The demo prints its own steps, not the Hive provider's statement log (issue #15)."""

from __future__ import annotations

import os
import subprocess
import sys

# One demo-like process: the demo CLI's logging setup (or none), then the upstream tables'
# DDL through the provider's hook, as the demo's world load runs it.
SCRIPT = """
import os, sys
if sys.argv[1] == "demo":
    from integrity_local.cli import quiet_library_logging
    quiet_library_logging()
from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook
from integrity_local.upstream import create_upstream_tables
hook = HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
create_upstream_tables(hook)
hook.log.warning("a warning of the hook")
print("left for the Airflow services:", os.environ.get("AIRFLOW__LOGGING__NAMESPACE_LEVELS"))
"""


def _run(mode: str, hiveserver2) -> str:
    env = {**os.environ, "AIRFLOW_CONN_HIVESERVER2_DEFAULT": hiveserver2.uri}
    env.pop("AIRFLOW__LOGGING__NAMESPACE_LEVELS", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_the_demo_process_prints_no_hive_statements_and_its_services_keep_them(hiveserver2):
    plain = _run("plain", hiveserver2)
    # Without the setup, each statement is logged: the ~50 lines the demo used to print.
    assert "Running statement: CREATE TABLE IF NOT EXISTS raw.user_events" in plain

    demo = _run("demo", hiveserver2)
    assert "Running statement" not in demo
    assert "CREATE TABLE" not in demo
    assert "a warning of the hook" in demo  # only the hook's INFO is quieted
    # The option applied to the demo's own process only: the services it starts inherit none.
    assert "left for the Airflow services: None" in demo


def test_the_demo_command_sets_up_its_logging_before_it_reads_the_risk_yamls(tmp_path):
    # Reading the YAMLs validates their notifiers, which imports Airflow; the demo's quiet
    # logging must come first, or the command stops before it starts. `approve` against a
    # state folder with no Airflow gets past the arguments and stops at the missing login.
    env = {**os.environ, "INTEGRITY_LOCAL_DIR": str(tmp_path)}
    env.pop("AIRFLOW__LOGGING__NAMESPACE_LEVELS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "integrity_local.cli",
            "approve",
            "fraud",
            "no_such_run",
            "--reason",
            "x",
            "--airflow-port",
            "9",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "must run before airflow is imported" not in done.stderr, done.stderr[-2000:]
    assert "simple_auth_manager_passwords" in done.stderr, done.stderr[-2000:]
