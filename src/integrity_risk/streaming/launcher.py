"""Starting the streaming job as a detached process of the machine that asks.

On the embedded default the supervising task starts it on its worker; the process outlives
the task (a session of its own) and reports through the storage root, so whoever checks on
it next, on any machine, reads its heartbeat there rather than a pid. Spark's Kafka source
comes from ``$INTEGRITY_STREAMING_JARS`` (comma-separated jars or globs, as the Airflow
image sets it: ``/opt/spark-streaming-jars/*.jar``), or the image's Spark.

At scale the supervising task runs on the ``streaming`` queue (:data:`STREAMING_QUEUE`):
a Celery worker of its own (``airflow-worker-streaming`` in ``docker-compose.yaml``), so
the job's driver does not share a task worker's slots and memory. Its Spark is
``$INTEGRITY_STREAMING_MASTER`` (``local[2]`` by default; a cluster's master URL runs the
executors there, the driver staying on that worker).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

from integrity_risk.streaming.windows import WINDOW_SET_NAMES

JARS_ENV = "INTEGRITY_STREAMING_JARS"
MASTER_ENV = "INTEGRITY_STREAMING_MASTER"
#: The Celery queue of the task that starts the job, whose worker hosts its driver.
STREAMING_QUEUE = "streaming"
FEAST_METRICS_DIRS = ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR")


def job_command(
    *,
    topic: str,
    conn_id: str = "kafka_default",
    window_sets: str = ",".join(WINDOW_SET_NAMES),
    trigger_seconds: float = 1.0,
    master: str | None = None,
    jars: str | None = None,
) -> list[str]:
    """``python -m integrity_risk.streaming.job`` with its options (the master and the jars
    from :data:`MASTER_ENV` and :data:`JARS_ENV` unless given).
    """
    master = os.environ.get(MASTER_ENV, "local[2]") if master is None else master
    jars = os.environ.get(JARS_ENV, "") if jars is None else jars
    return [
        sys.executable,
        "-m",
        "integrity_risk.streaming.job",
        f"--master={master}",
        f"--jars={jars}",
        f"--conn-id={conn_id}",
        f"--topic={topic}",
        f"--window-sets={window_sets}",
        f"--trigger-seconds={trigger_seconds}",
    ]


def expand_jars(spec: str) -> list[str]:
    """The jars of a comma-separated ``spec``, each a path or a glob (sorted matches)."""
    jars: list[str] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        if glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise ValueError(f"{JARS_ENV}: no jar matches {item!r}")
            jars += matches
        else:
            jars.append(item)
    return jars


def job_state_dir(topic: str) -> Path:
    """This machine's folder of the job of ``topic``: its log and pid file (for a local ``stop``)."""
    from integrity_risk.paths import local_dir
    from integrity_risk.values import check_identifier

    return local_dir() / "streaming-job" / check_identifier(topic, "topic")


def start_detached(command: list[str], state_dir: Path, env: dict[str, str] | None = None) -> int:
    """Start ``command`` in a session of its own (its Spark JVM with it), its output in
    ``state_dir/job.log`` and its pid in ``state_dir/job.pid``; the pid.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {})}
    # Feast's import points these at a temporary folder of the importing process, removed when
    # that process exits: a job that outlives it would fail at its own import of Feast.
    for name in FEAST_METRICS_DIRS:
        if Path(child_env.get(name, "")).name.startswith("feast_metrics_"):
            del child_env[name]
    with open(state_dir / "job.log", "ab") as log:
        proc = subprocess.Popen(
            command,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state_dir / "job.pid").write_text(str(proc.pid))
    return proc.pid
