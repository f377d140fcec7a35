"""Sequences of behaviour: each example's last N days of daily features, as list columns.

An example (an account as of a time ``as_of``) carries, per sequence feature, a list of
``days`` values, oldest first, from the daily partitions whose ``feature_ts`` is at or before
``as_of``: partition ``d`` holds the features as of the end of ``d`` (``feature_ts`` = ``d`` +
1 day), so the newest is ``as_of``'s date minus one day, and no value from a later day can
reach an example. A day without a row is NaN (the model fills it and flags it missing).

``seq__mask`` is 1.0 on the days the account existed (its ``account_age_days`` on any of the
window's rows gives its first day) and 0.0 before: the model's temporal encoder ignores
those days. An account with no row in the window has an all-zero mask.

Fixed-length lists keep memory bounded (``days`` floats per feature and example) and stream
through Arrow's record batches to ``tf.data`` (``integrity_risk.training.data``). The same
function builds the training set's sequences and the population's
(``integrity_risk.evaluation.drift.day_features``), so a model is scored on what it learned from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd
    import pyarrow as pa

SEQUENCE_PREFIX = "seq__"
MASK_COLUMN = f"{SEQUENCE_PREFIX}mask"
AGE_COLUMN = "account_age_days"


@dataclass(frozen=True)
class SequenceSpec:
    """Which daily features an example's sequence holds, and how many days.

    :param days: days per sequence, the newest the example's own feature day.
    :param columns: columns of ``features.<table>`` (numeric, one value per account and day).
    :param table: the daily table they come from; it must have ``account_age_days``.
    """

    days: int
    columns: tuple[str, ...]
    table: str = "account_daily"

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or not 1 <= self.days <= 366:
            raise ValueError(f"sequence days must be an int in [1, 366], got {self.days!r}")
        object.__setattr__(self, "columns", tuple(self.columns))  # a list from YAML or XCom
        if not self.columns:
            raise ValueError("a sequence needs at least one column")
        if AGE_COLUMN in self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"sequence columns must be distinct and not {AGE_COLUMN!r}: {list(self.columns)}")

    @property
    def names(self) -> list[str]:
        """The feature columns an example gets, ``seq__<table>__<column>``, then the mask."""
        return [sequence_name(self.table, c) for c in self.columns] + [MASK_COLUMN]

    def to_dict(self) -> dict[str, Any]:
        return {"days": self.days, "columns": list(self.columns), "table": self.table}

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> SequenceSpec | None:
        return (
            None if not value else cls(int(value["days"]), tuple(value["columns"]), value.get("table", "account_daily"))
        )


def sequence_name(table: str, column: str) -> str:
    return f"{SEQUENCE_PREFIX}{table}__{column}"


def is_sequence(name: str) -> bool:
    return name.startswith(SEQUENCE_PREFIX)


def anchor_days(as_of: pd.Series) -> np.ndarray:
    """The newest partition day each ``as_of`` may see (``feature_ts`` = day + 1 <= ``as_of``), as days since the epoch."""
    import pandas as pd

    ts = pd.to_datetime(as_of, utc=True)
    return (ts.dt.floor("D").dt.tz_localize(None).to_numpy("datetime64[D]").astype("int64")) - 1


def partitions_for(anchors: np.ndarray, spec: SequenceSpec) -> list[str]:
    """The partitions the sequences of examples with these newest days (:func:`anchor_days`) read, oldest first."""
    if len(anchors) == 0:
        return []
    first, last = int(anchors.min()) - spec.days + 1, int(anchors.max())
    epoch = dt.date(1970, 1, 1)
    return [(epoch + dt.timedelta(days=d)).isoformat() for d in range(first, last + 1)]


def sequence_arrays(
    accounts: np.ndarray, anchors: np.ndarray, rows: pa.Table, spec: SequenceSpec
) -> dict[str, np.ndarray]:
    """Per sequence name, a ``(examples, days)`` float32 array, oldest day first.

    :param accounts: each example's ``account_pk``.
    :param anchors: each example's newest visible partition, days since the epoch (:func:`anchor_days`).
    :param rows: the table's rows of those partitions: ``account_pk``, ``feature_ts``,
        ``account_age_days`` and the spec's columns.
    """
    import pandas as pd

    n, days = len(accounts), spec.days
    out = {name: np.full((n, days), np.nan, dtype="float32") for name in spec.names[:-1]}
    mask = np.zeros((n, days), dtype="float32")
    if n == 0:
        return {**out, MASK_COLUMN: mask}
    frame = rows.select(["account_pk", "feature_ts", AGE_COLUMN, *spec.columns]).to_pandas()
    # A row's partition is the newest its own feature_ts may see (the end of the partition's day).
    frame["_day"] = anchor_days(frame["feature_ts"])
    frame = frame.drop_duplicates(["account_pk", "_day"], keep="last")
    examples = pd.DataFrame({"account_pk": accounts, "_anchor": anchors.astype("int64"), "_example": np.arange(n)})
    # Only the accounts of the examples, then one join per example and day of its window.
    frame = frame[frame["account_pk"].isin(examples["account_pk"])]
    pairs = examples.merge(frame, on="account_pk", how="inner")
    offset = pairs["_anchor"].to_numpy() - pairs["_day"].to_numpy()  # 0: the anchor day, days - 1: the oldest
    pairs = pairs[(offset >= 0) & (offset < days)]
    offset = offset[(offset >= 0) & (offset < days)]
    example, slot = pairs["_example"].to_numpy(), days - 1 - offset
    for column in spec.columns:
        out[sequence_name(spec.table, column)][example, slot] = pairs[column].to_numpy(dtype="float32", na_value=np.nan)
    # The account's first day, from any row of its window: day - floor(age on that day).
    age = pairs[AGE_COLUMN].to_numpy(dtype="float64", na_value=np.nan)
    known = np.isfinite(age)
    first_day = np.full(n, np.iinfo("int64").max, dtype="int64")
    np.minimum.at(first_day, example[known], pairs["_day"].to_numpy()[known] - np.floor(age[known]).astype("int64"))
    window_days = anchors.astype("int64")[:, None] - (days - 1 - np.arange(days))[None, :]
    mask[window_days >= first_day[:, None]] = 1.0
    return {**out, MASK_COLUMN: mask}


def attach_sequences(
    frame: pd.DataFrame,
    spec: SequenceSpec,
    read: Callable[[str, Sequence[str], Sequence[str]], pa.Table],
    as_of: str = "event_timestamp",
    anchors_per_read: int = 7,
) -> pd.DataFrame:
    """``frame`` with the spec's sequence columns added, each cell a ``days``-long float32 array.

    :param frame: examples with ``account_pk`` and the ``as_of`` timestamp column.
    :param read: ``read(table, days, columns)`` -> the table's rows of those partitions
        (``integrity_risk.features.training_set.read_extract_arrow`` with its profile).
    :param anchors_per_read: the examples' newest days are taken this many at a time, so one
        read holds at most ``days + anchors_per_read - 1`` partitions however many days the
        frame spans (a drift reference spans a training window).
    """
    anchors = anchor_days(frame[as_of])
    accounts = frame["account_pk"].to_numpy()
    arrays = {name: np.full((len(frame), spec.days), np.nan, dtype="float32") for name in spec.names}
    arrays[MASK_COLUMN][:] = 0.0
    distinct = np.unique(anchors)
    for start in range(0, len(distinct), anchors_per_read):
        block = distinct[start : start + anchors_per_read]
        rows_of = np.flatnonzero(np.isin(anchors, block))
        days = partitions_for(block, spec)
        rows = read(spec.table, days, ["account_pk", "feature_ts", AGE_COLUMN, *spec.columns])
        for name, values in sequence_arrays(accounts[rows_of], anchors[rows_of], rows, spec).items():
            arrays[name][rows_of] = values
    out = frame.copy()
    for name, values in arrays.items():
        out[name] = list(values)
    return out


def stack_column(values: Any, days: int | None = None) -> np.ndarray:
    """A sequence column (pandas cells of arrays, or an Arrow list column) as ``(rows, days)`` float32."""
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        width = days or (array.type.list_size if pa.types.is_fixed_size_list(array.type) else None)
        flat = array.flatten().to_numpy(zero_copy_only=False)
        if width is None:
            width = len(flat) // max(len(array), 1)
        return flat.astype("float32").reshape(len(array), width)
    cells = list(values)
    if not cells:
        return np.zeros((0, days or 0), dtype="float32")
    return np.stack([np.asarray(c, dtype="float32") for c in cells])
