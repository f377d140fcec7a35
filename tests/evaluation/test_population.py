"""Population scoring against the real HiveServer2 and MLflow registry: every account of the
evaluation days scored by candidate and champion, written to eval.shadow_scores, and what
approval changes in the report.

The feature tables get partitions of their real schema (include/hql/feature_tables.hql) for
accounts whose ``account_pk`` is a hex digest, as the extract writes it, so the account ranges
split them; the operator reads them as on the local profile (the warehouse's files).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from integrity_risk.evaluation import population as p
from integrity_risk.features.training_set import account_ranges

keras = pytest.importorskip("keras")

from integrity_risk.operators.shadow_eval import ShadowEvalError, ShadowEvalOperator  # noqa: E402

RISK = "fraud"
MODEL = "integrity_population_test"
WINDOW = ["2027-02-01", "2027-02-02", "2027-02-03"]  # the candidate's training window; apart from other tests' days
EVALUATED = ["2027-02-04", "2027-02-05"]  # after its training cutoff
RUN_DAY = EVALUATED[-1]
CUTOFF = "2027-02-04T12:00:00+00:00"
N = 2500
INPUTS = ("fraud_daily__payment_attempts_1d", "account_daily__events_1d")


def _pk(i: int) -> str:
    return hashlib.sha256(f"account-{i}".encode()).hexdigest()


@pytest.fixture(scope="module")
def feature_days(hiveserver2):
    from integrity_local.feature_frames import load_partition, random_partition
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    hook.run_hql_file("feature_tables.hql")
    accounts = [_pk(i) for i in range(N)]
    for k, ds in enumerate([*WINDOW, *EVALUATED]):
        for table in ("features.account_daily", "features.fraud_daily"):
            load_partition(hook, table, random_partition(table, accounts, ds, seed=100 + k), ds)
    return hiveserver2


LABELLED_DAYS = ["2027-02-03", "2027-02-04"]  # the partitions the labels matured since the cutoff are judged on


@pytest.fixture(scope="module")
def labels_partition(feature_days):
    """features.labels of the run's day: fraud labels matured (maturity 0) after the cutoff, and some that do not count.

    Returns ``{day: {account_pk: label}}`` of those that count, and the accounts whose label is unknown.
    """
    from integrity_local.feature_frames import load_partition
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    rng = np.random.default_rng(11)
    rows, counted = [], {day: {} for day in LABELLED_DAYS}

    def label(i, risk, value, observed, labeled):
        rows.append((_pk(i), risk, value, pd.Timestamp(labeled, tz="UTC"), pd.Timestamp(observed, tz="UTC")))

    # Observed on 02-05 (the features known then: partition 02-04) and on 02-04 after the cutoff (partition 02-03).
    for i in range(0, 300):
        day, observed = (LABELLED_DAYS[1], "2027-02-05T09:00") if i % 2 else (LABELLED_DAYS[0], "2027-02-04T18:00")
        value = int(rng.random() < 0.4)
        label(i, RISK, value, observed, observed[:10] + "T20:00")
        counted[day][_pk(i)] = float(value)
    unknown = set()
    for i in range(300, 340):  # labelled for another risk: not a fraud negative
        label(i, "spam_redirect", 1, "2027-02-05T09:00", "2027-02-05T20:00")
        unknown.add(_pk(i))
    for i in range(340, 360):  # observed before the cutoff: the candidate may have trained on it
        label(i, RISK, 1, "2027-02-04T08:00", "2027-02-04T09:00")
        unknown.add(_pk(i))
    for i in range(360, 380):  # not matured by the end of the run's day
        label(i, RISK, 1, "2027-02-05T09:00", "2027-02-06T03:00")
        unknown.add(_pk(i))
    frame = pd.DataFrame(rows, columns=["account_pk", "risk_type", "label", "labeled_at", "observed_at"])
    hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    load_partition(hook, "features.labels", frame, RUN_DAY)
    return counted, unknown


def _keras_model(weights, bias):
    inputs = {n: keras.Input(shape=(1,), name=n) for n in INPUTS}
    dense = keras.layers.Dense(1, activation="sigmoid", name=RISK)
    model = keras.Model(inputs=inputs, outputs={RISK: dense(keras.layers.Concatenate()(list(inputs.values())))})
    dense.set_weights([np.array(weights, "float32").reshape(2, 1), np.array([bias], "float32")])
    return model


def _register(model, manifest=None) -> int:
    import mlflow

    from integrity_risk.training.registry import log_and_register

    with mlflow.start_run():
        if manifest:
            mlflow.log_dict(manifest, "training_set/manifest.json")
        tags = {"risk_type": RISK, "training_cutoff": CUTOFF}
        return int(log_and_register(model, MODEL, tags)["version"])


@pytest.fixture(scope="module")
def models(mlflow_registry):
    """A champion promoted at threshold 0.5 (its audit says so) and a candidate that weighs events too."""
    champion = _register(_keras_model([0.8, 0.0], -3.0))
    audit = json.dumps({"event_id": "p1", "metrics": {"candidate_threshold": 0.5}})
    mlflow_registry.set_model_version_tag(MODEL, champion, "last_promote", "p1")
    mlflow_registry.set_model_version_tag(MODEL, champion, "audit_promote_p1", audit)
    mlflow_registry.set_registered_model_alias(MODEL, "champion", champion)
    # Its training run logged the manifest whose train split names the window (feature_ts: the next midnight).
    first, last = (pd.Timestamp(d, tz="UTC") + pd.Timedelta(days=1) for d in (WINDOW[0], WINDOW[-1]))
    manifest = {"time_range": {"train": [first.isoformat(), last.isoformat()]}}
    candidate = _register(_keras_model([0.5, 0.35], -3.5), manifest)
    return champion, candidate


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """The labelled evaluation rows (a test split after the cutoff) with the models' inputs."""
    rng = np.random.default_rng(3)
    n = 800
    y = (rng.random(n) < 0.25).astype(float)
    frame = pd.DataFrame(
        {
            "account_pk": [_pk(10_000 + i) for i in range(n)],
            "event_timestamp": pd.Timestamp("2027-02-05T06:00", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 36_000, n), unit="s"),
            INPUTS[0]: rng.poisson(3, n) + 3 * y,
            INPUTS[1]: rng.poisson(3, n) + 2 * y,
            f"label_{RISK}": y,
        }
    )
    path = tmp_path_factory.mktemp("population") / "test.parquet"
    frame.to_parquet(path)
    return path


