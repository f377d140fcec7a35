"""Training sets: point-in-time joins through Feast, negatives, time splits, manifest."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from integrity_risk.features.feast_store import apply_repo
from integrity_risk.features.training_set import TrainingSetError, build_training_set, point_in_time_join
from integrity_risk.operators.training_set import TrainingSetOperator

DS = "2026-03-10"
TASKS = ["fraud", "scraping"]
FRAUDSTER, CLEARED, SCRAPER = "f" * 64, "0" * 64, "5" * 64
BYSTANDERS = [f"{i:064x}" for i in range(1, 9)]


def days(first: str, n: int) -> list[str]:
    return [(date.fromisoformat(first) + timedelta(days=i)).isoformat() for i in range(n)]


@pytest.fixture
def world(feast_env):
    """Ten days of features; the fraudster's payment count jumps on 03-06, after it was judged."""
    everyone = [FRAUDSTER, CLEARED, SCRAPER, *BYSTANDERS]
    for ds in days("2026-02-28", 11):  # feature_ts 03-01 .. 03-11
        feast_env.write("account_daily", ds, [{"account_pk": pk, "base": i} for i, pk in enumerate(everyone)])
        attempts = 3 if ds < "2026-03-05" else 99  # known from feature_ts 03-06 on
        feast_env.write(
            "fraud_daily",
            ds,
            [
                {"account_pk": FRAUDSTER, "payment_attempts_7d": attempts, "payment_amount_sum_7d": 6.0},
                *({"account_pk": pk, "payment_attempts_7d": 1, "payment_amount_sum_7d": 1.0} for pk in everyone[1:]),
            ],
        )
    feast_env.write_labels(
        DS,
        [
            # Judged on 03-05 15:00: observed_at 03-05 00:00, so the features known then (3 attempts).
            {"account_pk": FRAUDSTER, "risk_type": "fraud", "label": 1, "labeled_at": "2026-03-05T15:00:00Z"},
            {"account_pk": CLEARED, "risk_type": "fraud", "label": 0, "labeled_at": "2026-03-08T09:00:00Z"},
            {"account_pk": SCRAPER, "risk_type": "scraping", "label": 1, "labeled_at": "2026-03-09T23:00:00Z"},
            {"account_pk": SCRAPER, "risk_type": "fraud", "label": 0, "labeled_at": "2026-03-09T01:00:00Z"},
            {
                "account_pk": BYSTANDERS[0],
                "risk_type": "spam_redirect",
                "label": 1,
                "labeled_at": "2026-03-02T00:00:00Z",
            },
        ],
    )
    apply_repo()
    return feast_env


def build(world, **kwargs):
    params = dict(
        risk_type="fraud",
        tasks=TASKS,
        feature_service="fraud_v1",
        ds=DS,
        lookback_days=10,
        validation_days=2,
        test_days=1,
        negatives_per_positive=3,
        seed=7,
        maturity_days=0,
        output_root=world.output_root,
    )  # maturity has its own test
    return build_training_set(**(params | kwargs))


def read(manifest) -> pd.DataFrame:
    from integrity_risk.storage import local_path

    return pd.concat(
        [pd.read_parquet(local_path(manifest["path"]) / f"{s}.parquet") for s in ("train", "validation", "test")],
        ignore_index=True,
    )


def test_a_feature_that_changed_after_the_label_time_does_not_leak(world):
    manifest = build(world)
    rows = read(manifest)
    fraud_row = rows[rows["label_fraud"] == 1.0]
    assert len(fraud_row) == 1
    assert fraud_row["event_timestamp"].iloc[0] == pd.Timestamp("2026-03-05", tz="UTC")
    assert fraud_row["fraud_daily__payment_attempts_7d"].iloc[0] == 3  # not the later 99
    assert fraud_row["fraud_ratios__payment_amount_per_attempt_7d"].iloc[0] == pytest.approx(2.0)


