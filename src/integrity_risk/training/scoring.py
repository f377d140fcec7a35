"""Scoring with a registered model: raw features in, one ``score_<risk>`` column per head out.

``models:/integrity_<risk>@candidate`` (or ``@champion``) is resolved to its version
on every call, so a moved alias is followed; loaded versions are cached.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import pandas as pd

from integrity_risk.features.sequences import MASK_COLUMN, SEQUENCE_PREFIX, SequenceSpec, attach_sequences, is_sequence
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
        raw values as in the training set; other columns are ignored. A sequence column may
        hold more days than the model reads: it gets the newest.
    :param batch_size: rows per prediction batch.
    :return: a frame with ``score_<risk>`` per head, on ``features``' index, in its row order.
    """
    import tensorflow as tf

    model = load_model(model_uri)
    sequence = [t.name for t in model.inputs if is_sequence(t.name)]
    days = max((int(t.shape[-1]) for t in model.inputs if is_sequence(t.name)), default=0)
    numeric = [t.name for t in model.inputs if t.dtype != "string" and not is_sequence(t.name)]
    categorical = [t.name for t in model.inputs if t.dtype == "string"]
    heads = list(model.output_names)
    if len(features) == 0:
        return pd.DataFrame({f"score_{h}": pd.Series(dtype="float64") for h in heads}, index=features.index)
    outputs: dict[str, list[np.ndarray]] = {h: [] for h in heads}
    for start in range(0, len(features), batch_size):
        inputs = frame_to_inputs(features.iloc[start : start + batch_size], numeric, categorical, sequence, days)
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


def sequence_spec(model_uri: str) -> SequenceSpec | None:
    """The sequences the model behind ``model_uri`` reads (from its inputs' names and shapes); None: none.

    What a model was trained on is in the model itself, so a champion trained with other
    sequence settings than the risk YAML's now is still scored on its own.
    """
    model = load_model(model_uri)
    inputs = [t for t in model.inputs if is_sequence(t.name) and t.name != MASK_COLUMN]
    if not inputs:
        return None
    parsed = [t.name[len(SEQUENCE_PREFIX) :].split("__", 1) for t in inputs]
    tables = {table for table, _ in parsed}
    if len(tables) != 1:
        raise ValueError(f"{model_uri}: sequence inputs of several tables {sorted(tables)}")
    return SequenceSpec(int(inputs[0].shape[-1]), tuple(column for _, column in parsed), tables.pop())


def with_sequences(
    model_uri: str, features: pd.DataFrame, profile: str | None = None, hive_conn_id: str = "hiveserver2_default"
) -> pd.DataFrame:
    """``features`` with the sequences the model reads, when it reads some the frame lacks.

    A population's frame (``integrity_risk.evaluation.drift.day_features``) holds one day's
    features; the sequences come from the daily table's partitions up to each row's
    ``feature_ts`` (a training set's rows have theirs, as of their ``event_timestamp``). Only
    the frame's range of accounts is read.
    """
    spec = sequence_spec(model_uri)
    if spec is None or all(name in features.columns for name in spec.names) or features.empty:
        return features
    from integrity_risk.features.training_set import AccountRange, read_extract_arrow

    as_of = "event_timestamp" if "event_timestamp" in features.columns else "feature_ts"
    accounts = features["account_pk"].astype(str)
    # Hex digests: appending a digit gives the smallest string above the largest account.
    span = AccountRange(accounts.min(), accounts.max() + "0")
    return attach_sequences(
        features,
        spec,
        lambda table, days, columns: read_extract_arrow(table, days, columns, profile, hive_conn_id, span),
        as_of=as_of,
    )
