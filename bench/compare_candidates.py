"""Two registered models and LightGBM on one test split, with paired bootstrap intervals.

A model change is claimed only this way: both models (from the same or from two MLflow
registries) score the same rows, the intervals resample the same accounts for both, and
LightGBM, trained on the same training set's train and validation splits, stands beside
them. Prints PR-AUC and recall at the operating FPR of each, and the paired change.

    python bench/compare_candidates.py --training-set .local/storage/training_sets/fraud/2026-11-28 \\
        --a sqlite:////tmp/before/.local/mlflow/mlflow.db=models:/integrity_fraud/1 \\
        --b sqlite:///$PWD/.local/mlflow/mlflow.db=models:/integrity_fraud/1 --risk fraud --fpr 0.01
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from integrity_risk.evaluation import metrics as m

if TYPE_CHECKING:
    import numpy as np


def score_model(spec: str, frame: pd.DataFrame, risk: str) -> np.ndarray:
    """``TRACKING_URI=MODEL_URI``: the model's ``score_<risk>`` on ``frame``."""
    from integrity_risk.training.scoring import score

    tracking, _, model_uri = spec.partition("=")
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    return score(model_uri, frame)[f"score_{risk}"].to_numpy(dtype=float)


def lightgbm_scores(folder: Path, features: list[str], label: str, test: pd.DataFrame) -> np.ndarray:
    """LightGBM on the train split, early-stopped on validation: numeric columns as floats, text as categories."""
    import lightgbm as lgb

    def x(frame: pd.DataFrame, categories: dict | None = None) -> pd.DataFrame:
        out = pd.DataFrame(index=frame.index)
        for name in features:
            if frame[name].dtype == object:
                cats = categories[name] if categories else sorted(frame[name].dropna().astype(str).unique())
                out[name] = pd.Categorical(frame[name], categories=cats)
            else:
                out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        return out

    train, val = (pd.read_parquet(folder / f"{s}.parquet") for s in ("train", "validation"))
    train, val = train[train[label].notna()], val[val[label].notna()]
    x_train = x(train)
    cats = {n: list(x_train[n].cat.categories) for n in features if isinstance(x_train[n].dtype, pd.CategoricalDtype)}
    booster = lgb.train(
        {
            "objective": "binary",
            "learning_rate": 0.05,
            "num_leaves": 31,
            "verbose": -1,
            "n_jobs": 2,
            "seed": 0,
            "metric": "average_precision",
        },
        lgb.Dataset(x_train, label=train[label]),
        num_boost_round=500,
        valid_sets=[lgb.Dataset(x(val, cats), label=val[label])],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    return booster.predict(x(test, cats), num_iteration=booster.best_iteration or None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-set", type=Path, required=True)
    parser.add_argument("--a", required=True, help="TRACKING_URI=MODEL_URI of the reference model")
    parser.add_argument("--b", required=True, help="TRACKING_URI=MODEL_URI of the changed model")
    parser.add_argument("--risk", default="fraud")
    parser.add_argument("--fpr", type=float, default=0.01)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    manifest = json.loads((args.training_set / "manifest.json").read_text())
    label = f"label_{args.risk}"
    test = pd.read_parquet(args.training_set / "test.parquet")
    test = test[test[label].notna()].reset_index(drop=True)
    y = test[label].to_numpy(dtype=float)
    accounts = m.group_codes(test["account_pk"])
    scores = {
        "a": score_model(args.a, test, args.risk),
        "b": score_model(args.b, test, args.risk),
        "lightgbm": lightgbm_scores(args.training_set, manifest["features"], label, test),
    }
    print(
        f"{args.training_set}: {len(y)} labelled test rows, {int(y.sum())} positive, "
        f"{int(accounts.max()) + 1} accounts; {args.n_bootstrap} resamples of accounts, 90% intervals"
    )
    common = dict(target_fpr=args.fpr, n_bootstrap=args.n_bootstrap, seed=args.seed, groups=accounts)
    for name, s in scores.items():
        ci = m.bootstrap_metrics(y, s, **common)
        print(
            f"  {name:9s} PR-AUC {m.pr_auc(y, s):.3f} [{ci['candidate_pr_auc'][0]:.3f}, {ci['candidate_pr_auc'][1]:.3f}]"
            f"  recall at FPR {args.fpr} {m.operating_point(y, s, args.fpr).recall:.3f} "
            f"[{ci['candidate_recall_at_fpr'][0]:.3f}, {ci['candidate_recall_at_fpr'][1]:.3f}]"
        )
    for new, old in (("b", "a"), ("b", "lightgbm"), ("a", "lightgbm")):
        ci = m.bootstrap_metrics(y, scores[new], scores[old], **common)["pr_auc_delta"]
        delta = m.pr_auc(y, scores[new]) - m.pr_auc(y, scores[old])
        print(f"  PR-AUC {new} - {old}: {delta:+.3f} paired [{ci[0]:+.3f}, {ci[1]:+.3f}]")


if __name__ == "__main__":
    main()
