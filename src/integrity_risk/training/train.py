"""Train, evaluate, log and register one risk type's multi-task model.

Run as its own process (the Airflow worker never imports TensorFlow)::

    python -m integrity_risk.training.train --training-set DIR --risk-type RISK --config CONFIG \\
        [--registered-model integrity_RISK] [--run-name NAME] [--result-file PATH]

``CONFIG`` is the ``model:`` section as the DAG validated it (a JSON file that
``TFTrainOperator`` writes), or a risk YAML such as ``include/risks/fraud.yaml``; either
is validated by :class:`integrity_risk.config.model.ModelConfig`.

Prints progress lines; on success prints ``TRAIN_RESULT {json}`` last (and writes it
to ``--result-file``); on failure prints ``ERROR: ...`` on stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from integrity_risk.config.model import ConfigError, load_model_config
from integrity_risk.training.data import TrainingSetError, check_training_set, control_copy, read_manifest, split_path

RESULT_PREFIX = "TRAIN_RESULT "
EXIT_BAD_INPUT = 2
EXIT_NAN_LOSS = 3
EXIT_FAILED = 1


class NaNLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def choose_strategy():
    """One ``tf.distribute`` strategy for what is present: several GPUs, one GPU, or the CPU.

    On GPU the global policy becomes ``mixed_float16`` (the heads stay float32, see
    :func:`integrity_risk.training.model.build_model`); on CPU float32, where float16 is slower.

    :return: ``(strategy, description)``.
    """
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        keras.mixed_precision.set_global_policy("mixed_float16")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), f"MirroredStrategy over {len(gpus)} GPUs, mixed_float16"
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy("/gpu:0"), "OneDeviceStrategy on /gpu:0, mixed_float16"
    return tf.distribute.get_strategy(), "default strategy on CPU, float32"


def monitor_key(tasks: list[str], risk_type: str) -> str:
    """The validation PR-AUC of the risk's own head, as Keras names it in the epoch logs.

    Keras prefixes metrics with the output name only when there are several outputs.

    :param tasks: the model's heads.
    :param risk_type: the head whose PR-AUC drives early stopping.
    """
    return f"val_{risk_type}_pr_auc" if len(tasks) > 1 else "val_pr_auc"


def with_head_names(logs: dict[str, float], tasks: list[str]) -> dict[str, float]:
    """Epoch logs with every per-head metric named ``[val_]<head>_<metric>``, also for a single head."""
    if len(tasks) > 1:
        return logs
    head = tasks[0]
    out = {}
    for key, value in logs.items():
        val, base = ("val_", key[4:]) if key.startswith("val_") else ("", key)
        out[f"{val}{head}_{base}" if base != "loss" else key] = value
    return out


def make_callbacks(cfg: dict[str, Any], risk_type: str, total_epochs: int) -> list:
    """Early stopping on the risk's own validation PR-AUC, NaN guard, MLflow and progress logging."""
    import keras
    import mlflow

    from integrity_risk.training.callbacks import RankingEarlyStopping

    monitor = monitor_key(cfg["tasks"], risk_type)

    class NaNGuard(keras.callbacks.Callback):
        """Raise on the first non-finite batch loss (TerminateOnNaN only stops quietly)."""

        def __init__(self):
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise NaNLossError(
                    f"training loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}: "
                    "look for inf/NaN or extreme values in the features, or lower learning_rate "
                    f"(now {cfg['learning_rate']})"
                )

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = with_head_names({k: float(v) for k, v in (logs or {}).items()}, cfg["tasks"])
            mlflow.log_metrics({k: v for k, v in logs.items() if math.isfinite(v)}, step=epoch + 1)
            shown = " ".join(f"{k}={logs[k]:.4f}" for k in ("loss", "val_loss", f"val_{risk_type}_pr_auc") if k in logs)
            log(f"epoch {epoch + 1}/{total_epochs} {shown} ({time.perf_counter() - self.start:.1f}s)")

    early = RankingEarlyStopping(
        monitor, tiebreak=f"val_{risk_type}_loss" if len(cfg["tasks"]) > 1 else "val_loss", patience=cfg["patience"]
    )
    return [NaNGuard(), Progress(), early]


def flat_params(cfg: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) if isinstance(v, (list, dict)) else str(v) for k, v in cfg.items()}