def test_labels_pivot_to_one_row_per_account_and_time_with_nan_for_unlabelled_tasks(world):
    rows = read(build(world, negatives_per_positive=0))
    scraper = rows[rows["account_pk"] == SCRAPER].set_index("event_timestamp")
    assert scraper.loc[pd.Timestamp("2026-03-09", tz="UTC"), "label_scraping"] == 1.0
    assert scraper.loc[pd.Timestamp("2026-03-09", tz="UTC"), "label_fraud"] == 0.0
    cleared = rows[rows["account_pk"] == CLEARED]
    assert cleared["label_fraud"].tolist() == [0.0] and cleared["label_scraping"].isna().all()
    # spam_redirect is not a task of this set: its label is left out, and so is the account.
    assert BYSTANDERS[0] not in set(rows["account_pk"]) and "label_spam_redirect" not in rows


def test_a_positive_of_an_exclusive_risk_is_a_negative_unless_the_account_has_a_label_of_the_risk(world):
    ring, enforced_late = BYSTANDERS[1], BYSTANDERS[2]

    def label(pk, risk, value, at):
        return {"account_pk": pk, "risk_type": risk, "label": value, "labeled_at": at}

    world.write_labels(
        DS,
        [
            label(FRAUDSTER, "fraud", 1, "2026-03-05T15:00:00Z"),
            label(SCRAPER, "scraping", 1, "2026-03-09T01:00:00Z"),
            label(ring, "scraping", 1, "2026-03-04T12:00:00Z"),
            # Enforced for scraping, then for fraud too: that label has not matured (maturity 1 day),
            # but it says the account is no fraud negative.
            label(enforced_late, "scraping", 1, "2026-03-04T12:00:00Z"),
            label(enforced_late, "fraud", 1, "2026-03-10T20:00:00Z"),
            label(BYSTANDERS[0], "spam_redirect", 1, "2026-03-02T00:00:00Z"),
        ],
    )

    def fraud_labels(**kwargs):
        rows = read(build(world, negatives_per_positive=0, maturity_days=1, **kwargs))
        return dict(zip(rows["account_pk"], rows["label_fraud"], strict=True))

    exclusive = fraud_labels(exclusive_of=["scraping"])
    assert exclusive[SCRAPER] == 0.0 and exclusive[ring] == 0.0 and exclusive[FRAUDSTER] == 1.0
    assert pd.isna(exclusive[enforced_late])
    unknown = fraud_labels()  # the default: another risk's account is unknown for this one
    assert all(pd.isna(unknown[pk]) for pk in (SCRAPER, ring, enforced_late))
    # Only the set's own risk is judged by the rule: the fraudster stays unknown for the scraping head.
    rows = read(build(world, negatives_per_positive=0, maturity_days=1, exclusive_of=["scraping"]))
    assert rows.loc[rows["account_pk"] == FRAUDSTER, "label_scraping"].isna().all()
    # A risk that is not a task: its positive comes in as a fraud negative, unknown for the other heads.
    rows = read(build(world, negatives_per_positive=0, maturity_days=1, exclusive_of=["spam_redirect"]))
    spammer = rows[rows["account_pk"] == BYSTANDERS[0]]
    assert spammer["label_fraud"].tolist() == [0.0] and spammer["label_scraping"].isna().all()
    assert "label_spam_redirect" not in rows


def test_negatives_are_unlabelled_accounts_sampled_with_the_seed(world):
    first, again = build(world), build(world)
    rows = read(first)
    negatives = rows[(rows["label_fraud"] == 0.0) & ~rows["account_pk"].isin([CLEARED, SCRAPER])]
    assert len(negatives) == 3 == first["negatives_sampled"]  # 3 per fraud positive
    # Marked as sampled: a positive-unlabelled loss treats them as unlabelled; the labelled rows are not.
    assert (negatives["unlabelled"] == 1.0).all()
    assert (rows.drop(index=negatives.index)["unlabelled"] == 0.0).all()
    assert set(negatives["account_pk"]) <= set(BYSTANDERS[1:])  # never a labelled account
    assert (negatives["label_scraping"] == 0.0).all()
    assert read(again).equals(rows)
    assert not read(build(world, seed=8)).equals(rows)


