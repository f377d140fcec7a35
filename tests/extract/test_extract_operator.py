"""HiveExtractOperator against the real local HiveServer2, on tiny hand-written upstream rows."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from extract_helpers import TEST_KEY, clean, extract, partition, run_task
from extract_rows import at, event, label, load, profile

from integrity_risk.features.hql import read_hql
from integrity_risk.features.pseudonymize import pseudonymize
from integrity_risk.features.table_schema import ddl_schema
from integrity_risk.operators.hive_extract import (
    ExtractError,
    ExtractWindow,
    HiveExtractOperator,
    UpstreamPartitionMissing,
)
from integrity_risk.values import parse_ds

D0, D = "2026-03-01", "2026-03-02"


def pk(account_id: str) -> str:
    return pseudonymize(TEST_KEY.encode(), account_id)


def clean_events() -> dict[str, list[dict]]:
    """Two days; ids of the events on D are fixed so the dirty copies can repeat them."""
    return {
        D0: [event("alice", D0, "login", event_id="d0-1"), event("alice", D0, "view", event_id="d0-2")],
        D: [
            event("alice", D, "login", hour=8, status="fail", event_id="a1"),
            event("alice", D, "login", hour=8, minute=10, event_id="a2"),
            event("alice", D, "like", hour=8, minute=20, target_account_id="bob", event_id="a3"),
            event("alice", D, "payment_attempt", hour=9, amount=12.5, event_id="a4"),
            event("alice", D, "payment_attempt", hour=9, minute=5, amount=1e12, status="fail", event_id="a5"),
            event("alice", D, "payment_attempt", hour=9, minute=10, amount=math.nan, event_id="a6"),
            event("alice", D, "payment_attempt", hour=9, minute=15, amount=-3.0, event_id="a7"),
            # NULLs in columns that are not keys: counted as an event, skew no ratio
            event(
                "alice",
                D,
                "view",
                hour=10,
                country=None,
                status=None,
                user_agent=None,
                device_id=None,
                ip=None,
                event_id="a8",
            ),
            event("bob", D, "post", hour=11, url="https://spam.example.com/a", country="US", event_id="b1"),
            event(
                "bob",
                D,
                "message",
                hour=11,
                minute=30,
                url="http://SPAM.example.com/b",
                target_account_id="alice",
                country="FR",
                event_id="b2",
            ),
            event(
                "bob", D, "comment", hour=11, minute=40, url="https://other.example.org/", country="FR", event_id="b3"
            ),
            event(
                "carol",
                D,
                "api_request",
                hour=12,
                user_agent="python-requests/2.31",
                device_id="dev-alice",
                event_id="c1",
            ),
            event(
                "carol",
                D,
                "view",
                hour=12,
                minute=5,
                user_agent="Mozilla/5.0 HeadlessChrome/120",
                target_account_id="alice",
                event_id="c2",
            ),
        ],
    }


def dirty_events() -> dict[str, list[dict]]:
    """The clean rows plus rows the extract must ignore entirely."""
    rows = clean_events()
    by_id = {r["event_id"]: r for r in rows[D]}
    rows[D] = rows[D] + [
        dict(by_id["a3"]),  # client retry: the same event twice in a partition
        dict(by_id["c1"]),
        event(None, D, "login", event_id="x1"),  # NULL key
        event("", D, "login", event_id="x2"),
        event("alice", D, "login", event_id=None),
        event("alice", D, "login", event_id="x3", event_time=None),
        event("alice", D, "login", event_id="x4", event_time=at("2026-03-05")),  # out of the day
        event("alice", D, "login", event_id="x5", event_time=dt.datetime(1970, 1, 1)),
        event("alice", D, "login", event_id="x6", event_time=at("2026-02-20")),  # before the 7-day window
        event("alice", D, "teleport", event_id="x7"),  # unknown type
        event("alice", D, "LOGIN", event_id="x8"),
        event("alice", D, None, event_id="x9"),
    ]
    rows[D0] = rows[D0] + [dict(by_id["b1"])]  # a late copy landed in the previous day's partition
    return rows


def load_day(hook, events: dict[str, list[dict]]) -> None:
    for ds, rows in events.items():
        load(hook, "user_events", ds, rows)
    load(
        hook,
        "account_profiles",
        D,
        [
            profile("alice", created="2026-02-01"),
            profile("bob", country="FR"),
            profile("dave", created="2026-03-01 12:00:00", phone_verified=False),
        ],
    )


@pytest.fixture(scope="module")
def clean_day(hive):
    load_day(hive, clean_events())
    extract("account_daily", D)
    extract("fraud_daily", D)
    return {t: partition(hive, t, D) for t in ("account_daily", "fraud_daily")}


def rows_by_account(rows, columns):
    return {r[0]: dict(zip(columns, r, strict=False)) for r in rows}


ACCOUNT_DAILY = [
    "account_pk",
    "feature_ts",
    "has_profile",
    "account_age_days",
    "phone_verified",
    "is_business",
    "country",
    "events_1d",
    "events_7d",
    "max_events_1h",
    "active_hours_1d",
    "distinct_event_types_1d",
    "distinct_devices_1d",
    "distinct_ips_1d",
    "device_shared_accounts_1d",
    "ip_shared_accounts_1d",
    "fail_ratio_1d",
    "country_mismatch_ratio_1d",
    "automation_ua_ratio_1d",
]


def test_account_daily_features_of_a_hand_made_day(clean_day):
    rows = rows_by_account(clean_day["account_daily"], ACCOUNT_DAILY)
    assert set(rows) == {pk("alice"), pk("bob"), pk("carol"), pk("dave")}
    alice, bob, carol, dave = (rows[pk(a)] for a in ("alice", "bob", "carol", "dave"))
    assert alice["feature_ts"] == dt.datetime(2026, 3, 3)
    assert (alice["events_1d"], alice["events_7d"], alice["max_events_1h"], alice["active_hours_1d"]) == (8, 10, 4, 3)
    assert alice["fail_ratio_1d"] == pytest.approx(2 / 7)  # the event without a status is left out
    assert alice["device_shared_accounts_1d"] == 2  # carol used alice's device
    assert alice["account_age_days"] == pytest.approx(30.0)
    assert bob["country_mismatch_ratio_1d"] == pytest.approx(1 / 3)
    assert carol["has_profile"] == 0 and carol["account_age_days"] is None and carol["country"] is None
    assert carol["automation_ua_ratio_1d"] == 1.0
    assert (dave["events_1d"], dave["has_profile"], dave["phone_verified"]) == (0, 1, 0)
    assert dave["account_age_days"] == pytest.approx(1.5)


@pytest.mark.reliability
def test_absurd_payment_amounts_count_as_attempts_but_add_nothing(clean_day):
    cols = [
        "account_pk",
        "feature_ts",
        "payment_attempts_1d",
        "payment_attempts_7d",
        "payment_fail_ratio_1d",
        "payment_fail_ratio_7d",
        "payment_amount_sum_1d",
        "payment_amount_max_1d",
        "payment_amount_sum_7d",
        "max_payments_1h",
        "payment_devices_7d",
        "payment_country_mismatch_ratio_7d",
    ]
    alice = rows_by_account(clean_day["fraud_daily"], cols)[pk("alice")]
    assert alice["payment_attempts_1d"] == 4 and alice["max_payments_1h"] == 4
    assert (alice["payment_amount_sum_1d"], alice["payment_amount_max_1d"]) == (12.5, 12.5)
    assert alice["payment_fail_ratio_1d"] == pytest.approx(0.25)


def test_rerun_of_a_day_replaces_its_partition_with_identical_rows(hive, clean_day):
    summary = extract("account_daily", D)
    assert summary == {"table": "features.account_daily", "ds": D, "rows": 4}
    assert partition(hive, "account_daily", D) == clean_day["account_daily"]


def test_a_shared_table_extract_leaves_a_written_day_alone_unless_asked_to_rewrite(hive, clean_day):
    # What a second risk DAG's run of the day does (dag_factory.SHARED_TABLES_POOL).
    hive.run(f"ALTER TABLE features.account_daily DROP IF EXISTS PARTITION (ds='{D}')")
    assert extract("account_daily", D, skip_existing="True")["rows"] == 4  # nothing there yet: written
    changed = clean_events()
    changed[D] = changed[D][:2]  # upstream changed: a rewrite would now give other rows
    load_day(hive, changed)
    try:
        kept = extract("account_daily", D, skip_existing="True")
        assert kept == {"table": "features.account_daily", "ds": D, "rows": 4, "skipped": True}
        assert partition(hive, "account_daily", D) == clean_day["account_daily"]
        # A re-run that trains on the day's features (reuse_features) keeps it on any try.
        reused = HiveExtractOperator(
            task_id="x", hql="features/account_daily.hql", table="features.account_daily", ds=D, reuse_existing="True"
        )
        assert run_task(reused, D, try_number=3)["skipped"] is True
        assert partition(hive, "account_daily", D) == clean_day["account_daily"]
        extract("account_daily", D, skip_existing="False")
        assert partition(hive, "account_daily", D) != clean_day["account_daily"]
        load_day(hive, clean_events())
        clean(D)  # clearing the day's clean_events task with its downstream tasks
        cleared = HiveExtractOperator(
            task_id="x", hql="features/account_daily.hql", table="features.account_daily", ds=D, skip_existing="True"
        )
        assert "skipped" not in run_task(cleared, D, try_number=2)
        assert partition(hive, "account_daily", D) == clean_day["account_daily"]
    finally:
        load_day(hive, clean_events())
        extract("account_daily", D)
    assert partition(hive, "account_daily", D) == clean_day["account_daily"]


@pytest.mark.reliability
def test_a_failed_query_names_statement_and_server_message_and_keeps_the_partition(hive, clean_day):
    op = HiveExtractOperator(
        task_id="broken",
        table="features.account_daily",
        ds=D,
        hql="INSERT OVERWRITE TABLE features.account_daily PARTITION (ds = '{{ ds }}') "
        "SELECT no_such_column FROM raw.user_events WHERE ds = '{{ ds }}'",
    )
    with pytest.raises(ExtractError) as err:
        run_task(op, D)
    message = str(err.value)
    assert "SELECT no_such_column FROM raw.user_events WHERE ds = '2026-03-02'" in message
    assert "Server message:" in message and "no_such_column" in message.split("Server message:")[1]
    assert partition(hive, "account_daily", D) == clean_day["account_daily"]


@pytest.mark.reliability
def test_a_query_failing_halfway_through_its_job_keeps_the_previous_partition(hive, clean_day):
    columns = ddl_schema("features.account_daily", read_hql("feature_tables.hql"))
    select = ", ".join(f"CAST(NULL AS {dtype}) AS {name}" for name, dtype in columns)
    op = HiveExtractOperator(
        task_id="fails_at_runtime",
        table="features.account_daily",
        ds=D,
        hql=f"INSERT OVERWRITE TABLE features.account_daily PARTITION (ds) SELECT {select}, '{{{{ ds }}}}' AS ds "
        "FROM raw.user_events WHERE ds = '{{ ds }}' "
        "AND raise_error(concat('simulated failure at event ', event_id)) IS NULL",
    )
    with pytest.raises(ExtractError, match="simulated failure at event"):
        run_task(op, D)
    assert partition(hive, "account_daily", D) == clean_day["account_daily"]


@pytest.mark.reliability
def test_dirty_upstream_rows_do_not_change_the_features(hive, clean_day):
    load_day(hive, dirty_events())
    try:
        for table in ("account_daily", "fraud_daily"):
            extract(table, D)
            assert partition(hive, table, D) == clean_day[table], table
    finally:
        load_day(hive, clean_events())


@pytest.mark.reliability
def test_a_day_without_upstream_partition_fails_naming_table_and_day_and_writes_nothing(hive):
    with pytest.raises(UpstreamPartitionMissing, match=r"raw\.user_events ds=2026-03-09 does not exist"):
        extract("account_daily", "2026-03-09")
    load(hive, "user_events", "2026-03-10", [event("alice", "2026-03-10")])  # events, but no profiles
    with pytest.raises(UpstreamPartitionMissing, match=r"raw\.account_profiles ds=2026-03-10"):
        extract("scraping_daily", "2026-03-10")
    for table, ds in (("account_daily", "2026-03-09"), ("scraping_daily", "2026-03-10")):
        assert hive.get_records(f"SHOW PARTITIONS features.{table} PARTITION (ds='{ds}')") == []


def test_labels_keep_the_newest_label_per_account_and_risk_matured_or_not(hive):
    load(
        hive,
        "enforcement_labels",
        D,
        [
            label("alice", "fraud", 1, at("2026-02-15")),
            label("alice", "fraud", 0, at("2026-02-18"), source="appeal"),  # reversal, matured
            label("bob", "spam_redirect", 1, at("2026-02-20")),
            label("carol", "scraping", 1, at("2026-02-20")),
            label("carol", "scraping", 0, at("2026-03-01"), source="appeal"),  # newest, still maturing
            label("dave", "fraud", 1, at("2026-03-01")),  # still maturing
            label(None, "fraud", 1, at("2026-02-10")),
            label("bob", "made_up_risk", 1, at("2026-02-10")),
            label("bob", "scraping", 2, at("2026-02-10")),
            label("bob", "fraud", 1, None),
        ],
    )
    load(hive, "enforcement_labels", "2026-03-05", [label("erin", "fraud", 1, at("2026-03-05"))])  # after ds
    # Maturity is each training set's rule (its risk's maturity_days); the table keeps every
    # account known to enforcement, so none is ever drawn as a negative.
    assert extract("labels", D)["rows"] == 4
    assert partition(hive, "labels", D) == sorted(
        [
            (pk("alice"), "fraud", 0, at("2026-02-18"), dt.datetime(2026, 2, 18), D),
            (pk("bob"), "spam_redirect", 1, at("2026-02-20"), dt.datetime(2026, 2, 20), D),
            (pk("carol"), "scraping", 0, at("2026-03-01"), dt.datetime(2026, 3, 1), D),
            (pk("dave"), "fraud", 1, at("2026-03-01"), dt.datetime(2026, 3, 1), D),
        ],
        key=repr,
    )


@pytest.mark.parametrize("bad", ["2026-02-30", "2026-3-02", "2026-03-02' OR '1'='1", "", None, "{{ ds }}x"])
@pytest.mark.reliability
def test_a_bad_ds_is_refused_before_any_sql(bad):
    with pytest.raises(ValueError, match="ds"):
        parse_ds(bad)
    op = HiveExtractOperator(task_id="x", hql="features/fraud.hql", table="features.fraud_daily", ds=bad)
    with pytest.raises(ValueError, match="ds"):
        op.render_template_fields({"ds": "2026-03-02"})


@pytest.mark.reliability
def test_sql_vars_accept_numbers_only():
    op = HiveExtractOperator(
        task_id="x",
        hql="labels.hql",
        table="features.labels",
        ds=D,
        sql_vars={"maturity_days": "7 DAYS; DROP TABLE raw.user_events"},
    )
    with pytest.raises(ValueError, match="maturity_days"):
        op.render_template_fields({"ds": D})


def test_window_variables_of_a_day():
    assert ExtractWindow.for_ds("2026-03-02").template_vars() == {
        "ds": "2026-03-02",
        "window_start": "2026-03-02 00:00:00",
        "window_end": "2026-03-03 00:00:00",
        "feature_ts": "2026-03-03 00:00:00",
        "lookback_start": "2026-02-24 00:00:00",
        "lookback_start_ds": "2026-02-24",
        "lookback_days": 7,
        "dedup_start": "2026-02-23 00:00:00",
        "dedup_start_ds": "2026-02-23",
    }


def test_the_operator_declares_its_table_as_an_asset():
    op = HiveExtractOperator(task_id="x", hql="features/fraud.hql", table="features.fraud_daily")
    assert [a.uri for a in op.outlets] == ["hive://warehouse/features/fraud_daily"]
    assert op.template_fields_renderers == {"hql": "hql"} and ".hql" in op.template_ext


def test_a_retried_event_whose_first_copy_is_before_the_window_is_not_counted_in_it(hive):
    # Day 2026-03-12: its 7-day window starts 03-06. Event r1 happened at 03-05 23:59 and the
    # client's retry was stamped 03-06 00:01, in the next partition: one event, outside the window.
    load(hive, "user_events", "2026-03-05", [event("zed", "2026-03-05", hour=23, minute=59, event_id="r1")])
    load(
        hive,
        "user_events",
        "2026-03-06",
        [
            event("zed", "2026-03-06", hour=0, minute=1, event_id="r1"),
            event("zed", "2026-03-06", hour=12, event_id="r2"),
        ],
    )
    load(hive, "user_events", "2026-03-12", [event("zed", "2026-03-12", hour=9, event_id="r3")])
    load(hive, "account_profiles", "2026-03-12", [profile("zed")])
    extract("account_daily", "2026-03-12")
    rows = hive.get_records(
        "SELECT events_1d, events_7d FROM features.account_daily "
        f"WHERE ds = '2026-03-12' AND account_pk = '{pk('zed')}'"
    )
    assert rows == [(1, 2)]  # r2 and r3; r1 falls before the window through its first copy
