"""Feature attributions of a Keras model by integrated gradients (Sundararajan et al., 2017).

No attribution library is pinned in this project, and integrated gradients on a
model with named inputs is a few lines of ``tf.GradientTape``. String inputs
(categorical features) have no gradient: they are held at their actual values and
get no attribution, as is a sequence's mask (which days the account existed). A
sequence gets one attribution, summed over its days, from each day's median. The baseline is each numeric feature's median over the frame,
the usual choice for tabular data (an all-zero baseline is meaningless for raw counts).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from integrity_risk.features.sequences import MASK_COLUMN, is_sequence, stack_column


def _input_names(model) -> list[str]:
    """Names of a functional model's inputs (a dict-input model keeps its dict keys)."""
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        return list(struct.keys())
    return [t.name for t in model.inputs]


def _select_output(out, output: str | None):
    if isinstance(out, dict):
        if output is None:
            return next(iter(out.values()))
        if output not in out:
            raise ValueError(f"model has no output {output!r}; outputs: {sorted(out)}")
        return out[output]
    if isinstance(out, (list, tuple)):
        return out[0]
    return out


def integrated_gradients(
    model,
    frame: pd.DataFrame,
    *,
    output: str | None = None,
    steps: int = 32,
    max_rows: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean absolute integrated-gradients attribution per numeric input of ``model``.

    :param model: a ``keras.Model`` with one named (n, 1) input per feature, as
        ``integrity_risk.training.model.build_model`` makes.
    :param frame: rows with a column per model input.
    :param output: the output (head) to explain, e.g. the risk type; default the first.
    :param steps: Riemann steps (midpoint rule) along the path from baseline to input.
    :param max_rows: rows sampled from ``frame``, to bound the cost (rows x steps forward passes).
    :param seed: sampling seed.
    :return: ``{"features": [...], "mean_abs": [...]}`` sorted by importance, plus
        ``"completeness_gap"``: mean |sum of attributions - (f(x) - f(baseline))|, which is
        near zero when ``steps`` suffice, and ``"rows"``.
    """
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    attributions, gap = _integrated(model, frame, frame, output=output, steps=steps)
    order = sorted(attributions, key=lambda k: -np.mean(np.abs(attributions[k])))
    return {
        "features": order,
        "mean_abs": [float(np.mean(np.abs(attributions[k]))) for k in order],
        "completeness_gap": float(np.nanmean(gap)),
        "rows": int(len(frame)),
    }


def top_attributions(
    model, rows: pd.DataFrame, baseline: pd.DataFrame, *, output: str | None = None, top: int = 3, steps: int = 32
) -> list[list[dict[str, float]]]:
    """Each row's ``top`` features by absolute integrated-gradients attribution: ``[{"feature", "attribution"}]``.

    :param baseline: the population the medians (the path's start) come from, e.g. a sample of
        the day: a handful of explained rows is no baseline of its own.
    """
    if rows.empty:
        return []
    attributions, _ = _integrated(model, rows, baseline, output=output, steps=steps)
    names = list(attributions)
    matrix = np.column_stack([attributions[k] for k in names])
    out = []
    for row in matrix:
        order = [
            i for i in np.argsort(-np.abs(row))[:top] if row[i] != 0
        ]  # an input that did not move the score is no reason
        out.append([{"feature": names[i], "attribution": float(row[i])} for i in order])
    return out


def _integrated(model, frame: pd.DataFrame, baseline: pd.DataFrame, *, output: str | None, steps: int):
    """Per-row attributions ``{input: array}`` of ``frame`` from ``baseline``'s medians, and the completeness gaps."""
    import tensorflow as tf

    names = _input_names(model)
    missing = [n for n in names if n not in frame.columns or n not in baseline.columns]
    if missing:
        raise ValueError(f"frame lacks model input column(s): {missing[:10]}")
    n = len(frame)
    # The model's own input dtypes decide what is numeric, as in integrity_risk.training.scoring.
    string_inputs = {t.name for t in model.inputs if str(t.dtype) == "string"}
    numeric, fixed, medians = {}, {}, {}
    for name in names:
        col = frame[name]
        if name == MASK_COLUMN:  # which days the account existed: a fact, not a value to move along a path
            fixed[name] = stack_column(col)
        elif is_sequence(name):
            # One attribution per sequence (summed over its days), from each day's median.
            numeric[name] = stack_column(col)
            ref = stack_column(baseline[name])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a day no account had
                medians[name] = np.nan_to_num(np.nanmedian(ref, axis=0) if len(ref) else 0.0)
        elif name not in string_inputs:
            numeric[name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float32").reshape(-1, 1)
            ref = pd.to_numeric(baseline[name], errors="coerce").to_numpy(dtype="float32")
            medians[name] = np.nanmedian(ref) if np.isfinite(ref).any() else 0.0
        else:
            fixed[name] = col.astype(object).where(col.notna(), "").astype(str).to_numpy(dtype=object).reshape(-1, 1)
    if not numeric:
        raise ValueError("the model has no numeric inputs to attribute")

    # NaN means "missing" to the model; its path has no gradient, so it is held fixed (baseline = x).
    base = {
        k: np.where(np.isnan(v), v, np.broadcast_to(medians[k], v.shape)).astype("float32") for k, v in numeric.items()
    }
    alphas = ((np.arange(steps) + 0.5) / steps).astype("float32")  # midpoint rule

    def tiled(a):
        return np.tile(a, (steps, 1))

    path = {
        k: tiled(base[k]) + np.repeat(alphas, n)[:, None] * tiled(np.nan_to_num(numeric[k] - base[k])) for k in numeric
    }
    tensors = {k: tf.convert_to_tensor(v) for k, v in path.items()}
    strings = {k: tf.convert_to_tensor(_fixed_input(tiled(v))) for k, v in fixed.items()}
    with tf.GradientTape() as tape:
        tape.watch(list(tensors.values()))
        y = _select_output(model({**tensors, **strings}, training=False), output)
        total = tf.reduce_sum(y)
    grads = tape.gradient(total, tensors)
    attributions = {}
    for k, grad in grads.items():
        width = numeric[k].shape[1]
        g = np.zeros((steps * n, width), "float32") if grad is None else np.nan_to_num(grad.numpy())
        avg = g.reshape(steps, n, width).mean(axis=0)
        attributions[k] = (np.nan_to_num(numeric[k] - base[k]) * avg).sum(axis=1)

    def f(inputs):
        out = _select_output(
            model(
                {
                    **{k: tf.convert_to_tensor(v) for k, v in inputs.items()},
                    **{k: tf.convert_to_tensor(_fixed_input(v)) for k, v in fixed.items()},
                },
                training=False,
            ),
            output,
        )
        return np.asarray(out).reshape(-1)

    gap = np.abs(sum(attributions.values()) - (f(numeric) - f(base)))
    return attributions, gap


def _fixed_input(values: np.ndarray) -> np.ndarray:
    """An input held at its value: strings as strings, a sequence's mask as floats."""
    return values if values.dtype.kind == "f" else values.astype(str)


def load_keras_model(model_uri: str):
    """Load a registered model as Keras, or explain why not: ``(model, None)`` or ``(None, reason)``.

    Tries the trainer's loader (``integrity_risk.training.scoring.load_model``, the MLflow Keras flavour),
    then the TensorFlow flavour, then any ``.keras`` file among the model's artifacts.
    Never raises: the report says why attributions are absent.
    """

    def trainer_loader(uri: str):
        from integrity_risk.training.scoring import load_model

        return load_model(uri)

    def tensorflow_flavour(uri: str):
        import mlflow.tensorflow

        return mlflow.tensorflow.load_model(uri)

    errors = []
    for source, load in (
        ("integrity_risk.training.scoring", trainer_loader),
        ("mlflow.tensorflow", tensorflow_flavour),
    ):
        try:
            model = load(model_uri)
        except Exception as exc:  # any failure is reported, not raised
            errors.append(f"{source}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if hasattr(model, "inputs") and callable(model):
            return model, None
        errors.append(f"{source} loaded a {type(model).__name__}, not a Keras model")
    try:
        from pathlib import Path

        import keras
        import mlflow.artifacts

        local = Path(mlflow.artifacts.download_artifacts(model_uri))
        files = sorted(local.rglob("*.keras"))
        if files:
            return keras.saving.load_model(files[0], compile=False), None
        errors.append("no .keras file among the model's artifacts")
    except Exception as exc:
        errors.append(f"keras: {type(exc).__name__}: {str(exc)[:200]}")
    return None, "the model could not be loaded as Keras (" + "; ".join(errors) + ")"
