"""The slices a model is judged on: country, account age band, business accounts.

Slice values come from the training set's Feast feature columns (``account_daily__*``);
the bare trait names are accepted too, so a hand-made evaluation frame works.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# slice name -> columns it may be derived from, first found wins
SLICE_SOURCES: dict[str, tuple[str, ...]] = {
    "country": ("account_daily__country", "country"),
    "account_age_band": ("account_daily__account_age_days", "account_age_days"),
    "is_business": ("account_daily__is_business", "is_business"),
}

# Lower edges in days; new accounts are where abuse concentrates, so the young bands are narrow.
AGE_BANDS: tuple[tuple[float, str], ...] = ((0, "<30d"), (30, "30-180d"), (180, "180d-2y"), (730, "2y+"))
UNKNOWN = "unknown"


def age_band(days: pd.Series) -> pd.Series:
    """Account age in days -> band label (``unknown`` where missing or negative)."""
    d = pd.to_numeric(days, errors="coerce").to_numpy(dtype=float)
    edges = np.array([edge for edge, _ in AGE_BANDS])
    labels = np.array([label for _, label in AGE_BANDS] + [UNKNOWN], dtype=object)
    idx = np.searchsorted(edges, d, side="right") - 1
    idx = np.where(np.isnan(d) | (idx < 0), len(AGE_BANDS), idx)
    return pd.Series(labels[idx], index=days.index, dtype=object)


def _business(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    out = np.where(v.isna(), UNKNOWN, np.where(v > 0, "business", "personal"))
    return pd.Series(out, index=values.index, dtype=object)


def _country(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), UNKNOWN).astype(str)


_DERIVE = {"country": _country, "account_age_band": age_band, "is_business": _business}


def slice_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One string column per slice dimension found in ``frame``.

    :param frame: the evaluation rows.
    :return: (slices, missing): a frame with a column per derivable slice dimension
        (same index as ``frame``), and the names of the dimensions whose source
        columns are absent, so the report can say so rather than drop them quietly.
    """
    out, missing = {}, []
    for name, sources in SLICE_SOURCES.items():
        column = next((c for c in sources if c in frame.columns), None)
        if column is None:
            missing.append(name)
            continue
        out[name] = _DERIVE[name](frame[column])
    return pd.DataFrame(out, index=frame.index), missing