def _operator(path, **kwargs):
    args = dict(
        task_id="shadow_eval",
        risk_type=RISK,
        evaluation_data=str(path),
        ds=RUN_DAY,
        model_name=MODEL,
        n_bootstrap=20,
        operating_fpr=0.05,
        feature_service="fraud_v1",
        population_batch_accounts=1000,  # three account ranges a day
        maturity_days=0,
        attribution_rows=64,
        drift_days=0,
    )
    return ShadowEvalOperator(**{**args, **kwargs})


def test_account_ranges_cover_every_account_once_in_near_equal_shares():
    pks = pd.Series([_pk(i) for i in range(20_000)])
    ranges = account_ranges(5)
    sizes = []
    for r in ranges:
        inside = (pks >= r.low) & ((pks < r.high) if r.high else True)
        sizes.append(int(inside.sum()))
    assert sum(sizes) == len(pks)
    assert max(sizes) < 1.1 * len(pks) / 5 and min(sizes) > 0.9 * len(pks) / 5
    with pytest.raises(ValueError, match="must be an int in"):
        account_ranges(0)


def test_evaluation_days_are_the_partitions_after_the_cutoff_up_to_the_run_day():
    assert p.evaluation_days(RUN_DAY, CUTOFF, 7) == EVALUATED
    assert p.evaluation_days(RUN_DAY, CUTOFF, 1) == [RUN_DAY]
    assert p.evaluation_days(RUN_DAY, None, 3) == [RUN_DAY]
    # A cutoff at midnight: partition 02-03 holds the features as of 02-04 00:00, not after it.
    assert p.evaluation_days(RUN_DAY, "2027-02-04T00:00:00Z", 7) == EVALUATED