def test_splits_are_by_time_and_the_manifest_follows_the_contract(world):
    manifest = build(world)
    path = world.output_root / "fraud" / DS
    assert sorted(p.name for p in path.iterdir()) == [
        "manifest.json",
        "test.parquet",
        "train.parquet",
        "validation.parquet",
    ]
    assert json.loads((path / "manifest.json").read_text())["rows"] == manifest["rows"]
    splits = {s: pd.read_parquet(path / f"{s}.parquet") for s in ("train", "validation", "test")}
    assert splits["train"]["event_timestamp"].max() < splits["validation"]["event_timestamp"].min()
    assert splits["validation"]["event_timestamp"].max() < splits["test"]["event_timestamp"].min()
    assert sum(manifest["rows"].values()) == sum(len(s) for s in splits.values())
    assert manifest["positives"] == {"fraud": 1, "scraping": 1}
    assert manifest["label_columns"] == ["label_fraud", "label_scraping"]
    assert manifest["feature_service"] == "fraud_v1" and len(manifest["feature_service_version"]) == 16
    assert "fraud_daily__payment_attempts_7d" in manifest["features"]
    assert list(splits["test"].columns) == [
        "account_pk",
        "event_timestamp",
        *manifest["features"],
        *manifest["label_columns"],
        "unlabelled",
    ]
    assert {"start", "end", "train", "validation", "test"} <= set(manifest["time_range"])


def test_each_example_carries_its_last_days_of_daily_features_and_none_after_its_time(world):
    everyone = [FRAUDSTER, CLEARED, SCRAPER, *BYSTANDERS]
    for ds in days("2026-02-28", 11):
        # events_1d names its day; SCRAPER was created on 03-06 (age 0.5 at the end of it).
        rows = [
            {"account_pk": pk, "base": i, "events_1d": int(ds.replace("-", "")), "account_age_days": 100.0}
            for i, pk in enumerate(everyone)
        ]
        rows[2]["account_age_days"] = (date.fromisoformat(ds) - date(2026, 3, 6)).days + 0.5
        world.write("account_daily", ds, rows if ds >= "2026-03-06" else rows[:2] + rows[3:])
    manifest = build(world, sequence={"days": 4, "columns": ["events_1d", "fail_ratio_1d"]})
    assert manifest["sequence"] == {"days": 4, "columns": ["events_1d", "fail_ratio_1d"], "table": "account_daily"}
    examples = read(manifest)
    assert len(examples) == sum(manifest["rows"].values()) > 3
    masked = 0
    for _, row in examples.iterrows():
        newest = row["event_timestamp"].date() - timedelta(days=1)  # its feature_ts is the example's time
        expected = [int((newest - timedelta(days=k)).strftime("%Y%m%d")) for k in (3, 2, 1, 0)]
        events, mask = list(row["seq__account_daily__events_1d"]), list(row["seq__mask"])
        if row["account_pk"] == SCRAPER:
            existed = [d >= 20260306 for d in expected]
            assert mask == [float(e) for e in existed]
            assert [e for e, x in zip(events, existed, strict=True) if x] == [d for d in expected if d >= 20260306]
            masked += mask.count(0.0)
        else:
            assert events == expected and mask == [1.0] * 4
    assert masked > 0  # the scraper's examples reach back before it existed
    # Off: no sequence columns, and the manifest says so.
    plain = build(world)
    assert plain["sequence"] is None and not any(c.startswith("seq__") for c in read(plain).columns)


def test_rerun_replaces_the_set_and_leaves_no_temporary_folder(world):
    build(world)
    build(world, seed=3)
    assert sorted(p.name for p in (world.output_root / "fraud").iterdir()) == [DS]
    manifest = json.loads((world.output_root / "fraud" / DS / "manifest.json").read_text())
    assert manifest["params"]["seed"] == 3


