"""Training sets: matured labels joined with features as of each label's observation time.

``build_training_set`` reads the extract's ``features.labels`` and ``account_daily``
partitions, joins features point-in-time through Feast, samples negatives, splits by
time and writes the folder of docs/contracts.md ("Training set"):
``<storage root>/training_sets/<risk>/<ds>/{train,validation,test}.parquet`` and
``manifest.json`` (``integrity_risk.storage``: the machines that read it are not the one that
wrote it).
``TrainingSetOperator`` (``integrity_risk.operators.training_set``) runs it for a DAG
run's ``ds``; the trainer reads the folder (``integrity_risk.training.data``).

This module imports neither Airflow nor TensorFlow at import time, so the trainer's
process can share ``TrainingSetError`` with the builder.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath
    from feast import FeatureService, FeatureStore

LABEL_COLUMNS = ("account_pk", "risk_type", "label", "labeled_at", "observed_at")
UNLABELLED_COLUMN = "unlabelled"
SPLITS = ("train", "validation", "test")
HIVE_CONN_ID = "hiveserver2_default"


class TrainingSetError(ValueError):
    """A training set cannot be built or read: no labels to train on, a missing split,
    manifest or column, a column of an unusable type. A failed build writes nothing.
    """


def training_sets_root() -> ObjectStoragePath:
    """``<storage root>/training_sets``: the train task (on the ``gpu`` queue's worker) and the
    shadow evaluation read the set from there, never from the worker that built it.
    """
    from integrity_risk.storage import storage_root

    return storage_root() / "training_sets"


# --- reading the extract's tables ----------------------------------------------


def read_extract(
    table: str,
    days: Sequence[str],
    columns: Sequence[str],
    profile: str | None = None,
    hive_conn_id: str = HIVE_CONN_ID,
    account_range: AccountRange | None = None,
) -> pd.DataFrame:
    """Rows of ``features.<table>`` in the partitions ``days``, only ``columns``.

    The local profiles read the warehouse's parquet files (what Feast reads too);
    production asks HiveServer2. The timestamps are UTC.

    :param account_range: only the accounts whose ``account_pk`` lies in ``[low, high)``
        (``high`` None: no upper end). ``account_pk`` is a uniform hex digest, so a range
        of it is a random share of the accounts (see :func:`account_ranges`).
    """
    return read_extract_arrow(table, days, columns, profile, hive_conn_id, account_range).to_pandas()


def read_extract_arrow(
    table: str,
    days: Sequence[str],
    columns: Sequence[str],
    profile: str | None = None,
    hive_conn_id: str = HIVE_CONN_ID,
    account_range: AccountRange | None = None,
) -> pa.Table:
    """:func:`read_extract` as an Arrow table: what joins and scores without a copy into pandas."""
    import pyarrow as pa

    from integrity_risk.features.feast_store import profile_name, warehouse_dir

    if profile_name(profile) == "production":
        from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

        day_list = ", ".join(f"'{parse_ds(d).isoformat()}'" for d in days)  # validated days only
        sql = f"SELECT {', '.join(columns)} FROM features.{table} WHERE ds IN ({day_list})"
        if account_range is not None:
            sql += " AND " + " AND ".join(
                f"account_pk {op} '{bound}'"
                for op, bound in zip((">=", "<"), account_range.bounds(), strict=True)
                if bound
            )
        import pandas as pd

        frame = IntegrityHiveServer2Hook(hiveserver2_conn_id=hive_conn_id).get_df(sql)
        frame.columns = [c.split(".")[-1] for c in frame.columns]
        for col in _TIMESTAMPS.intersection(frame.columns):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        data = pa.Table.from_pandas(frame, preserve_index=False)
    else:
        dataset = _warehouse_dataset(warehouse_dir() / "features.db" / table, days)
        if dataset is None:
            utc = pa.timestamp("ns", "UTC")
            return pa.table({c: pa.array([], utc if c in _TIMESTAMPS else pa.string()) for c in columns})
        where = None if account_range is None else account_range.arrow_filter()
        data = dataset.to_table(columns=list(columns), filter=where)
    return _utc_timestamps(data)


_TIMESTAMPS = frozenset({"labeled_at", "observed_at", "feature_ts"})


def _utc_timestamps(data: pa.Table) -> pa.Table:
    """The timestamp columns as UTC instants in nanoseconds (pandas' unit): a naive one (Hive's
    TIMESTAMP) is read as UTC.
    """
    import pyarrow as pa

    utc = pa.timestamp("ns", "UTC")
    for i, f in enumerate(data.schema):
        if pa.types.is_timestamp(f.type) and f.type != utc:
            data = data.set_column(i, f.name, data.column(i).cast(utc))
    return data


def count_extract_rows(
    table: str, days: Sequence[str], profile: str | None = None, hive_conn_id: str = HIVE_CONN_ID
) -> int:
    """The rows of ``features.<table>`` in the partitions ``days`` (the local profiles count from the files' footers)."""
    from integrity_risk.features.feast_store import profile_name, warehouse_dir

    if profile_name(profile) == "production":
        from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

        day_list = ", ".join(f"'{parse_ds(d).isoformat()}'" for d in days)
        hook = IntegrityHiveServer2Hook(hiveserver2_conn_id=hive_conn_id)
        return int(hook.get_first(f"SELECT count(*) FROM features.{table} WHERE ds IN ({day_list})")[0])
    dataset = _warehouse_dataset(warehouse_dir() / "features.db" / table, days)
    return 0 if dataset is None else int(dataset.count_rows())


def _warehouse_dataset(root: Path, days: Sequence[str]):
    """The parquet dataset of the partitions ``days`` under the table folder ``root``; None without files."""
    import pyarrow.dataset as pads

    # Spark's data files; its _SUCCESS markers and .crc files are not data.
    files = [
        str(f)
        for d in days
        for f in sorted((root / f"ds={d}").glob("*"))
        if f.is_file() and not f.name.startswith((".", "_"))
    ]
    return pads.dataset(files, format="parquet") if files else None


@dataclass(frozen=True)
class AccountRange:
    """The accounts whose ``account_pk`` (lowercase hex) lies in ``[low, high)``; ``high`` None: to the end."""

    low: str
    high: str | None = None

    def bounds(self) -> tuple[str, str | None]:
        return self.low, self.high

    def arrow_filter(self):
        import pyarrow.dataset as pads

        where = pads.field("account_pk") >= self.low
        return where if self.high is None else where & (pads.field("account_pk") < self.high)

    def __str__(self) -> str:
        return f"account_pk in [{self.low or '0'}, {self.high or 'f...'})"


def account_ranges(n: int) -> list[AccountRange]:
    """``n`` ranges of ``account_pk`` of (nearly) equal shares, covering every account once.

    ``account_pk`` is an HMAC-SHA256 hex digest, uniform over its first digits, so range
    ``i`` holds about ``1/n`` of any population: one range at a time keeps memory flat in the
    population's size, and the ranges are independent units of work (a mapped task each).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4096:
        raise ValueError(f"account ranges: n must be an int in [1, 4096], got {n!r}")
    cuts = ["" if i == 0 else f"{i * 4096 // n:03x}" for i in range(n)]
    return [AccountRange(low, cuts[i + 1] if i + 1 < n else None) for i, low in enumerate(cuts)]


def read_labels(ds: str, profile: str | None = None) -> pd.DataFrame:
    """The ``features.labels`` partition ``ds``: the newest label per account and risk, matured or not."""
    frame = read_extract("labels", [ds], LABEL_COLUMNS, profile)
    if frame.empty:
        raise TrainingSetError(f"features.labels has no rows for ds={ds}: run the labels extract first")
    return frame


# --- building ------------------------------------------------------------------


def labelled_rows(labels: pd.DataFrame, tasks: Sequence[str], start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """One row per (account_pk, observed_at) with a ``label_<risk>`` float column per task.

    A risk without a label for the row is NaN (masked in the loss).
    """
    import pandas as pd

    window = labels[(labels["observed_at"] >= start) & (labels["observed_at"] < end) & labels["risk_type"].isin(tasks)]
    # The extract keeps the latest label per account and risk; guard against duplicates anyway.
    window = window.sort_values("labeled_at").drop_duplicates(["account_pk", "observed_at", "risk_type"], keep="last")
    wide = window.pivot(index=["account_pk", "observed_at"], columns="risk_type", values="label")
    wide = wide.reindex(columns=list(tasks)).astype("float64")
    wide.columns = [f"label_{t}" for t in tasks]
    wide = wide.reset_index().rename(columns={"observed_at": "event_timestamp"})
    return wide if not wide.empty else pd.DataFrame(columns=["account_pk", "event_timestamp", *wide.columns])


def exclusive_negative_accounts(
    labels: pd.DataFrame, usable: pd.DataFrame, task: str, exclusive_of: Sequence[str]
) -> set[str]:
    """The accounts that are ``task``'s negatives through ``exclusive_of``: a matured positive
    (in ``usable``) of one of those risks, and no label of ``task`` in ``labels`` (matured or not).

    A known account of another risk is unknown for this one (NaN, masked in the loss): an
    account enforced for fake engagement may be a fake account too. Where the risks'
    policies never overlap, leaving it unknown hides from the head the accounts it is most
    likely to confuse with its own: the account graph makes an engagement ring look like a
    ring of bulk accounts, and a head that never saw one as a negative flags it.
    """
    if not exclusive_of:
        return set()
    positives = usable.loc[usable["risk_type"].isin(list(exclusive_of)) & (usable["label"] == 1), "account_pk"]
    return set(positives) - set(labels.loc[labels["risk_type"] == task, "account_pk"])


def matured(labels: pd.DataFrame, end: dt.datetime, maturity_days: int) -> pd.DataFrame:
    """The labels at least ``maturity_days`` old at ``end``: late appeals have had time to arrive.

    ``labels`` holds the newest label per account and risk, so an account whose newest
    label is younger is left out, even if an older one of the same risk had matured.
    """
    import pandas as pd

    cutoff = pd.Timestamp(end) - pd.Timedelta(days=maturity_days)
    return labels[labels["labeled_at"] < cutoff]


def sample_negatives(
    candidates: pd.DataFrame, labelled_accounts: set[str], n: int, tasks: Sequence[str], seed: int
) -> pd.DataFrame:
    """``n`` (account, day) rows of accounts that have no label at all, labelled 0.0 for every task.

    ``labelled_accounts`` must hold every account with any label event, of any risk, matured
    or not: an account enforced yesterday looked most abusive on the days before, and
    drawing it as a negative would teach the model the opposite.

    Each row's ``event_timestamp`` is its ``feature_ts``: the moment the day's values
    became known, so the row joins that day's features.
    """
    import numpy as np

    pool = candidates[~candidates["account_pk"].isin(labelled_accounts)]
    # Sorted first, so the same seed picks the same rows whatever order the files came in.
    pool = pool.drop_duplicates().sort_values(["feature_ts", "account_pk"]).reset_index(drop=True)
    n = min(n, len(pool))
    picked = pool.iloc[np.sort(np.random.default_rng(seed).choice(len(pool), size=n, replace=False))]
    out = picked.rename(columns={"feature_ts": "event_timestamp"})[["account_pk", "event_timestamp"]]
    for task in tasks:
        out[f"label_{task}"] = 0.0
    return out.reset_index(drop=True)


def split_by_time(frame: pd.DataFrame, validation_days: int, test_days: int) -> dict[str, pd.DataFrame]:
    """Train, validation and test by ``event_timestamp``: the last ``test_days`` days are test,
    the ``validation_days`` before them validation, everything earlier train.

    Days count back from the day after the latest row, so a label backlog does not
    leave the test split empty.
    """
    last_day = frame["event_timestamp"].max().floor("D") + dt.timedelta(days=1)
    test_from = last_day - dt.timedelta(days=test_days)
    validation_from = test_from - dt.timedelta(days=validation_days)
    ts = frame["event_timestamp"]
    return {
        "train": frame[ts < validation_from],
        "validation": frame[(ts >= validation_from) & (ts < test_from)],
        "test": frame[ts >= test_from],
    }


@dataclass(frozen=True)
class TrainingSetParams:
    """How a training set is drawn: the risk YAML's ``training_set`` and ``labels`` settings.

    :param lookback_days: days of labels to use.
    :param validation_days: days in the validation split.
    :param test_days: days in the test split (the latest).
    :param negatives_per_positive: unlabelled accounts sampled per positive of the risk.
    :param maturity_days: days a label must have stood before it is trained on (the risk's
        ``labels.maturity_days``): appeals that reverse it arrive within them.
    :param seed: seed of the negative sampling.
    """

    lookback_days: int = 21
    validation_days: int = 2
    test_days: int = 2
    negatives_per_positive: float = 3.0
    maturity_days: int = 3
    exclusive_of: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("lookback_days", "validation_days", "test_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if isinstance(self.maturity_days, bool) or not isinstance(self.maturity_days, int) or self.maturity_days < 0:
            raise ValueError(f"maturity_days must be an int >= 0, got {self.maturity_days!r}")
        if self.validation_days + self.test_days >= self.lookback_days:
            raise ValueError(
                f"lookback_days ({self.lookback_days}) must exceed validation_days + test_days "
                f"({self.validation_days + self.test_days}), or nothing is left to train on"
            )
        if self.negatives_per_positive < 0:
            raise ValueError(f"negatives_per_positive must be >= 0, got {self.negatives_per_positive!r}")
        if isinstance(self.exclusive_of, str):
            raise ValueError(f"exclusive_of must be a list of risk types, got {self.exclusive_of!r}")
        object.__setattr__(self, "exclusive_of", tuple(self.exclusive_of))  # frozen: a list from YAML or XCom


def point_in_time_join(store: FeatureStore, service: FeatureService, entity_df: pd.DataFrame) -> pd.DataFrame:
    """``entity_df`` with the service's features as of each row's ``event_timestamp`` (Feast's join).

    The views a stream writes are joined one by one, then merged on the entity rows: Feast's
    file offline store drops an entity row whose only rows of a view are older than the view's
    TTL (``_filter_ttl`` keeps rows without any match, not rows whose matches all expired). An
    account active on one day and idle the next would lose its example of the second day; joined
    apart, the example stays with those features null, as the Spark offline store gives it.
    """
    keys = ["account_pk", "event_timestamp"]
    streamed = [p for p in service.feature_view_projections if _is_streamed(store, p.name)]
    if not streamed:
        return store.get_historical_features(entity_df=entity_df, features=service, full_feature_names=True).to_df()
    apart = {p.name for p in streamed}
    others = [f"{p.name}:{f.name}" for p in service.feature_view_projections if p.name not in apart for f in p.features]
    joined = store.get_historical_features(entity_df=entity_df, features=others, full_feature_names=True).to_df()
    for projection in streamed:
        refs = [f"{projection.name}:{f.name}" for f in projection.features]
        part = store.get_historical_features(entity_df=entity_df[keys], features=refs, full_feature_names=True).to_df()
        columns = [f"{projection.name_to_use()}__{f.name}" for f in projection.features]
        joined = joined.merge(part[[*keys, *columns]].drop_duplicates(keys), on=keys, how="left")
    return joined


def _is_streamed(store: FeatureStore, view: str) -> bool:
    from feast.errors import FeatureViewNotFoundException

    try:
        return store.get_feature_view(view).stream_source is not None
    except FeatureViewNotFoundException:  # an on-demand view
        return False


def build_training_set(
    *,
    risk_type: str,
    tasks: Sequence[str],
    feature_service: str,
    ds: str,
    profile: str | None = None,
    output_root: str | Path | None = None,
    sequence: dict[str, Any] | None = None,
    **params: Any,
) -> dict:
    """Build and write the training set of ``risk_type`` as of day ``ds``; returns its manifest.

    Labels come from the ``features.labels`` partition ``ds``: those at least ``maturity_days``
    old at the end of ``ds`` and observed in the ``lookback_days`` days up to ``ds`` (included).
    Negatives are drawn from accounts with no label at all in that partition, maturing
    labels and labels of other risks included. Features are joined by Feast's
    ``get_historical_features`` as of each row's ``event_timestamp``: no value with a
    later ``feature_ts`` can reach a row. The folder appears whole or not at all.

    :param risk_type: the risk the set is for; names the folder and counts the positives
        that size the negatives.
    :param tasks: risk types with a ``label_<risk>`` column, ``risk_type`` first.
    :param feature_service: Feast feature service, e.g. ``fraud_v1`` or ``all_risks``.
    :param ds: the run's day, ``YYYY-MM-DD``.
    :param params: the fields of :class:`TrainingSetParams` (lookback, splits, negatives,
        maturity, seed), checked there.
    :param profile: Feast profile (default: env ``INTEGRITY_FEAST_PROFILE``).
    :param output_root: a folder or URL; default ``<storage root>/training_sets``.
    :param sequence: the risk YAML's ``training_set.sequence`` (``days``, ``columns``,
        ``table``; :class:`~integrity_risk.features.sequences.SequenceSpec`): each example gets
        its last ``days`` days of those columns, none after its ``event_timestamp``. None: no sequences.
    :return: the manifest, plus ``path`` (the folder) and ``train_path``, ``validation_path``,
        ``test_path`` (its split files).
    :raises TrainingSetError: no matured label in the window, or no labels partition.
    """
    import pandas as pd

    from integrity_risk.features.feast_store import (
        feature_service_version,
        feature_store,
        get_feature_service,
        service_feature_refs,
    )
    from integrity_risk.features.sequences import SequenceSpec, attach_sequences

    tasks = list(tasks)
    day = parse_ds(ds)
    if risk_type not in tasks:
        raise ValueError(f"risk_type {risk_type!r} must be one of tasks {tasks}")
    spec = TrainingSetParams(**params)

    store = feature_store(profile)
    service = get_feature_service(store, feature_service)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    start = end - dt.timedelta(days=spec.lookback_days)

    labels = read_labels(day.isoformat(), profile)
    usable = matured(labels, end, spec.maturity_days)
    # An exclusive risk need not be a task: its positives come in as this risk's negatives only.
    extra = [t for t in spec.exclusive_of if t not in tasks]
    rows = labelled_rows(usable, [*tasks, *extra], start, end)
    negative = rows["account_pk"].isin(exclusive_negative_accounts(labels, usable, risk_type, spec.exclusive_of))
    rows.loc[rows[f"label_{risk_type}"].isna() & negative, f"label_{risk_type}"] = 0.0
    rows = rows.drop(columns=[f"label_{t}" for t in extra])
    rows = rows[rows[[f"label_{t}" for t in tasks]].notna().any(axis=1)].reset_index(drop=True)
    if rows.empty:
        raise TrainingSetError(
            f"no labels of {tasks} observed in [{start:%Y-%m-%d}, {end:%Y-%m-%d}) and at least {spec.maturity_days} "
            f"days old in features.labels ds={ds} ({len(labels)} labels in the partition, {len(usable)} matured)"
        )
    positives = int((rows[f"label_{risk_type}"] == 1.0).sum())

    # Feature days whose feature_ts falls in [start, end): partitions start-1 .. ds-1.
    days = [(start.date() - dt.timedelta(days=1) + dt.timedelta(days=i)).isoformat() for i in range(spec.lookback_days)]
    candidates = read_extract("account_daily", days, ["account_pk", "feature_ts"], profile)
    # Negatives are observed over the same span as the labels: later than the newest
    # matured label they would fill the test days with negatives only.
    latest = pd.to_datetime(rows["event_timestamp"], utc=True).max()
    candidates = candidates[
        (candidates["feature_ts"] >= start)
        & (candidates["feature_ts"] < end)
        & (pd.to_datetime(candidates["feature_ts"], utc=True) <= latest)
    ]
    wanted = math.ceil(spec.negatives_per_positive * positives)
    negatives = sample_negatives(candidates, set(labels["account_pk"]), wanted, tasks, spec.seed)

    # Which rows are sampled accounts nobody labelled (0.0 for every task as negatives): a
    # positive-unlabelled loss (the model's ``unlabelled: pu``) treats them as unlabelled.
    rows[UNLABELLED_COLUMN] = 0.0
    negatives[UNLABELLED_COLUMN] = 1.0
    entity_df = pd.concat([rows, negatives], ignore_index=True)
    entity_df["event_timestamp"] = pd.to_datetime(entity_df["event_timestamp"], utc=True)
    joined = point_in_time_join(store, service, entity_df)
    features = service_feature_refs(service)
    label_columns = [f"label_{t}" for t in tasks]
    joined = joined[["account_pk", "event_timestamp", *features, *label_columns, UNLABELLED_COLUMN]]
    joined = joined.sort_values(["event_timestamp", "account_pk"], kind="stable").reset_index(drop=True)
    seq = SequenceSpec.from_dict(sequence)
    if seq is not None:
        joined = attach_sequences(
            joined, seq, lambda table, days, columns: read_extract_arrow(table, days, columns, profile)
        )

    splits = split_by_time(joined, spec.validation_days, spec.test_days)
    manifest = {
        "risk_type": risk_type,
        "ds": day.isoformat(),
        "rows": {name: int(len(part)) for name, part in splits.items()},
        "positives": {t: int((joined[f"label_{t}"] == 1.0).sum()) for t in tasks},
        "positives_by_split": {
            name: {t: int((part[f"label_{t}"] == 1.0).sum()) for t in tasks} for name, part in splits.items()
        },
        "negatives_sampled": int(len(negatives)),
        # Known to enforcement but not trained on: kept out of the negatives all the same.
        "labels_maturing": int(len(labels) - len(usable)),
        "accounts_kept_out_of_negatives": int(labels["account_pk"].nunique()),
        "time_range": {
            "start": joined["event_timestamp"].min().isoformat(),
            "end": joined["event_timestamp"].max().isoformat(),
            **{
                name: [part["event_timestamp"].min().isoformat(), part["event_timestamp"].max().isoformat()]
                if len(part)
                else None
                for name, part in splits.items()
            },
        },
        # The model sees train and validation; shadow evaluation judges only what comes after.
        "training_cutoff": max(
            (part["event_timestamp"].max() for name, part in splits.items() if name != "test" and len(part)),
            default=joined["event_timestamp"].min(),
        ).isoformat()
        if len(joined)
        else None,
        "features": features,
        # Beside the features: each a list of days (oldest first) per example, and their mask.
        "sequence": seq.to_dict() if seq is not None else None,
        "label_columns": label_columns,
        "feature_service": feature_service,
        "feature_service_version": feature_service_version(store, feature_service),
        "params": {
            "tasks": tasks,
            **asdict(spec),
        },
    }
    from integrity_risk.storage import as_storage_path, publish_dir

    root = training_sets_root() if output_root is None else as_storage_path(output_root)
    target = root / risk_type / day.isoformat()
    with tempfile.TemporaryDirectory(prefix="training_set_") as tmp:
        for name, part in splits.items():
            part.to_parquet(Path(tmp) / f"{name}.parquet", index=False)
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        publish_dir(Path(tmp), target, commit_file="manifest.json")
    # Where it was written, for the steps downstream (the train task reads the folder, the
    # shadow evaluation the test split): URLs under the storage root, whichever machine runs them.
    manifest["path"] = str(target)
    manifest.update({f"{name}_path": str(target / f"{name}.parquet") for name in SPLITS})
    return manifest
