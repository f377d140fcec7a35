"""Scoring with a registered model: raw features in, one ``score_<risk>`` column per head out.

``models:/integrity_<risk>@candidate`` (or ``@champion``) is resolved to its version
on every call, so a moved alias is followed; loaded versions are cached.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import pandas as pd

from integrity_risk.training.data import frame_to_inputs

_LOCK = threading.Lock()


def resolve(model_uri: str) -> str:
    """``models:/name@alias`` to ``models:/name/<version>``; other URIs unchanged.

    :param model_uri: an MLflow model URI.
    """
    if model_uri.startswith("models:/") and "@" in model_uri:
        import mlflow

        name, alias = model_uri[len("models:/") :].split("@", 1)
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
        return f"models:/{name}/{version.version}"
    return model_uri


@lru_cache(maxsize=8)
def _load(resolved_uri: str, tracking_uri: str):
    # tracking_uri is part of the cache key: the same "models:/name/1" differs between registries.
    import mlflow.keras

    import integrity_risk.training.model  # noqa: F401  (registers the custom layers before loading)

    return mlflow.keras.load_model(resolved_uri, load_model_kwargs={"compile": False})


def load_model(model_uri: str):
    """The Keras model behind ``model_uri``, loaded once per version.

    :param model_uri: ``models:/name@alias``, ``models:/name/version`` or ``runs:/...``.
    """
    from integrity_risk.tracking import configure, tracking_uri

    configure()
    with _LOCK:
        return _load(resolve(model_uri), tracking_uri())


def score(model_uri: str, features: pd.DataFrame, batch_size: int = 65_536) -> pd.DataFrame:
    """Score rows of raw features with a registered model.

    :param model_uri: e.g. ``models:/integrity_fraud@candidate``.
    :param features: one row per example with (at least) the model's input columns,
        raw values as in the training set; other columns are ignored.
    :param batch_size: rows per prediction batch.
    :return: a frame with ``score_<risk>`` per head, on ``features``' index, in its row order.
    """
    import tensorflow as tf

    model = load_model(model_uri)
    numeric = [t.name for t in model.inputs if t.dtype != "string"]
    categorical = [t.name for t in model.inputs if t.dtype == "string"]
    heads = list(model.output_names)
    if len(features) == 0:
        return pd.DataFrame({f"score_{h}": pd.Series(dtype="float64") for h in heads}, index=features.index)
    outputs: dict[str, list[np.ndarray]] = {h: [] for h in heads}
    for start in range(0, len(features), batch_size):
        inputs = frame_to_inputs(features.iloc[start : start + batch_size], numeric, categorical)
        # Tensors, not a tf.data pipeline of the arrays: slicing an object array of strings
        # element by element made scoring ten times slower than the model itself.
        tensors = {k: tf.constant(v.astype(str) if v.dtype == object else v) for k, v in inputs.items()}
        predictions = model.predict_on_batch(tensors)
        if not isinstance(predictions, dict):
            predictions = dict(
                zip(heads, predictions if isinstance(predictions, list) else [predictions], strict=False)
            )
        for h in heads:
            outputs[h].append(np.asarray(predictions[h], dtype="float64").reshape(-1))
    return pd.DataFrame({f"score_{h}": np.concatenate(outputs[h]) for h in heads}, index=features.index)
