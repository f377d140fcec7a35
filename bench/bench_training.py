"""Benchmark of the trainer: input-pipeline overhead and deep model vs LightGBM.

Prints, for the same model and the same synthetic training set:
- training examples/second fed from the streaming parquet pipeline and from
  in-memory tensors, and their ratio (1.0 = the pipeline costs nothing);
- scoring accounts/second of the trained model over the test split (what shadow
  evaluation does, in batches of 8192);
- test PR-AUC per risk type of the deep model and of LightGBM, side by side.

    python bench/bench_training.py [--rows 200000] [--epochs 4] [--batch-size 1024] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs exclude the first (tracing, warm-up)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--hidden-units", default="256,128")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each input; the best counts")
    args = parser.parse_args()

    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from integrity_local.training_data import TASKS, make_frame, write_training_set
    from integrity_risk.config.model import resolve_config
    from integrity_risk.training import data
    from integrity_risk.training.baseline import train_and_evaluate
    from integrity_risk.training.holdout import binary_metrics
    from integrity_risk.training.model import build_model
    from integrity_risk.training.train import choose_strategy

    strategy, hardware = choose_strategy()
    cfg = resolve_config(
        {
            "tasks": list(TASKS),
            "hidden_units": [int(u) for u in args.hidden_units.split(",")],
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "learning_rate": 0.003,
        },
        TASKS[0],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_training_set(Path(tmp) / "ts", make_frame(args.rows, seed=7), row_group_size=50_000)
        schemas = data.check_training_set(folder, cfg["tasks"])
        manifest = data.read_manifest(folder)
        sample = data.read_sample(folder / "train.parquet", manifest["features"], cfg["adapt_rows"])
        spec = data.infer_feature_spec(schemas["train"], manifest, cfg["tasks"], sample)
        train_rows = manifest["rows"]["train"]

        class Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self.start)

        def fit(dataset):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                model = build_model(cfg, spec, sample)
            timer = Timer()
            model.fit(dataset, epochs=args.epochs, shuffle=False, verbose=0, callbacks=[timer])
            timed = timer.times[1:] or timer.times
            return model, train_rows * len(timed) / sum(timed)

        streamed = data.parquet_dataset(
            folder / "train.parquet", spec, args.batch_size, shuffle_buffer=cfg["shuffle_buffer"]
        )
        start = time.perf_counter()
        for _ in streamed:  # the pipeline alone: the most it can feed any device
            pass
        pipeline_rate = train_rows / (time.perf_counter() - start)
        train_frame = pd.read_parquet(folder / "train.parquet", columns=spec.features + list(spec.labels.values()))
        in_memory = data.in_memory_dataset(train_frame, spec, args.batch_size)
        # Alternate the two and keep each one's best: the machine is shared, and the
        # load of others should not decide the ratio.
        parquet_rates, memory_rates = [], []
        for _ in range(args.repeats):
            model, rate = fit(streamed)
            parquet_rates.append(rate)
            memory_rates.append(fit(in_memory)[1])
        parquet_rate, memory_rate = max(parquet_rates), max(memory_rates)

        test = data.parquet_dataset(folder / "test.parquet", spec, 8192, shuffle=False, with_labels=False)
        model.predict(test.take(1), verbose=0)  # tracing, outside the timing
        start = time.perf_counter()
        predictions = model.predict(test, verbose=0)
        scoring_rate = manifest["rows"]["test"] / (time.perf_counter() - start)
        labels = data.read_labels(folder / "test.parquet", spec)
        baseline = train_and_evaluate(folder, spec)

    print(
        f"device: {hardware}; TensorFlow {tf.__version__}; train rows {train_rows}, batch {args.batch_size}, "
        f"hidden {cfg['hidden_units']}, timed epochs {max(args.epochs - 1, 1)}, best of {args.repeats}"
    )
    print(f"{'input':<22}{'examples/s':>14}")
    print(f"{'parquet (streaming)':<22}{parquet_rate:>14,.0f}")
    print(f"{'in-memory tensors':<22}{memory_rate:>14,.0f}")
    print(f"{'ratio parquet/memory':<22}{parquet_rate / memory_rate:>14.2f}")
    print(f"{'parquet pipeline alone':<22}{pipeline_rate:>14,.0f}  (no model: the ceiling it can feed)")
    print(f"{'scoring (predict)':<22}{scoring_rate:>14,.0f}  accounts/s, batches of 8192, all heads")
    print(f"\n{'risk type':<18}{'prevalence':>11}{'deep PR-AUC':>13}{'LightGBM':>10}{'ratio':>8}")
    for task in cfg["tasks"]:
        deep = binary_metrics(labels[spec.labels[task]].to_numpy(), np.asarray(predictions[task]).reshape(-1))
        gbm = baseline[f"baseline_test_{task}_pr_auc"]
        print(f"{task:<18}{deep['prevalence']:>11.4f}{deep['pr_auc']:>13.4f}{gbm:>10.4f}{deep['pr_auc'] / gbm:>8.2f}")


if __name__ == "__main__":
    main()
