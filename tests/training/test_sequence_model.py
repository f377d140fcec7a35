"""The temporal encoder: sequence inputs' shapes, the mask, training on a signal only the days show, scoring, transfer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from integrity_local.training_data import add_sequences, make_frame, write_training_set
from integrity_risk.config import model as config_mod
from integrity_risk.features.sequences import MASK_COLUMN, SequenceSpec, sequence_name, stack_column
from integrity_risk.training import data

DAYS = 14
# Its registered model is its own (integrity_fake_engagement): the other training tests count versions of theirs.
RISK = "fake_engagement"
EVENTS = sequence_name("account_daily", "events_1d")
FAILS = sequence_name("account_daily", "fail_ratio_1d")


@pytest.fixture(scope="module")
def seq_set(tmp_path_factory):
    frame = add_sequences(make_frame(4000, seed=2), DAYS, seed=2, task=RISK)
    folder = tmp_path_factory.mktemp("seq") / RISK / "2026-11-01"
    return write_training_set(folder, frame, sequence_days=DAYS, feature_service="fake_engagement_v1")


@pytest.fixture(scope="module")
def cfg(model_section):
    return config_mod.resolve_config({**model_section, "tasks": [RISK, "abusive_account"]}, RISK)


def _spec_and_sample(folder, cfg):
    schemas = data.check_training_set(folder, cfg["tasks"])
    manifest = data.read_manifest(folder)
    names = manifest["features"] + SequenceSpec.from_dict(manifest["sequence"]).names
    sample = data.read_sample(folder / "train.parquet", names, 10_000)
    return data.infer_feature_spec(schemas["train"], manifest, cfg["tasks"], sample), sample


def test_sequence_inputs_stream_as_days_per_example_beside_the_flat_features(seq_set, cfg):
    from integrity_risk.training.model import build_model

    spec, sample = _spec_and_sample(seq_set, cfg)
    assert spec.sequence == [EVENTS, FAILS] and spec.sequence_days == DAYS
    assert spec.sequence_log == [EVENTS]  # a count; the ratio is not
    x, _, _ = next(iter(data.parquet_dataset(seq_set / "train.parquet", spec, 128, shuffle=False)))
    assert x[EVENTS].shape == (128, DAYS) and x[MASK_COLUMN].shape == (128, DAYS)
    assert x["account_daily__noise_a"].shape == (128, 1)
    first = pd.read_parquet(seq_set / "train.parquet").iloc[0]
    np.testing.assert_array_equal(x[EVENTS].numpy()[0], np.asarray(first[EVENTS], dtype="float32"))
    model = build_model(cfg, spec, sample)
    shapes = {t.name: tuple(t.shape) for t in model.inputs}
    assert shapes[EVENTS] == (None, DAYS) and shapes[MASK_COLUMN] == (None, DAYS)
    assert [layer.name for layer in model.layers if layer.name.startswith("shared_seq")] == [
        "shared_seq_conv_0",
        "shared_seq_conv_1",
    ]


def test_days_before_the_account_existed_do_not_move_the_score(seq_set, cfg):
    from integrity_risk.training.model import build_model

    spec, sample = _spec_and_sample(seq_set, cfg)
    model = build_model(cfg, spec, sample)
    rows = pd.read_parquet(seq_set / "test.parquet")
    young = rows[[stack_column([m])[0].min() == 0 for m in rows[MASK_COLUMN]]].head(64)
    assert len(young) > 10
    inputs = data.spec_inputs(young, spec)
    before = model.predict_on_batch(inputs)[RISK]
    masked = inputs[MASK_COLUMN] == 0
    for name in spec.sequence:
        inputs[name] = np.where(masked, 1e4, inputs[name]).astype("float32")
    np.testing.assert_allclose(model.predict_on_batch(inputs)[RISK], before, rtol=1e-6)
    # The days the accounts existed do move it (this test would notice a model deaf to the days).
    inputs[EVENTS] = np.where(masked, inputs[EVENTS], 200.0).astype("float32")
    assert np.abs(model.predict_on_batch(inputs)[RISK] - before).max() > 1e-4


@pytest.fixture(scope="module")
def trained_seq(seq_set, model_section, tmp_path_factory, fresh_registry):
    import json

    from integrity_risk.operators.tf_train import TFTrainOperator

    path = tmp_path_factory.mktemp("seqcfg") / f"{RISK}.json"
    path.write_text(json.dumps({"model": {**model_section, "tasks": [RISK, "abusive_account"]}}))
    op = TFTrainOperator(task_id="train", training_set=seq_set.as_uri(), risk_type=RISK, config=str(path))
    return op.execute(context={})


def test_the_encoder_learns_a_signal_only_the_days_show_and_the_registered_model_scores_it(trained_seq, seq_set):
    from integrity_risk.training.scoring import score, sequence_spec

    metrics = trained_seq["metrics"]
    prevalence, pr_auc = metrics[f"test_{RISK}_prevalence"], metrics[f"test_{RISK}_pr_auc"]
    # The surge of the last days is in no flat feature: a model blind to the days stays near prevalence.
    assert pr_auc > prevalence + 0.3, (pr_auc, prevalence)
    uri = f"models:/integrity_{RISK}/{trained_seq['version']}"
    assert sequence_spec(uri) == SequenceSpec(DAYS, ("events_1d", "fail_ratio_1d"))
    test = pd.read_parquet(seq_set / "test.parquet")
    scores = score(uri, test)
    assert set(scores.columns) == {f"score_{RISK}", "score_abusive_account"}
    # Longer sequences than the model reads (a population read for another model): it takes the newest days.
    longer = test.copy()
    for name in (EVENTS, FAILS, MASK_COLUMN):
        longer[name] = [np.concatenate([np.full(6, 7.0, "float32"), np.asarray(v, "float32")]) for v in test[name]]
    np.testing.assert_allclose(score(uri, longer).to_numpy(), scores.to_numpy(), rtol=1e-5, atol=1e-6)
    shorter = test.assign(**{EVENTS: [np.asarray(v)[-5:] for v in test[EVENTS]]})
    with pytest.raises(data.TrainingSetError, match=f"sequence column {EVENTS} holds 5 days; the model reads {DAYS}"):
        score(uri, shorter)


def test_lightgbm_sees_the_same_days_one_column_each(trained_seq):
    metrics = trained_seq["metrics"]
    assert metrics[f"baseline_test_{RISK}_pr_auc"] > metrics[f"test_{RISK}_prevalence"] + 0.3


def test_transfer_copies_the_temporal_encoder_with_the_tower(seq_set, cfg):
    from integrity_risk.training.model import build_model, warm_start_from

    spec, sample = _spec_and_sample(seq_set, cfg)
    source = build_model(cfg, spec, sample)
    # A new risk's model: another head, the same tower.
    target = build_model({**cfg, "tasks": ["scraping"]}, spec, sample)
    report = warm_start_from(target, source)
    assert {"shared_seq_conv_0", "shared_seq_conv_1", "shared_dense_0"} <= set(report["copied"])
    for name in ("shared_seq_conv_0", "shared_seq_conv_1"):
        for mine, theirs in zip(
            target.get_layer(name).get_weights(), source.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(mine, theirs)


def test_a_population_frame_gets_the_days_the_model_reads_from_the_warehouse(
    trained_seq, seq_set, tmp_path, monkeypatch
):
    """What the population scoring and the drift do: a day's frame without sequences, completed
    from the daily table's partitions up to its ``feature_ts``, scores as the training set's rows."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrity_risk.training.scoring import score, with_sequences

    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(tmp_path))
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local")
    test = pd.read_parquet(seq_set / "test.parquet")
    feature_ts = pd.Timestamp("2026-10-10", tz="UTC")  # its newest partition: 10-09
    events, fails, mask = (stack_column(test[n]) for n in (EVENTS, FAILS, MASK_COLUMN))
    age = test["account_daily__account_age_days"].to_numpy(dtype="float64")
    for j in range(DAYS):  # j = 0: the oldest day of the window
        back = DAYS - 1 - j
        ds = (dt.date(2026, 10, 9) - dt.timedelta(days=back)).isoformat()
        here = mask[:, j] > 0  # no row before the account existed
        part = tmp_path / "features.db" / "account_daily" / f"ds={ds}"
        part.mkdir(parents=True)
        pq.write_table(
            pa.table(
                {
                    "account_pk": test["account_pk"][here].to_numpy(),
                    "feature_ts": pa.array(
                        [feature_ts - pd.Timedelta(days=back)] * int(here.sum()), pa.timestamp("us", "UTC")
                    ),
                    "account_age_days": age[here] - back,
                    "events_1d": events[here, j].astype("int64"),
                    "fail_ratio_1d": fails[here, j].astype("float64"),
                }
            ),
            part / "part-00000.parquet",
        )
    uri = f"models:/integrity_{RISK}/{trained_seq['version']}"
    population = test.drop(columns=[EVENTS, FAILS, MASK_COLUMN, "event_timestamp"]).assign(feature_ts=feature_ts)
    completed = with_sequences(uri, population)
    for name, expected in ((EVENTS, events), (FAILS, fails), (MASK_COLUMN, mask)):
        np.testing.assert_allclose(stack_column(completed[name]), expected, rtol=1e-6)
    np.testing.assert_allclose(score(uri, completed).to_numpy(), score(uri, test).to_numpy(), rtol=1e-5, atol=1e-6)
    # A frame that has them already is left as it is (a training set's test split).
    assert with_sequences(uri, test) is test
