"""Logging the trained model to MLflow and registering it as the risk's candidate."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from integrity_risk.tracking import CANDIDATE_ALIAS

if TYPE_CHECKING:
    from collections.abc import Mapping

AIRFLOW_TASK_TAG = "airflow_task_instance"
AIRFLOW_TRY_TAG = "airflow_try_number"
# Set by TFTrainOperator for the trainer it starts (src/integrity_risk/operators/tf_train.py).
TASK_INSTANCE_ENV = "INTEGRITY_TASK_INSTANCE"
TRY_NUMBER_ENV = "INTEGRITY_TRY_NUMBER"
#: Set once ``candidate`` has pointed at a version: such a version was a finished try's
#: model (a rejected candidate, say), never an orphan, even when a re-run of the same
#: task instance has moved the alias on.
WAS_CANDIDATE_TAG = "was_candidate"

log = logging.getLogger(__name__)


class RegistryUnavailable(RuntimeError):
    """The MLflow tracking store was locked or unreachable; the message names its URI."""


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model, given explicitly so MLflow need not infer them.

    (Inference would load the model again in a subprocess: slow, and a failure path of its own.)
    """
    import keras
    import tensorflow as tf

    return [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}", "pandas", "pyarrow"]


def airflow_attempt_tags(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Version tags naming the Airflow task instance (``dag/task/run``) and try that registers it.

    Read from ``INTEGRITY_TASK_INSTANCE`` and ``INTEGRITY_TRY_NUMBER``, which ``TFTrainOperator``
    sets from its task context for the trainer. Empty outside a task run.
    """
    env = os.environ if environ is None else environ
    if not env.get(TASK_INSTANCE_ENV):
        return {}
    tags = {AIRFLOW_TASK_TAG: env[TASK_INSTANCE_ENV]}
    if env.get(TRY_NUMBER_ENV):
        tags[AIRFLOW_TRY_TAG] = env[TRY_NUMBER_ENV]
    return tags


def log_and_register(model, registered_model: str, tags: dict[str, str]) -> dict[str, Any]:
    """Log ``model`` in the active run, register a new version with ``tags``, then alias it ``candidate``.

    Steps run in that order and each must succeed before the next: if logging or
    registering fails, the alias does not move and the exception propagates.
    The version is created with its tags in one call, so no untagged version is left.

    A try killed after registering but before moving the alias leaves a complete version
    that nothing points at. So each version is also tagged with the Airflow task instance
    and try that made it (:func:`airflow_attempt_tags`), and once ``candidate`` has moved,
    the versions of the same task instance that hold no alias and never held ``candidate``
    (left by earlier, killed tries; a re-run of a day keeps its earlier candidates) are
    deleted, and their runs, still RUNNING since their process died, marked KILLED: a
    retried task ends with the versions a clean run leaves. Deleted rather than reused
    because the retry trained a model of its own, which its run's metrics describe.
    Versions of other task instances, and versions holding any alias, are never touched.

    :param model: the trained Keras model.
    :param registered_model: registered model name, e.g. ``integrity_fraud``.
    :param tags: version tags (risk_type, training_cutoff, training_set, feature_service).
    :return: ``{"model_uri", "version", "model_name"}``.
    :raises RegistryUnavailable: the tracking store is locked or unreachable (chained from
        MLflow's error); the message says whether ``candidate`` moved.
    """
    import mlflow
    import mlflow.keras

    attempt = airflow_attempt_tags()
    moved = None
    try:
        info = mlflow.keras.log_model(model, name="model", pip_requirements=pip_requirements())
        version = mlflow.register_model(info.model_uri, registered_model, tags={**tags, **attempt})
        if str(getattr(version, "status", "READY")) not in ("READY", "ModelVersionStatus.READY"):
            raise RuntimeError(f"model version {registered_model}/{version.version} is {version.status}, not READY")
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(registered_model, CANDIDATE_ALIAS, version.version)
        moved = str(version.version)
        client.set_model_version_tag(registered_model, moved, WAS_CANDIDATE_TAG, "true")
        if attempt:
            _delete_orphans(client, registered_model, attempt[AIRFLOW_TASK_TAG], keep=moved)
    except Exception as err:
        if not _store_unavailable(err):
            raise
        state = f"{CANDIDATE_ALIAS} moved to version {moved}" if moved else f"{CANDIDATE_ALIAS} did not move"
        raise RegistryUnavailable(
            f"MLflow tracking store at {_display_uri(mlflow.get_tracking_uri())} is locked or unreachable "
            f"while registering {registered_model} ({state}): {str(err).splitlines()[0]}"
        ) from err
    return {"model_uri": info.model_uri, "version": moved, "model_name": registered_model}


def _delete_orphans(client, registered_model: str, task_instance: str, keep: str) -> None:
    """Delete the versions ``task_instance`` registered besides ``keep`` that hold no alias."""
    import mlflow

    held = {str(v) for v in client.get_registered_model(registered_model).aliases.values()}
    active = mlflow.active_run()
    for version in client.search_model_versions(f"name = '{registered_model}'"):
        number = str(version.version)
        if (
            number == keep
            or number in held
            or version.tags.get(AIRFLOW_TASK_TAG) != task_instance
            or version.tags.get(WAS_CANDIDATE_TAG)
        ):
            continue
        if version.run_id and (active is None or version.run_id != active.info.run_id):
            if client.get_run(version.run_id).info.status == "RUNNING":
                client.set_terminated(version.run_id, status="KILLED")
        client.delete_model_version(registered_model, number)
        log.warning(
            "deleted %s version %s: left by try %s of %s, which registered it but never moved %s",
            registered_model,
            number,
            version.tags.get(AIRFLOW_TRY_TAG) or "?",
            task_instance,
            CANDIDATE_ALIAS,
        )


def _store_unavailable(err: BaseException | None) -> bool:
    """Whether ``err`` (or what it was raised from) says the store could not be reached or was locked."""
    import requests
    from sqlalchemy.exc import OperationalError

    unreachable = (OperationalError, requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, unreachable):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _display_uri(uri: str) -> str:
    """``uri`` without its password, for messages and logs."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def load_registered(model_name: str, alias: str):
    """Load ``models:/<name>@<alias>`` as a Keras model (uncompiled), or ``None`` if the alias is not set.

    :param model_name: registered model name.
    :param alias: e.g. ``champion``.
    :return: ``(model, version)`` or ``None``.
    """
    import mlflow
    import mlflow.keras
    from mlflow.exceptions import MlflowException

    import integrity_risk.training.model  # noqa: F401  (registers the custom layers before loading)

    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    model = mlflow.keras.load_model(f"models:/{model_name}/{version.version}", load_model_kwargs={"compile": False})
    return model, str(version.version)
