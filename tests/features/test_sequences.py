"""Sequences of daily features: days in order, none after the example's time, the mask of days before the account."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from integrity_risk.features.sequences import (
    MASK_COLUMN,
    SequenceSpec,
    anchor_days,
    attach_sequences,
    partitions_for,
    sequence_name,
    stack_column,
)

SPEC = SequenceSpec(days=5, columns=("events_1d", "fail_ratio_1d"))
EVENTS = sequence_name("account_daily", "events_1d")
OLD, NEW, GHOST = "a" * 64, "b" * 64, "c" * 64


def _rows(rows: list[tuple[str, str, float, float | None]]) -> pa.Table:
    """account_daily rows ``(account_pk, ds, account_age_days, events_1d)``; feature_ts is the day after ds."""
    return pa.table(
        {
            "account_pk": [r[0] for r in rows],
            "feature_ts": pa.array(
                [pd.Timestamp(r[1], tz="UTC") + pd.Timedelta(days=1) for r in rows], pa.timestamp("ns", "UTC")
            ),
            "account_age_days": [r[2] for r in rows],
            "events_1d": pa.array([r[3] for r in rows], pa.int64()),
            "fail_ratio_1d": [0.5] * len(rows),
        }
    )


def _reader(table: pa.Table, calls: list):
    def read(name, days, columns):
        calls.append((name, list(days)))
        keep = np.isin(_partition_days(table), list(days))
        return table.filter(pa.array(keep)).select(list(columns))

    return read


def _partition_days(table: pa.Table) -> np.ndarray:
    ts = table["feature_ts"].to_pandas() - pd.Timedelta(days=1)
    return ts.dt.strftime("%Y-%m-%d").to_numpy()


def test_days_come_oldest_first_and_none_after_the_examples_time():
    # OLD has a row on every day 03-01 .. 03-12 with events_1d = the day of the month.
    days = [f"2026-03-{d:02d}" for d in range(1, 13)]
    table = _rows([(OLD, ds, 30.0 + i, float(int(ds[-2:]))) for i, ds in enumerate(days)])
    calls: list = []
    # 03-08 10:00: the newest day it may see is 03-07 (feature_ts 03-08 00:00); 03-08's ends later.
    examples = pd.DataFrame({"account_pk": [OLD], "event_timestamp": [pd.Timestamp("2026-03-08 10:00", tz="UTC")]})
    out = attach_sequences(examples, SPEC, _reader(table, calls))
    assert list(out[EVENTS].iloc[0]) == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert list(out[MASK_COLUMN].iloc[0]) == [1.0] * 5
    assert calls == [("account_daily", ["2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07"])]
    # Given every day (a reader that ignores the partitions asked for), still none after 03-07.
    everything = attach_sequences(examples, SPEC, lambda name, days, columns: table.select(list(columns)))
    assert list(everything[EVENTS].iloc[0]) == [3.0, 4.0, 5.0, 6.0, 7.0]
    # At midnight exactly, the day that just ended is known.
    at_midnight = examples.assign(event_timestamp=pd.Timestamp("2026-03-08", tz="UTC"))
    assert list(attach_sequences(at_midnight, SPEC, _reader(table, []))[EVENTS].iloc[0]) == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_days_before_the_account_existed_are_masked_and_a_missing_day_is_nan():
    # NEW was created during 03-05 (age 0.4 at the end of it), has no row on 03-06.
    table = _rows([(NEW, "2026-03-05", 0.4, 9.0), (NEW, "2026-03-07", 2.4, 11.0)])
    examples = pd.DataFrame({"account_pk": [NEW, GHOST], "event_timestamp": [pd.Timestamp("2026-03-08", tz="UTC")] * 2})
    out = attach_sequences(examples, SPEC, _reader(table, []))
    events = stack_column(out[EVENTS])
    np.testing.assert_array_equal(events[0], [np.nan, np.nan, 9.0, np.nan, 11.0])
    np.testing.assert_array_equal(stack_column(out[MASK_COLUMN])[0], [0.0, 0.0, 1.0, 1.0, 1.0])
    # An account with no row in its window: nothing known, every day masked.
    assert np.isnan(events[1]).all()
    np.testing.assert_array_equal(stack_column(out[MASK_COLUMN])[1], [0.0] * 5)


def test_examples_of_one_account_at_different_times_get_their_own_windows():
    days = [f"2026-03-{d:02d}" for d in range(1, 13)]
    table = _rows([(OLD, ds, 30.0, float(int(ds[-2:]))) for ds in days])
    times = [pd.Timestamp("2026-03-06", tz="UTC"), pd.Timestamp("2026-03-11", tz="UTC")]
    examples = pd.DataFrame({"account_pk": [OLD, OLD], "event_timestamp": times})
    assert partitions_for(anchor_days(examples["event_timestamp"]), SPEC) == [f"2026-03-{d:02d}" for d in range(1, 11)]
    events = stack_column(attach_sequences(examples, SPEC, _reader(table, []))[EVENTS])
    np.testing.assert_array_equal(events, [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    # One newest day per read: two reads of five partitions each, the same sequences.
    calls: list = []
    apart = attach_sequences(examples.iloc[::-1], SPEC, _reader(table, calls), anchors_per_read=1)
    assert [len(days) for _, days in calls] == [5, 5]
    np.testing.assert_array_equal(stack_column(apart[EVENTS]), events[::-1])
    assert anchor_days(examples["event_timestamp"]).tolist() == [
        (dt.date(2026, 3, 5) - dt.date(1970, 1, 1)).days,
        (dt.date(2026, 3, 10) - dt.date(1970, 1, 1)).days,
    ]


@pytest.mark.parametrize(
    ("days", "columns", "message"),
    [
        (0, ("events_1d",), "days must be"),
        (14, (), "at least one column"),
        (14, ("events_1d", "events_1d"), "distinct"),
        (14, ("account_age_days",), "distinct and not"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_problem(days, columns, message):
    with pytest.raises(ValueError, match=message):
        SequenceSpec(days, columns)


def test_the_risk_yaml_refuses_a_sequence_column_the_table_lacks_or_is_not_numeric():
    from integrity_risk.config.risk import SequenceConfig

    assert SequenceConfig().spec().days == 14
    assert SequenceConfig(days=0).spec() is None
    with pytest.raises(ValueError, match="not numeric columns of features.account_daily: \\['country'\\]"):
        SequenceConfig(columns=["country"])
    with pytest.raises(ValueError, match="payment_attempts_1d"):
        SequenceConfig(columns=["events_1d", "payment_attempts_1d"])
