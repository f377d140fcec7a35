"""Benchmark of the trainer's model on a GPU through Keras 3's JAX backend (no TensorFlow).

The GPU worker trains with TensorFlow; this runs the same Keras 3 model code
(:func:`integrity_risk.training.model.build_model`, its focal losses, weighted PR/ROC-AUC metrics
and Adam) on JAX, for machines that have a GPU and JAX but no TensorFlow. Inputs are
in-memory numpy arrays batched by ``model.fit`` itself, not the tf.data pipeline.
One difference from the trainer's model: the categorical column (country) comes in
one-hot encoded as 0/1 numeric columns, because ``StringLookup`` needs TensorFlow
and JAX has no string tensors; everything after the inputs is ``build_model``'s.

Prints the backend, Keras and JAX versions and ``jax.devices()``; then, per
precision policy and batch size, on a fresh model each: seconds of the first epoch
(XLA compilation included), training examples/second over the later epochs, the
last training loss, test PR-AUC per risk type (sklearn ``average_precision_score``
over the labelled rows, :func:`integrity_risk.training.holdout.binary_metrics`) and the device's
peak memory so far (``memory_stats()["peak_bytes_in_use"]``; not reported on CPU).

    KERAS_BACKEND=jax python bench/bench_training_gpu.py [--rows 2000000] [--epochs 3] \\
        [--batch-sizes 1024,4096,16384] [--precision auto] [--hidden-units 256,128]
    KERAS_BACKEND=jax JAX_PLATFORMS=cpu python bench/bench_training_gpu.py --rows 300000

``--precision auto`` is what the trainer picks (``integrity_risk.training.train.choose_strategy``):
mixed_float16 on a GPU, float32 on CPU; a comma list runs each.
"""

from __future__ import annotations

import argparse
import importlib.abc
import os
import sys
import time
from pathlib import Path


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    """Refuses ``import tensorflow``: Keras imports it wherever it is installed
    (``keras.utils.set_random_seed`` does), and this measures a machine without it."""

    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"{name} is kept out of the JAX benchmark", name=name)
        return None


os.environ.setdefault("KERAS_BACKEND", "jax")
if os.environ["KERAS_BACKEND"] == "jax":
    sys.meta_path.insert(0, _NoTensorFlow())
# A GPU machine with JAX may have neither TensorFlow nor the project installed: read the
# two packages from the checkout.
sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "src"),
    str(Path(__file__).resolve().parents[1] / "tooling" / "src"),
]


