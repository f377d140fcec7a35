"""Logging the trained model to MLflow and registering it as the risk's candidate."""

from __future__ import annotations

from typing import Any

from integrity_risk.tracking import CANDIDATE_ALIAS


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model, given explicitly so MLflow need not infer them.

    (Inference would load the model again in a subprocess: slow, and a failure path of its own.)
    """
    import keras
    import tensorflow as tf

    return [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}", "pandas", "pyarrow"]


def log_and_register(model, registered_model: str, tags: dict[str, str]) -> dict[str, Any]:
    """Log ``model`` in the active run, register a new version with ``tags``, then alias it ``candidate``.

    Steps run in that order and each must succeed before the next: if logging or
    registering fails, the alias does not move and the exception propagates.
    The version is created with its tags in one call, so no untagged version is left.

    :param model: the trained Keras model.
    :param registered_model: registered model name, e.g. ``integrity_fraud``.
    :param tags: version tags (risk_type, training_cutoff, training_set, feature_service).
    :return: ``{"model_uri", "version", "model_name"}``.
    """
    import mlflow
    import mlflow.keras

    info = mlflow.keras.log_model(model, name="model", pip_requirements=pip_requirements())
    version = mlflow.register_model(info.model_uri, registered_model, tags=tags)
    if str(getattr(version, "status", "READY")) not in ("READY", "ModelVersionStatus.READY"):
        raise RuntimeError(f"model version {registered_model}/{version.version} is {version.status}, not READY")
    mlflow.MlflowClient().set_registered_model_alias(registered_model, CANDIDATE_ALIAS, version.version)
    return {"model_uri": info.model_uri, "version": str(version.version), "model_name": registered_model}


def load_registered(model_name: str, alias: str):
    """Load ``models:/<name>@<alias>`` as a Keras model (uncompiled), or ``None`` if the alias is not set.

    :param model_name: registered model name.
    :param alias: e.g. ``champion``.
    :return: ``(model, version)`` or ``None``.
    """
    import mlflow
    import mlflow.keras
    from mlflow.exceptions import MlflowException

    import training.model  # noqa: F401  (registers the custom layers before loading)

    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    model = mlflow.keras.load_model(f"models:/{model_name}/{version.version}", load_model_kwargs={"compile": False})
    return model, str(version.version)
