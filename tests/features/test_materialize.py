"""Feast apply, materialization and online retrieval on the real local stores (SQLite, Redis)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pandas as pd
import pytest
from conftest import feature_ts

from integrity_risk.features import feast_store
from integrity_risk.features.online import fetch_online_features
from integrity_risk.operators.feast_apply import FeastApplyOperator
from integrity_risk.operators.feast_materialize import FeastMaterializeOperator

DAY1, DAY2 = "2026-03-01", "2026-03-02"
ACCOUNTS = ["a" * 64, "b" * 64, "c" * 64]
# Amount per attempt 1.5 for a; no attempts for b (ratio 0, not null).
PAYMENTS = [
    {"account_pk": ACCOUNTS[0], "payment_attempts_7d": 4, "payment_amount_sum_7d": 6.0},
    {"account_pk": ACCOUNTS[1], "payment_attempts_7d": 0, "payment_amount_sum_7d": 0.0},
]


def interval(ds: str) -> dict:
    """The data interval of the daily run of ``ds``."""
    end = feature_ts(ds)
    return {"data_interval_start": end - timedelta(days=1), "data_interval_end": end}


def write_two_days(warehouse) -> None:
    # Day 2 changes every value, and account c exists only on day 1.
    for table in ("account_daily", "fraud_daily"):
        warehouse.write(table, DAY1, [{"account_pk": pk, "base": i} for i, pk in enumerate(ACCOUNTS)])
        warehouse.write(table, DAY2, [{"account_pk": pk, "base": 10 + i} for i, pk in enumerate(ACCOUNTS[:2])])


def materialize(ds: str, **kwargs) -> dict:
    op = FeastMaterializeOperator(
        task_id="feast_materialize", risk_type="fraud", **({"feature_service": "fraud_v1"} | kwargs)
    )
    return op.execute(interval(ds))


def apply() -> dict:
    return FeastApplyOperator(task_id="feast_apply").execute({})


def test_rerun_of_first_day_after_second_keeps_the_newest_values_online(feast_env):
    write_two_days(feast_env)
    apply()
    materialize(DAY1)
    materialize(DAY2)
    after_two_days = fetch_online_features("fraud", ACCOUNTS)

    rerun = materialize(DAY1)
    after_rerun = fetch_online_features("fraud", ACCOUNTS)

    # The store keeps the newest row (Redis itself, SQLite through its trigger), so the
    # re-run of day 1 reads day 1 only, not everything up to day 2.
    assert {view: windows[-1][1] for view, windows in rerun["windows"].items()} == {
        "account_daily": feature_ts(DAY1).isoformat(),
        "fraud_daily": feature_ts(DAY1).isoformat(),
    }
    pd.testing.assert_frame_equal(after_rerun, after_two_days)
    by_pk = after_rerun.set_index("account_pk")
    assert by_pk.loc[ACCOUNTS[0], "account_daily__account_age_days"] == 10.5  # day 2's value
    assert by_pk.loc[ACCOUNTS[1], "fraud_daily__payment_attempts_7d"] == 11
    # c was only seen on day 1: its row stays until the view's TTL hides it.
    assert by_pk.loc[ACCOUNTS[2], "account_daily__account_age_days"] == 2.5


def test_views_being_materialized_keep_serving_their_last_values_online_and_offline(feast_env):
    from feast.feature_view import FeatureViewState

    write_two_days(feast_env)
    apply()
    materialize(DAY1)
    store = feast_store.feature_store()
    # What the next materialization does first (and leaves behind if it is killed).
    for view in ("account_daily", "fraud_daily"):
        store.set_feature_view_state(view, FeatureViewState.MATERIALIZING)
        assert store.get_feature_view(view).state == FeatureViewState.MATERIALIZING

    online = fetch_online_features("fraud", ACCOUNTS).set_index("account_pk")
    assert online.loc[ACCOUNTS[0], "account_daily__account_age_days"] == 0.5  # day 1's value
    entities = pd.DataFrame({"account_pk": ACCOUNTS[:2], "event_timestamp": [feature_ts(DAY2)] * 2})
    offline = (
        store.get_historical_features(
            entity_df=entities,
            features=feast_store.get_feature_service(store, "fraud_v1"),
            full_feature_names=True,
        )
        .to_df()
        .set_index("account_pk")
    )
    assert offline.loc[ACCOUNTS[1], "fraud_daily__payment_attempts_7d"] == 11  # day 2's value

    materialize(DAY2)
    assert store.get_feature_view("account_daily").state == FeatureViewState.AVAILABLE_ONLINE
    assert fetch_online_features("fraud", ACCOUNTS[:1]).loc[0, "account_daily__account_age_days"] == 10.5


def test_materializing_one_day_loads_that_day_not_everything_up_to_now(feast_env):
    write_two_days(feast_env)
    apply()
    result = materialize(DAY1)

    online = fetch_online_features("fraud", ACCOUNTS).set_index("account_pk")
    assert online.loc[ACCOUNTS[0], "account_daily__account_age_days"] == 0.5  # day 1, not day 2's 10.5
    assert result["windows"]["account_daily"] == [
        [(feature_ts(DAY1) - timedelta(days=1, hours=6)).isoformat(), feature_ts(DAY1).isoformat()]
    ]


def test_a_write_of_the_table_in_progress_is_not_read(feast_env):
    # Spark stages the partitions it writes in a hidden folder of the table's, and renames
    # them into place when the write commits (or leaves them behind when its server dies).
    write_two_days(feast_env)
    table = feast_env.table_dir("account_daily")
    feast_env.write("account_daily", DAY1, [{"account_pk": pk, "base": 99} for pk in ACCOUNTS])
    (table / ".spark-staging-1").mkdir()
    (table / f"ds={DAY1}").rename(table / ".spark-staging-1" / f"ds={DAY1}")
    feast_env.write("account_daily", DAY1, [{"account_pk": pk, "base": i} for i, pk in enumerate(ACCOUNTS)])
    (table / ".spark-staging-2" / f"ds={DAY2}").mkdir(parents=True)
    (table / ".spark-staging-2" / f"ds={DAY2}" / "part-00000-1.c000.snappy.parquet").touch()  # being written
    apply()
    materialize(DAY1)

    online = fetch_online_features("fraud", ACCOUNTS).set_index("account_pk")
    assert online["account_daily__account_age_days"].tolist() == [0.5, 1.5, 2.5]


def test_long_window_is_materialized_in_chunks(feast_env):
    write_two_days(feast_env)
    apply()
    op = FeastMaterializeOperator(
        task_id="m", risk_type="fraud", feature_views=["account_daily"], chunk=timedelta(hours=12)
    )
    result = op.execute(
        {"data_interval_start": feature_ts(DAY1) - timedelta(days=1), "data_interval_end": feature_ts(DAY2)}
    )
    assert len(result["windows"]["account_daily"]) == 5  # 54 h in 12 h chunks
    online = fetch_online_features("fraud", ACCOUNTS[:1]).set_index("account_pk")
    assert online.loc[ACCOUNTS[0], "account_daily__account_age_days"] == 10.5


def test_a_feature_view_missing_from_the_repo_fails_naming_it(feast_env):
    write_two_days(feast_env)
    apply()
    with pytest.raises(feast_store.FeatureViewNotFound, match="payment_velocity_daily"):
        materialize(DAY1, feature_service=None, feature_views=["account_daily", "payment_velocity_daily"])
    with pytest.raises(feast_store.FeatureViewNotFound, match="fraud_v9"):
        materialize(DAY1, feature_service="fraud_v9")


def test_materializing_before_the_extract_ran_fails_naming_the_table(feast_env):
    feast_env.write("account_daily", DAY1, [{"account_pk": ACCOUNTS[0]}])
    apply()
    with pytest.raises(feast_store.FeastSetupError, match="fraud_daily: no partition of its table"):
        materialize(DAY1)


def test_apply_runs_only_when_the_repo_or_its_settings_change(feast_env, monkeypatch):
    first = apply()
    second = apply()
    assert first["applied"] and not second["applied"]
    assert "fraud_daily" in second["feature_views"]
    assert FeastApplyOperator(task_id="a", force=True).execute({})["applied"]
    # Every risk DAG run asks; unchanged, the answer comes without importing Feast (seconds).
    check = (
        "import sys; from integrity_risk.features.feast_store import apply_repo; "
        "print(apply_repo()['applied'], 'feast' in sys.modules)"
    )
    answer = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert answer.stdout.split() == ["False", "False"]
    (feast_env.feast_dir / "registry.db").unlink()  # a lost registry is applied again
    assert apply()["applied"]
    # The same files over another warehouse are another registry.
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(feast_env.root) + "_other")
    assert apply()["applied"]


def test_apply_deletes_what_left_the_repo_and_keeps_the_materialized_windows(feast_env):
    from feast import FeatureService

    write_two_days(feast_env)
    apply()
    materialize(DAY1)
    store = feast_store.feature_store()
    # A service registered once, since removed from feature_services.py.
    store.apply([FeatureService(name="fraud_v0", features=[store.get_feature_view("fraud_daily")])])
    assert "fraud_v0" in {s.name for s in feast_store.feature_store().list_feature_services()}
    loaded_until = feast_store.materialized_until(store, "fraud_daily")

    assert feast_store.apply_repo(force=True)["applied"]
    store = feast_store.feature_store()
    services = {s.name for s in store.list_feature_services()}
    assert "fraud_v0" not in services and {"fraud_v1", "all_risks"} <= services
    assert loaded_until is not None and feast_store.materialized_until(store, "fraud_daily") == loaded_until


def test_loading_the_repo_for_a_profile_leaves_the_interpreter_as_it_was(monkeypatch):
    import os
    import types

    other = types.ModuleType("features")  # another top-level module of a repo file's name
    monkeypatch.setitem(sys.modules, "features", other)
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local")
    before = (list(sys.path), list(sys.meta_path), os.getcwd())

    modules = feast_store.load_repo_modules("production")

    assert modules["features"].fraud_daily.batch_source.table == "features.fraud_daily"  # a Spark source
    assert modules["feature_services"].fraud_v1.name == "fraud_v1"
    assert (list(sys.path), list(sys.meta_path), os.getcwd()) == before
    assert sys.modules["features"] is other and "data_sources" not in sys.modules
    assert os.environ["INTEGRITY_FEAST_PROFILE"] == "local"


def test_every_identifier_derived_field_is_tagged_pii(feast_env):
    apply()
    store = feast_store.feature_store()
    fields = {f.name: f for fv in store.list_feature_views() for f in fv.features}
    derived_words = ("device", "_ip", "shared", "target", "engaged_accounts", "viewed_accounts", "mismatch")
    derived = {name for name in fields if any(word in f"_{name}" for word in derived_words)}
    assert len(derived) >= 10
    assert {name for name in derived if fields[name].tags.get("pii") != "derived"} == set()


def test_online_ratio_is_computed_at_request_time(feast_env):
    feast_env.write("account_daily", DAY1, [{"account_pk": pk} for pk in ACCOUNTS[:2]])
    feast_env.write("fraud_daily", DAY1, PAYMENTS)
    apply()
    materialize(DAY1)
    online = fetch_online_features("fraud", ACCOUNTS).set_index("account_pk")
    per_attempt = online["fraud_ratios__payment_amount_per_attempt_7d"]
    assert per_attempt[ACCOUNTS[0]] == pytest.approx(1.5)
    assert per_attempt[ACCOUNTS[1]] == 0.0  # no attempts: 0, as the extract's ratios
    assert pd.isna(per_attempt[ACCOUNTS[2]])  # unknown account: null, not 0


def test_the_streams_windows_are_served_for_a_day_after_the_accounts_newest_event(feast_env):
    """Training sets join account_realtime_* within their TTL (a day): serving reads them the
    same way, where Feast's own online read serves a window of any age."""
    from datetime import UTC, datetime

    apply()
    store = feast_store.feature_store()
    now = datetime.now(UTC)
    fresh, stale = ACCOUNTS[0], ACCOUNTS[1]
    for view in ("account_realtime_5m", "account_realtime_1h"):
        names = [f.name for f in store.get_feature_view(view).features]
        rows = pd.DataFrame(
            [
                {"account_pk": pk, "feature_ts": ts, **{name: 3 for name in names}}
                for pk, ts in ((fresh, now - timedelta(hours=23)), (stale, now - timedelta(hours=25)))
            ]
        )
        store.write_to_online_store(view, rows)

    online = fetch_online_features("fraud", [fresh, stale, ACCOUNTS[2]], store=store).set_index("account_pk")
    for column in ("account_realtime_5m__payment_attempts_5m", "account_realtime_1h__distinct_ips_1h"):
        assert online.loc[fresh, column] == 3
        assert online.loc[[stale, ACCOUNTS[2]], column].isna().all()
    feasts = store.get_online_features(
        features=["account_realtime_5m:payment_attempts_5m"], entity_rows=[{"account_pk": stale}]
    ).to_dict()
    assert feasts["payment_attempts_5m"] == [3]


