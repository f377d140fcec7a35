"""Tasks that touch a new embedded MLflow store at once all find it ready."""

from __future__ import annotations

import subprocess
import sys

PROCESSES = 2
# Each process imports MLflow (seconds), says so, and waits for the others: the first
# touches of the store then come within milliseconds of one another.
FIRST_TOUCH = """
import sys, time
from pathlib import Path
import mlflow
from integrity_risk import tracking
barrier, n = Path(sys.argv[1]), int(sys.argv[2])
(barrier / sys.argv[3]).touch()
while len(list(barrier.iterdir())) < n:
    time.sleep(0.005)
client = tracking.client()
print(len(client.search_experiments()), len(client.search_registered_models()))
"""


def test_tasks_creating_a_new_sqlite_store_at_once_all_succeed(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    barrier = tmp_path / "ready"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_TOUCH, str(barrier), str(PROCESSES), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        # MLflow's Default experiment, and no registered model.
        assert out.split() == ["1", "0"]
