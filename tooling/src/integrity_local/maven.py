"""Jars from Maven Central, fetched with ``mvn`` once into the state folder's ``jars``.

The local services and jobs that run on a JVM take their jars from here: the Kafka broker
(``integrity_local.kafka``) and Spark's Kafka source for the streaming job
(:func:`spark_kafka_jars`). A folder is complete or absent: ``mvn`` fills a staging folder,
which replaces the folder only when the fetch succeeded.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from integrity_risk.paths import local_dir

SPARK_VERSION = "4.2.0"
#: Spark's Kafka source at the pinned pyspark, and the libraries of its that pyspark's own
#: jars lack (Scala, Hadoop, LZ4 and Snappy come with pyspark, at its versions).
SPARK_KAFKA_ARTIFACTS = (f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}",)
SPARK_KAFKA_ONLY = (
    "spark-sql-kafka-0-10_2.13",
    "spark-token-provider-kafka-0-10_2.13",
    "kafka-clients",
    "commons-pool2",
)


class MavenFetchError(RuntimeError):
    """``mvn`` is missing, or could not fetch the artifacts asked for."""


def fetch_jars(
    name: str,
    artifacts: tuple[str, ...],
    *,
    only: tuple[str, ...] = (),
    jars_dir: Path | None = None,
) -> Path:
    """The folder ``<jars>/<name>`` holding ``artifacts`` and their runtime dependencies.

    :param name: the folder's name; give it the versions, so that new ones fetch again.
    :param artifacts: ``group:artifact:version`` coordinates.
    :param only: keep only these artifact ids (the rest are on the classpath already).
    :param jars_dir: where the folders live (default ``<local>/jars``).
    """
    folder = (jars_dir or local_dir() / "jars") / name
    if (folder / "complete").exists():
        return folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenFetchError(f"mvn is not installed: it fetches {', '.join(artifacts)} (Debian package maven)")
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    dependencies = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in (artifact.split(":") for artifact in artifacts)
    )
    (staging / "pom.xml").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>integrity-local</groupId><artifactId>{name}</artifactId><version>1</version>"
        f"<dependencies>{dependencies}</dependencies></project>"
    )
    command = [
        mvn,
        "-q",
        "-f",
        str(staging / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging / 'lib'}",
    ]
    if only:
        command.append(f"-DincludeArtifactIds={','.join(only)}")
    fetched = subprocess.run(command, capture_output=True, text=True, check=False)
    if fetched.returncode != 0:
        raise MavenFetchError(
            f"mvn could not fetch {', '.join(artifacts)}:\n{fetched.stdout[-2000:]}{fetched.stderr[-2000:]}"
        )
    (staging / "complete").write_text("\n".join(artifacts) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
    return folder


def spark_kafka_jars(jars_dir: Path | None = None) -> list[Path]:
    """The jars Spark's Kafka source needs beside pyspark's own, fetched on first use."""
    folder = fetch_jars(
        f"spark-sql-kafka-{SPARK_VERSION}", SPARK_KAFKA_ARTIFACTS, only=SPARK_KAFKA_ONLY, jars_dir=jars_dir
    )
    return sorted((folder / "lib").glob("*.jar"))
