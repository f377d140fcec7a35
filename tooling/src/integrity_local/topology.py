"""The at-scale topology of ``docker-compose.yaml``, as separate processes on one machine.

Each component runs as its own process, as its container would:

- PostgreSQL (Debian's): the databases of Airflow, MLflow, the Hive metastore and Feast's registry;
- Redis: Celery's broker (db 0) and Feast's online store (db 1);
- a Spark standalone master and worker, and the Thrift Server (HiveServer2) submitting its
  jobs to them, with its metastore on PostgreSQL;
- an MLflow tracking server on PostgreSQL, serving the model artifacts under the storage root;
- Airflow with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer, and two
  Celery workers, one for the ``default`` queue (without TensorFlow) and one for ``gpu``.

The workers, the HiveServer2 and the Spark worker each run in a mount namespace of their
own (``unshare --mount``): a private tmpfs on ``/tmp``, and of the topology's node folders
only their own. All that they share is the storage root (``<state>/storage``, the stand-in
for HDFS or a bucket) and the deployment's files (``<state>/image``: the risk YAMLs).
A path one of them writes on its own disk does not exist for the others.

    scripts/topology.sh up|test|down|status
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from integrity_local.airflow_services import COMPONENTS, LocalAirflow, LocalAirflowError
from integrity_local.hiveserver2 import LocalHiveServer, spark_home
from integrity_risk.paths import PROJECT_ROOT, local_dir

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.14"
DATABASES = ("airflow", "mlflow", "metastore", "feast")
#: Per worker: its queues (the first names its log server's port) and slots. The default
#: worker serves the streaming queue too: one worker less on two cores than compose runs.
WORKER_QUEUES = {"worker-default": (("default", "streaming"), 2), "worker-gpu": (("gpu",), 1)}
# Put first on a default worker's PYTHONPATH: `import tensorflow` fails there, as it does in
# the default worker's image, which does not install it (requirements/common.txt).
NO_TENSORFLOW = Path(__file__).parent / "no_tensorflow"

# Runs a command in the current (new) mount namespace with a private /tmp and, of the
# topology's node folders, only its own: $1 the node's folder, $2 the folder of all nodes.
ISOLATE = r"""
set -euo pipefail
node="$1"; nodes="$2"; shift 2
mount -t tmpfs -o size=4g,mode=1777 tmpfs /tmp
mkdir /tmp/.node
mount --bind "$node" /tmp/.node
mount -t tmpfs -o size=1m tmpfs "$nodes"
mkdir -p "$node"
mount --move /tmp/.node "$node"
cd "$node"
exec "$@"
"""


class TopologyError(RuntimeError):
    """A component of the topology did not start or answer; the message says which and where its log is."""


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _wait_for_port(port: int, name: str, log: Path, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _free(port):
            return
        if proc is not None and proc.poll() is not None:
            raise TopologyError(f"{name} exited with status {proc.returncode} while starting; see {log}")
        time.sleep(0.5)
    raise TopologyError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s; see {log}")


@dataclass
class Ports:
    """The topology's ports, counted from ``base`` (env ``INTEGRITY_TOPOLOGY_PORT_BASE``)."""

    base: int = 20000

    def __getattr__(self, name: str) -> int:
        offsets = {
            "postgres": 1,
            "redis": 2,
            "spark_master": 3,
            "spark_master_ui": 4,
            "spark_worker_ui": 5,
            "hiveserver2": 6,
            "mlflow": 7,
            "airflow": 8,
            "log_server_default": 9,
            "log_server_gpu": 10,
        }
        if name not in offsets:
            raise AttributeError(name)
        return self.base + offsets[name]


