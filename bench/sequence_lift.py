"""What the daily sequences add: the deep model with and without them, and LightGBM with and without them.

On one training set that has sequences (the risk YAML's ``training_set.sequence``), for each
seed: the deep model of the risk YAML's ``model:`` section trained on every input, and on the
flat features only (the same model without its temporal encoder); LightGBM on the flat
features, and on them plus one column per sequence and day. All score the same test rows;
the intervals resample accounts, paired (both models on the same resample), 95 %.

    python bench/sequence_lift.py --training-set .local/storage/training_sets/fraud/2026-11-28 \\
        --risk fraud --seeds 0,1,2 [--fpr 0.01] [--n-bootstrap 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fit_model(folder: Path, spec, cfg: dict, risk: str, seed: int, warm_from=None, adapt_from: Path | None = None):
    """The deep model trained on ``folder``'s train split, early-stopped on ``risk``'s validation
    PR-AUC; ``warm_from``: a trained model whose shared tower it starts from (transfer);
    ``adapt_from``: the parquet file whose rows give the normalization statistics (default the train split).
    """
    import keras

    from integrity_risk.training import data
    from integrity_risk.training.model import build_model, warm_start_from
    from integrity_risk.training.train import make_callbacks

    keras.utils.set_random_seed(seed)
    sample = data.read_sample(adapt_from or folder / "train.parquet", spec.features, cfg["adapt_rows"])
    model = build_model(cfg, spec, sample)
    if warm_from is not None:
        warm_start_from(model, warm_from)
    batch = cfg["batch_size"]
    model.fit(
        data.parquet_dataset(folder / "train.parquet", spec, batch, shuffle_buffer=cfg["shuffle_buffer"], seed=seed),
        validation_data=data.parquet_dataset(folder / "validation.parquet", spec, batch, shuffle=False),
        epochs=cfg["epochs"],
        verbose=0,
        callbacks=make_callbacks(cfg, risk, cfg["epochs"]),
    )
    return model


def scores_of_test_split(model, folder: Path, spec, risk: str, batch: int = 1024) -> np.ndarray:
    """``model``'s ``risk`` scores of ``folder``'s test split, in file order."""
    from integrity_risk.training import data

    out = model.predict(
        data.parquet_dataset(folder / "test.parquet", spec, batch, shuffle=False, with_labels=False), verbose=0
    )
    return np.asarray(out[risk], dtype="float64").reshape(-1)


def deep_scores(folder: Path, spec, cfg: dict, risk: str, seed: int) -> np.ndarray:
    """The deep model trained on ``folder``'s train split (early-stopped on validation): its test scores."""
    return scores_of_test_split(fit_model(folder, spec, cfg, risk, seed), folder, spec, risk, cfg["batch_size"])


def report(y: np.ndarray, scores: dict[str, np.ndarray], pairs, seed: int, common: dict) -> None:
    """Each scorer's PR-AUC and recall at the operating FPR, then each pair's paired change, with intervals.

    :param pairs: ``(new, old)`` names of ``scores`` to compare.
    :param common: ``bootstrap_metrics``' keyword arguments (``target_fpr``, ``groups``, ...).
    """
    from integrity_risk.evaluation import metrics as m

    fpr = common["target_fpr"]
    for name, s in scores.items():
        ci = m.bootstrap_metrics(y, s, seed=seed, **common)
        print(
            f"  {name:10s} PR-AUC {m.pr_auc(y, s):.3f} [{ci['candidate_pr_auc'][0]:.3f}, "
            f"{ci['candidate_pr_auc'][1]:.3f}]  recall at FPR {fpr} "
            f"{m.operating_point(y, s, fpr).recall:.3f} [{ci['candidate_recall_at_fpr'][0]:.3f}, "
            f"{ci['candidate_recall_at_fpr'][1]:.3f}]"
        )
    for new, old in pairs:
        ci = m.bootstrap_metrics(y, scores[new], scores[old], seed=seed, **common)
        delta = m.pr_auc(y, scores[new]) - m.pr_auc(y, scores[old])
        recall = m.operating_point(y, scores[new], fpr).recall - m.operating_point(y, scores[old], fpr).recall
        print(
            f"  {new} - {old}: PR-AUC {delta:+.3f} paired [{ci['pr_auc_delta'][0]:+.3f}, {ci['pr_auc_delta'][1]:+.3f}]"
            f"  recall {recall:+.3f} paired [{ci['recall_at_fpr_delta'][0]:+.3f}, {ci['recall_at_fpr_delta'][1]:+.3f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-set", type=Path, required=True)
    parser.add_argument("--risk", default="fraud")
    parser.add_argument(
        "--config", type=Path, help="risk YAML of the model section (default include/risks/<risk>.yaml)"
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fpr", type=float, default=0.01)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from integrity_risk.config.model import load_model_config
    from integrity_risk.evaluation import metrics as m
    from integrity_risk.features.sequences import SequenceSpec
    from integrity_risk.training import data
    from integrity_risk.training.baseline import lightgbm_test_scores

    folder = args.training_set
    cfg = load_model_config(args.config or Path("include/risks") / f"{args.risk}.yaml", args.risk)
    manifest = data.read_manifest(folder)
    sequence = SequenceSpec.from_dict(manifest.get("sequence"))
    if sequence is None:
        raise SystemExit(f"{folder}: the training set has no sequences (manifest 'sequence' is null)")
    schemas = data.check_training_set(folder, cfg["tasks"])
    sample = data.read_sample(folder / "train.parquet", manifest["features"] + sequence.names, cfg["adapt_rows"])
    full = data.infer_feature_spec(schemas["train"], manifest, cfg["tasks"], sample, cfg.get("log_features"))
    flat = dataclasses.replace(full, sequence=[], sequence_log=[], sequence_days=0)

    label = data.read_labels(folder / "test.parquet", full)[f"label_{args.risk}"].to_numpy(dtype="float64")
    accounts = data.pq.read_table(folder / "test.parquet", columns=["account_pk"]).column(0).to_numpy()
    labelled = np.isfinite(label)
    y, groups = label[labelled], m.group_codes(accounts[labelled])
    print(
        f"{folder}: {int(labelled.sum())} labelled test rows of {args.risk}, {int(y.sum())} positive, "
        f"{int(groups.max()) + 1} accounts; sequences {len(sequence.columns)} columns x {sequence.days} days; "
        f"{args.n_bootstrap} paired resamples of accounts, 95% intervals"
    )
    common = dict(target_fpr=args.fpr, n_bootstrap=args.n_bootstrap, groups=groups, level=0.95)
    for seed in (int(s) for s in args.seeds.split(",")):
        scores = {
            "deep+seq": deep_scores(folder, full, cfg, args.risk, seed)[labelled],
            "deep flat": deep_scores(folder, flat, cfg, args.risk, seed)[labelled],
            "lgbm+days": lightgbm_test_scores(folder, full, seed=seed)[args.risk][1][labelled],
            "lgbm flat": lightgbm_test_scores(folder, flat, seed=seed)[args.risk][1][labelled],
        }
        print(f"seed {seed}")
        report(
            y, scores, (("deep+seq", "deep flat"), ("deep+seq", "lgbm+days"), ("lgbm+days", "lgbm flat")), seed, common
        )


if __name__ == "__main__":
    main()
