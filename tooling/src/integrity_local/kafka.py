"""A local Kafka broker: Apache Kafka 4 in KRaft mode, broker and controller in one process.

The streaming path reaches it as it reaches a cluster's Kafka: through the Kafka provider's
hooks and the Airflow connection ``kafka_default`` (:meth:`LocalKafkaBroker.connection`).
At scale only that connection changes. Its jars come from Maven Central (``mvn
dependency:copy-dependencies`` of ``org.apache.kafka:kafka_2.13``), fetched once into the
state folder's ``jars``; its data lives in ``<local>/kafka/<port>`` and survives a restart.

    python -m integrity_local.kafka start [--port 9092]
    python -m integrity_local.kafka stop  [--port 9092]

The controller listens on the next port (``--port`` + 1).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from integrity_local.maven import MavenFetchError, fetch_jars
from integrity_local.processes import running_pid, stop_group
from integrity_risk.paths import local_dir

DEFAULT_PORT = 9092
KAFKA_VERSION = "4.1.1"
ARTIFACTS = (
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    # Kafka logs through SLF4J 1.7; without a binding it would log nothing at all.
    "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
)
LOG4J2 = """\
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
"""


class LocalKafkaError(RuntimeError):
    """The local broker's jars could not be fetched, or it did not start or stop as asked."""


def kafka_jars(jars_dir: Path | None = None) -> Path:
    """The folder of the broker's jars, fetched with ``mvn`` on first use."""
    try:
        return fetch_jars(f"kafka-{KAFKA_VERSION}", ARTIFACTS, jars_dir=jars_dir)
    except MavenFetchError as err:
        raise LocalKafkaError(str(err)) from None


def _java() -> str:
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else shutil.which("java")
    if java is None or not Path(java).exists():
        raise LocalKafkaError("no java found: Kafka 4 needs a JDK 17 or newer (set JAVA_HOME or install one)")
    return str(java)


@dataclass
class LocalKafkaBroker:
    """One KRaft broker and controller on loopback, its log and data in ``state_dir``."""

    port: int = DEFAULT_PORT
    state_dir: Path | None = None
    host: str = "127.0.0.1"
    partitions: int = 4

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir or local_dir() / "kafka" / str(self.port)).absolute()
        self.state_dir.mkdir(parents=True, exist_ok=True)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "broker.log"

    def connection(self, **config: str) -> str:
        """An Airflow connection to the broker (JSON, for ``AIRFLOW_CONN_<ID>``), as the Kafka provider's hooks read it.

        :param config: more of the client's settings (a consumer's ``group.id``, ...), as the
            connection's extra carries them.
        """
        # Idempotent producers: a retried batch (a new topic's leader not elected yet) cannot
        # overtake the next one, so each partition keeps the order it was sent in. Consumers
        # ignore the setting.
        extra = {"bootstrap.servers": self.bootstrap_servers, "enable.idempotence": "true", **config}
        return json.dumps({"conn_type": "kafka", "extra": extra})

    def _properties(self) -> Path:
        path = self.state_dir / "server.properties"
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
                    f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    f"num.partitions={self.partitions}",
                    # One broker: internal topics cannot have more replicas than that.
                    "offsets.topic.replication.factor=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                ]
            )
            + "\n"
        )
        return path

    def _format(self, classpath: str, properties: Path) -> None:
        """Give a new data folder its cluster id (``kafka-storage format``); an existing one is kept."""
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the tool would read a leading '-' as an option
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        formatted = subprocess.run(
            [_java(), "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)],
            capture_output=True,
            text=True,
            check=False,
        )
        if formatted.returncode != 0:
            raise LocalKafkaError(
                f"kafka-storage format failed for {self.data_dir}:\n{formatted.stdout}{formatted.stderr}"
            )

    def running_pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self, timeout: float = 120.0) -> float:
        """Start the broker unless it already answers; returns the seconds it took."""
        started = time.monotonic()
        if self.answers():
            return 0.0
        if self.running_pid() is None:
            classpath = str(kafka_jars() / "lib" / "*")
            properties = self._properties()
            self._format(classpath, properties)
            log4j = self.state_dir / "log4j2.properties"
            log4j.write_text(LOG4J2)
            with open(self.log_file, "ab") as log:
                proc = subprocess.Popen(
                    [
                        _java(),
                        "-Xmx512m",
                        f"-Dlog4j2.configurationFile={log4j}",
                        "-cp",
                        classpath,
                        "kafka.Kafka",
                        str(properties),
                    ],
                    cwd=self.state_dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.running_pid() is None:
                raise LocalKafkaError(f"Kafka on {self.bootstrap_servers} exited while starting; see {self.log_file}")
            if time.monotonic() > deadline:
                raise LocalKafkaError(
                    f"Kafka on {self.bootstrap_servers} did not answer within {timeout:.0f}s; see {self.log_file}"
                )
            time.sleep(0.5)
        return time.monotonic() - started

    def answers(self) -> bool:
        """True when the broker returns the cluster's metadata."""
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((self.host, self.port)) != 0:
                return False
        from confluent_kafka.admin import AdminClient

        try:
            metadata = AdminClient({"bootstrap.servers": self.bootstrap_servers}).list_topics(timeout=3)
        except Exception:
            return False
        return bool(metadata.brokers)

    def stop(self, timeout: float = 30.0) -> None:
        stop_group(self.pid_file, timeout)  # SIGTERM first: a controlled shutdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_local.kafka",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    broker = LocalKafkaBroker(port=args.port)
    if args.action == "start":
        seconds = broker.start()
        print(f"Kafka answers at {broker.bootstrap_servers} (started in {seconds:.1f}s; log {broker.log_file})")
        print(f"its Airflow connection: AIRFLOW_CONN_KAFKA_DEFAULT='{broker.connection()}'")
    elif args.action == "stop":
        broker.stop()
        print(f"Kafka on port {args.port} stopped")
    else:
        print("running" if broker.answers() else "not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