def one_hot_categoricals(frames: list, columns: list[str], max_vocab: int) -> tuple[list, list[str]]:
    """Replace each string column by 0/1 columns, one per value of the first frame's vocabulary.

    The vocabulary is ``build_model``'s: the most frequent non-empty values, at most
    ``max_vocab``; a value outside it (or missing) gets all zeros, like an
    out-of-vocabulary id there.

    :return: the altered frames and the new column names.
    """
    names: list[str] = []
    for column in columns:
        counts = frames[0][column].dropna().astype(str).value_counts()
        vocab = [v for v in counts.index[:max_vocab] if v != ""]
        for value in vocab:
            name = f"{column}__is_{value}"
            names.append(name)
            frames = [f.assign(**{name: f[column].astype(str).eq(value)}) for f in frames]
        frames = [f.drop(columns=[column]) for f in frames]
    return frames, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="synthetic rows; 70%% train, 15%% test")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs exclude the first (compilation)")
    parser.add_argument("--batch-sizes", default="1024,4096,16384")
    parser.add_argument("--precision", default="auto", help="auto, float32, mixed_float16 or a comma list")
    parser.add_argument("--hidden-units", default="256,128")
    args = parser.parse_args()

    import jax
    import keras
    import numpy as np
    import pyarrow as pa

    from integrity_local.training_data import FEATURES, TASKS, make_frame
    from integrity_risk.config.model import resolve_config
    from integrity_risk.training import data
    from integrity_risk.training.holdout import binary_metrics
    from integrity_risk.training.model import SHARED_PREFIX, build_model

    device = jax.devices()[0]
    on_gpu = device.platform == "gpu"
    precisions = ["mixed_float16" if on_gpu else "float32"] if args.precision == "auto" else args.precision.split(",")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    print(
        f"backend {keras.backend.backend()}, Keras {keras.__version__}, JAX {jax.__version__}; devices {jax.devices()}",
        flush=True,
    )

    start = time.perf_counter()
    frame = make_frame(args.rows, seed=7)  # in time order, as the trainer's splits are
    n = len(frame)
    train, test = frame.iloc[: int(n * 0.7)], frame.iloc[int(n * 0.85) :]
    cfg = resolve_config(
        {
            "tasks": list(TASKS),
            "hidden_units": [int(u) for u in args.hidden_units.split(",")],
            "epochs": args.epochs,
            "learning_rate": 0.003,
        },
        TASKS[0],
    )

    def feature_spec(features):
        sample = train.sample(n=min(cfg["adapt_rows"], len(train)), random_state=0)
        schema = pa.Schema.from_pandas(train[features], preserve_index=False)
        return data.infer_feature_spec(schema, {"features": features}, cfg["tasks"], sample), sample

    categorical = feature_spec(FEATURES)[0].categorical
    (train, test), one_hot = one_hot_categoricals([train, test], categorical, cfg["max_vocab"])
    spec, sample = feature_spec([c for c in FEATURES if c not in categorical] + one_hot)
    x_train = data.frame_to_inputs(train, spec.numeric, spec.categorical)
    y_train, w_train = data.frame_to_targets(train, spec)
    x_test = data.frame_to_inputs(test, spec.numeric, spec.categorical)
    print(
        f"data: {len(train)} train rows, {len(test)} test rows, {len(spec.numeric)} numeric inputs "
        f"({len(one_hot)} one-hot of {categorical}), made in {time.perf_counter() - start:.1f} s",
        flush=True,
    )

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            float(logs["loss"])  # the epoch's last step has run, not only been dispatched
            self.times.append(time.perf_counter() - self.start)

    rows = []
    for precision in precisions:
        for batch in batch_sizes:
            keras.backend.clear_session()  # it also resets the dtype policy: set that after it
            keras.mixed_precision.set_global_policy(precision)
            keras.utils.set_random_seed(0)
            model = build_model(cfg, spec, sample)
            assert model.get_layer(f"{SHARED_PREFIX}dense_0").dtype_policy.name == precision
            timer = Timer()
            history = model.fit(
                x_train,
                y_train,
                sample_weight=w_train,
                batch_size=batch,
                epochs=args.epochs,
                shuffle=True,
                verbose=0,
                callbacks=[timer],
            )
            timed = timer.times[1:] or timer.times
            rate = len(train) * len(timed) / sum(timed)
            predictions = model.predict(x_test, batch_size=max(batch, 8192), verbose=0)
            pr_auc = {
                t: binary_metrics(test[spec.labels[t]].to_numpy(), np.asarray(predictions[t]).reshape(-1))
                for t in cfg["tasks"]
            }
            stats = device.memory_stats() or {}
            peak = stats.get("peak_bytes_in_use")
            row = {
                "precision": precision,
                "batch": batch,
                "first": timer.times[0],
                "rate": rate,
                "loss": history.history["loss"][-1],
                "pr_auc": pr_auc,
                "peak": peak,
            }
            rows.append(row)
            print(
                f"{precision} batch {batch}: epochs {', '.join(f'{t:.2f}' for t in timer.times)} s; "
                f"{rate:,.0f} examples/s; loss {row['loss']:.4f}; "
                + "; ".join(f"{t} PR-AUC {m['pr_auc']:.4f}" for t, m in pr_auc.items())
                + (f"; peak {peak / 2**20:,.0f} MiB" if peak is not None else ""),
                flush=True,
            )

    print(
        f"\ndevice: {device.device_kind} ({device.platform}); train rows {len(train)}, hidden {cfg['hidden_units']}, "
        f"timed epochs {max(args.epochs - 1, 1)}; tensorflow loaded: {'tensorflow' in sys.modules}"
    )
    heads = list(cfg["tasks"])
    print(
        f"{'precision':<15}{'batch':>7}{'1st epoch s':>13}{'examples/s':>14}"
        + "".join(f"{'PR-AUC ' + t:>24}" for t in heads)
        + f"{'peak MiB':>10}"
    )
    for r in rows:
        peak = f"{r['peak'] / 2**20:,.0f}" if r["peak"] is not None else "n/a"
        print(
            f"{r['precision']:<15}{r['batch']:>7}{r['first']:>13.2f}{r['rate']:>14,.0f}"
            + "".join(f"{r['pr_auc'][t]['pr_auc']:>24.4f}" for t in heads)
            + f"{peak:>10}"
        )
    print("prevalence (test): " + ", ".join(f"{t} {rows[0]['pr_auc'][t]['prevalence']:.4f}" for t in heads))


if __name__ == "__main__":
    main()