def test_cli_prints_the_features_of_the_accounts(feast_env, capsys):
    from integrity_risk.features.online import main

    write_two_days(feast_env)
    apply()
    materialize(DAY2)
    assert main(["--risk", "fraud", "--account-pk", ACCOUNTS[0], "--account-pk", ACCOUNTS[1]]) == 0
    out = capsys.readouterr().out
    assert "fraud_daily__payment_attempts_7d" in out and ACCOUNTS[1] in out


def test_redis_online_store_holds_the_same_values_as_sqlite(feast_env, redis_server, monkeypatch):
    write_two_days(feast_env)
    apply()
    materialize(DAY1)
    materialize(DAY2)
    sqlite_values = fetch_online_features("fraud", ACCOUNTS)

    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local_redis")
    monkeypatch.setenv("INTEGRITY_REDIS_URL", redis_server)
    monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(feast_env.feast_dir) + "_redis")
    assert feast_store.online_store_kind(feast_store.load_config()) == "redis"
    apply()
    materialize(DAY1)
    materialize(DAY2)
    materialize(DAY1)
    redis_values = fetch_online_features("fraud", ACCOUNTS)

    pd.testing.assert_frame_equal(redis_values, sqlite_values, check_dtype=False)


def test_production_profile_reads_the_hive_tables_through_spark_and_serves_from_redis(monkeypatch):
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "production")
    for var in ("INTEGRITY_FEAST_REGISTRY_URL", "INTEGRITY_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(feast_store.FeastSetupError, match="INTEGRITY_FEAST_REGISTRY_URL.*INTEGRITY_REDIS_URL"):
        feast_store.load_config()
    monkeypatch.setenv("INTEGRITY_FEAST_REGISTRY_URL", "postgresql+psycopg://feast:unused@registry.internal:5432/feast")
    monkeypatch.setenv("INTEGRITY_REDIS_URL", "redis.internal:6379")
    monkeypatch.setenv("INTEGRITY_SPARK_MASTER", "yarn")
    config = feast_store.load_config()
    assert (config.offline_store.type, feast_store.online_store_kind(config)) == ("spark", "redis")
    assert config.registry.registry_type == "sql" and config.registry.path.endswith("@registry.internal:5432/feast")
    source = feast_store.load_repo_modules("production")["data_sources"].fraud_daily_source
    assert isinstance(source, SparkSource) and source.table == "features.fraud_daily"


def test_an_unknown_profile_fails_naming_the_choices(monkeypatch):
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "staging")
    with pytest.raises(feast_store.FeastSetupError, match="unknown Feast profile 'staging'.*local_redis"):
        feast_store.feature_store()


