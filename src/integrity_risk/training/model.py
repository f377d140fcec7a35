"""The multi-task risk model: raw features in, one probability per risk type out.

Preprocessing lives inside the model, so the saved model takes raw feature
values as a dict of named inputs and scoring needs no separate transform code.
Layer names of the shared tower are stable (``shared_dense_0``, ``shared_bn_0``,
...) because warm start copies weights by name.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import layers, ops

from integrity_risk.features.sequences import MASK_COLUMN
from integrity_risk.training.data import PU_NEGATIVE, PU_POSITIVE, PU_UNLABELLED, FeatureSpec, frame_to_inputs

if TYPE_CHECKING:
    import pandas as pd

SHARED_PREFIX = "shared_"


@keras.saving.register_keras_serializable(package="integrity_risk")
class Log1p(layers.Layer):
    """``log1p`` of the count-like columns (negatives clipped to 0), the rest unchanged; NaN stays NaN.

    :param log_mask: one flag per input column: transform it or not.
    """

    def __init__(self, log_mask: list[bool], **kwargs):
        super().__init__(**kwargs)
        self.log_mask = [bool(v) for v in log_mask]

    def call(self, x):
        mask = ops.convert_to_tensor(np.array(self.log_mask, dtype="bool")[None, :])
        return ops.where(mask, ops.log1p(ops.maximum(x, 0.0)), x)

    def get_config(self):
        return {**super().get_config(), "log_mask": self.log_mask}


@keras.saving.register_keras_serializable(package="integrity_risk")
class FillMissing(layers.Layer):
    """Replace NaN by 0 (the mean, after normalization) and append one missing-indicator per column.

    Infinities are left alone on purpose: they mean broken upstream data, and the
    trainer stops on the NaN loss they cause instead of learning from them.
    """

    def call(self, x):
        missing = ops.isnan(x)
        return ops.concatenate([ops.where(missing, 0.0, x), ops.cast(missing, x.dtype)], axis=-1)


def numeric_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and variance ignoring NaN; all-NaN or constant columns get (0, 1).

    :param values: (rows, columns) float array, already log-transformed where due.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
        mean = np.nanmean(values, axis=0)
        var = np.nanvar(values, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    var = np.where(np.isfinite(var) & (var > 0), var, 1.0)
    return mean.astype("float32"), var.astype("float32")


def build_model(cfg: dict[str, Any], feature_spec: FeatureSpec, adapt_data: pd.DataFrame) -> keras.Model:
    """Build and compile the multi-task model.

    :param cfg: the resolved ``model:`` section (:func:`integrity_risk.config.model.resolve_config`):
        tasks, hidden_units, dropout, learning_rate, focal_gamma, focal_alpha,
        embedding_dim, max_vocab.
    :param feature_spec: which inputs are numeric, count-like and categorical.
    :param adapt_data: a sample of training rows; normalization statistics and
        vocabularies come from it.
    :return: a compiled ``keras.Model`` with one input per feature and one sigmoid
        output per task, named after the task.
    """
    inputs, x, _ = _inputs_and_tower(cfg, feature_spec, adapt_data)
    # Heads stay float32 under mixed precision: sigmoid outputs and the loss need the range.
    outputs = {t: layers.Dense(1, activation="sigmoid", dtype="float32", name=t)(x) for t in cfg["tasks"]}
    model = keras.Model(inputs=inputs, outputs=outputs, name="integrity_multitask")
    compile_model(model, cfg, pu_task=feature_spec.pu_task)
    return model


def _inputs_and_tower(
    cfg: dict[str, Any], feature_spec: FeatureSpec, adapt_data: pd.DataFrame, mask_rate: float = 0.0, seed: int = 0
) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor, tuple[keras.KerasTensor, keras.KerasTensor] | None]:
    """The inputs, their preprocessing and the shared tower: ``(inputs, tower output, target)``.

    ``mask_rate`` > 0 (self-supervised pretraining) hides that share of the numeric values
    while training (:class:`HideFeatures`); ``target`` is then the normalized values before
    hiding, which the pretraining reconstructs, and the values the tower saw (NaN where
    hidden); else None.
    """
    target = None
    inputs: dict[str, keras.KerasTensor] = {}
    parts = []
    if feature_spec.numeric:
        for name in feature_spec.numeric:
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="float32")
        stacked = layers.Concatenate(name="numeric_concat", dtype="float32")([inputs[n] for n in feature_spec.numeric])
        log_mask = [n in set(feature_spec.log) for n in feature_spec.numeric]
        log1p = Log1p(log_mask, name="numeric_log1p", dtype="float32")
        seen = stacked if not mask_rate else HideFeatures(mask_rate, seed=seed, name="hide_features")(stacked)
        logged = log1p(seen)
        raw = frame_to_inputs(adapt_data, feature_spec.numeric, [])
        sample = np.concatenate([raw[n] for n in feature_spec.numeric], axis=1)
        sample = np.where(np.array(log_mask)[None, :], np.log1p(np.maximum(sample, 0.0)), sample)
        mean, var = numeric_stats(sample)
        normalize = layers.Normalization(mean=mean, variance=var, name="numeric_normalization", dtype="float32")
        parts.append(FillMissing(name="numeric_fill_missing", dtype="float32")(normalize(logged)))
        if mask_rate:  # what the hidden values were, on the scale the model sees, and which were hidden
            target = (normalize(log1p(stacked)), seen)
    if feature_spec.sequence:
        parts.append(_sequence_encoder(cfg, feature_spec, adapt_data, inputs))
    for name in feature_spec.categorical:
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="string")
        counts = adapt_data[name].dropna().astype(str).value_counts()
        vocab = [v for v in counts.index[: int(cfg["max_vocab"])] if v != ""]
        lookup = layers.StringLookup(vocabulary=vocab or ["<none>"], num_oov_indices=1, name=f"{name}_lookup")
        ids = lookup(inputs[name])
        dim = int(min(cfg["embedding_dim"], max(2, len(vocab))))
        emb = layers.Embedding(lookup.vocabulary_size(), dim, name=f"{name}_embedding")(ids)
        parts.append(layers.Reshape((dim,), name=f"{name}_flat")(emb))
    if not parts:
        raise ValueError("the model has no features")
    x = parts[0] if len(parts) == 1 else layers.Concatenate(name="features_concat")(parts)
    for i, units in enumerate(cfg["hidden_units"]):
        x = layers.Dense(units, use_bias=False, name=f"{SHARED_PREFIX}dense_{i}")(x)
        x = layers.BatchNormalization(name=f"{SHARED_PREFIX}bn_{i}")(x)
        x = layers.Activation("relu", name=f"{SHARED_PREFIX}relu_{i}")(x)
        if cfg["dropout"]:
            x = layers.Dropout(float(cfg["dropout"]), name=f"{SHARED_PREFIX}dropout_{i}")(x)
    return inputs, x, target


def build_pretrain_model(
    cfg: dict[str, Any], feature_spec: FeatureSpec, adapt_data: pd.DataFrame, mask_rate: float = 0.3, seed: int = 0
) -> keras.Model:
    """The shared tower taught without labels: hide a share of each example's numeric values and
    reconstruct them from the rest, its daily sequences and categoricals (masked-feature pretraining).

    Every account's features serve, labelled or not. The tower's layers have the supervised
    model's names, so :func:`warm_start_from` starts a risk's model from it; the
    reconstruction head is dropped then. The loss (the mean squared error over the hidden
    values that were known) is the model's own: fit it on inputs only.
    """
    if not feature_spec.numeric:
        raise ValueError("masked-feature pretraining needs numeric features to hide")
    if not 0.0 < mask_rate < 1.0:
        raise ValueError(f"mask_rate must lie in (0, 1), got {mask_rate!r}")
    inputs, x, target = _inputs_and_tower(cfg, feature_spec, adapt_data, mask_rate=mask_rate, seed=seed)
    if target is None:  # numeric features and a rate were checked above: the tower hid some
        raise RuntimeError("the tower hid no values")
    values, seen = target
    guess = layers.Dense(len(feature_spec.numeric), dtype="float32", name="reconstruction")(x)
    out = ReconstructionLoss(name="reconstruction_loss", dtype="float32")([guess, values, seen])
    model = keras.Model(inputs=inputs, outputs=out, name="integrity_pretrain")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(cfg["learning_rate"])))
    return model


@keras.saving.register_keras_serializable(package="integrity_risk")
class HideFeatures(layers.Layer):
    """While training, each value becomes NaN (missing) with probability ``rate``; unchanged otherwise."""

    def __init__(self, rate: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = int(seed)
        self.generator = keras.random.SeedGenerator(self.seed)

    def call(self, x, training=None):
        if not training:
            return x
        hide = keras.random.uniform(ops.shape(x), seed=self.generator) < self.rate
        return ops.where(hide, float("nan"), x)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="integrity_risk")
class ReconstructionLoss(layers.Layer):
    """Adds the mean squared error of ``guess`` over the values hidden from the tower that were known; returns ``guess``."""

    def call(self, inputs):
        guess, values, seen = inputs
        scored = ops.cast(ops.isnan(seen) & ~ops.isnan(values), "float32")
        error = ops.square(guess - ops.where(ops.isnan(values), 0.0, values)) * scored
        self.add_loss(ops.sum(error) / ops.maximum(ops.sum(scored), 1.0))
        return guess


def _sequence_encoder(
    cfg: dict[str, Any], spec: FeatureSpec, adapt_data: pd.DataFrame, inputs: dict[str, keras.KerasTensor]
) -> keras.KerasTensor:
    """The temporal encoder of the daily sequences: causal 1-D convolutions over the days,
    then the mean over the days the account existed and the newest day's output.

    Convolutions rather than a GRU: the mask is left-padded (an account's days before it
    existed come first), which cuDNN's recurrent kernels do not take, and they run every
    day of every example at once. Its layers are part of the shared tower (``shared_seq_*``):
    transfer and warm start copy them.
    """
    days = spec.sequence_days
    for name in spec.sequence_inputs:
        inputs[name] = keras.Input(shape=(days,), name=name, dtype="float32")
    steps = [layers.Reshape((days, 1), name=f"{name}_steps")(inputs[name]) for name in spec.sequence]
    stacked = steps[0] if len(steps) == 1 else layers.Concatenate(axis=-1, name="sequence_concat")(steps)
    log_mask = [n in set(spec.sequence_log) for n in spec.sequence]
    logged = Log1p(log_mask, name="sequence_log1p", dtype="float32")(stacked)
    # Statistics over the days the accounts existed only: the zeros before would pull them down.
    raw = frame_to_inputs(adapt_data, [], [], spec.sequence_inputs, days)
    existed = raw[MASK_COLUMN].reshape(-1) > 0
    sample = np.stack([raw[n].reshape(-1) for n in spec.sequence], axis=1)[existed]
    sample = np.where(np.array(log_mask)[None, :], np.log1p(np.maximum(sample, 0.0)), sample)
    mean, var = numeric_stats(sample) if len(sample) else (np.zeros(len(spec.sequence)), np.ones(len(spec.sequence)))
    normalized = layers.Normalization(mean=mean, variance=var, name="sequence_normalization", dtype="float32")(logged)
    filled = FillMissing(name="sequence_fill_missing", dtype="float32")(normalized)
    x = MaskDays(name="sequence_mask_days", dtype="float32")([filled, inputs[MASK_COLUMN]])
    for i in range(int(cfg["sequence_layers"])):
        x = layers.Conv1D(
            int(cfg["sequence_filters"]),
            3,
            padding="causal",
            dilation_rate=2**i,
            activation="relu",
            name=f"{SHARED_PREFIX}seq_conv_{i}",
        )(x)
    return SequenceSummary(name="sequence_summary", dtype="float32")([x, inputs[MASK_COLUMN]])


@keras.saving.register_keras_serializable(package="integrity_risk")
class MaskDays(layers.Layer):
    """Zero the days before the account existed (``mask`` 0): no value of them reaches the encoder."""

    def call(self, inputs):
        x, mask = inputs
        return x * ops.expand_dims(ops.cast(mask, x.dtype), -1)


@keras.saving.register_keras_serializable(package="integrity_risk")
class SequenceSummary(layers.Layer):
    """``(batch, days, channels)`` to ``(batch, 2 * channels)``: the mean over the days the account
    existed (zeros for an account with none) beside the newest day's channels.
    """

    def call(self, inputs):
        x, mask = inputs
        weights = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        mean = ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.concatenate([mean, x[:, -1, :]], axis=-1)


def compile_model(model: keras.Model, cfg: dict[str, Any], pu_task: str | None = None) -> None:
    """Compile with focal loss per head and sample-weighted PR-AUC / ROC-AUC metrics.

    The data pipeline gives an unlabelled example sample weight 0 for that head,
    so it adds nothing to the loss and nothing to the metrics: it is masked, not
    a negative. Hence ``weighted_metrics`` (Keras ignores sample weights in ``metrics``).

    :param model: the model from :func:`build_model`.
    :param cfg: the resolved model section.
    :param pu_task: the head trained positive-unlabelled (:class:`NonNegativePULoss` with the
        section's ``pu_prior``); its metrics count the unlabelled rows as negatives, as the
        evaluation does.
    """
    alpha = cfg.get("focal_alpha")
    losses = {
        t: keras.losses.BinaryFocalCrossentropy(
            gamma=float(cfg["focal_gamma"]),
            apply_class_balancing=alpha is not None,
            alpha=float(alpha) if alpha is not None else 0.25,
            name=f"{t}_focal",
        )
        for t in cfg["tasks"]
    }
    if pu_task is not None:
        losses[pu_task] = NonNegativePULoss(float(cfg["pu_prior"]), name=f"{pu_task}_nnpu")
    metrics = {
        t: [UnlabelledAsNegativeAUC(curve=curve, name=name) for curve, name in (("PR", "pr_auc"), ("ROC", "roc_auc"))]
        for t in cfg["tasks"]
    }
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(cfg["learning_rate"])),
        loss=losses,
        weighted_metrics=metrics,
    )


@keras.saving.register_keras_serializable(package="integrity_risk")
class NonNegativePULoss(keras.losses.Loss):
    """The non-negative positive-unlabelled risk (Kiryo et al., NeurIPS 2017) with cross-entropy.

    Targets (``integrity_risk.training.data.frame_to_targets``): 1 a labelled positive, 0 a
    labelled negative, -1 a sampled account nobody labelled, -2 masked (weight 0). The
    unlabelled hold a share ``prior`` of positives, so their share of the risk is
    ``prior * R_p(+) + max(0, R_u(-) - prior * R_p(-))``: the positives among them counted as
    positives, and the negative-class risk of the rest estimated from the unlabelled minus
    the positives' part, never below zero (without the clip a flexible model drives it
    negative and overfits). A batch without labelled positives treats the unlabelled as
    negatives. Per example: a positive's and a negative's own loss, and that batch-level
    share on each unlabelled row, so the batch mean is the risk.
    """

    def __init__(self, prior: float, **kwargs):
        super().__init__(**kwargs)
        self.prior = float(prior)

    def call(self, y_true, y_pred):
        y = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        p = ops.clip(ops.reshape(ops.cast(y_pred, "float32"), (-1,)), 1e-7, 1.0 - 1e-7)
        as_positive, as_negative = -ops.log(p), -ops.log(1.0 - p)
        positive = ops.cast(ops.equal(y, PU_POSITIVE), "float32")
        negative = ops.cast(ops.equal(y, PU_NEGATIVE), "float32")
        unlabelled = ops.cast(ops.equal(y, PU_UNLABELLED), "float32")
        n_positive = ops.sum(positive)
        has_positive = ops.cast(n_positive > 0, "float32")
        r_p_pos = ops.sum(positive * as_positive) / ops.maximum(n_positive, 1.0)
        r_p_neg = ops.sum(positive * as_negative) / ops.maximum(n_positive, 1.0)
        r_u_neg = ops.sum(unlabelled * as_negative) / ops.maximum(ops.sum(unlabelled), 1.0)
        share = has_positive * self.prior * r_p_pos + ops.maximum(r_u_neg - has_positive * self.prior * r_p_neg, 0.0)
        per_example = positive * as_positive + negative * as_negative + unlabelled * share
        return ops.reshape(per_example, ops.shape(y_true)[:1])

    def get_config(self):
        return {**super().get_config(), "prior": self.prior}


@keras.saving.register_keras_serializable(package="integrity_risk")
class UnlabelledAsNegativeAUC(keras.metrics.AUC):
    """Keras' AUC with a positive-unlabelled head's unlabelled targets (below 0) as negatives,
    as the shadow evaluation counts them; other heads' targets are 0 and 1 already.
    """

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(ops.maximum(ops.cast(y_true, "float32"), 0.0), y_pred, sample_weight)


def warm_start_from(model: keras.Model, source: keras.Model) -> dict[str, list[str]]:
    """Copy the shared tower's weights from ``source`` into ``model``, layer by layer, by name.

    A layer is copied only when all its weight shapes match (a first dense layer
    over a different feature set does not); the heads and preprocessing are never copied.

    :param model: the freshly built model.
    :param source: a trained model, e.g. the champion of the production risk type.
    :return: ``{"copied": [...], "skipped": [...]}`` layer names.
    """
    theirs = {layer.name: layer for layer in source.layers if layer.name.startswith(SHARED_PREFIX)}
    copied, skipped = [], []
    for layer in model.layers:
        if not layer.name.startswith(SHARED_PREFIX) or not layer.weights:
            continue
        other = theirs.get(layer.name)
        weights = other.get_weights() if other is not None else None
        if weights is not None and [w.shape for w in weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(weights)
            copied.append(layer.name)
        else:
            skipped.append(layer.name)
    return {"copied": copied, "skipped": skipped}