def test_matured_labels_label_every_account_of_their_day_and_only_unlabelled_accounts_are_negatives(
    warehouse, labels_partition
):
    from integrity_risk.features.training_set import read_labels

    counted, unknown = labels_partition
    labels = p.matured_labels(read_labels(RUN_DAY, "local"), RISK, CUTOFF, RUN_DAY, maturity_days=0)
    assert labels.days == LABELLED_DAYS
    assert labels.positives == sum(v == 1.0 for day in counted.values() for v in day.values())
    accounts = pd.Series([_pk(i) for i in range(N)])
    for day in LABELLED_DAYS:
        got = dict(zip(accounts, labels.of(day, accounts), strict=True))
        assert {a: got[a] for a in counted[day]} == counted[day]
        assert all(np.isnan(got[a]) for a in unknown)
        # An account labelled on the other day is unknown here; one with no label at all is a negative.
        other = next(iter(counted[LABELLED_DAYS[0] if day == LABELLED_DAYS[1] else LABELLED_DAYS[1]]))
        assert np.isnan(got[other]) and got[_pk(N - 1)] == 0.0
    # With a maturity of a day, only the labels enforced before 02-05 count: those observed on 02-04.
    assert p.matured_labels(read_labels(RUN_DAY, "local"), RISK, CUTOFF, RUN_DAY, maturity_days=1).days == [
        "2027-02-03"
    ]


def test_matured_labels_count_an_exclusive_risks_positives_as_negatives(warehouse, labels_partition):
    from integrity_risk.features.training_set import read_labels

    counted, unknown = labels_partition
    labels = p.matured_labels(
        read_labels(RUN_DAY, "local"), RISK, CUTOFF, RUN_DAY, maturity_days=0, exclusive_of=["spam_redirect"]
    )
    spam = [_pk(i) for i in range(300, 340)]  # labelled spam_redirect only
    accounts = pd.Series([_pk(i) for i in range(N)])
    for day in LABELLED_DAYS:
        got = dict(zip(accounts, labels.of(day, accounts), strict=True))
        assert all(got[a] == 0.0 for a in spam)
        assert {a: got[a] for a in counted[day]} == counted[day]
        # The other unknowns (fraud labels before the cutoff or not matured) stay unknown.
        assert all(np.isnan(got[a]) for a in unknown - set(spam))
    assert "spam_redirect" in labels.note