def run_training(
    training_set: str | Path,
    risk_type: str,
    cfg: dict[str, Any],
    registered_model: str | None = None,
    run_name: str | None = None,
    label_control: str | None = None,
) -> dict[str, Any]:
    """Train on a training set, evaluate on its test split, log to MLflow and register a candidate.

    :param training_set: the set's folder or URL under the storage root (train/validation/test
        parquet and manifest.json); a remote one is read from a local copy, and the version is
        tagged with the URL.
    :param risk_type: the risk whose head drives early stopping and whose model is registered.
    :param cfg: the resolved ``model:`` section.
    :param registered_model: registered model name (default ``integrity_<risk_type>``).
    :param run_name: MLflow run name.
    :param label_control: control run: ``permute`` or ``invert`` the train/validation labels
        (see :func:`integrity_risk.training.data.control_copy`); tagged ``label_control``.
    :return: ``{"model_name", "version", "run_id", "model_uri", "metrics"}``.
    :raises TrainingSetError: a split or a column is missing (checked before TensorFlow loads).
    :raises NaNLossError: the loss became NaN; nothing is registered.
    """
    from integrity_risk.storage import local_copy

    with local_copy(training_set) as folder:
        return _train(folder, str(training_set), risk_type, cfg, registered_model, run_name, label_control)


