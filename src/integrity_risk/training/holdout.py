"""Held-out metrics computed the same way for the deep model and the baseline."""

from __future__ import annotations

import numpy as np


def binary_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """PR-AUC (average precision), ROC-AUC and prevalence over the labelled rows only.

    :param labels: 1.0, 0.0 or NaN (unlabelled: left out).
    :param scores: the model's probabilities, same length.
    :return: ``pr_auc``, ``roc_auc``, ``prevalence``, ``labelled``; AUCs are NaN when only one class is present.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels, dtype="float64")
    scores = np.asarray(scores, dtype="float64")
    keep = np.isfinite(labels)
    y, s = labels[keep], scores[keep]
    out = {"labelled": float(keep.sum()), "prevalence": float(y.mean()) if y.size else float("nan")}
    if y.size and 0 < y.sum() < y.size:
        out["pr_auc"] = float(average_precision_score(y, s))
        out["roc_auc"] = float(roc_auc_score(y, s))
    else:
        out["pr_auc"] = out["roc_auc"] = float("nan")
    return out