@dataclass
class Topology:
    """The topology's processes, with all their state under ``state`` (default ``<local>/topology``)."""

    state: Path = field(default_factory=lambda: local_dir() / "topology")
    ports: Ports = field(default_factory=lambda: Ports(int(os.environ.get("INTEGRITY_TOPOLOGY_PORT_BASE", "20000"))))

    def __post_init__(self) -> None:
        self.state = Path(self.state).absolute()

    # --- layout ---------------------------------------------------------------

    @property
    def nodes(self) -> Path:
        return self.state / "nodes"

    def node(self, name: str) -> Path:
        path = self.nodes / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def storage(self) -> Path:
        """The shared storage root: the only folder every machine of the topology sees."""
        return self.state / "storage"

    @property
    def image(self) -> Path:
        """The deployment's own files every machine has (the risk YAMLs); the code is the checkout."""
        return self.state / "image"

    @property
    def logs(self) -> Path:
        path = self.state / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def isolated(self, node: str) -> list[str]:
        """The command prefix that runs a process on ``node``: its own mount namespace, /tmp and folder."""
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare.insert(1, "--map-root-user")
        return [*unshare, "bash", "-c", ISOLATE, "isolate", str(self.node(node)), str(self.nodes)]

    # --- PostgreSQL -----------------------------------------------------------

    def _pg_bin(self, tool: str) -> str:
        for directory in PG_BIN_DIRS:
            if (directory / tool).exists():
                return str(directory / tool)
        found = shutil.which(tool)
        if found is None:
            raise TopologyError(f"PostgreSQL's {tool} not found: install Debian's postgresql package")
        return found

    @property
    def pg_data(self) -> Path:
        if os.geteuid() != 0:
            return self.state / "postgres"
        # As root, the server runs as Debian's postgres user, who may not reach a folder under
        # root's home (a checkout in /root): its data goes where that user can, one per state folder.
        digest = hashlib.sha256(str(self.state).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"integrity-topology-{digest}" / "postgres"

    def wipe(self) -> None:
        """Stop everything and remove all the topology's state, the databases included."""
        self.down()
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.rmtree(self.pg_data, ignore_errors=True)

    def _as_postgres(self) -> list[str]:
        # initdb refuses to run as root: the server runs as Debian's postgres user then.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def pg_url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.ports.postgres}/{database}"

    def start_postgres(self) -> None:
        if not _free(self.ports.postgres):
            return
        log = self.logs / "postgres.log"
        if not (self.pg_data / "PG_VERSION").exists():
            self.pg_data.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.geteuid() == 0:
                shutil.chown(self.pg_data, "postgres", "postgres")
            initdb = subprocess.run(
                [
                    *self._as_postgres(),
                    self._pg_bin("initdb"),
                    "-D",
                    str(self.pg_data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                ],
                check=False,
                capture_output=True,
                text=True,
            )
            if initdb.returncode != 0:
                # As root, the server runs as the postgres user, who must reach the folder.
                raise TopologyError(f"initdb of {self.pg_data} failed:\n{initdb.stderr[-2000:]}")
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [
                    *self._as_postgres(),
                    self._pg_bin("postgres"),
                    "-D",
                    str(self.pg_data),
                    "-p",
                    str(self.ports.postgres),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.pg_data}",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "fsync=off",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid("postgres", proc)
        _wait_for_port(self.ports.postgres, "PostgreSQL", log, proc, 60)
        import psycopg2

        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.ports.postgres, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database")
            present = {row[0] for row in cursor.fetchall()}
            for database in DATABASES:
                if database not in present:
                    cursor.execute(f"CREATE DATABASE {database}")
        conn.close()
        if "metastore" not in present:
            self.create_metastore_schema()

    def create_metastore_schema(self) -> None:
        """The Hive metastore's tables, created at once from the metastore's own JDO mapping.

        Left to DataNucleus's ``autoCreateAll``, the tables appear one by one as first used, and
        on PostgreSQL the first CREATE TABLE deadlocks: its transaction holds ``TBLS`` while
        another connection adds ``TBL_PRIVS``'s foreign key to it (seen here). This is what
        Hive's ``schematool -initSchema`` does, from the same mapping Spark's Hive client uses.
        """
        jars = spark_home() / "jars"
        work = self.state / "metastore-schema"
        work.mkdir(parents=True, exist_ok=True)
        (work / "package.jdo").write_bytes(_jar_entry(next(jars.glob("hive-metastore-*.jar")), "package.jdo"))
        (work / "datanucleus.properties").write_text(
            "\n".join(
                [
                    f"javax.jdo.option.ConnectionURL=jdbc:postgresql://127.0.0.1:{self.ports.postgres}/metastore",
                    "javax.jdo.option.ConnectionDriverName=org.postgresql.Driver",
                    "javax.jdo.option.ConnectionUserName=postgres",
                    "javax.jdo.option.ConnectionPassword=",
                    # Hive's own settings of these (HiveConf): the same table and column names.
                    "datanucleus.identifierFactory=datanucleus1",
                    "datanucleus.rdbms.useLegacyNativeValueStrategy=true",
                    "datanucleus.storeManagerType=rdbms",
                ]
            )
            + "\n"
        )
        created = subprocess.run(
            [
                "java",
                "-cp",
                f"{jars}/*:{self.postgres_jdbc_jar()}",
                "org.datanucleus.store.schema.SchemaTool",
                "-create",
                "-api",
                "JDO",
                "-props",
                "datanucleus.properties",
                "package.jdo",
            ],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0 or "completed successfully" not in created.stdout:
            raise TopologyError(
                f"the metastore's schema was not created:\n{created.stdout[-2000:]}{created.stderr[-2000:]}"
            )

    # --- Redis, Spark, HiveServer2, MLflow ----------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env or dict(os.environ),
                cwd=cwd or self.state,
                start_new_session=True,
            )
        self._pid(name, proc)
        return proc, log

    def _pid(self, name: str, proc: subprocess.Popen) -> None:
        (self.state / "pids").mkdir(parents=True, exist_ok=True)
        (self.state / "pids" / name).write_text(str(proc.pid))

    def start_redis(self) -> None:
        if not _free(self.ports.redis):
            return
        data = self.node("redis")
        proc, log = self._spawn(
            "redis",
            ["redis-server", "--port", str(self.ports.redis), "--bind", "127.0.0.1", "--save", "", "--dir", str(data)],
        )
        _wait_for_port(self.ports.redis, "Redis", log, proc, 30)

    def postgres_jdbc_jar(self) -> Path:
        """PostgreSQL's JDBC driver for the metastore, from Maven Central (cached under the state folder)."""
        jars = local_dir() / "jars"
        group, artifact, version = POSTGRES_JDBC.split(":")
        jar = jars / f"{artifact}-{version}.jar"
        if not jar.exists():
            fetched = subprocess.run(
                ["mvn", "-q", "dependency:copy", f"-Dartifact={POSTGRES_JDBC}", f"-DoutputDirectory={jars}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if fetched.returncode != 0 or not jar.exists():
                raise TopologyError(
                    f"mvn could not fetch {POSTGRES_JDBC}:\n{fetched.stdout[-2000:]}{fetched.stderr[-2000:]}"
                )
        return jar

    def spark_env(self) -> dict[str, str]:
        return dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1")

    def start_spark(self) -> None:
        spark_class = str(spark_home() / "bin" / "spark-class")
        if _free(self.ports.spark_master):
            proc, log = self._spawn(
                "spark-master",
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports.spark_master),
                    "--webui-port",
                    str(self.ports.spark_master_ui),
                ],
                env=self.spark_env(),
            )
            _wait_for_port(self.ports.spark_master, "the Spark master", log, proc, 90)
        if _free(self.ports.spark_worker_ui):
            node = self.node("spark-worker")
            proc, log = self._spawn(
                "spark-worker",
                [
                    *self.isolated("spark-worker"),
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    os.environ.get("INTEGRITY_TOPOLOGY_EXECUTOR_MEMORY", "3g"),
                    "--webui-port",
                    str(self.ports.spark_worker_ui),
                    "--work-dir",
                    str(node / "work"),
                    self.spark_master_url,
                ],
                env=self.spark_env(),
            )
            _wait_for_port(self.ports.spark_worker_ui, "the Spark worker", log, proc, 90)

    @property
    def spark_master_url(self) -> str:
        return f"spark://127.0.0.1:{self.ports.spark_master}"

    def hiveserver2(self) -> LocalHiveServer:
        return LocalHiveServer(
            port=self.ports.hiveserver2,
            state_dir=self.node("hiveserver2"),
            master=self.spark_master_url,
            warehouse=self.storage / "warehouse",
            metastore={
                "url": f"jdbc:postgresql://127.0.0.1:{self.ports.postgres}/metastore",
                "driver": "org.postgresql.Driver",
                "user": "postgres",
            },
            jars=(self.postgres_jdbc_jar(),),
            launcher=tuple(self.isolated("hiveserver2")),
        )

    def start_mlflow(self) -> None:
        if not _free(self.ports.mlflow):
            return
        artifacts = self.storage / "mlflow-artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        proc, log = self._spawn(
            "mlflow",
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                self.pg_url("mlflow"),
                "--artifacts-destination",
                artifacts.as_uri(),
                "--serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports.mlflow),
                "--workers",
                "1",
            ],
            # As docker-compose.yaml: no MLflow server jobs, whose four consumers poll all along.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            cwd=self.node("mlflow"),
        )
        _wait_for_port(self.ports.mlflow, "the MLflow server", log, proc, 180)

    # --- what the clients need ------------------------------------------------------

    def secret(self, name: str) -> str:
        """A random secret of the deployment (the API's JWT key), made once, kept under the state folder."""
        path = self.state / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def client_env(self) -> dict[str, str]:
        """What a client of the topology (a test, a worker) sets to reach its services."""
        return {
            "INTEGRITY_STORAGE_ROOT": self.storage.as_uri(),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.ports.mlflow}",
            "MLFLOW_REGISTRY_URI": f"http://127.0.0.1:{self.ports.mlflow}",
            "INTEGRITY_FEAST_PROFILE": "cluster",
            "INTEGRITY_FEAST_REGISTRY_URL": self.pg_url("feast", "postgresql+psycopg"),
            "INTEGRITY_REDIS_URL": f"127.0.0.1:{self.ports.redis},db=1",
            "INTEGRITY_FEATURE_WAREHOUSE": str(self.storage / "warehouse"),
            "AIRFLOW_CONN_HIVESERVER2_DEFAULT": self.hiveserver2_uri,
        }

    @property
    def hiveserver2_uri(self) -> str:
        return f"hiveserver2://127.0.0.1:{self.ports.hiveserver2}/default"

    def up_services(self) -> LocalHiveServer:
        """Start everything but Airflow; returns the HiveServer2 (running)."""
        for folder in (self.state, PROJECT_ROOT):
            if Path(folder).resolve().is_relative_to("/tmp"):
                raise TopologyError(
                    f"{folder} is under /tmp, which each component of the topology replaces with its own: "
                    "run it from a checkout and a state folder (INTEGRITY_LOCAL_DIR) outside /tmp"
                )
        for folder in (self.storage, self.image):
            folder.mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        self.start_redis()
        self.start_spark()
        self.start_mlflow()
        server = self.hiveserver2()
        server.start(timeout=300)
        return server

    def airflow(self, risks_dir: Path | None = None) -> TopologyAirflow:
        return TopologyAirflow(topology=self, risks_dir=risks_dir or PROJECT_ROOT / "include" / "risks")

    def down(self) -> None:
        """Stop every process of the topology (Airflow's first: they talk to the rest)."""
        self.airflow().stop()
        with contextlib.suppress(Exception):
            LocalHiveServer(port=self.ports.hiveserver2, state_dir=self.nodes / "hiveserver2").stop()
        pids = self.state / "pids"
        for name in ("mlflow", "spark-worker", "spark-master", "redis", "postgres"):
            pid_file = pids / name
            try:
                pid = int(pid_file.read_text())
            except (FileNotFoundError, ValueError):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.3)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            pid_file.unlink(missing_ok=True)

    def status(self) -> dict[str, bool]:
        ports = {
            "postgres": self.ports.postgres,
            "redis": self.ports.redis,
            "spark-master": self.ports.spark_master,
            "spark-worker": self.ports.spark_worker_ui,
            "hiveserver2": self.ports.hiveserver2,
            "mlflow": self.ports.mlflow,
            "airflow": self.ports.airflow,
        }
        return {name: not _free(port) for name, port in ports.items()}


