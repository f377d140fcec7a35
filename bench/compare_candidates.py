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


def lightgbm_scores(folder: Path, risk: str) -> np.ndarray:
    """LightGBM on the train split, early-stopped on validation (the trainer's baseline): its
    scores of every test row, in file order. It sees what the deep model sees: the flat
    features, and each day of the sequences as a column of its own.
    """
    from integrity_risk.features.sequences import SequenceSpec
    from integrity_risk.training import data
    from integrity_risk.training.baseline import lightgbm_test_scores

    manifest = data.read_manifest(folder)
    sequence = SequenceSpec.from_dict(manifest.get("sequence"))
    schemas = data.check_training_set(folder, [risk])
    names = manifest["features"] + (sequence.names if sequence else [])
    sample = data.read_sample(folder / "train.parquet", names, 100_000)
    spec = data.infer_feature_spec(schemas["train"], manifest, [risk], sample)
    return lightgbm_test_scores(folder, spec)[risk][1]


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

    label = f"label_{args.risk}"
    test = pd.read_parquet(args.training_set / "test.parquet")
    labelled = test[label].notna().to_numpy()
    test = test[labelled].reset_index(drop=True)
    y = test[label].to_numpy(dtype=float)
    accounts = m.group_codes(test["account_pk"])
    scores = {
        "a": score_model(args.a, test, args.risk),
        "b": score_model(args.b, test, args.risk),
        "lightgbm": lightgbm_scores(args.training_set, args.risk)[labelled],
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
