"""Behaviour drift against the real HiveServer2 and MLflow: figures, the eval.feature_drift partition,
notification, and a drifted day that still succeeds.

The feature tables get small partitions of their real schema (include/hql/feature_tables.hql),
loaded through the hook; the operator reads them as on the local profile (the warehouse's files).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from integrity_local.feature_frames import load_partition, random_partition
from integrity_risk.evaluation.drift import FEATURE_PSI, DriftBounds, feature_noise, feature_psi, judge
from integrity_risk.notifiers.log import LOGGER_NAME
from integrity_risk.operators.feature_drift import FeatureDriftOperator

RISK = "fraud"
DAYS = ["2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04"]  # apart from the other tests' days
DAY, SHIFTED = "2027-01-05", "2027-01-06"
N = 300
ACCOUNTS = [f"{i:064x}" for i in range(N)]
BOUNDS = {"max_psi": 0.25, "max_flag_rate_ratio": 2.0, "min_volume_ratio": 0.5, "max_volume_ratio": 2.0}


@pytest.fixture(scope="module")
def feature_days(hiveserver2, hive_hook):
    """Four calm days, a calm ``DAY`` and a ``SHIFTED`` day whose fraud counts are five times larger."""
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    hook.run_hql_file("feature_tables.hql")
    for k, ds in enumerate([*DAYS, DAY, SHIFTED]):
        for table in ("features.account_daily", "features.fraud_daily"):
            shift = 5.0 if ds == SHIFTED and table == "features.fraud_daily" else 1.0
            load_partition(hook, table, random_partition(table, ACCOUNTS, ds, seed=k, shift=shift), ds)
    return hiveserver2


def _operator(**kwargs):
    args = dict(
        task_id="feature_drift",
        risk_type=RISK,
        ds=DAY,
        feature_service="fraud_v1",
        bounds=BOUNDS,
        reference_days=4,
        volume_columns={"features.fraud_daily": ["payment_attempts_1d"]},
        notifiers=[{"class": "integrity_risk.notifiers.log.LogNotifier"}],
        model_name="integrity_drift_test",  # no champion unless a test makes one
    )
    return FeatureDriftOperator(**{**args, **kwargs})


def _partition(hook, ds):
    return hook.get_df(
        f"SELECT kind, name, value, ratio, over_bound, reference, run_id FROM eval.feature_drift "
        f"WHERE risk_type = '{RISK}' AND ds = '{ds}'"
    ).rename(columns=lambda c: c.split(".")[-1])


def test_psi_of_shifted_features_is_above_the_bound_and_of_the_same_population_near_zero():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "v__count": rng.poisson(3, 2000),
            "v__amount": rng.gamma(2, 10, 2000),
            "v__country": rng.choice(["DE", "US"], 2000),
            "v__empty": np.nan,
        }
    )
    same = pd.DataFrame(
        {
            "v__count": rng.poisson(3, 2000),
            "v__amount": rng.gamma(2, 10, 2000),
            "v__country": rng.choice(["DE", "US"], 2000),
            "v__empty": np.nan,
        }
    )
    moved = same.assign(
        v__count=rng.poisson(9, 2000), v__amount=same["v__amount"] * 3, v__country=rng.choice(["DE", "BR"], 2000)
    )
    names = list(reference.columns)
    calm = {r["name"]: r for r in feature_psi(reference, same, names)}
    drifted = {r["name"]: r for r in feature_psi(reference, moved, names)}
    assert all(calm[n]["value"] < 0.05 for n in ("v__count", "v__amount", "v__country")), calm
    assert all(drifted[n]["value"] > 0.25 for n in ("v__count", "v__amount", "v__country")), drifted
    # A feature NULL everywhere has no distribution to compare: no PSI, and its NULL share says why.
    assert calm["v__empty"]["value"] is None and calm["v__empty"]["null_share"] == 1.0
    assert {r["kind"] for r in calm.values()} == {FEATURE_PSI}


def _clumps(rng, day):
    """One day of accounts, some behind shared IPs: 30 clumps whose sizes (the feature) change every day."""
    sizes = rng.integers(20, 200, size=30)
    values = np.concatenate([np.zeros(2000), *[np.full(n, n) for n in sizes]])
    return pd.DataFrame(
        {"feature_ts": pd.Timestamp(day, tz="UTC"), "v__shared": values, "v__count": rng.poisson(3, values.size)}
    )


def test_a_feature_that_moves_every_ordinary_day_drifts_only_past_its_own_noise():
    rng = np.random.default_rng(1)
    names = ["v__shared", "v__count"]
    reference = pd.concat([_clumps(rng, f"2027-02-0{d}") for d in range(1, 8)], ignore_index=True)
    noise = feature_noise(reference, names)
    # The clumps' sizes move daily: its normal day-to-day PSI is far above the count's.
    assert noise["v__shared"] > 0.25 > 0.05 > noise["v__count"], noise
    bounds = DriftBounds(max_psi=0.25, noise_multiplier=2.0)

    ordinary = [
        {r["name"]: r for r in judge(feature_psi(reference, _clumps(rng, "2027-02-08"), names, noise), bounds)}
        for _ in range(40)
    ]
    # A fixed bound calls many ordinary days drifted; the feature's own noise hardly any (the noise
    # of 7 days is an estimate: a rare ordinary day still passes twice it).
    assert sum(rows["v__shared"]["value"] > 0.25 for rows in ordinary) >= 4
    assert sum(rows["v__shared"]["over_bound"] for rows in ordinary) <= 2
    assert all(rows["v__count"]["over_bound"] == 0 for rows in ordinary)
    shared, count = ordinary[0]["v__shared"], ordinary[0]["v__count"]
    assert shared["reference_value"] == pytest.approx(noise["v__shared"])
    assert shared["bound_high"] == pytest.approx(2 * noise["v__shared"]) and count["bound_high"] == 0.25

    # Everyone behind a shared IP now shares it with ten times as many: past its own noise too.
    day = _clumps(rng, "2027-02-08")
    moved = day.assign(v__shared=day["v__shared"] * 10, v__count=rng.poisson(9, len(day)))
    rows = {r["name"]: r for r in judge(feature_psi(reference, moved, names, noise), bounds)}
    assert rows["v__shared"]["over_bound"] == 1 and rows["v__count"]["over_bound"] == 1, rows
    one_day = reference[reference["feature_ts"] == reference["feature_ts"].iloc[0]]
    assert feature_noise(one_day, names) == {}  # no second day to measure the noise against


def test_the_operator_writes_its_partition_and_a_rerun_replaces_it(warehouse, mlflow_registry, hive_hook):
    first = _operator().execute({"run_id": "manual__1"})
    assert first["drifted"] is False and first["features_over_bound"] == [] and first["notified"] == []
    assert (
        first["reference"].startswith("trailing 4 days 2027-01-01..2027-01-04") and "no champion" in first["reference"]
    )
    written = _partition(hive_hook, DAY)
    psi = written[written["kind"] == FEATURE_PSI]
    # Every feature of fraud_v1, the request-time ratios included, under the training set's names.
    assert {
        "fraud_daily__payment_attempts_1d",
        "account_daily__country",
        "fraud_ratios__payment_attempts_1d_share_7d",
    } <= set(psi["name"])
    assert psi["value"].max() < 0.25
    volumes = written.set_index("name")
    assert volumes.loc["rows:features.fraud_daily", "ratio"] == pytest.approx(1.0)
    assert 0.5 < volumes.loc["sum:features.fraud_daily.payment_attempts_1d", "ratio"] < 2.0

    _operator().execute({"run_id": "manual__2"})
    again = _partition(hive_hook, DAY)
    assert len(again) == len(written) and set(again["run_id"]) == {"manual__2"}


def test_drift_past_its_bound_notifies_and_returns_drifted_without_failing(warehouse, mlflow_registry, caplog):
    notifiers = [
        {"class": "integrity_risk.notifiers.log.LogNotifier"},
        {"class": "integrity_risk.notifiers.log.LogNotifier", "kwargs": {"level": "NOPE"}},  # fails when built
    ]
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        result = _operator(ds=SHIFTED, notifiers=notifiers).execute({"run_id": "manual__3"})
    assert result["drifted"] is True
    assert "fraud_daily__payment_attempts_1d" in result["features_over_bound"]
    assert not any(f.startswith("account_daily__") for f in result["features_over_bound"])  # that table did not move
    volume = {r["name"]: r for r in result["over_bound"] if r["kind"] == "volume"}
    assert volume["sum:features.fraud_daily.payment_attempts_1d"]["ratio"] > 2.0
    # The first notifier sent; the broken one was logged, and the task still succeeded.
    assert result["notified"] == ["integrity_risk.notifiers.log.LogNotifier"]
    sent = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert len(sent) == 1
    assert f"Drift in {RISK} on {SHIFTED}" in sent[0]
    assert "fraud_daily__payment_attempts_1d: PSI" in sent[0] and "> 0.25" in sent[0]


@pytest.fixture
def champion(mlflow_registry):
    """A Keras champion of ``integrity_drift_test`` on two features, its logged training window and audited threshold."""
    keras = pytest.importorskip("keras")
    import mlflow

    from integrity_risk.training.registry import log_and_register

    names = ("fraud_daily__payment_attempts_1d", "account_daily__events_1d")
    inputs = {n: keras.Input(shape=(1,), name=n) for n in names}
    dense = keras.layers.Dense(1, activation="sigmoid", name=RISK)
    model = keras.Model(inputs=inputs, outputs={RISK: dense(keras.layers.Concatenate()(list(inputs.values())))})
    dense.set_weights([np.array([[0.8], [0.0]], "float32"), np.array([-4.0], "float32")])
    # What the training run logs: the manifest whose train split names the window's days (feature_ts
    # is the next midnight).
    first, last = (pd.Timestamp(d, tz="UTC") + pd.Timedelta(days=1) for d in (DAYS[0], DAYS[-1]))
    manifest = {"time_range": {"train": [first.isoformat(), last.isoformat()]}}
    with mlflow.start_run():
        mlflow.log_dict(manifest, "training_set/manifest.json")
        # The training set's folder lies on the machine that built it: the drift never reads it.
        tags = {"risk_type": RISK, "training_set": "/elsewhere/training_sets/fraud/2027-01-05"}
        version = log_and_register(model, "integrity_drift_test", tags)["version"]
    audit = json.dumps({"event_id": "e1", "metrics": {"candidate_threshold": 0.5}})
    mlflow_registry.set_model_version_tag("integrity_drift_test", version, "last_promote", "e1")
    mlflow_registry.set_model_version_tag("integrity_drift_test", version, "audit_promote_e1", audit)
    mlflow_registry.set_registered_model_alias("integrity_drift_test", "champion", version)
    yield int(version)
    mlflow_registry.delete_registered_model_alias("integrity_drift_test", "champion")


def test_with_a_champion_the_reference_is_its_training_window_and_its_flag_rate_is_a_figure(
    warehouse, champion, hive_hook
):
    calm = _operator().execute({"run_id": "manual__4"})
    # The window's whole population (4 days of 300 accounts), read from the feature tables.
    assert calm["reference"] == f"champion v{champion}: its training window {DAYS[0]}..{DAYS[-1]} (1200 account-days)"
    assert calm["champion_version"] == champion and not calm["drifted"]

    shifted = _operator(ds=SHIFTED).execute({"run_id": "manual__5"})
    # Five times the payment attempts: the champion (threshold 0.5 from its promotion's audit)
    # flags far more accounts than in its training window.
    assert shifted["drifted"] and shifted["flag_rate_ratio"] > 2.0
    assert {"flag_rate", "score_psi"} <= {r["name"] for r in shifted["over_bound"]}
    scores = _partition(hive_hook, SHIFTED).set_index("name")
    assert scores.loc["flag_rate", "kind"] == "score" and scores.loc["flag_rate", "over_bound"] == 1
    assert {"score_p50", "score_p90", "score_p99"} <= set(scores.index)


def test_the_shadow_report_shows_the_days_x_features_heat_map_of_eval_feature_drift(warehouse, hive_hook, tmp_path):
    from integrity_risk.evaluation.report import write_report
    from integrity_risk.operators.shadow_eval import ShadowEvalOperator

    _operator().execute({"run_id": "manual__6"})
    _operator(ds=SHIFTED).execute({"run_id": "manual__7"})
    shadow = ShadowEvalOperator(
        task_id="shadow_eval", risk_type=RISK, evaluation_data="unused", ds=SHIFTED, drift_days=3, max_psi=0.25
    )
    psi = shadow._drift_psi()
    assert set(psi["ds"]) == {DAY, SHIFTED}  # the last 3 days up to ds that have figures
    shifted = psi.loc[psi["ds"] == SHIFTED].set_index("name").loc["fraud_daily__payment_attempts_1d"]
    assert shifted["value"] > 0.25 and shifted["over_bound"] == 1  # the report marks it past its own bound

    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(float)
    scores = np.clip(y * 0.5 + rng.random(400) * 0.5, 0, 1)
    from integrity_risk.evaluation.shadow import evaluate

    metrics = evaluate(pd.DataFrame({f"label_{RISK}": y}), RISK, scores, n_bootstrap=20, min_slice_size=10)
    metrics.update(candidate_version=1, champion_version=None, model_name="m", run_id="r")
    report, _ = write_report(metrics, out_dir=tmp_path, labels=y, candidate_scores=scores, drift_psi=psi, max_psi=0.25)
    html = report.read_text()
    assert 'alt="Feature drift over the last days (PSI)" src="data:image/png;base64,' in html


def test_on_drift_trains_the_delay_after_a_drift_began_as_read_from_eval_feature_drift(warehouse, hive_hook):
    import datetime as dt

    from integrity_risk.model_cycle import model_day

    _operator().execute({"run_id": "manual__8"})  # calm
    _operator(ds=SHIFTED).execute({"run_id": "manual__9"})  # the drift begins
    start = "2026-12-01"  # the fixed cycle of 30 days trains on none of these days

    def decides(ds, delay, model_cycle="on_drift", run_training="auto"):
        return model_day(run_training, ds, start, 30, model_cycle, RISK, delay)

    later = (dt.date.fromisoformat(SHIFTED) + dt.timedelta(days=3)).isoformat()
    assert decides(SHIFTED, 0) and decides(later, 3)  # on the day it began, or the delay after
    assert not decides(DAY, 0) and not decides(later, 2) and not decides(later, 4)
    assert not decides(later, 3, model_cycle="fixed") and not decides(later, 3, run_training="no")
