"""A new risk with few labels: transfer from another risk's tower or a self-supervised one, against scratch and LightGBM.

The ramp-up curve of #20: for each number of labels of the new risk (25, 50, 100, 200, 400
by default, drawn from the training split; the validation split keeps a quarter as many), the
test PR-AUC of
- transfer: the new risk's model starting from the shared tower (temporal encoder included)
  of a model trained on the source risk's labels of the same set;
- pretrained: starting from a tower pretrained without labels on every row of the set
  (masked-feature reconstruction, ``integrity_risk.training.model.build_pretrain_model``);
- scratch: the same model from random weights;
- LightGBM on the same labels.
Each is run for every seed (the labels drawn and the weights); the table gives the mean and the
range over the seeds, and the paired 95 % intervals of transfer - scratch and pretrained - scratch (resampling accounts)
at seed 0. The default set is the tests' synthetic one (``integrity_local.training_data``,
with daily sequences), whose two risks share part of their signal (young accounts): a curve of
the method on a known world, not the generator's sixth risk type.

    python bench/transfer_rampup.py [--rows 20000] [--labels 25,50,100,200,400] [--seeds 0,1,2]
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

SOURCE, NEW = "abusive_account", "fake_engagement"


def few_labels(folder: Path, out: Path, task: str, n: int, seed: int) -> Path:
    """A copy of the training set with only ``n`` labelled train rows of ``task`` (a quarter as many
    validation rows, at least 10), drawn at random with at least one positive; test untouched.
    """
    import shutil

    import pandas as pd

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for split, keep in (("train", n), ("validation", max(n // 4, 10))):
        frame = pd.read_parquet(folder / f"{split}.parquet")
        label = f"label_{task}"
        labelled = np.flatnonzero(frame[label].notna().to_numpy())
        positives = labelled[frame[label].to_numpy()[labelled] == 1.0]
        chosen = set(rng.choice(labelled, size=min(keep, len(labelled)), replace=False).tolist())
        if positives.size and not chosen & set(positives.tolist()):
            chosen.pop()
            chosen.add(int(rng.choice(positives)))
        # The other rows would only be masked for the new risk's one head: left out.
        frame.iloc[sorted(chosen)].to_parquet(out / f"{split}.parquet", index=False)
    shutil.copy(folder / "test.parquet", out / "test.parquet")
    shutil.copy(folder / "manifest.json", out / "manifest.json")
    return out


def pretrain(folder: Path, spec, cfg: dict, seed: int, epochs: int = 10):
    """The tower pretrained on every row of ``folder``'s train split, labels unread (masked features)."""
    import dataclasses as dc

    import keras

    from integrity_risk.training import data
    from integrity_risk.training.model import build_pretrain_model

    keras.utils.set_random_seed(seed)
    unlabelled = dc.replace(spec, labels={})
    sample = data.read_sample(folder / "train.parquet", unlabelled.features, cfg["adapt_rows"])
    model = build_pretrain_model(cfg, unlabelled, sample, seed=seed)
    stream = data.parquet_dataset(folder / "train.parquet", unlabelled, 256, with_labels=False, seed=seed)
    model.fit(stream, epochs=epochs, verbose=0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--labels", default="25,50,100,200,400")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()

    import pandas as pd

    from integrity_local.training_data import add_sequences, make_frame, write_training_set
    from integrity_risk.config.model import resolve_config
    from integrity_risk.evaluation import metrics as m
    from integrity_risk.features.sequences import SequenceSpec
    from integrity_risk.training import data
    from integrity_risk.training.baseline import lightgbm_test_scores

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' own folder
    from sequence_lift import fit_model, scores_of_test_split

    section = {
        "hidden_units": [64, 32],
        "learning_rate": 0.003,
        "batch_size": 128,
        "epochs": args.epochs,
        "patience": 5,
        "shuffle_buffer": 20_000,
    }
    with tempfile.TemporaryDirectory() as tmp:
        # The two risks share part of their signal (young accounts); the days carry none of it.
        frame = add_sequences(make_frame(args.rows, seed=6, masked={SOURCE: 0.1, NEW: 0.0}), 14, seed=6, task=None)
        folder = write_training_set(Path(tmp) / "set", frame, sequence_days=14)
        manifest = data.read_manifest(folder)
        names = manifest["features"] + SequenceSpec.from_dict(manifest["sequence"]).names
        schemas = data.check_training_set(folder, [SOURCE, NEW])
        sample = data.read_sample(folder / "train.parquet", names, 20_000)
        spec = data.infer_feature_spec(schemas["train"], manifest, [SOURCE, NEW], sample)
        source_spec = dataclasses.replace(spec, labels={SOURCE: spec.labels[SOURCE]})
        new_spec = dataclasses.replace(spec, labels={NEW: spec.labels[NEW]})
        test = pd.read_parquet(folder / "test.parquet", columns=["account_pk", f"label_{NEW}"])
        y = test[f"label_{NEW}"].to_numpy(dtype="float64")
        groups = m.group_codes(test["account_pk"].to_numpy())
        print(
            f"{args.rows} rows; source {SOURCE}: {int((frame[f'label_{SOURCE}'] == 1).sum())} positives; "
            f"new {NEW}: test {len(y)} rows, {int(y.sum())} positives (prevalence {y.mean():.3f})"
        )
        sizes = [int(n) for n in args.labels.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        towers = {
            seed: fit_model(folder, source_spec, resolve_config({**section, "tasks": [SOURCE]}, SOURCE), SOURCE, seed)
            for seed in seeds
        }
        pretrained = {
            seed: pretrain(folder, spec, resolve_config({**section, "tasks": [NEW]}, NEW), seed) for seed in seeds
        }
        arms = ("transfer", "pretrained", "scratch", "lightgbm")
        print(
            f"{'labels':>6}  "
            + "  ".join(f"{arm:>22}" for arm in arms)
            + f"  transfer - scratch, pretrained - scratch (seed {seeds[0]})"
        )
        for n in sizes:
            # Batches of a quarter of the labels at most: four steps an epoch even at 25 labels.
            new_cfg = resolve_config({**section, "tasks": [NEW], "batch_size": max(8, min(128, n // 4))}, NEW)
            results: dict[str, list[float]] = {arm: [] for arm in arms}
            paired = ""
            for seed in seeds:
                few = few_labels(folder, Path(tmp) / f"few_{n}_{seed}", NEW, n, seed)
                # Both normalize with the whole train split's statistics: the features of every
                # account are known without a label.
                whole = folder / "train.parquet"
                transfer = fit_model(few, new_spec, new_cfg, NEW, seed, warm_from=towers[seed], adapt_from=whole)
                selfsup = fit_model(few, new_spec, new_cfg, NEW, seed, warm_from=pretrained[seed], adapt_from=whole)
                scratch = fit_model(few, new_spec, new_cfg, NEW, seed, adapt_from=whole)
                scores = {
                    "transfer": scores_of_test_split(transfer, few, new_spec, NEW),
                    "pretrained": scores_of_test_split(selfsup, few, new_spec, NEW),
                    "scratch": scores_of_test_split(scratch, few, new_spec, NEW),
                    "lightgbm": lightgbm_test_scores(few, new_spec, seed=seed)[NEW][1],
                }
                for name, s in scores.items():
                    results[name].append(m.pr_auc(y, s))
                if seed == seeds[0]:
                    deltas = []
                    for arm in ("transfer", "pretrained"):
                        ci = m.bootstrap_metrics(
                            y,
                            scores[arm],
                            scores["scratch"],
                            target_fpr=0.01,
                            n_bootstrap=args.n_bootstrap,
                            groups=groups,
                            level=0.95,
                            seed=seed,
                        )["pr_auc_delta"]
                        delta = results[arm][-1] - results["scratch"][-1]
                        deltas.append(f"{delta:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]")
                    paired = ", ".join(deltas)
            cells = [f"{np.mean(v):.3f} ({min(v):.3f}-{max(v):.3f})".rjust(22) for v in results.values()]
            print(f"{n:>6}  {'  '.join(cells)}  {paired}")


if __name__ == "__main__":
    main()
