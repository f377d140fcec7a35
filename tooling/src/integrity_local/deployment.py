"""A local Airflow deployment for the tests and benchmarks that drive Airflow as its users do.

Airflow runs as it does for the demo (api-server, scheduler, dag-processor and
triggerer, LocalExecutor) over the session's HiveServer2, with its own home, MLflow
registry and copy of the risk YAMLs, which a test may edit (small worlds need looser
gates and sooner labels than production).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING

from integrity_risk.paths import INCLUDE_DIR, local_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@contextlib.contextmanager
def local_deployment(
    name: str, port: int, hiveserver2, risks_dir: Path, edit_risk: Callable[[str, str], str]
) -> Iterator:
    """Start Airflow under ``<local>/airflow-<name>``; ``edit_risk(risk, yaml_text)`` returns the YAML to use."""
    from integrity_local.airflow_services import LocalAirflow
    from integrity_local.demo import demo_connections

    for path in (INCLUDE_DIR / "risks").glob("*.yaml"):
        (risks_dir / path.name).write_text(edit_risk(path.stem, path.read_text()))
    mlflow_dir = local_dir() / f"mlflow-{name}"
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "INTEGRITY_RISKS_DIR": str(risks_dir),
        "INTEGRITY_FEATURE_WAREHOUSE": str(hiveserver2.warehouse_dir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_dir / 'mlflow.db'}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the Airflow processes inherit them
    demo_connections(hiveserver2.uri)
    home = local_dir() / f"airflow-{name}"
    LocalAirflow(port=port, home=home).stop()  # whatever an interrupted session left
    shutil.rmtree(home, ignore_errors=True)
    deployment = LocalAirflow(port=port, home=home)
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def api(deployment, user: str):
    """The REST client of ``user`` (admin, reviewer or modeler)."""
    from integrity_local.airflow_api import AirflowApi

    return AirflowApi(deployment.url, user, deployment.password(user))


def small_world_yaml(text: str) -> str:
    """A risk YAML for a world of days rather than months: labels mature in 2 days, the
    validation split is 1 day, and a failed task is retried after 10 s.
    """
    return (
        text.replace("maturity_days: 3", "maturity_days: 2")
        .replace("validation_days: 2", "validation_days: 1")
        .replace("retries: 2", "retries: 2\nretry_delay_seconds: 10")
    )
