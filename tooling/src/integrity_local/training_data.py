"""A small synthetic training set in the contract's layout, for tests, the benchmark and demos.

Not real traffic: a learnable signal per risk type over a few feature columns
named like the Feast features, with count-like, boolean, categorical and
partly missing columns, and labels masked (NaN) on a share of the rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = [
    "account_daily__account_age_days",
    "account_daily__phone_verified",
    "account_daily__country",
    "account_daily__device_shared_count",
    "abusive_account_daily__signups_from_ip_1d",
    "abusive_account_daily__follow_ratio_7d",
    "fake_engagement_daily__likes_given_1h",
    "fake_engagement_daily__like_burst_score_1d",
    "account_daily__noise_a",
    "account_daily__noise_b",
]
TASKS = ("abusive_account", "fake_engagement")


def make_frame(rows: int, seed: int = 0, masked: dict[str, float] | None = None) -> pd.DataFrame:
    """Rows in time order with features and ``label_<risk>`` columns (1.0, 0.0 or NaN).

    :param rows: number of rows.
    :param seed: random seed.
    :param masked: risk -> share of rows whose label is NaN (default 10% and 50%).
    """
    rng = np.random.default_rng(seed)
    masked = {"abusive_account": 0.1, "fake_engagement": 0.5} if masked is None else masked
    age = rng.gamma(1.2, 300, rows).astype("int64")
    phone = rng.random(rows) < 0.6
    country = rng.choice(["US", "BR", "IN", "DE", "XX", "YY"], rows, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    shared = rng.poisson(rng.gamma(0.5, 4, rows)).astype("int64")
    signups = rng.poisson(rng.gamma(0.4, 3, rows)).astype("int64")
    follow = rng.lognormal(0, 1, rows)
    likes = rng.poisson(rng.gamma(0.6, 20, rows)).astype("int64")
    burst = rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {
            "account_pk": [f"{h:064x}" for h in rng.integers(0, 2**62, rows)],
            "event_timestamp": pd.date_range("2026-10-01", periods=rows, freq="min", tz="UTC"),
            FEATURES[0]: age,
            FEATURES[1]: phone,
            FEATURES[2]: country,
            FEATURES[3]: shared,
            FEATURES[4]: signups,
            FEATURES[5]: np.where(rng.random(rows) < 0.05, np.nan, follow),
            FEATURES[6]: likes,
            FEATURES[7]: burst,
            FEATURES[8]: rng.normal(0, 1, rows),
            FEATURES[9]: rng.random(rows),
        }
    )
    logit_a = (
        -4.5
        + 3.0 * (age < 60)
        + 1.2 * np.log1p(shared)
        + 1.0 * np.log1p(signups)
        + 2.0 * (country == "XX")
        - 1.5 * phone
        + 0.8 * np.log(follow)
    )
    logit_b = -6.0 + 1.5 * np.log1p(likes) + 2.0 * burst + 1.0 * (age < 60)
    for task, logit in (("abusive_account", logit_a), ("fake_engagement", logit_b)):
        label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("float64")
        label[rng.random(rows) < masked.get(task, 0.0)] = np.nan
        frame[f"label_{task}"] = label
    return frame


def hide_positives(
    frame: pd.DataFrame, task: str, hidden: float = 0.5, sampled: float = 0.7, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """``frame`` as a training set sees a risk enforcement catches only part of: a share ``hidden``
    of ``task``'s positives were never labelled and come in among the sampled accounts
    (``unlabelled`` 1.0, labelled 0.0), as do a share ``sampled`` of its negatives; the rest of
    the negatives were labelled so. Returns the frame and the true labels of ``task``.
    """
    rng = np.random.default_rng(seed + 11)
    out = frame.copy()
    truth = out[f"label_{task}"].copy()
    positive, negative = (truth == 1.0).to_numpy(), (truth == 0.0).to_numpy()
    hide = positive & (rng.random(len(out)) < hidden)
    unlabelled = hide | (negative & (rng.random(len(out)) < sampled))
    out.loc[hide, f"label_{task}"] = 0.0
    out["unlabelled"] = unlabelled.astype("float64")
    return out, truth


SEQUENCE_COLUMNS = ("events_1d", "fail_ratio_1d")


def add_sequences(
    frame: pd.DataFrame, days: int = 14, seed: int = 0, task: str | None = "fake_engagement"
) -> pd.DataFrame:
    """``frame`` with daily sequences (``seq__account_daily__<column>`` and ``seq__mask``) in the
    training set's layout, and ``task``'s label made to depend on them: a surge of the last three
    days' events over the account's earlier days, which no flat feature shows (None: the labels
    stay as they are).

    Days before the account existed (its ``account_daily__account_age_days``) are masked and NaN.
    """
    from integrity_risk.features.sequences import MASK_COLUMN, sequence_name

    rng = np.random.default_rng(seed + 7)
    n = len(frame)
    age = frame["account_daily__account_age_days"].to_numpy(dtype="float64")
    mask = (np.arange(days)[None, :] >= days - 1 - np.floor(age)[:, None]).astype("float32")
    level = rng.gamma(1.5, 4.0, n)[:, None]
    surge = rng.random(n) < 0.15
    events = rng.poisson(level * np.where(np.arange(days)[None, :] >= days - 3, 1 + 4 * surge[:, None], 1.0))
    events = np.where(mask > 0, events, np.nan).astype("float32")
    fails = np.where(mask > 0, rng.beta(1, 9, (n, days)), np.nan).astype("float32")
    out = frame.copy()
    out[sequence_name("account_daily", "events_1d")] = list(events)
    out[sequence_name("account_daily", "fail_ratio_1d")] = list(fails)
    out[MASK_COLUMN] = list(mask)
    if task is None:
        return out
    # Seen by no flat feature: the surge, where the account existed long enough to show it.
    label = (surge & (mask[:, -4] > 0)) ^ (rng.random(n) < 0.02)
    label = label.astype("float64")
    label[np.isnan(frame[f"label_{task}"].to_numpy())] = np.nan
    out[f"label_{task}"] = label
    return out


def write_training_set(
    folder: str | Path,
    frame: pd.DataFrame,
    *,
    features: list[str] | None = None,
    feature_service: str = "abusive_account_v1",
    row_group_size: int = 1000,
    sequence_days: int = 0,
) -> Path:
    """Split ``frame`` 70/15/15 by time and write the three parquet files and manifest.json.

    :param folder: the training-set folder to create.
    :param frame: rows from :func:`make_frame` (or altered copies of them).
    :param features: features the manifest lists (default: all of :data:`FEATURES`).
    :param feature_service: name written to the manifest.
    :param row_group_size: parquet row-group size (small, so streaming reads several).
    :param sequence_days: the days of the frame's sequences (:func:`add_sequences`); 0: none.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = frame.sort_values("event_timestamp").reset_index(drop=True)
    n = len(frame)
    cuts = {"train": (0, int(n * 0.7)), "validation": (int(n * 0.7), int(n * 0.85)), "test": (int(n * 0.85), n)}
    labels = [c for c in frame.columns if c.startswith("label_")]
    rows, positives = {}, {}
    for split, (lo, hi) in cuts.items():
        part = frame.iloc[lo:hi]
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False), folder / f"{split}.parquet", row_group_size=row_group_size
        )
        rows[split] = int(len(part))
        positives[split] = {c.removeprefix("label_"): int((part[c] == 1).sum()) for c in labels}
    manifest = {
        "rows": rows,
        "positives": positives,
        "time_range": {
            "start": frame["event_timestamp"].min().isoformat(),
            "end": frame["event_timestamp"].max().isoformat(),
        },
        "features": list(features or FEATURES),
        "label_columns": labels,
        "feature_service": feature_service,
        "feature_service_version": "1",
        "sequence": {"days": sequence_days, "columns": list(SEQUENCE_COLUMNS), "table": "account_daily"}
        if sequence_days
        else None,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder
