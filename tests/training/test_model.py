"""The model, the data pipeline and warm start, in process on small data."""

from __future__ import annotations

import numpy as np
import pytest

from integrity_local.training_data import FEATURES, make_frame, write_training_set
from integrity_risk.config import model as config_mod
from integrity_risk.training import data

RISK = "abusive_account"


def _spec_and_sample(folder, cfg):
    schemas = data.check_training_set(folder, cfg["tasks"])
    manifest = data.read_manifest(folder)
    sample = data.read_sample(folder / "train.parquet", manifest["features"], 10_000)
    return data.infer_feature_spec(schemas["train"], manifest, cfg["tasks"], sample), sample


@pytest.fixture(scope="module")
def cfg(model_section):
    return config_mod.resolve_config(dict(model_section), RISK)


def test_parquet_pipeline_streams_every_row_once_per_epoch_in_a_new_order(training_set, cfg):
    spec, _ = _spec_and_sample(training_set, cfg)
    ds = data.parquet_dataset(training_set / "train.parquet", spec, 128, shuffle_buffer=700)
    column = "account_daily__noise_a"
    epochs = [np.concatenate([x[column].numpy().ravel() for x, _, _ in ds]) for _ in range(2)]
    in_file = data.read_sample(training_set / "train.parquet", [column], 10**6)[column].to_numpy("float32")
    for values in epochs:
        np.testing.assert_array_equal(np.sort(values), np.sort(in_file))
        assert not np.array_equal(values, in_file)
    assert not np.array_equal(epochs[0], epochs[1])
    assert len(ds) == -(-len(in_file) // 128)


def test_count_like_numeric_and_categorical_features_are_told_apart(training_set, cfg):
    spec, _ = _spec_and_sample(training_set, cfg)
    assert spec.categorical == ["account_daily__country"]
    assert "account_daily__device_shared_count" in spec.log
    assert "account_daily__phone_verified" not in spec.log
    assert "fake_engagement_daily__like_burst_score_1d" not in spec.log  # may be negative
    assert set(spec.numeric) == set(FEATURES) - {"account_daily__country"}


def test_masked_labels_do_not_act_as_negatives_in_the_loss(tmp_path, cfg):
    from integrity_risk.training.model import build_model

    frame = make_frame(600, seed=4, masked={})
    masked = frame.copy()
    masked.loc[masked.index[::2], "label_fake_engagement"] = np.nan
    as_negatives = frame.copy()
    as_negatives.loc[as_negatives.index[::2], "label_fake_engagement"] = 0.0
    as_positives = frame.copy()
    as_positives.loc[as_positives.index[::2], "label_fake_engagement"] = 1.0
    unlabelled = frame.copy()
    unlabelled["label_fake_engagement"] = np.nan
    spec, sample = _spec_and_sample(write_training_set(tmp_path / "base", frame), cfg)
    model = build_model(cfg, spec, sample)

    def head_loss(f, name):
        folder = write_training_set(tmp_path / name, f)
        ds = data.parquet_dataset(folder / "train.parquet", spec, 64, shuffle=False)
        return model.evaluate(ds, return_dict=True, verbose=0)["fake_engagement_loss"]

    loss_masked = head_loss(masked, "masked")
    loss_of_labelled_rows = head_loss(frame.iloc[1::2], "labelled_only")
    # Whatever value hides behind the mask, it does not count: only an explicit 0 does.
    assert head_loss(unlabelled, "unlabelled") == 0.0
    assert loss_masked > 0.0
    assert loss_masked != pytest.approx(head_loss(as_negatives, "negatives"), rel=1e-3)
    assert loss_masked != pytest.approx(head_loss(as_positives, "positives"), rel=1e-3)
    # Same labelled rows, same summed loss: the masked half only dilutes the batch mean.
    assert loss_masked * 2 == pytest.approx(loss_of_labelled_rows, rel=0.05)


def test_warm_start_copies_the_champion_shared_tower(trained, client, training_set, cfg):
    from integrity_risk.training.model import build_model, warm_start_from
    from integrity_risk.training.registry import load_registered

    name = f"integrity_{RISK}"
    assert load_registered(name, "champion") is None  # nothing in production yet
    client.set_registered_model_alias(name, "champion", trained["version"])
    try:
        champion, version = load_registered(name, "champion")
        assert version == trained["version"]
        spec, sample = _spec_and_sample(training_set, cfg)
        new_cfg = {**cfg, "tasks": [RISK, "fraud"]}  # a new head, same tower shape
        model = build_model(new_cfg, spec, sample)
        report = warm_start_from(model, champion)
        assert report["copied"] == ["shared_dense_0", "shared_bn_0", "shared_dense_1", "shared_bn_1"]
        for layer in report["copied"]:
            for mine, theirs in zip(
                model.get_layer(layer).get_weights(), champion.get_layer(layer).get_weights(), strict=False
            ):
                np.testing.assert_array_equal(mine, theirs)
        # A different tower shape copies what still fits and skips the rest.
        wider = build_model({**cfg, "hidden_units": [32, 8]}, spec, sample)
        report = warm_start_from(wider, champion)
        assert report == {"copied": ["shared_dense_0", "shared_bn_0"], "skipped": ["shared_dense_1", "shared_bn_1"]}
    finally:
        client.delete_registered_model_alias(name, "champion")


def test_cpu_gets_the_default_strategy_in_float32():
    import keras
    import tensorflow as tf

    from integrity_risk.training.train import choose_strategy

    strategy, description = choose_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert "CPU" in description and keras.mixed_precision.global_policy().name == "float32"


def test_config_rejects_unknown_keys_and_adds_the_trained_risk(tmp_path):
    path = tmp_path / "risk.yaml"
    path.write_text("risk_type: fraud\nmodel:\n  tasks: [abusive_account]\n  epochs: 2\n")
    cfg = config_mod.load_model_config(path, "fraud")
    assert cfg["tasks"] == ["fraud", "abusive_account"] and cfg["epochs"] == 2
    path.write_text("model:\n  hidden_unit: [3]\n")
    with pytest.raises(config_mod.ConfigError, match="hidden_unit"):
        config_mod.load_model_config(path, "fraud")


def test_mixed_precision_model_trains_with_float32_heads(training_set, cfg):
    import keras

    from integrity_risk.training.model import build_model

    spec, sample = _spec_and_sample(training_set, cfg)
    keras.mixed_precision.set_global_policy("mixed_float16")  # what choose_strategy sets on GPU
    try:
        model = build_model(cfg, spec, sample)
        assert model.get_layer("shared_dense_0").compute_dtype == "float16"
        assert all(model.get_layer(t).compute_dtype == "float32" for t in cfg["tasks"])
        ds = data.parquet_dataset(training_set / "validation.parquet", spec, 128, shuffle=False)
        history = model.fit(ds, epochs=1, shuffle=False, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        out = model.predict(ds.map(lambda x, y, w: x), verbose=0)
        assert all(out[t].dtype == np.float32 for t in cfg["tasks"])
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("tasks", [[RISK], [RISK, "fake_engagement"]])
def test_early_stopping_watches_a_metric_keras_actually_logs(training_set, cfg, tasks):
    from integrity_risk.training.model import build_model
    from integrity_risk.training.train import monitor_key, with_head_names

    one = {**cfg, "tasks": tasks}
    spec, sample = _spec_and_sample(training_set, one)
    model = build_model(one, spec, sample)
    ds = data.parquet_dataset(training_set / "validation.parquet", spec, 256, shuffle=False)
    logs = model.fit(ds, validation_data=ds, epochs=1, shuffle=False, verbose=0).history
    assert monitor_key(tasks, RISK) in logs
    assert f"val_{RISK}_pr_auc" in with_head_names({k: v[0] for k, v in logs.items()}, tasks)


def test_training_goes_on_while_the_heads_validation_pr_auc_stays_at_its_best(tmp_path, cfg, client):
    from integrity_risk.training.train import run_training

    frame = make_frame(1200, seed=3)
    # One feature separates the classes: the ranking is perfect early, and the fit goes on improving.
    positive = frame[FEATURES[7]] > 0.8
    frame[FEATURES[7]] = frame[FEATURES[7]].where(~positive, frame[FEATURES[7]] + 4.0)
    frame[f"label_{RISK}"] = positive.astype("float64")
    folder = write_training_set(tmp_path / "ts", frame)
    one = {**cfg, "epochs": 8, "patience": 2, "baseline": False}
    result = run_training(folder, RISK, one, registered_model="integrity_early_stop_test")

    def history(key):
        return [m.value for m in sorted(client.get_metric_history(result["run_id"], key), key=lambda m: m.step)]

    assert history(f"val_{RISK}_pr_auc")[:3] == [1.0, 1.0, 1.0]  # nothing left to gain in the ranking
    assert result["metrics"]["epochs_run"] == 8
    val_loss = history(f"val_{RISK}_loss")
    assert val_loss[-1] < val_loss[2]


def test_a_sqlite_registry_keeps_its_artifacts_beside_the_database_not_in_the_working_directory(tmp_path, monkeypatch):
    from integrity_risk.tracking import artifact_root

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'e2e' / 'mlflow.db'}")
    assert artifact_root() == (tmp_path / "e2e" / "artifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert artifact_root() is None


def _drive_early_stopping(pr_aucs, losses, patience=2):
    """Feed epoch logs to the trainer's early stopping; each epoch's weights are its epoch number."""
    import keras

    from integrity_risk.training.callbacks import RankingEarlyStopping

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.stop_training = False  # as fit() sets it
    early = RankingEarlyStopping("val_pr_auc", patience=patience)
    early.set_model(model)
    early.on_train_begin()
    epochs = 0
    for epoch, (pr_auc, loss) in enumerate(zip(pr_aucs, losses, strict=False)):
        model.set_weights([np.full((1, 1), float(epoch))])
        early.on_epoch_end(epoch, {"val_pr_auc": pr_auc, "val_loss": loss})
        epochs += 1
        if model.stop_training:
            break
    early.on_train_end()
    return epochs, int(model.get_weights()[0][0, 0])


def test_a_slow_decline_within_the_tie_tolerance_stops_and_keeps_the_best_epochs_weights():
    # Each epoch is within 1e-4 of the one before, but drifts ever further below the best.
    pr_aucs = [0.9 - 0.00005 * i for i in range(20)]
    epochs, restored = _drive_early_stopping(pr_aucs, [0.3 + 0.01 * i for i in range(20)], patience=2)
    assert epochs < 20  # it stops
    assert restored == 0  # the best epoch's weights, not the last (worse) ones


def test_tied_epochs_at_a_saturated_pr_auc_keep_the_weights_with_the_lowest_validation_loss():
    epochs, restored = _drive_early_stopping(
        [1.0, 0.99999994, 1.0, 1.0, 1.0, 0.8, 0.8], [0.5, 0.4, 0.3, 0.35, 0.32, 0.2, 0.2], patience=2
    )
    assert epochs == 7 and restored == 2
