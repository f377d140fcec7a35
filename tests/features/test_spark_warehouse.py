"""Feast over the files Spark itself writes: the real HiveServer2's warehouse, not hand-made parquet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import feature_ts

from integrity_risk.features.hql import read_hql, split_statements

DAY1, DAY2 = "2026-03-01", "2026-03-02"
A, B = "a" * 64, "b" * 64


def insert_partition(hive_hook, table: str, ds: str, accounts: dict[str, int]) -> None:
    """One partition of ``features.<table>`` from the DDL's columns: ints = base, doubles = base + 0.5."""
    header = hive_hook.get_results(f"SELECT * FROM features.{table} LIMIT 0")["header"]
    # (name, 'BIGINT_TYPE', ...) per column, names possibly prefixed with the table.
    columns = [(col[0].split(".")[-1], col[1].removesuffix("_TYPE").lower()) for col in header]
    columns = [c for c in columns if c[0] != "ds"]
    selects = []
    for pk, base in accounts.items():
        values = []
        for name, dtype in columns:
            if name == "account_pk":
                values.append(f"'{pk}'")
            elif dtype == "timestamp":
                values.append(f"TIMESTAMP '{feature_ts(ds):%Y-%m-%d %H:%M:%S}'")
            elif dtype == "string":
                values.append("'US'")
            elif dtype == "double":
                values.append(f"CAST({base}.5 AS DOUBLE)")
            else:
                values.append(f"CAST({base} AS {dtype})")
        selects.append("SELECT " + ", ".join(values))
    hive_hook.get_records(
        [f"INSERT OVERWRITE TABLE features.{table} PARTITION (ds='{ds}') " + " UNION ALL ".join(selects), "SELECT 1"]
    )


@pytest.fixture
def spark_warehouse(hiveserver2, hive_hook, feast_env, monkeypatch):
    hive_hook.get_records([*split_statements(read_hql("feature_tables.hql")), "SELECT 1"])
    for table in ("account_daily", "fraud_daily"):
        insert_partition(hive_hook, table, DAY1, {A: 1, B: 2})
        insert_partition(hive_hook, table, DAY2, {A: 11, B: 12})
    hive_hook.get_records(
        [
            "INSERT OVERWRITE TABLE features.labels PARTITION (ds='2026-03-02') SELECT "
            f"'{A}', 'fraud', 1, TIMESTAMP '2026-03-02 10:00:00', TIMESTAMP '2026-03-02 00:00:00'",
            "SELECT 1",
        ]
    )
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(hiveserver2.warehouse_dir))
    return feast_env


def test_spark_written_partitions_materialize_and_join_point_in_time(spark_warehouse):
    from integrity_risk.features.feast_store import apply_repo, feature_store, materialize_window
    from integrity_risk.features.online import fetch_online_features
    from integrity_risk.features.training_set import build_training_set

    apply_repo()
    store = feature_store()
    for ds in (DAY1, DAY2):
        materialize_window(store, ["account_daily", "fraud_daily"], feature_ts(ds) - timedelta(days=1), feature_ts(ds))
    online = fetch_online_features("fraud", [A, B]).set_index("account_pk")
    assert online.loc[A, "account_daily__account_age_days"] == 11.5
    assert online.loc[B, "fraud_daily__payment_attempts_7d"] == 12
    assert online.loc[A, "account_daily__phone_verified"] == 11  # INT column, served as Int32

    manifest = build_training_set(
        risk_type="fraud",
        tasks=["fraud"],
        feature_service="fraud_v1",
        ds=DAY2,
        lookback_days=3,
        validation_days=1,
        test_days=1,
        negatives_per_positive=1,
        maturity_days=0,
        output_root=spark_warehouse.output_root,
    )
    import pandas as pd

    rows = pd.read_parquet(f"{manifest['path']}/test.parquet")
    positive = rows[rows["label_fraud"] == 1.0].iloc[0]
    assert positive["account_pk"] == A
    assert positive["fraud_daily__payment_attempts_7d"] == 1  # day 1's value, known at observed_at
    assert manifest["negatives_sampled"] == 1


LABELS_DS = "2026-07-08"
KEY = "training-set-tests-key-0123456789"


