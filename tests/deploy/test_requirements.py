"""What each image installs: TensorFlow only where a model is trained or scored.

pip resolves each requirements file against the constraints as the images' builds do
(``--dry-run``: nothing is installed), so a dependency that pulls TensorFlow in
through the back door fails here, not in a deployed default worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TENSORFLOW = {"tensorflow", "tensorflow-cpu", "keras", "tf-keras", "tensorboard"}


def _resolved(requirements: str) -> set[str]:
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            "-",
            "-r",
            str(ROOT / "requirements" / requirements),
            "-c",
            str(ROOT / "requirements" / "constraints.txt"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return {item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(report.stdout)["install"]}


@pytest.fixture(scope="module")
def default_image():
    return _resolved("common.txt")


def test_the_default_image_has_airflow_celery_and_postgres_but_no_tensorflow(default_image):
    assert {"apache-airflow", "apache-airflow-providers-celery", "psycopg2-binary", "feast"} <= default_image
    assert not default_image & TENSORFLOW


def test_the_embedded_default_adds_tensorflow_and_nothing_else_changes(default_image):
    embedded = _resolved("cpu.txt")
    assert "tensorflow-cpu" in embedded
    assert default_image <= embedded
