"""The embedded default's executor forks its workers with the tasks' libraries loaded."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter (this one has imported half the world): start the executor, then
# look at what its worker processes have mapped. Arrow's and pandas' native libraries are
# in a worker only if the executor imported them before forking it.
WORKERS_MAPS = """
import json, sys
from airflow.executors.local_executor import LocalExecutor
from integrity_risk.executors import PreloadedLocalExecutor
executor = {"plain": LocalExecutor, "preloaded": PreloadedLocalExecutor}[sys.argv[1]](parallelism=2)
executor.start()
try:
    maps = [open(f"/proc/{pid}/maps").read() for pid in executor.workers]
    print("WORKERS", json.dumps([{"arrow": "libarrow" in m, "pandas": "/pandas/" in m} for m in maps]))
finally:
    executor.end()
"""


def _workers(kind: str, tmp_path) -> list[dict[str, bool]]:
    import json
    import os

    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / kind)}
    done = subprocess.run(
        [sys.executable, "-c", WORKERS_MAPS, kind], check=False, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Airflow logs to stdout too: the line this script printed.
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("WORKERS ")]
    return json.loads(line.removeprefix("WORKERS "))


def test_the_workers_of_the_preloaded_executor_have_the_task_libraries_loaded_and_the_plain_ones_do_not(tmp_path):
    assert _workers("preloaded", tmp_path) == [{"arrow": True, "pandas": True}] * 2
    assert _workers("plain", tmp_path) == [{"arrow": False, "pandas": False}] * 2