def _raw_labels(hive_hook, rows: list[tuple[str, str, int, str, str]]) -> None:
    """raw.enforcement_labels rows (account_id, risk_type, label, source, labeled_at), one partition per day."""
    from integrity_local.upstream import create_upstream_tables

    create_upstream_tables(hive_hook)
    by_day: dict[str, list[str]] = {}
    for account, risk, value, source, labeled_at in rows:
        by_day.setdefault(labeled_at[:10], []).append(
            f"SELECT '{account}', '{risk}', {value}, '{source}', TIMESTAMP '{labeled_at}'"
        )
    hive_hook.get_records(
        [
            f"INSERT OVERWRITE TABLE raw.enforcement_labels PARTITION (ds='{day}') " + " UNION ALL ".join(selects)
            for day, selects in by_day.items()
        ]
        + ["SELECT 1"]
    )


def test_an_account_whose_label_is_still_maturing_is_never_sampled_as_a_negative(
    hiveserver2, hive_hook, feast_env, monkeypatch
):
    import json

    import pandas as pd

    from integrity_risk.features.feast_store import apply_repo
    from integrity_risk.features.pseudonymize import pseudonymize
    from integrity_risk.features.training_set import build_training_set
    from integrity_risk.operators.hive_extract import HiveExtractOperator

    monkeypatch.setenv("AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION", json.dumps({"conn_type": "generic", "password": KEY}))
    monkeypatch.delenv("INTEGRITY_ALLOW_DEMO_KEY", raising=False)
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(hiveserver2.warehouse_dir))
    pk = {
        name: pseudonymize(KEY.encode(), name)
        for name in ("judged", "fraud_enforced", "abuse_enforced", "appealed", "b1", "b2", "b3")
    }
    hive_hook.get_records([*split_statements(read_hql("feature_tables.hql")), "SELECT 1"])
    for day in ("2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04"):
        for table in ("account_daily", "fraud_daily"):
            insert_partition(hive_hook, table, day, {p: i for i, p in enumerate(pk.values())})
    _raw_labels(
        hive_hook,
        [
            ("judged", "fraud", 1, "reviewer", "2026-07-05 10:00:00"),  # matured by 07-08 (3 days)
            ("fraud_enforced", "fraud", 1, "reviewer", "2026-07-07 09:00:00"),  # enforced, still maturing
            ("abuse_enforced", "abusive_account", 1, "reviewer", "2026-07-08 11:00:00"),  # another risk, maturing
            ("appealed", "fraud", 1, "reviewer", "2026-06-30 12:00:00"),
            ("appealed", "fraud", 0, "appeal", "2026-07-07 16:00:00"),  # the appeal is still maturing
        ],
    )
    labels = HiveExtractOperator(
        task_id="hive_extract_labels", hql="labels.hql", table="features.labels", ds=LABELS_DS, required_partitions=()
    )
    labels.render_template_fields({"ds": LABELS_DS, "params": {}})
    labels.execute({"ds": LABELS_DS, "params": {}})
    apply_repo()

    manifest = build_training_set(
        risk_type="fraud",
        tasks=["fraud"],
        feature_service="fraud_v1",
        ds=LABELS_DS,
        lookback_days=8,
        validation_days=1,
        test_days=1,
        negatives_per_positive=100,
        maturity_days=3,
        output_root=feast_env.output_root,
    )
    rows = pd.concat([pd.read_parquet(f"{manifest['path']}/{s}.parquet") for s in ("train", "validation", "test")])
    positives = rows[rows["label_fraud"] == 1.0]
    negatives = rows[rows["label_fraud"] == 0.0]
    assert set(positives["account_pk"]) == {pk["judged"]}
    # Every unlabelled account on every day is drawn (100 per positive): only the bystanders are.
    assert set(negatives["account_pk"]) == {pk["b1"], pk["b2"], pk["b3"]}
    assert manifest["negatives_sampled"] == len(negatives) == 3 * 5
    # Other tests' older labels share the partition; they have all matured.
    known = hive_hook.get_first(f"SELECT count(DISTINCT account_pk) FROM features.labels WHERE ds = '{LABELS_DS}'")[0]
    assert manifest["labels_maturing"] == 3 and manifest["accounts_kept_out_of_negatives"] == known >= 4
