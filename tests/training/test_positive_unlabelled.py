"""The positive-unlabelled head: its targets, its loss against the formula, its settings, its training set column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from integrity_local.training_data import hide_positives, make_frame, write_training_set
from integrity_risk.config import model as config_mod
from integrity_risk.training import data

RISK = "abusive_account"


def _bce(p, positive):
    return -np.log(p) if positive else -np.log(1 - p)


def test_the_loss_is_the_non_negative_pu_risk_of_the_batch():
    from integrity_risk.training.model import NonNegativePULoss

    prior = 0.2
    loss = NonNegativePULoss(prior)
    y = np.array([[1.0], [1.0], [0.0], [-1.0], [-1.0], [-2.0]], "float32")
    p = np.array([[0.9], [0.6], [0.3], [0.2], [0.7], [0.5]], "float32")
    per_example = np.asarray(loss.call(y, p))
    r_p_pos = (_bce(0.9, True) + _bce(0.6, True)) / 2
    r_p_neg = (_bce(0.9, False) + _bce(0.6, False)) / 2
    r_u_neg = (_bce(0.2, False) + _bce(0.7, False)) / 2
    share = prior * r_p_pos + max(r_u_neg - prior * r_p_neg, 0.0)
    expected = [_bce(0.9, True), _bce(0.6, True), _bce(0.3, False), share, share, 0.0]
    np.testing.assert_allclose(per_example, expected, rtol=1e-5)
    # Unlabelled rows scored as confidently as the positives: the negative part would go below
    # zero, and is held at zero (the non-negative correction).
    p_low = np.array([[0.99], [0.99], [0.3], [0.01], [0.01], [0.5]], "float32")
    clipped = np.asarray(loss.call(y, p_low))
    np.testing.assert_allclose(clipped[3], prior * _bce(0.99, True), rtol=1e-5)
    # No labelled positive in the batch: the unlabelled are negatives.
    y_none = np.array([[0.0], [-1.0], [-1.0]], "float32")
    p_none = np.array([[0.3], [0.2], [0.7]], "float32")
    np.testing.assert_allclose(
        np.asarray(loss.call(y_none, p_none))[1:], [(_bce(0.2, False) + _bce(0.7, False)) / 2] * 2, rtol=1e-5
    )


def test_targets_tell_positives_labelled_negatives_unlabelled_and_masked_apart():
    frame = pd.DataFrame(
        {
            "label_abusive_account": [1.0, 0.0, 0.0, np.nan],
            "label_fraud": [np.nan, 0.0, 0.0, 1.0],
            "unlabelled": [0.0, 0.0, 1.0, 0.0],
        }
    )
    spec = data.FeatureSpec([], [], [], labels={t: f"label_{t}" for t in (RISK, "fraud")}, pu_task=RISK)
    y, w = data.frame_to_targets(frame, spec)
    assert y[RISK].ravel().tolist() == [1.0, 0.0, -1.0, -2.0] and w[RISK].tolist() == [1, 1, 1, 0]
    assert y["fraud"].ravel().tolist() == [0.0, 0.0, 0.0, 1.0]  # the other heads as before


def test_pu_needs_its_prior_and_an_old_training_set_without_the_column_is_refused(tmp_path):
    with pytest.raises(config_mod.ConfigError, match="needs pu_prior"):
        config_mod.resolve_config({"unlabelled": "pu"}, RISK)
    folder = write_training_set(tmp_path / "ts", make_frame(200, seed=3))
    with pytest.raises(data.TrainingSetError, match="missing column\\(s\\) unlabelled"):
        data.check_training_set(folder, [RISK], unlabelled=True)


def test_a_pu_head_trains_and_its_metrics_count_the_unlabelled_as_negatives(tmp_path, model_section):
    from integrity_risk.training.model import build_model

    frame, _ = hide_positives(make_frame(3000, seed=4), RISK, hidden=0.5, seed=4)
    folder = write_training_set(tmp_path / "ts", frame)
    cfg = config_mod.resolve_config({**model_section, "unlabelled": "pu", "pu_prior": 0.05, "epochs": 2}, RISK)
    schemas = data.check_training_set(folder, cfg["tasks"], unlabelled=True)
    manifest = data.read_manifest(folder)
    sample = data.read_sample(folder / "train.parquet", manifest["features"], 10_000)
    spec = data.infer_feature_spec(schemas["train"], manifest, cfg["tasks"], sample)
    spec.pu_task = RISK
    model = build_model(cfg, spec, sample)
    history = model.fit(
        data.parquet_dataset(folder / "train.parquet", spec, 128),
        validation_data=data.parquet_dataset(folder / "validation.parquet", spec, 128, shuffle=False),
        epochs=2,
        verbose=0,
    )
    assert all(np.isfinite(history.history["loss"]))
    assert f"val_{RISK}_pr_auc" in history.history


def test_the_heads_auc_reads_unlabelled_targets_as_negatives():
    import keras

    from integrity_risk.training.model import UnlabelledAsNegativeAUC

    scores = np.array([[0.9], [0.8], [0.1], [0.2], [0.7]], "float32")
    theirs = UnlabelledAsNegativeAUC(curve="PR")
    theirs.update_state(np.array([[1.0], [-1.0], [0.0], [-1.0], [1.0]], "float32"), scores)
    plain = keras.metrics.AUC(curve="PR")
    plain.update_state(np.array([[1.0], [0.0], [0.0], [0.0], [1.0]], "float32"), scores)
    assert float(theirs.result()) == pytest.approx(float(plain.result()))
    assert float(plain.result()) < 1.0  # the unlabelled row at 0.8 outranks a positive
