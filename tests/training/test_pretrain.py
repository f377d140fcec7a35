"""Masked-feature pretraining of the shared tower on unlabelled rows, and a risk's model starting from it."""

from __future__ import annotations

import numpy as np
import pytest

from integrity_local.training_data import add_sequences, make_frame, write_training_set
from integrity_risk.config import model as config_mod
from integrity_risk.features.sequences import SequenceSpec
from integrity_risk.training import data

RISK = "abusive_account"


@pytest.fixture(scope="module")
def unlabelled_set(tmp_path_factory):
    """The tests' synthetic rows, with four numeric features made to move together (one behaviour
    seen four ways), as real features do: what the tower can learn to fill in."""
    frame = add_sequences(make_frame(3000, seed=8), 14, seed=8, task=None)
    rng = np.random.default_rng(8)
    common = frame["account_daily__noise_a"].to_numpy()
    for column in ("account_daily__noise_b", "fake_engagement_daily__like_burst_score_1d"):
        frame[column] = common + 0.1 * rng.normal(size=len(frame))
    frame["abusive_account_daily__follow_ratio_7d"] = np.exp(common + 0.1 * rng.normal(size=len(frame)))
    return write_training_set(tmp_path_factory.mktemp("pretrain") / "set", frame, sequence_days=14)


def _spec(folder, tasks):
    manifest = data.read_manifest(folder)
    names = manifest["features"] + SequenceSpec.from_dict(manifest["sequence"]).names
    sample = data.read_sample(folder / "train.parquet", names, 10_000)
    schemas = data.check_training_set(folder, tasks)
    return data.infer_feature_spec(schemas["train"], manifest, tasks, sample), sample


def test_hidden_values_are_missing_while_training_and_only_then():
    from integrity_risk.training.model import HideFeatures

    x = np.arange(1, 20_001, dtype="float32").reshape(-1, 4)
    layer = HideFeatures(0.3, seed=1)
    hidden = np.isnan(np.asarray(layer(x, training=True)))
    assert 0.28 < hidden.mean() < 0.32
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_pretraining_learns_to_fill_hidden_values_and_a_risks_model_starts_from_its_tower(
    unlabelled_set, model_section
):
    import keras

    from integrity_risk.training.model import build_model, build_pretrain_model, warm_start_from

    cfg = config_mod.resolve_config({**model_section, "tasks": [RISK]}, RISK)
    spec, sample = _spec(unlabelled_set, [RISK])
    unlabelled = data.FeatureSpec(  # no labels at all: what every account offers
        spec.numeric, spec.log, spec.categorical, {}, spec.sequence, spec.sequence_log, spec.sequence_days
    )
    keras.utils.set_random_seed(0)
    model = build_pretrain_model(cfg, unlabelled, sample, mask_rate=0.3, seed=0)
    stream = data.parquet_dataset(unlabelled_set / "train.parquet", unlabelled, 128, with_labels=False, seed=0)
    losses = model.fit(stream, epochs=6, verbose=0).history["loss"]
    assert all(np.isfinite(losses))
    # Guessing 0 (the mean of each normalized value) costs about 1: the tower fills the four
    # related values from one another, and no better than the mean the independent ones.
    assert losses[-1] < 0.85, losses
    supervised = build_model(cfg, spec, sample)
    report = warm_start_from(supervised, model)
    assert {"shared_dense_0", "shared_dense_1", "shared_seq_conv_0", "shared_seq_conv_1"} <= set(report["copied"])
    assert not report["skipped"]
    np.testing.assert_array_equal(
        supervised.get_layer("shared_dense_0").get_weights()[0], model.get_layer("shared_dense_0").get_weights()[0]
    )


def test_pretraining_refuses_a_rate_outside_0_1(unlabelled_set, model_section):
    from integrity_risk.training.model import build_pretrain_model

    cfg = config_mod.resolve_config({**model_section, "tasks": [RISK]}, RISK)
    spec, sample = _spec(unlabelled_set, [RISK])
    with pytest.raises(ValueError, match="mask_rate must lie in \\(0, 1\\), got 1.0"):
        build_pretrain_model(cfg, spec, sample, mask_rate=1.0)
