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


def _resolve(requirements: str) -> subprocess.Popen:
    """pip resolving ``requirements/<requirements>`` against the constraints, started (see :func:`_installs`)."""
    return subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _installs(resolving: subprocess.Popen) -> set[str]:
    """The distributions a finished resolution would install."""
    out, err = resolving.communicate(timeout=600)
    assert resolving.returncode == 0, err[-3000:]
    return {item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(out)["install"]}


@pytest.fixture(scope="module")
def images() -> dict[str, set[str]]:
    """What the default image (common.txt) and the embedded default (cpu.txt) install.

    Both resolutions run at once: each spends most of its time waiting on the index.
    """
    resolving = {name: _resolve(name) for name in ("common.txt", "cpu.txt")}
    return {name: _installs(proc) for name, proc in resolving.items()}


@pytest.fixture(scope="module")
def default_image(images):
    return images["common.txt"]


def test_the_default_image_has_airflow_celery_and_postgres_but_no_tensorflow(default_image):
    assert {"apache-airflow", "apache-airflow-providers-celery", "psycopg2-binary", "feast"} <= default_image
    assert not default_image & TENSORFLOW


def test_the_embedded_default_adds_tensorflow_and_nothing_else_changes(images, default_image):
    embedded = images["cpu.txt"]
    assert "tensorflow-cpu" in embedded
    assert default_image <= embedded