def _jar_entry(jar: Path, name: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(jar) as archive:
        return archive.read(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


class TopologyAirflow(LocalAirflow):
    """Airflow of the topology: CeleryExecutor on PostgreSQL and Redis, two workers in namespaces of their own."""

    def __init__(self, topology: Topology, risks_dir: Path) -> None:
        self.topology = topology
        self.risks_dir = risks_dir
        super().__init__(port=topology.ports.airflow, home=topology.node("airflow"))

    def env(self) -> dict[str, str]:
        topo = self.topology
        # Nothing of this machine's /tmp exists on another one. Feast sets PROMETHEUS_MULTIPROC_DIR
        # to a folder of its /tmp when imported, and a caller that imported Feast (a test session)
        # handed it on: every Feast task then failed on the workers (FileNotFoundError, seen in CI).
        env = {k: v for k, v in super().env().items() if not v.startswith("/tmp/")}
        env.update(topo.client_env())
        env.update(
            {
                "INTEGRITY_LOCAL_DIR": str(self.home),
                "INTEGRITY_RISKS_DIR": str(self.risks_dir),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                # The workers import the tasks' libraries once, before their pools fork.
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "integrity_risk.celery_config.CELERY_CONFIG",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": topo.pg_url("airflow"),
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{topo.ports.redis}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{topo.pg_url('airflow', 'postgresql')}",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
                # Every component signs and checks the task API's tokens with the same key.
                "AIRFLOW__API_AUTH__JWT_SECRET": topo.secret("jwt"),
                "AIRFLOW__API__SECRET_KEY": topo.secret("api"),
                "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "6"),
            }
        )
        return env

    def components(self) -> dict[str, list[str]]:
        workers = {
            name: [
                "celery",
                "worker",
                "--queues",
                ",".join(queues),
                "--concurrency",
                str(slots),
                "--celery-hostname",
                f"{name}@%h",
            ]
            for name, (queues, slots) in WORKER_QUEUES.items()
        }
        return {**{component: [component] for component in COMPONENTS}, **workers}

    def launch(self, component: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        if component not in WORKER_QUEUES:
            return super().launch(component, command)
        topo = self.topology
        node = topo.node(component)
        queue = WORKER_QUEUES[component][0][0]
        env = self.env()
        env.update(
            {
                "AIRFLOW_HOME": str(node),
                "INTEGRITY_LOCAL_DIR": str(node),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(getattr(topo.ports, f"log_server_{queue}")),
            }
        )
        if queue != "gpu":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NO_TENSORFLOW), env.get("PYTHONPATH")]))
        # The isolation wrapper moves the worker into its own node folder.
        return super().launch(component, [*topo.isolated(component), *command], env=env)

    def healthy(self) -> bool:
        if not super().healthy():
            return False
        # Both workers answer Celery's ping: a queue without a worker would leave its tasks queued.
        return len(self.celery_workers()) == len(WORKER_QUEUES)

    def celery_workers(self) -> list[str]:
        pinged = subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "airflow.providers.celery.executors.celery_executor.app",
                "inspect",
                "ping",
                "--json",
                "--timeout",
                "3",
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            answers = json.loads(pinged.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return []
        return sorted(answers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_local.topology",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    topology = Topology()
    if args.action == "up":
        from integrity_local.demo import demo_connections

        server = topology.up_services()
        demo_connections(server.uri)
        os.environ.update(topology.client_env())
        airflow = topology.airflow()
        try:
            airflow.start(timeout=300)
        except LocalAirflowError as failed:
            print(f"error: {failed}", file=sys.stderr)
            return 1
        print(json.dumps({"airflow": airflow.url, "hiveserver2": server.uri, **topology.client_env()}, indent=2))
    elif args.action == "down":
        topology.down()
        print("topology stopped")
    else:
        status = topology.status()
        print(json.dumps(status, indent=2))
        return 0 if all(status.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
