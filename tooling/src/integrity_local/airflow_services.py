"""A local Airflow 3 deployment for the embedded default and the end-to-end tests.

The real components, each its own process: api-server (UI, REST API and the task
execution API), scheduler with the LocalExecutor, dag-processor and triggerer,
on a SQLite metadata database under the local state folder. Five users come
from Airflow's simple auth manager: ``admin``, ``reviewer`` and ``reviewer2`` (role op: may
answer approvals; two, for the two-person rule), ``modeler`` (role user: may trigger runs and backfills) and ``platform``
(role op: the platform team of ``include/platform.yaml``, who may accept a partition). Their
generated passwords are in ``<airflow home>/simple_auth_manager_passwords.json.generated``.

    python -m integrity_local.airflow_services start [--port 8080]
    python -m integrity_local.airflow_services stop
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from integrity_risk.paths import PROJECT_ROOT, local_dir

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Each component runs under a restart loop, as the deployment's containers do (restart:
# always). Airflow's scheduler can die on SQLite: a backfill whose creation hit a lock
# deletes its half-made runs under the scheduler (ObjectDeletedError, seen in CI), and
# nothing ran after that.
SUPERVISE = (
    'while :; do "$0" -m airflow "$@"; '
    'echo "local_airflow: airflow $* exited with status $?; restarting in 5 s"; sleep 5; done'
)
USERS = "admin:admin,reviewer:op,reviewer2:op,modeler:user,platform:op"
POOLS = {
    "hiveserver2": (2, "concurrent HiveServer2 queries"),
    "gpu": (1, "training jobs on the GPU queue"),
    # Feast's file registry and SQLite online store take one writer at a time.
    "feast": (1, "Feast apply and materialization"),
    # One: see dag_factory.SHARED_TABLES_POOL.
    "shared_tables": (1, "writes of the tables all risks share (clean.user_events, account_daily, labels)"),
}


class LocalAirflowError(RuntimeError):
    """The local Airflow did not start or stop as asked."""


@dataclass
class LocalAirflow:
    """Airflow's components as local processes, with their home under the state folder."""

    port: int = 8080
    home: Path | None = None
    dags_folder: Path = PROJECT_ROOT / "dags"

    def __post_init__(self) -> None:
        self.home = Path(self.home or local_dir() / "airflow")
        self.home.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "integrity_risk.executors.PreloadedLocalExecutor",
                # Two cores: a handful of task processes at once is what this machine can carry.
                "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            }
        )
        env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
        return env

    def components(self) -> dict[str, list[str]]:
        """Each component's name and its ``airflow`` arguments."""
        return {component: [component] for component in COMPONENTS}

    def launch(self, component: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start one component (under its restart loop), logging to ``<home>/logs/<component>.out``."""
        with open(self.home / "logs" / f"{component}.out", "ab") as out:
            return subprocess.Popen(
                command,
                env=self.env() if env is None else env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _pid_file(self, component: str) -> Path:
        return self.home / f"{component}.pid"

    def _airflow(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env(), capture_output=True, text=True, check=False
        )

    def start(self, timeout: float = 180.0) -> float:
        began = time.monotonic()
        if self.healthy():
            return 0.0
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise LocalAirflowError(
                    f"port {self.port} is taken by a process that is not a healthy Airflow of {self.home}; "
                    f"stop it or choose another port"
                )
        migrated = self._airflow("db", "migrate")
        if migrated.returncode != 0:
            raise LocalAirflowError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
        # One CLI call for all pools: each call starts a Python that imports Airflow (seconds).
        pools = self.home / "pools.json"
        pools.write_text(
            json.dumps({name: {"slots": slots, "description": text} for name, (slots, text) in POOLS.items()})
        )
        imported = self._airflow("pools", "import", str(pools))
        if imported.returncode != 0:
            raise LocalAirflowError(f"airflow pools import failed:\n{imported.stderr[-3000:]}")
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        for component, args in self.components().items():
            proc = self.launch(component, ["bash", "-c", SUPERVISE, sys.executable, *args])
            self._pid_file(component).write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return time.monotonic() - began
            time.sleep(2)
        self.stop()
        raise LocalAirflowError(
            f"Airflow at {self.url} was not healthy within {timeout:.0f}s and was stopped; see {logs}"
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as resp:
                health = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return all(
            health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler", "dag_processor")
        )

    def password(self, user: str) -> str:
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        return passwords[user]

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every component and the processes it started (task runners, log servers)."""
        import psutil

        procs, groups = [], []
        for component in self.components():
            pid_file = self._pid_file(component)
            try:
                groups.append(int(pid_file.read_text()))  # each component leads its own group
                root = psutil.Process(groups[-1])
                procs += [root, *root.children(recursive=True)]
            except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
                pass
            pid_file.unlink(missing_ok=True)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        # Workers a (re)starting scheduler forked after the listing above are in its group.
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_local.airflow_services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    airflow = LocalAirflow(port=args.port)
    if args.action == "start":
        seconds = airflow.start()
        print(f"Airflow answers at {airflow.url} (healthy after {seconds:.0f}s)")
    else:
        airflow.stop()
        print("Airflow stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