def _train(
    training_set: Path,
    source_set: str,
    risk_type: str,
    cfg: dict[str, Any],
    registered_model: str | None,
    run_name: str | None,
    label_control: str | None,
) -> dict[str, Any]:
    """:func:`run_training` on the set's folder on this machine; ``source_set`` is where it lies."""
    from integrity_risk.tracking import CHAMPION_ALIAS, configure, experiment_name, registered_model_name

    tasks = cfg["tasks"]
    schemas = check_training_set(training_set, tasks, unlabelled=cfg["unlabelled"] == "pu")
    if label_control:
        training_set = control_copy(
            training_set,
            tempfile.mkdtemp(prefix=f"labels_{label_control}_"),
            [f"label_{t}" for t in tasks],
            label_control,
            seed=int(cfg["seed"]),
        )
        log(f"control run: train and validation labels {label_control}d (copy in {training_set})")
    manifest = read_manifest(training_set)
    registered_model = registered_model or registered_model_name(risk_type)
    log(
        f"training set {training_set}: rows {manifest.get('rows')}, {len(manifest['features'])} features, tasks {tasks}"
    )

    import keras
    import mlflow
    import numpy as np
    import pandas as pd

    from integrity_risk.features.sequences import SequenceSpec
    from integrity_risk.training import data
    from integrity_risk.training.baseline import train_and_evaluate
    from integrity_risk.training.holdout import binary_metrics
    from integrity_risk.training.model import build_model, warm_start_from
    from integrity_risk.training.registry import load_registered, log_and_register

    keras.utils.set_random_seed(int(cfg["seed"]))
    strategy, hardware = choose_strategy()
    log(f"hardware: {hardware}")
    train_path = split_path(training_set, "train")
    sequence = SequenceSpec.from_dict(manifest.get("sequence"))
    sample = data.read_sample(
        train_path, manifest["features"] + (sequence.names if sequence else []), cfg["adapt_rows"]
    )
    spec = data.infer_feature_spec(schemas["train"], manifest, tasks, sample, cfg.get("log_features"))
    if cfg["unlabelled"] == "pu":
        spec.pu_task = risk_type
        log(
            f"{risk_type}: the sampled accounts nobody labelled are unlabelled (prior {cfg['pu_prior']}), not negatives"
        )
    with strategy.scope():
        model = build_model(cfg, spec, sample)
    log(
        f"model: {model.count_params()} parameters; numeric {len(spec.numeric)} (log1p {len(spec.log)}), "
        f"categorical {len(spec.categorical)}, sequences {len(spec.sequence)} of {spec.sequence_days} days"
    )

    configure(experiment_name(risk_type))
    warm: dict[str, Any] = {}
    if cfg.get("warm_start"):
        alias = CHAMPION_ALIAS if cfg["warm_start"] in (True, "champion") else str(cfg["warm_start"])
        source_name = cfg.get("warm_start_model") or registered_model
        found = load_registered(source_name, alias)
        if found is None:
            log(f"warm start: {source_name}@{alias} not found; training from scratch")
        else:
            source, version = found
            warm = {**warm_start_from(model, source)}
            warm["source"] = f"models:/{source_name}/{version}"
            log(f"warm start from {warm['source']}: copied {warm['copied']}, skipped {warm['skipped']}")

    batch = cfg["batch_size"]
    train_ds = data.parquet_dataset(train_path, spec, batch, shuffle_buffer=cfg["shuffle_buffer"], seed=cfg["seed"])
    val_ds = data.parquet_dataset(split_path(training_set, "validation"), spec, batch, shuffle=False)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags(
            {
                "risk_type": risk_type,
                "training_set": str(source_set),
                "hardware": hardware,
                "label_control": label_control or "none",
            }
        )
        mlflow.log_params(
            {
                **flat_params(cfg),
                "registered_model": registered_model,
                "hardware": hardware,
                "feature_spec": json.dumps(spec.to_dict())[:6000],
            }
        )
        if warm:
            mlflow.log_params({"warm_start_source": warm["source"], "warm_start_copied": ",".join(warm["copied"])})
        mlflow.log_dict(manifest, "training_set/manifest.json")
        start = time.perf_counter()
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg["epochs"],
            shuffle=False,
            verbose=0,
            callbacks=make_callbacks(cfg, risk_type, cfg["epochs"]),
        )
        seconds = time.perf_counter() - start
        losses = history.history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            raise NaNLossError(f"training loss became NaN: per-epoch losses {losses}")

        test_path = split_path(training_set, "test")
        predictions = model.predict(
            data.parquet_dataset(test_path, spec, batch, shuffle=False, with_labels=False), verbose=0
        )
        scores = pd.DataFrame({f"score_{t}": np.asarray(predictions[t], dtype="float64").reshape(-1) for t in tasks})
        if not np.isfinite(scores.to_numpy()).all():
            raise NaNLossError("the trained model gives NaN scores on the test split")
        labels = data.read_labels(test_path, spec)
        metrics: dict[str, float] = {"train_seconds": seconds, "epochs_run": float(len(losses))}
        for t in tasks:
            for key, value in binary_metrics(
                labels[spec.labels[t]].to_numpy(), scores[f"score_{t}"].to_numpy()
            ).items():
                metrics[f"test_{t}_{key}"] = value
        if cfg.get("baseline", True):
            log("baseline: LightGBM on the same training set")
            metrics.update(train_and_evaluate(training_set, spec))
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            # The scores before saving: a reload of the registered model must reproduce them.
            scores.to_parquet(Path(tmp) / "test_scores.parquet", index=False)
            mlflow.log_artifact(str(Path(tmp) / "test_scores.parquet"), "evaluation")
        for t in tasks:
            log(
                f"test {t}: PR-AUC {metrics[f'test_{t}_pr_auc']:.4f} (LightGBM "
                f"{metrics.get(f'baseline_test_{t}_pr_auc', float('nan')):.4f}, prevalence {metrics[f'test_{t}_prevalence']:.4f})"
            )
        time_range = manifest.get("time_range") or {}
        tags = {
            "risk_type": risk_type,
            "training_cutoff": str(manifest.get("training_cutoff") or time_range.get("end", "")),
            "training_set": str(source_set),
            "label_control": label_control or "none",
            "feature_service": str(manifest.get("feature_service", "")),
            "feature_service_version": str(manifest.get("feature_service_version", "")),
            "run_id": run.info.run_id,
        }
        registered = log_and_register(model, registered_model, tags)
        log(f"registered {registered_model} version {registered['version']} as @candidate")
    return {
        "model_name": registered_model,
        "version": registered["version"],
        "run_id": run.info.run_id,
        "model_uri": f"models:/{registered_model}/{registered['version']}",
        "metrics": {k: (v if math.isfinite(v) else None) for k, v in metrics.items()},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_risk.training.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--training-set", required=True, help="training-set folder (train/validation/test parquet, manifest.json)"
    )
    parser.add_argument("--risk-type", required=True, help="risk type whose model is trained, e.g. abusive_account")
    parser.add_argument(
        "--config", required=True, help="the model section as JSON (what the DAG passes), or include/risks/<risk>.yaml"
    )
    parser.add_argument("--registered-model", default=None, help="registered model name (default integrity_<risk>)")
    parser.add_argument("--run-name", default=None, help="MLflow run name")
    parser.add_argument(
        "--label-control",
        choices=["permute", "invert"],
        default=None,
        help="control run: permute or invert the train/validation labels; the gates must stop an inverted candidate",
    )
    parser.add_argument("--result-file", default=None, help="also write the result JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 2 bad input, 3 NaN loss, 1 other failure)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    try:
        cfg = load_model_config(args.config, args.risk_type)
        result = run_training(
            args.training_set,
            args.risk_type,
            cfg,
            args.registered_model,
            args.run_name,
            label_control=args.label_control,
        )
    except (TrainingSetError, ConfigError) as exc:
        print(f"ERROR: bad input: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except NaNLossError as exc:
        print(f"ERROR: NaN loss: {exc}", file=sys.stderr, flush=True)
        return EXIT_NAN_LOSS
    except Exception as exc:
        traceback.print_exc()
        print(f"ERROR: training failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    text = json.dumps(result)
    if args.result_file:
        Path(args.result_file).write_text(text)
    print(RESULT_PREFIX + text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
