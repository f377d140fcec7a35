"""A local HiveServer2 endpoint: Spark's Thrift Server with an embedded metastore.

It speaks the HiveServer2 protocol on loopback, so the pipelines talk to it through
the Hive provider's ``HiveServer2Hook`` exactly as they talk to a production
HiveServer2; only the Airflow connection differs.

    python -m integrity_local.hiveserver2 start [--port 10000]
    python -m integrity_local.hiveserver2 stop  [--port 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from integrity_local.processes import running_pid, stop_group
from integrity_risk.paths import INCLUDE_DIR, local_dir

DEFAULT_PORT = 10000
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
# Generated classes Spark keeps compiled (docker/spark-conf/spark-defaults.conf sets the same).
CODEGEN_CACHE_ENTRIES = 2000
# The throughput collector: the server runs batch statements on a couple of cores, where G1's
# concurrent work costs more than its short pauses save. A day's extracts in
# bench/bench_extract.py (4,000 accounts, two runs each): 56.7 s with G1, 52.1 s with it.
# docker/spark-conf/spark-defaults.conf sets the same.
JVM_GC = "-XX:+UseParallelGC"
HIVE_COMPAT_SOURCES = INCLUDE_DIR / "hive_compat"

log = logging.getLogger(__name__)


class LocalHiveServerError(RuntimeError):
    """The local HiveServer2 did not start or stop as asked."""


def spark_home() -> Path:
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class LocalHiveServer:
    """One Thrift Server whose warehouse and metastore live in ``state_dir``.

    The topology (:mod:`integrity_local.topology`) runs it as a cluster would: jobs on a
    Spark standalone master, the metastore on PostgreSQL, the warehouse on the shared
    storage, and the process in a mount namespace of its own (``launcher``).
    """

    port: int = DEFAULT_PORT
    state_dir: Path | None = None
    host: str = "127.0.0.1"
    master: str = "local[2]"
    warehouse: Path | None = None
    # {"url": "jdbc:postgresql://...", "driver": "org.postgresql.Driver", "user": ...}; None: Derby in state_dir.
    metastore: dict[str, str] | None = None
    jars: tuple[Path, ...] = ()
    launcher: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Absolute: the server runs in state_dir, where a relative warehouse path would nest.
        self.state_dir = Path(self.state_dir or local_dir() / "hiveserver2").absolute()
        self.state_dir.mkdir(parents=True, exist_ok=True)

    @property
    def warehouse_dir(self) -> Path:
        return Path(self.warehouse) if self.warehouse else self.state_dir / "warehouse"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"thriftserver-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"thriftserver-{self.port}.log"

    @property
    def uri(self) -> str:
        """The Airflow connection URI for ``HiveServer2Hook``."""
        return f"hiveserver2://{self.host}:{self.port}/default"

    def compat_jar(self) -> Path | None:
        """The Hive classes Spark's distribution lacks, compiled from include/hive_compat.

        See LlapSigner.java there: without them the server's first Hive client build fails,
        and later ones wait forever. Built once per source version; None without a JDK.
        """
        sources = sorted(HIVE_COMPAT_SOURCES.glob("*.java"))
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
        jar = self.state_dir / "compat" / f"hive-compat-{digest}.jar"
        if jar.exists():
            return jar
        javac = shutil.which("javac")
        if javac is None:
            log.warning(
                "no javac found: the local HiveServer2 starts without %s, and a session close "
                "can then hang under concurrent sessions; install a JDK 17",
                HIVE_COMPAT_SOURCES,
            )
            return None
        classes = self.state_dir / "compat" / f"classes-{digest}"
        shutil.rmtree(classes, ignore_errors=True)
        built = subprocess.run(
            [javac, "--release", "17", "-d", str(classes), *map(str, sources)],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            raise LocalHiveServerError(f"javac could not build {HIVE_COMPAT_SOURCES}:\n{built.stderr}")
        partial = jar.with_suffix(".partial")
        shutil.make_archive(str(partial), "zip", classes)
        Path(f"{partial}.zip").replace(jar)
        shutil.rmtree(classes)
        return jar

    def metastore_conf(self) -> list[str]:
        if self.metastore is None:
            metastore = self.state_dir / "metastore_db"
            return [
                "--conf",
                f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={metastore};create=true",
            ]
        conf = {
            "javax.jdo.option.ConnectionURL": self.metastore["url"],
            "javax.jdo.option.ConnectionDriverName": self.metastore["driver"],
            "javax.jdo.option.ConnectionUserName": self.metastore.get("user", ""),
            "javax.jdo.option.ConnectionPassword": self.metastore.get("password", ""),
            # A new database gets Hive's schema from DataNucleus, as `schematool -initSchema` would.
            "datanucleus.schema.autoCreateAll": "true",
            "hive.metastore.schema.verification": "false",
        }
        return [arg for key, value in conf.items() for arg in ("--conf", f"spark.hadoop.{key}={value}")]

    def command(self) -> list[str]:
        compat = self.compat_jar()
        class_path = ":".join(str(p) for p in ([compat] if compat else []) + list(self.jars))
        return [
            *self.launcher,
            str(spark_home() / "bin" / "spark-submit"),
            "--class",
            THRIFT_SERVER_CLASS,
            "--master",
            self.master,
            *(["--driver-class-path", class_path] if class_path else []),
            "--name",
            f"integrity-hiveserver2-{self.port}",
            "--driver-memory",
            os.environ.get("INTEGRITY_HS2_MEMORY", "2g"),
            "--driver-java-options",
            f"-Dderby.system.home={self.state_dir} -Duser.timezone=UTC {JVM_GC}",
            "--conf",
            f"spark.sql.warehouse.dir={self.warehouse_dir}",
            *self.metastore_conf(),
            # Executors of a cluster master call the driver back: on loopback, where it listens.
            "--conf",
            f"spark.driver.host={self.host}",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            # Readers of the warehouse's parquet files (Feast, pyarrow) expect
            # standard microsecond timestamps, not Spark's legacy INT96.
            "--conf",
            "spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS",
            # Writes go to a staging folder and are moved into place on commit, so a
            # reader never sees a half-written partition.
            "--conf",
            "spark.sql.sources.partitionOverwriteMode=dynamic",
            # Every day runs the same statements with other dates: keep their generated
            # classes. Spark's default cache (100) is smaller than one day's extracts
            # (about 90 classes for account_daily alone), so each statement compiled all
            # of its classes again, seconds of CPU each (bench/bench_extract.py's log).
            "--conf",
            f"spark.sql.codegen.cache.maxEntries={CODEGEN_CACHE_ENTRIES}",
            "--hiveconf",
            f"hive.server2.thrift.port={self.port}",
            "--hiveconf",
            f"hive.server2.thrift.bind.host={self.host}",
            "spark-internal",
        ]

    def running_pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self, timeout: float = 180.0) -> float:
        """Start the server unless it already answers; returns the seconds it took."""
        started = time.monotonic()
        if self.answers():
            return 0.0
        if self.running_pid() is None:
            self._refuse_shared_metastore()
            env = dict(os.environ, SPARK_HOME=str(spark_home()))
            with open(self.log_file, "ab") as log:
                proc = subprocess.Popen(
                    self.command(),
                    cwd=self.state_dir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.pid_file.write_text(str(proc.pid))
        self.wait_until_ready(timeout)
        return time.monotonic() - started

    def _refuse_shared_metastore(self) -> None:
        """An embedded (Derby) metastore serves one server: say which one holds it."""
        for pid_file in self.state_dir.glob("thriftserver-*.pid"):
            other = LocalHiveServer(port=int(pid_file.stem.rsplit("-", 1)[1]), state_dir=self.state_dir)
            if other.port != self.port and other.running_pid() is not None:
                raise LocalHiveServerError(
                    f"the metastore in {self.state_dir} is in use by the HiveServer2 on port {other.port}; "
                    f"stop it first (python -m integrity_local.hiveserver2 stop --port {other.port})"
                )

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.running_pid() is None:
                raise LocalHiveServerError(
                    f"HiveServer2 on {self.host}:{self.port} exited while starting; see {self.log_file}"
                )
            time.sleep(1)
        raise LocalHiveServerError(
            f"HiveServer2 on {self.host}:{self.port} did not answer within {timeout:.0f}s; see {self.log_file}"
        )

    def answers(self) -> bool:
        """True when a session can be opened and a query runs."""
        import socket

        from pyhive import hive

        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((self.host, self.port)) != 0:
                return False
        try:
            conn = hive.connect(host=self.host, port=self.port, database="default")
        except Exception:
            return False
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            return cursor.fetchall() == [(1,)]
        except Exception:
            return False
        finally:
            conn.close()

    def stop(self, timeout: float = 30.0) -> None:
        stop_group(self.pid_file, timeout)  # SIGTERM first: a controlled shutdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_local.hiveserver2",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument(
        "--port", type=int, help=f"default {DEFAULT_PORT}; stop without it stops every one of the state folder"
    )
    args = parser.parse_args(argv)
    server = LocalHiveServer(port=args.port or DEFAULT_PORT)
    if args.action == "start":
        seconds = server.start()
        print(f"HiveServer2 answers at {server.uri} (started in {seconds:.1f}s; log {server.log_file})")
    elif args.action == "stop":
        # A demo run with --hs2-port left its pid file under its port: stop.sh stops it too.
        ports = (
            [args.port]
            if args.port
            else sorted(int(f.stem.rsplit("-", 1)[1]) for f in server.state_dir.glob("thriftserver-*.pid"))
            or [DEFAULT_PORT]
        )
        for port in ports:
            LocalHiveServer(port=port, state_dir=server.state_dir).stop()
            print(f"HiveServer2 on port {port} stopped")
    else:
        print("running" if server.answers() else "not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
