"""The cleaning stage (clean.user_events and its daily partials) changes no feature: every
extract equals the one that re-cleaned and aggregated the raw look-back itself, row by row,
on the generator's world with its dirty rows.

The reference is each extract as it was before the stage (``integrity_local.reference_extract``:
dirty rows dropped, event_id duplicates removed over the window and a day before it, every
window aggregated from the events).
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from extract_helpers import FEATURE_TABLES, clean, extract, run_task

from integrity_risk.operators.hive_extract import CLEAN_TABLES

pytestmark = pytest.mark.slow

START = "2025-06-01"  # apart from the other extract tests' days
DAYS = 9
DS = "2025-06-09"  # its look-back and the day before it (06-01 .. 06-09) are all in the world


@pytest.fixture(scope="module")
def world(hive, tmp_path_factory):
    """Nine days of the generator's world with a share of every kind of dirty row, duplicates
    and clocks a day and a half off included, loaded into raw.*."""
    from integrity_local.synthetic import WorldConfig, write_world
    from integrity_local.synthetic.world import written_partitions
    from integrity_local.upstream import load_partition

    cfg = WorldConfig(seed=7, start_ds=START, days=DAYS, n_accounts=600, events_per_account=8.0, dirty_share=0.05)
    folder = tmp_path_factory.mktemp("clean_world")
    write_world(cfg, folder)
    # Events and profiles only, and gone afterwards: the other extract tests share the tables.
    loaded = [(f"raw.{t}", ds, path) for t, ds, path in written_partitions(folder) if t != "enforcement_labels"]
    for table, ds, path in loaded:
        load_partition(hive, table, ds, path)
    yield cfg
    written = [(table, ds) for table in CLEAN_TABLES for ds in cfg.day_list()]
    written += [(f"features.{t}", DS) for t in FEATURE_TABLES]
    hive.run(
        [f"ALTER TABLE {table} DROP IF EXISTS PARTITION (ds='{ds}')" for table, ds, _ in loaded]
        + [f"ALTER TABLE {table} DROP IF EXISTS PARTITION (ds='{ds}')" for table, ds in written]
        + ["DROP DATABASE IF EXISTS reference CASCADE"]
    )


def _template(name: str) -> str:
    return "features/account_daily.hql" if name == "account_daily" else f"features/{name.removesuffix('_daily')}.hql"


def write_reference(hive, table: str, ds: str) -> None:
    """The feature template with the pre-stage look-back, written to ``reference.<table>``."""
    from integrity_local import reference_extract
    from integrity_risk.operators.hive_extract import HiveExtractOperator

    sql = reference_extract.render(_template(table), ds)
    assert "FROM raw.user_events" in sql and "row_number()" in sql
    sql = sql.replace(f"INSERT OVERWRITE TABLE features.{table} ", f"INSERT OVERWRITE TABLE reference.{table} ", 1)
    hive.run(
        [
            "CREATE DATABASE IF NOT EXISTS reference",
            f"CREATE TABLE IF NOT EXISTS reference.{table} LIKE features.{table}",
        ]
    )
    op = HiveExtractOperator(
        task_id=f"reference_{table}", hql=sql, table=f"reference.{table}", ds=ds, ddl=None, required_partitions=()
    )
    run_task(op, ds)


def _rows(hive, database: str, table: str, ds: str) -> dict[str, tuple]:
    rows = hive.get_records(f"SELECT * FROM {database}.{table} WHERE ds = '{ds}'")
    by_account = {row[0]: tuple(row) for row in rows}
    assert len(by_account) == len(rows), f"{database}.{table} ds={ds}: an account twice"
    return by_account


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)  # sums of the same doubles in another order
    return a == b


def test_every_feature_table_equals_the_extract_that_recleaned_the_raw_look_back(hive, world):
    ds = DS
    clean(ds)
    for table in FEATURE_TABLES:
        extract(table, ds, cleaned=True)
        write_reference(hive, table, ds)
        new, old = _rows(hive, "features", table, ds), _rows(hive, "reference", table, ds)
        assert len(new) > 100 and new.keys() == old.keys(), (table, len(new), len(old))
        different = [pk for pk in new if not all(map(_same, new[pk], old[pk]))]
        assert not different, (table, ds, [(new[pk], old[pk]) for pk in different[:3]])


def test_each_raw_day_is_cleaned_once_with_its_dirty_rows_and_duplicates_out(hive, world):
    """One row per usable event of the day's partition; the generator's manifest names the dirty ones."""
    from integrity_local.synthetic import generate_day

    ds = DS
    day = generate_day(world, ds)
    kinds = dict(zip(day.dirty["event_id"].to_pylist(), day.dirty["kind"].to_pylist(), strict=True))
    assert {"duplicate", "null_account", "out_of_day", "unknown_event_type"} <= set(kinds.values())
    # Unusable: no account, no time or an unknown type. The other kinds stay, once (an odd
    # amount adds nothing, an odd clock counts on its own day, a duplicate counts once).
    unusable = {e for e, kind in kinds.items() if kind in ("null_account", "null_time", "unknown_event_type")}
    expected = set(day.user_events["event_id"].to_pylist()) - unusable
    assert len(day.user_events) > len(expected) + len(unusable)  # the duplicates' second copies
    cleaned = hive.get_records(f"SELECT event_id FROM clean.user_events WHERE ds = '{ds}'")
    ids = [row[0] for row in cleaned]
    assert len(ids) == len(set(ids)) and set(ids) == expected


def test_a_day_cleaned_by_an_earlier_run_is_left_alone_and_a_missing_one_is_filled(hive, world):
    from integrity_risk.operators.clean_events import CleanEventsOperator

    ds = DS
    earlier = (dt.date.fromisoformat(ds) - dt.timedelta(days=3)).isoformat()
    hive.run(f"ALTER TABLE clean.user_events DROP IF EXISTS PARTITION (ds='{earlier}')")
    op = CleanEventsOperator(task_id="clean_events", ds=ds, skip_existing="True")
    summary = run_task(op, ds)
    # ds was cleaned (by the equality test) and is kept; the dropped day of its look-back is filled.
    assert list(summary["days"]) == [earlier] and summary["days"][earlier] > 0
    assert hive.get_records(f"SHOW PARTITIONS clean.user_events PARTITION (ds='{earlier}')")
    # A re-run that reuses the day's features (try 2 on) cleans nothing again; without it, ds again.
    reused = CleanEventsOperator(task_id="clean_events", ds=ds, skip_existing="True", reuse_existing="True")
    assert run_task(reused, ds, try_number=2) == {"table": "clean.user_events", "ds": ds, "days": {}, "skipped": True}
    cleared = CleanEventsOperator(task_id="clean_events", ds=ds, skip_existing="True")
    assert list(run_task(cleared, ds, try_number=2)["days"]) == [ds]


def test_a_feature_extract_over_a_look_back_with_an_uncleaned_day_fails_naming_it(hive, world):
    from integrity_risk.operators.hive_extract import ExtractError

    ds = DS
    missing = (dt.date.fromisoformat(ds) - dt.timedelta(days=5)).isoformat()
    before = _rows(hive, "features", "fraud_daily", ds)
    hive.run(f"ALTER TABLE clean.user_events DROP IF EXISTS PARTITION (ds='{missing}')")
    try:
        with pytest.raises(ExtractError, match=rf"clean\.user_events has no partition for {missing}.*clean_events"):
            extract("fraud_daily", ds, cleaned=True)
        assert _rows(hive, "features", "fraud_daily", ds) == before
    finally:
        extract("fraud_daily", ds)  # cleans the window again
