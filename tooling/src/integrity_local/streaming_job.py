"""The streaming job as a local process: ``python -m integrity_risk.streaming.job`` with Spark's
Kafka source on its classpath (fetched with ``mvn``, :func:`integrity_local.maven.spark_kafka_jars`).

On the embedded default this is how the job runs beside the broker; its checkpoints and
status live under the storage root, so a restarted process resumes where the last stopped.

    python -m integrity_local.streaming_job start|stop|status [--topic user_events]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from integrity_local.maven import spark_kafka_jars
from integrity_local.processes import running_pid, stop_group
from integrity_risk.streaming import TOPIC
from integrity_risk.streaming.launcher import job_command, job_state_dir, start_detached
from integrity_risk.streaming.windows import WINDOW_SET_NAMES


@dataclass
class LocalStreamingJob:
    """One job process; its pid file and log in ``<local>/streaming-job/<topic>``, where the
    supervising DAG's task starts it too (:class:`~integrity_risk.operators.streaming_job.EnsureStreamingJobOperator`).
    """

    topic: str = TOPIC
    conn_id: str = "kafka_default"
    window_sets: str = ",".join(WINDOW_SET_NAMES)
    trigger_seconds: float = 1.0
    master: str = "local[2]"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return job_state_dir(self.topic)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "job.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "job.log"

    def command(self) -> list[str]:
        return job_command(
            topic=self.topic,
            conn_id=self.conn_id,
            window_sets=self.window_sets,
            trigger_seconds=self.trigger_seconds,
            master=self.master,
            jars=",".join(str(jar) for jar in spark_kafka_jars()),
        )

    def running_pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self) -> int:
        """Start the job unless it runs; its pid."""
        pid = self.running_pid()
        if pid is None:
            pid = start_detached(self.command(), self.state_dir, self.env)
        return pid

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the queries (SIGTERM), then the process."""
        stop_group(self.pid_file, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the job and its JVM at once, as a machine that dies would."""
        pid = self.running_pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pid_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrity_local.streaming_job", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--topic", default=TOPIC)
    args = parser.parse_args(argv)
    job = LocalStreamingJob(topic=args.topic)
    if args.action == "start":
        from integrity_risk.features.feast_store import apply_repo

        apply_repo()  # the job pushes to the repo's push sources: registered first
        print(f"streaming job running, pid {job.start()}; log {job.log_file}")
    elif args.action == "stop":
        job.stop()
        print("streaming job stopped")
    else:
        pid = job.running_pid()
        print(f"streaming job {'running, pid ' + str(pid) if pid else 'not running'}")
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
