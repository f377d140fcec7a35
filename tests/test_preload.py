"""Task processes fork from processes that have the tasks' libraries loaded: the LocalExecutor's
workers (the embedded default) and the Celery workers' pools (the topology)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def _pool_children(worker: subprocess.Popen, timeout: float = 240) -> list[int]:
    """The pids of a Celery worker's pool processes, once it has forked them."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the Celery worker exited"
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        if children:
            time.sleep(1)  # the pool's processes are all forked at once
            return [int(pid) for pid in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
        time.sleep(0.5)
    raise AssertionError(f"the Celery worker forked no pool process within {timeout:.0f} s")


@pytest.mark.parametrize("preloaded", [True, False], ids=["with_config", "without"])
def test_a_celery_worker_with_the_projects_config_forks_its_pool_with_the_task_libraries_loaded(tmp_path, preloaded):
    import os
    import signal

    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        # Kombu's in-process broker: the worker starts and forks its pool, and nothing is queued.
        "AIRFLOW__CELERY__BROKER_URL": "memory://",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{tmp_path / 'results.db'}",
    }
    if preloaded:
        env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = "integrity_risk.celery_config.CELERY_CONFIG"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "airflow.providers.celery.executors.celery_executor.app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--without-mingle",
            "--without-gossip",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        (child,) = _pool_children(worker)
        maps = Path(f"/proc/{child}/maps").read_text()
        assert ("libarrow" in maps, "/pandas/" in maps) == (preloaded, preloaded)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
