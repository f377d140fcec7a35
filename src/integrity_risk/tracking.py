"""Where MLflow lives and what things are called in it.

Light on purpose: the Airflow worker imports this module, so MLflow is imported
only inside the functions that need it, and TensorFlow never.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from integrity_risk.paths import local_dir

if TYPE_CHECKING:
    from mlflow import MlflowClient

CANDIDATE_ALIAS = "candidate"
CHAMPION_ALIAS = "champion"


def mlflow_dir() -> Path:
    """The embedded default's MLflow folder: ``<local>/mlflow``."""
    path = local_dir() / "mlflow"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_tracking_uri() -> str:
    """The embedded default: a SQLite file under the local folder."""
    return f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def tracking_uri() -> str:
    """The MLflow tracking URI: env ``MLFLOW_TRACKING_URI``, else :func:`default_tracking_uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def client() -> MlflowClient:
    """An MLflow client of :func:`tracking_uri` for both tracking and the registry.

    Named explicitly because MlflowClient's registry otherwise follows ``mlflow.set_registry_uri``,
    process-wide state that :func:`configure` (or anything else in the process) may have
    pointed at another store since.
    """
    from mlflow import MlflowClient

    uri = tracking_uri()
    _create_sqlite_store_once(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


_CREATED_STORES: set[str] = set()


def _create_sqlite_store_once(uri: str) -> None:
    """Create a SQLite store's tables under a file lock, before anything else in this process uses it.

    MLflow creates the tables of an empty SQLite store on first use, with no lock: two
    tasks touching a new store at once both start creating them, and one fails (seen in
    the e2e: a drift task of the first backfill day, ``AttributeError: dimension_attributes``). A server or PostgreSQL store is created by its deployment,
    so only ``sqlite:///`` URIs are guarded.
    """
    if not uri.startswith("sqlite:///") or uri in _CREATED_STORES:
        return
    import fcntl

    from mlflow import MlflowClient

    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with db.with_name(f"{db.name}.create.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Tracking tables when the client is built, the registry's on its first call.
        MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models(max_results=1)
    _CREATED_STORES.add(uri)


def artifact_root() -> str | None:
    """Artifact location for new experiments with a SQLite store; ``None`` lets a server decide.

    With a SQLite backend MLflow would otherwise put artifacts under ``./mlruns`` of
    whatever directory the trainer started in (the Airflow worker's), so they go
    beside the database file instead: ``<db folder>/artifacts``.
    """
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def registered_model_name(risk_type: str) -> str:
    """Registered model of one risk type, e.g. ``integrity_fraud``.

    :param risk_type: risk type name, e.g. ``abusive_account``.
    """
    return f"integrity_{risk_type}"


def experiment_name(risk_type: str) -> str:
    """MLflow experiment holding the training runs of one risk type.

    :param risk_type: risk type name.
    """
    return f"integrity_{risk_type}_training"


def configure(experiment: str | None = None) -> str | None:
    """Point MLflow at :func:`tracking_uri` and, if given, create or select an experiment.

    :param experiment: experiment name; created with :func:`artifact_root` as its
        artifact location when it does not exist yet.
    :return: the experiment id, or ``None`` when no experiment was asked for.
    """
    import mlflow

    _create_sqlite_store_once(tracking_uri())
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    if experiment is None:
        return None
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        try:
            experiment_id = client.create_experiment(experiment, artifact_location=artifact_root())
        except Exception:
            # Another trainer created it between our look-up and create.
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise
            experiment_id = found.experiment_id
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id