def test_every_account_of_the_evaluation_days_is_scored_by_both_models_and_the_flips_are_the_decisions(
    warehouse, models, labelled, labels_partition, hive_hook
):
    from integrity_risk.evaluation.drift import day_features, service_features
    from integrity_risk.storage import as_storage_path
    from integrity_risk.training.scoring import score

    champion, candidate = models
    metrics = _operator(labelled, candidate_version=candidate).execute({"run_id": "manual__population"})
    json.dumps(metrics, allow_nan=False)
    population = metrics["population"]
    assert population["days_scored"] == EVALUATED
    assert [d["accounts"] for d in population["days"]] == [N, N]

    # One row per account and day in the scores table, through the storage root.
    rows = hive_hook.get_records(
        "SELECT to_date(event_timestamp), count(*), count(DISTINCT account_pk), sum(candidate_flagged), "
        "sum(champion_flagged), sum(CASE WHEN candidate_flagged <> champion_flagged THEN 1 ELSE 0 END) "
        f"FROM eval.shadow_scores WHERE risk_type = '{RISK}' AND ds = '{RUN_DAY}' GROUP BY to_date(event_timestamp) "
        "ORDER BY 1"
    )
    assert [(str(r[0]), r[1], r[2]) for r in rows] == [("2027-02-05", N, N), ("2027-02-06", N, N)]

    # The decisions, taken again here from the two models and their thresholds.
    service = service_features("fraud_v1", "local")
    t_cand = metrics["overall"]["candidate"]["threshold"]
    assert population["thresholds"] == {"candidate": t_cand, "champion": 0.5}  # production's, from its audit
    for day, day_figures, (_, _, _, cand_flags, champ_flags, flips) in zip(
        EVALUATED, population["days"], rows, strict=True
    ):
        frame = day_features(service, [day], "local")
        cand = score(f"models:/{MODEL}/{candidate}", frame)[f"score_{RISK}"].to_numpy() >= t_cand
        champ = score(f"models:/{MODEL}/{champion}", frame)[f"score_{RISK}"].to_numpy() >= 0.5
        assert (day_figures["candidate_flagged"], day_figures["champion_flagged"]) == (cand.sum(), champ.sum())
        assert (day_figures["newly_flagged"], day_figures["no_longer_flagged"]) == (
            (cand & ~champ).sum(),
            (champ & ~cand).sum(),
        )
        assert (cand_flags, champ_flags, flips) == (cand.sum(), champ.sum(), (cand != champ).sum())
    assert population["newly_flagged"] + population["no_longer_flagged"] > 0

    # The labelled metrics judge every account of the days whose labels matured since the cutoff,
    # not the test split: its figures are kept beside them.
    counted, unknown = labels_partition
    assert metrics["labelled_source"].startswith("every fraud label matured (0 days) by the end of 2027-02-05")
    assert metrics["labeled_rows"] == 2 * N - 2 * len(unknown) - sum(len(d) for d in counted.values())
    assert metrics["positives"] == sum(v == 1.0 for d in counted.values() for v in d.values())
    assert metrics["test_split"]["labeled_rows"] == 800
    # The threshold flags the operating FPR of the population's negatives, not of a sample of them.
    assert metrics["overall"]["candidate"]["fpr_at_threshold"] <= 0.05
    # The evaluation day 02-04 is a labelled day: its rows in the scores table carry their labels.
    [(labelled_rows, positives)] = hive_hook.get_records(
        f"SELECT count(label), sum(label) FROM eval.shadow_scores WHERE risk_type = '{RISK}' AND ds = '{RUN_DAY}' "
        "AND to_date(event_timestamp) = '2027-02-05'"
    )
    assert labelled_rows == N - len(unknown) - len(counted[LABELLED_DAYS[0]])
    assert positives == sum(counted[LABELLED_DAYS[1]].values())
    assert population["flip_rate"] == pytest.approx(
        (population["newly_flagged"] + population["no_longer_flagged"]) / (2 * N)
    )
    assert population["alert_volume_ratio"] == pytest.approx(
        population["candidate_flagged"] / population["champion_flagged"]
    )
    assert sum(population["score_histogram"]["candidate"]) == 2 * N
    assert {r["name"] for r in population["feature_psi"]} >= set(INPUTS)
    assert population["psi_note"].startswith("training window sample of 7500 account-days against 2500 accounts")

    # The newly flagged accounts, highest candidate score first, each with its top attributions.
    newly = population["newly_flagged_sample"]
    assert 0 < len(newly) <= 5
    assert [r["candidate_score"] for r in newly] == sorted((r["candidate_score"] for r in newly), reverse=True)
    assert all(r["candidate_score"] >= t_cand and r["champion_score"] < 0.5 for r in newly)
    assert {a["feature"] for a in newly[0]["top_attributions"]} <= set(INPUTS)

    summary = as_storage_path(metrics["summary_path"]).read_text()
    assert "### What approval changes" in summary
    assert f"| 2027-02-05 | {N:,} |" in summary and f"`{newly[0]['account_pk'][:16]}`" in summary

    # A re-run replaces the partition.
    _operator(labelled, candidate_version=candidate).execute({"run_id": "manual__population"})
    assert hive_hook.get_first(
        f"SELECT count(*) FROM eval.shadow_scores WHERE risk_type = '{RISK}' AND ds = '{RUN_DAY}'"
    ) == (2 * N,)


def test_no_accounts_on_the_evaluation_days_fails_naming_them_and_writes_nothing(
    warehouse, models, labelled, hive_hook
):
    _, candidate = models
    with pytest.raises(ShadowEvalError, match=r"population scoring of 2027-03-0.*no accounts with features"):
        _operator(labelled, candidate_version=candidate, ds="2027-03-03").execute({"run_id": "manual__empty"})
    assert hive_hook.get_first(
        f"SELECT count(*) FROM eval.shadow_scores WHERE risk_type = '{RISK}' AND ds = '2027-03-03'"
    ) == (0,)
