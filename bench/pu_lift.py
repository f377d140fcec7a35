"""What the positive-unlabelled loss adds where enforcement catches only part of a risk.

A synthetic training set (``integrity_local.training_data``) whose risk has a share of its
positives never labelled: they come in among the sampled accounts as 0.0 (``hide_positives``).
For each seed, the deep model with the sampled accounts as negatives (today's default) and as
unlabelled (``unlabelled: pu`` with the prior they really hold), and LightGBM on the same rows,
all judged on the test split's true labels; paired 95 % intervals resample accounts.

    python bench/pu_lift.py [--rows 20000] [--hidden 0.5] [--seeds 0,1,2] [--fpr 0.01]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RISK = "abusive_account"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--hidden", type=float, default=0.5, help="share of the positives never labelled")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fpr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()

    import pandas as pd

    from integrity_local.training_data import TASKS, hide_positives, make_frame, write_training_set
    from integrity_risk.config.model import resolve_config
    from integrity_risk.evaluation import metrics as m
    from integrity_risk.training import data
    from integrity_risk.training.baseline import lightgbm_test_scores

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' own folder
    from sequence_lift import deep_scores, report

    section = {
        "tasks": list(TASKS),
        "hidden_units": [64, 32],
        "learning_rate": 0.003,
        "batch_size": 256,
        "epochs": args.epochs,
        "patience": 3,
        "shuffle_buffer": 20_000,
    }
    frame, truth = hide_positives(make_frame(args.rows, seed=5), RISK, hidden=args.hidden, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_training_set(Path(tmp) / RISK / "2026-11-01", frame.assign(_truth=truth))
        test = pd.read_parquet(folder / "test.parquet")
        train = pd.read_parquet(folder / "train.parquet")
        # The prior the PU loss needs: the share of positives among the sampled accounts of train.
        prior = float(train.loc[train["unlabelled"] == 1.0, "_truth"].mean())
        y_all = test["_truth"].to_numpy(dtype="float64")
        known = np.isfinite(y_all)
        y, groups = y_all[known], m.group_codes(test["account_pk"].to_numpy()[known])
        print(
            f"{args.rows} rows; {RISK}: {args.hidden:.0%} of the positives unlabelled among the sampled accounts "
            f"(prior {prior:.3f}); test: {int(known.sum())} rows, {int(y.sum())} true positives, of which "
            f"{int(((test['label_' + RISK] == 0) & (test['_truth'] == 1)).sum())} unlabelled; "
            f"{args.n_bootstrap} paired resamples of accounts, 95% intervals"
        )
        negative_cfg = resolve_config(section, RISK)
        pu_cfg = resolve_config({**section, "unlabelled": "pu", "pu_prior": prior}, RISK)
        schemas = data.check_training_set(folder, negative_cfg["tasks"], unlabelled=True)
        manifest = data.read_manifest(folder)
        sample = data.read_sample(folder / "train.parquet", manifest["features"], 20_000)
        spec = data.infer_feature_spec(schemas["train"], manifest, negative_cfg["tasks"], sample)
        common = dict(target_fpr=args.fpr, n_bootstrap=args.n_bootstrap, groups=groups, level=0.95)
        for seed in (int(s) for s in args.seeds.split(",")):
            scores = {
                "deep pu": deep_scores(folder, dataclasses.replace(spec, pu_task=RISK), pu_cfg, RISK, seed)[known],
                "deep neg": deep_scores(folder, spec, negative_cfg, RISK, seed)[known],
                "lightgbm": lightgbm_test_scores(folder, spec, seed=seed)[RISK][1][known],
            }
            print(f"seed {seed}")
            report(y, scores, (("deep pu", "deep neg"), ("deep pu", "lightgbm")), seed, common)


if __name__ == "__main__":
    main()