@pytest.mark.parametrize("profile", ["local", "local_redis"])
def test_the_service_reader_answers_what_feasts_get_online_features_answers(
    feast_env, redis_server, monkeypatch, profile
):
    from integrity_risk.features.online import _service_reader

    if profile == "local_redis":
        import redis

        host, port = redis_server.split(":")
        redis.Redis(host=host, port=int(port)).flushall()  # the session's server: other tests' rows
        monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", profile)
        monkeypatch.setenv("INTEGRITY_REDIS_URL", redis_server)
        monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(feast_env.feast_dir) + "_redis")
    for table in ("account_daily", "fraud_daily"):
        feast_env.write(table, DAY1, [{"account_pk": pk, "base": i} for i, pk in enumerate(ACCOUNTS)])
    feast_env.write("account_daily", DAY2, [{"account_pk": pk, "base": 10 + i} for i, pk in enumerate(ACCOUNTS[:2])])
    feast_env.write("fraud_daily", DAY2, PAYMENTS)
    apply()
    materialize(DAY1)
    materialize(DAY2)
    store = feast_store.feature_store()
    # Day 2's rows, day 1's only row (c), an account never seen, and one asked twice.
    pks = [ACCOUNTS[1], "f" * 64, ACCOUNTS[0], ACCOUNTS[2], ACCOUNTS[1]]

    reader = _service_reader(store, "fraud_v1")
    assert reader.unsupported == []
    ours = fetch_online_features("fraud", pks, feature_service="fraud_v1", store=store)
    feasts = store.get_online_features(
        features=reader.service, entity_rows=[{"account_pk": pk} for pk in pks], full_feature_names=True
    ).to_df()[reader.columns]

    pd.testing.assert_frame_equal(ours, feasts)
    assert ours["fraud_ratios__payment_amount_per_attempt_7d"].tolist()[:3:2] == [0.0, pytest.approx(1.5)]
    assert ours["account_daily__account_age_days"].tolist()[2:4] == [10.5, 2.5]  # day 2's; c's day 1
    assert ours.loc[1].drop("account_pk").isna().all()  # never seen: nulls
