"""Jars from Maven Central, fetched with ``mvn`` once into the state folder's ``jars``.

The local services and jobs that run on a JVM take their jars from here: the Kafka broker
(``integrity_local.kafka``) and Spark's Kafka source for the streaming job
(:func:`spark_kafka_jars`, from the pom the Airflow image uses). A folder is complete or absent: ``mvn`` fills a staging folder,
which replaces the folder only when the fetch succeeded.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from integrity_risk.paths import local_dir, project_root


class MavenFetchError(RuntimeError):
    """``mvn`` is missing, or could not fetch the artifacts asked for."""


def fetch_jars(name: str, artifacts: tuple[str, ...], *, jars_dir: Path | None = None) -> Path:
    """The folder ``<jars>/<name>`` holding ``artifacts`` and their runtime dependencies.

    :param name: the folder's name; give it the versions, so that new ones fetch again.
    :param artifacts: ``group:artifact:version`` coordinates.
    :param jars_dir: where the folders live (default ``<local>/jars``).
    """
    dependencies = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in (artifact.split(":") for artifact in artifacts)
    )
    pom = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>integrity-local</groupId><artifactId>{name}</artifactId><version>1</version>"
        f"<dependencies>{dependencies}</dependencies></project>"
    )
    return fetch_pom_jars(name, pom, jars_dir=jars_dir)


def fetch_pom_jars(name: str, pom: str, *, jars_dir: Path | None = None) -> Path:
    """The folder ``<jars>/<name>`` whose ``lib`` holds what ``mvn dependency:copy-dependencies``
    copies for the project ``pom`` (its runtime dependencies, unless the pom configures the
    plug-in otherwise; an ``outputDirectory`` of its own must be ``${project.basedir}/lib``).
    """
    folder = (jars_dir or local_dir() / "jars") / name
    if (folder / "complete").exists():
        return folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenFetchError(f"mvn is not installed: it fetches the jars of {name} (Debian package maven)")
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "pom.xml").write_text(pom)
    command = [
        mvn,
        "-q",
        "-f",
        str(staging / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging / 'lib'}",
    ]
    fetched = subprocess.run(command, capture_output=True, text=True, check=False)
    if fetched.returncode != 0:
        raise MavenFetchError(
            f"mvn could not fetch the jars of {name}:\n{fetched.stdout[-2000:]}{fetched.stderr[-2000:]}"
        )
    (staging / "complete").write_text(hashlib.sha256(pom.encode()).hexdigest() + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
    return folder


def spark_kafka_jars(jars_dir: Path | None = None) -> list[Path]:
    """The jars Spark's Kafka source needs beside pyspark's own, fetched on first use: those of
    ``docker/spark-streaming/pom.xml``, which the Airflow image fetches too.
    """
    pom = (project_root() / "docker" / "spark-streaming" / "pom.xml").read_text()
    folder = fetch_pom_jars(f"spark-streaming-{hashlib.sha256(pom.encode()).hexdigest()[:12]}", pom, jars_dir=jars_dir)
    return sorted((folder / "lib").glob("*.jar"))