def test_missing_labels_partition_fails_naming_it(world):
    with pytest.raises(TrainingSetError, match="features.labels has no rows for ds=2026-03-11"):
        build(world, ds="2026-03-11")


def test_operator_builds_the_set_of_its_ds(world, monkeypatch):
    # The operator writes under the storage root: the train task and the evaluation read it
    # from there, on other machines.
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", world.output_root.parent.as_uri())
    op = TrainingSetOperator(
        task_id="training_set",
        risk_type="fraud",
        tasks=TASKS,
        feature_service="fraud_v1",
        ds=DS,
        options={"lookback_days": 10, "test_days": 1},
    )
    manifest = op.execute({})
    folder = world.output_root / "fraud" / DS
    assert manifest["path"] == folder.as_uri()
    # Downstream steps get the split files from the XCom, each key its own (multiple_outputs): URLs.
    assert [manifest[f"{s}_path"] for s in ("train", "validation", "test")] == [
        (folder / f"{s}.parquet").as_uri() for s in ("train", "validation", "test")
    ]
    assert all((folder / f"{s}.parquet").is_file() for s in ("train", "validation", "test"))
    assert op.multiple_outputs
    assert op.outlets[0].uri == "integrity://training_sets/fraud"


def test_a_days_population_reads_the_streams_windows_as_the_training_sets_point_in_time_join(feast_env):
    """Shadow scoring and the drift report read a day's accounts with ``day_features``, training
    sets with Feast's point-in-time join: both give a day's example the account's newest window
    of that day (the views' TTL), and nothing for a day without one."""
    from datetime import UTC, datetime

    from integrity_risk.evaluation.drift import day_features, service_features
    from integrity_risk.features.feast_store import feature_store, get_feature_service

    first, second = "2026-03-01", "2026-03-02"
    busy, once, idle = FRAUDSTER, CLEARED, SCRAPER

    def at(ds: str, clock: str) -> datetime:
        return datetime.fromisoformat(f"{ds}T{clock}").replace(tzinfo=UTC)

    windows = {
        # busy: three windows on the first day (the newest at 23:59, written second), one on the second
        first: [(busy, "09:00", 1), (busy, "23:59", 2), (busy, "12:00", 3), (once, "00:00:30", 4)],
        second: [(busy, "08:00", 5)],
    }
    for ds, rows in windows.items():
        feast_env.write("account_daily", ds, [{"account_pk": pk} for pk in (busy, once, idle)])
        feast_env.write("fraud_daily", ds, [{"account_pk": pk} for pk in (busy, once, idle)])
        for view in ("account_realtime_5m", "account_realtime_1h"):
            feast_env.write(view, ds, [{"account_pk": pk, "feature_ts": at(ds, t), "base": b} for pk, t, b in rows])
    apply_repo()

    ours = day_features(service_features("fraud_v2"), [first, second]).sort_values(["feature_ts", "account_pk"])
    store = feature_store()
    entities = ours[["account_pk", "feature_ts"]].rename(columns={"feature_ts": "event_timestamp"})
    # The training set's join: every entity row stays, also the one whose only window has expired.
    feasts = point_in_time_join(store, get_feature_service(store, "fraud_v2"), entities)
    feasts = feasts.sort_values(["event_timestamp", "account_pk"])
    assert len(ours) == len(feasts) == 6
    realtime = [c for c in ours.columns if c.startswith("account_realtime_")]
    assert len(realtime) == 20
    for column in realtime:
        assert ours[column].tolist() == pytest.approx(feasts[column].tolist(), nan_ok=True), column
    got = {(r.account_pk, r.feature_ts.date().isoformat()): r.account_realtime_5m__events_5m for r in ours.itertuples()}
    # the day's newest window, keyed at the day's end; a day-old window is past the TTL
    assert got[(busy, "2026-03-02")] == 2 and got[(once, "2026-03-02")] == 4 and got[(busy, "2026-03-03")] == 5
    assert pd.isna(got[(idle, "2026-03-02")]) and pd.isna(got[(once, "2026-03-03")])
