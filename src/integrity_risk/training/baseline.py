"""LightGBM on the same training set: the reference a practitioner would pick for tabular data.

Loads the splits into memory (it is a reference, not the production path);
categoricals become pandas ``category`` columns with the train split's categories, and each
day of a sequence a column of its own, so it sees what the deep model sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from integrity_risk.features.sequences import stack_column
from integrity_risk.training.data import FeatureSpec, split_path
from integrity_risk.training.holdout import binary_metrics

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "feature_fraction": 0.9,
    "verbose": -1,
    "n_jobs": 2,
    "seed": 0,
}


def _load(path: Path, spec: FeatureSpec, categories: dict[str, list[str]] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pq.read_table(path, columns=spec.features + list(spec.labels.values()))
    frame = table.drop_columns(spec.sequence_inputs).to_pandas()
    columns: dict[str, Any] = {}
    for name in spec.numeric:
        columns[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    # The same days the deep model sees, one column per sequence and day (``_d0``: the newest).
    for name in spec.sequence_inputs:
        values = stack_column(table.column(name), spec.sequence_days)
        for back in range(spec.sequence_days):
            columns[f"{name}_d{back}"] = values[:, spec.sequence_days - 1 - back].astype("float64")
    for name in spec.categorical:
        cats = categories[name] if categories else sorted(frame[name].dropna().astype(str).unique())
        columns[name] = pd.Categorical(frame[name].astype("object"), categories=cats)
    return pd.DataFrame(columns, index=frame.index), frame[list(spec.labels.values())]


def lightgbm_test_scores(
    training_set: str | Path, spec: FeatureSpec, rounds: int = 500, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One LightGBM classifier per task, early-stopped on validation: per task, the test split's
    labels (NaN where masked) and scores, in file order. A task without both classes in train is left out.
    """
    import lightgbm as lgb

    x_train, y_train = _load(split_path(training_set, "train"), spec, None)
    categories = {n: list(x_train[n].cat.categories) for n in spec.categorical}
    x_val, y_val = _load(split_path(training_set, "validation"), spec, categories)
    x_test, y_test = _load(split_path(training_set, "test"), spec, categories)
    out = {}
    for task, col in spec.labels.items():
        # Masked (NaN) labels are left out, exactly as the deep model's loss leaves them out.
        tr, va = y_train[col].notna().to_numpy(), y_val[col].notna().to_numpy()
        if y_train.loc[tr, col].nunique() < 2:
            continue
        booster = lgb.train(
            {**DEFAULT_PARAMS, "seed": seed, "metric": "average_precision"},
            lgb.Dataset(x_train[tr], label=y_train.loc[tr, col]),
            num_boost_round=rounds,
            valid_sets=[lgb.Dataset(x_val[va], label=y_val.loc[va, col])] if va.any() else None,
            callbacks=[lgb.early_stopping(30, verbose=False)] if va.any() else None,
        )
        scores = booster.predict(x_test, num_iteration=booster.best_iteration or None)
        out[task] = (y_test[col].to_numpy(dtype="float64"), np.asarray(scores))
    return out


def train_and_evaluate(training_set: str | Path, spec: FeatureSpec, rounds: int = 500) -> dict[str, float]:
    """Train one LightGBM classifier per task and score the test split.

    :param training_set: the training-set folder.
    :param spec: features and label columns (the deep model's spec).
    :param rounds: boosting rounds at most; early stopping on validation average precision.
    :return: ``baseline_test_<task>_pr_auc`` and ``baseline_test_<task>_roc_auc`` per task.
    """
    metrics: dict[str, float] = {}
    for task, (labels, scores) in lightgbm_test_scores(training_set, spec, rounds).items():
        for key, value in binary_metrics(labels, scores).items():
            metrics[f"baseline_test_{task}_{key}"] = value
    return metrics
