"""Behaviour drift of one day of a risk: how far the day's features, volumes and the champion's
scores moved from what the champion was trained on. Reported per day, never a gate.

A health gate stops broken data; drift is the world moving (attackers adapt, a launch brings
new users), and it must inform and trigger training, not stop the pipeline. The figures are
rows of ``eval.feature_drift`` (:data:`DRIFT_SCHEMA`), one per figure:

- ``feature_psi``: the PSI of each feature of the risk's feature service, the day's population
  (``features.account_daily`` partition ``ds`` left-joined with the risk table's, the on-demand
  ratios computed as Feast computes them) against the reference;
- ``volume``: the day's row count and column sums of each feature table against the median of
  the trailing ``reference_days`` partitions (what the quality gate used to hold behaviour to);
- ``score``: with a champion, its score distribution on the day's population (quantiles, PSI)
  and the share of accounts at or above its threshold at the operating FPR, against the same
  figures on the reference.

The reference is the champion's training window: the whole population of the days its
training set's train split covers (read from the feature tables, as the day's is; the window
comes from the manifest its training run logged to MLflow). Not the training set's rows: those
are the labelled accounts with a few hundred sampled negatives, and a sample that small (or
that skewed) reads as drift every day. Without a champion, or when its window's partitions
are gone, it is the feature tables' trailing ``reference_days`` days before ``ds``;
``reference`` says which.

Each feature's bound learns its own noise. Some features move a lot from one ordinary day to
the next (the accounts behind a shared IP come in clumps whose sizes change daily), and a
fixed PSI bound would call every day drifted. The reference's days measure it: a feature's
normal day-to-day PSI is the largest PSI of one reference day against the others, and the
feature drifts only past ``max(max_psi, noise_multiplier x that)``. A ``feature_psi`` row
keeps that figure in ``reference_value`` and the bound it led to in ``bound_high``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from integrity_risk.evaluation.metrics import operating_point, psi
from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd
    import pyarrow as pa

    from integrity_risk.features.training_set import AccountRange

log = logging.getLogger(__name__)

SHARED_TABLE = "features.account_daily"
FEATURE_PSI, VOLUME, SCORE = "feature_psi", "volume", "score"
# (name, Hive type) of eval.feature_drift's columns, partition columns excluded: include/hql/feature_drift.hql.
DRIFT_SCHEMA = (
    ("kind", "string"),
    ("name", "string"),
    ("value", "double"),
    ("reference_value", "double"),
    ("ratio", "double"),
    ("bound_low", "double"),
    ("bound_high", "double"),
    ("over_bound", "int"),
    ("null_share", "double"),
    ("reference_null_share", "double"),
    ("rows", "bigint"),
    ("reference_rows", "bigint"),
    ("reference", "string"),
    ("champion_version", "int"),
    ("run_id", "string"),
)
_QUANTILES = (0.5, 0.9, 0.99)
MAX_REFERENCE_ROWS = 200_000  # a sample this large pins a decile share to about 0.1%


@dataclass(frozen=True)
class DriftBounds:
    """When a figure counts as drifted (the risk YAML's ``drift:`` section).

    :param max_psi: a feature's (and the score's) PSI above this is drift.
    :param noise_multiplier: a feature whose normal day-to-day PSI in the reference is
        ``noise`` drifts only above ``noise_multiplier * noise`` when that exceeds ``max_psi``.
    :param max_flag_rate_ratio: the champion's flag rate at more than this times, or less than
        its inverse, the reference's is drift (attackers who evade lower it).
    :param min_volume_ratio: a volume below this share of its trailing median is drift.
    :param max_volume_ratio: a volume above this multiple of its trailing median is drift.
    """

    max_psi: float = 0.25
    noise_multiplier: float = 2.0
    max_flag_rate_ratio: float = 2.0
    min_volume_ratio: float = 0.5
    max_volume_ratio: float = 2.0


@dataclass(frozen=True)
class ServiceFeatures:
    """What a feature service reads: per table ``{column: "<view>__<feature>"}``, and its on-demand views."""

    tables: dict[str, dict[str, str]]
    on_demand: list[Any] = field(default_factory=list)
    #: Tables of views a stream writes (many rows an account and day, at their events' times):
    #: read as the training set's point-in-time join reads them at a day's end.
    streamed: frozenset[str] = frozenset()

    @property
    def names(self) -> list[str]:
        out = [name for columns in self.tables.values() for name in columns.values()]
        return out + [f"{v.name}__{f.name}" for v in self.on_demand for f in v.features]


@dataclass(frozen=True)
class Champion:
    """The production version, its training window and its threshold at the operating FPR.

    ``window``: the partition days its train split covered, oldest first (empty when its run
    logged no training-set manifest).
    """

    version: int
    model_uri: str
    training_set: str | None
    threshold: float | None
    threshold_source: str
    window: tuple[str, ...] = ()


# --- what the day looks like ------------------------------------------------------------


def service_features(feature_service: str, profile: str | None = None) -> ServiceFeatures:
    """The tables and on-demand views behind ``feature_service``, from the repo's own files.

    Read from ``feature_repo/`` (not the registry, which ``feast apply`` writes after this
    step runs): each batch view names its table in its ``table`` tag.
    """
    from feast import FeatureService, FeatureView, OnDemandFeatureView

    from integrity_risk.features.feast_store import repo_objects

    objects = repo_objects(profile)
    services = {o.name: o for o in objects if isinstance(o, FeatureService)}
    if feature_service not in services:
        raise ValueError(f"feature service {feature_service!r} not in feature_repo/ (it has {sorted(services)})")
    views = {o.name: o for o in objects if isinstance(o, (FeatureView, OnDemandFeatureView))}
    tables: dict[str, dict[str, str]] = {}
    on_demand = []
    streamed = set()
    for projection in services[feature_service].feature_view_projections:
        view = views[projection.name]
        if isinstance(view, OnDemandFeatureView):
            on_demand.append(view)
            continue
        # The view's `table` tag names it; else its source, named after the table (data_sources.extract_table).
        table = view.tags.get("table") or (view.batch_source and f"features.{view.batch_source.name}")
        if not table:
            raise ValueError(f"feature view {view.name!r} names no table: neither a 'table' tag nor a batch source")
        tables.setdefault(table, {}).update(
            {f.name: f"{projection.name_to_use()}__{f.name}" for f in projection.features}
        )
        if view.stream_source is not None:
            streamed.add(table)
    return ServiceFeatures(tables=tables, on_demand=on_demand, streamed=frozenset(streamed))


def newest_of_each_day(rows: pa.Table) -> pa.Table:
    """A streamed view's rows as a daily example reads them: each account's newest row of a
    day, at the day's end (the daily tables' ``feature_ts``).

    What Feast's point-in-time join gives an example at a day's end, as the view's TTL (a
    day, ``feature_repo/realtime.py``) spans exactly the day: the newest row before it. A
    table's partition ``ds`` holds the rows whose ``feature_ts`` falls on ``ds``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = rows["feature_ts"]
    day_end = pc.add(pc.floor_temporal(ts, unit="day"), pa.scalar(dt.timedelta(days=1), pa.duration(ts.type.unit)))
    rows = rows.append_column("day_end", day_end.cast(ts.type))
    newest = rows.group_by(["account_pk", "day_end"], use_threads=False).aggregate([("feature_ts", "max")])
    newest = newest.rename_columns(["account_pk", "day_end", "feature_ts"])
    rows = rows.join(newest, ["account_pk", "day_end", "feature_ts"], join_type="inner", use_threads=False)
    rows = rows.drop_columns(["feature_ts"])
    return rows.rename_columns(["feature_ts" if c == "day_end" else c for c in rows.column_names])


def day_features(
    service: ServiceFeatures,
    days: Sequence[str],
    profile: str | None = None,
    hive_conn_id: str = "hiveserver2_default",
    account_range: AccountRange | None = None,
) -> pd.DataFrame:
    """The population of ``days`` as the feature service joins it, one row per account and day.

    Every account of ``features.account_daily`` (the table the training set draws its negatives
    from), with the other tables' columns joined on the account and ``feature_ts`` (NULL where
    the account has no row, as Feast's join leaves it) and the on-demand features computed by
    their own transformation. Columns are named ``<view>__<feature>`` like the training set's.
    ``account_range``: only those accounts (a share of the population; see ``account_ranges``).
    """
    from integrity_risk.features.training_set import read_extract_arrow

    keys = ["account_pk", "feature_ts"]
    tables = sorted(service.tables, key=lambda t: t != SHARED_TABLE)  # the shared table first: the population
    joined = None
    for table in tables:
        columns = service.tables[table]
        part = read_extract_arrow(table.split(".", 1)[1], days, [*keys, *columns], profile, hive_conn_id, account_range)
        if table in service.streamed:
            part = newest_of_each_day(part)
        part = part.rename_columns([columns.get(c, c) for c in part.column_names])
        # Arrow's hash join: the joins and the one copy into pandas cost a third of pandas' merges.
        joined = part if joined is None else joined.join(part, keys, join_type="left outer", use_threads=False)
    if joined is None:
        raise ValueError("the feature service reads no feature table")
    outputs = [view.transform_arrow(joined, full_feature_names=True) for view in service.on_demand]
    for out in outputs:
        for name, column in zip(out.column_names, out.columns, strict=True):
            joined = joined.append_column(name, column)
    return joined.to_pandas()


def trailing_days(ds: str, n: int) -> list[str]:
    """The ``n`` days before ``ds``, oldest first."""
    day = parse_ds(ds)
    return [(day - dt.timedelta(days=k)).isoformat() for k in range(n, 0, -1)]


# --- the champion and its training window --------------------------------------------------


def find_champion(model_name: str, operating_fpr: float, client=None) -> Champion | None:
    """The ``champion`` version of ``model_name`` with its training set and threshold, or None.

    The window is read from the training-set manifest its training run logged to MLflow, not
    from the training set's folder, which another machine may not see. The threshold is the
    one the promotion's audit recorded (``candidate_threshold`` of the
    ``audit_promote_<event>`` tag named by ``last_promote``: the threshold at the operating FPR
    on the days it was evaluated on); a champion without one (promoted by hand, rolled back to)
    gets it recomputed on its training set's test split at ``operating_fpr``.
    """
    from mlflow.exceptions import MlflowException

    from integrity_risk import tracking
    from integrity_risk.tracking import CHAMPION_ALIAS

    client = client or tracking.client()
    try:
        mv = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None
    tags = dict(mv.tags or {})
    version = int(mv.version)
    threshold, source = audited_threshold(tags)
    run_id = tags.get("run_id") or mv.run_id
    return Champion(
        version=version,
        model_uri=f"models:/{model_name}/{version}",
        training_set=tags.get("training_set") or None,
        threshold=threshold,
        threshold_source=source,
        window=tuple(training_window(logged_manifest(client, run_id))) if run_id else (),
    )


def logged_manifest(client, run_id: str) -> dict:
    """The training-set manifest a training run logged (``training_set/manifest.json``), or {}."""
    import tempfile

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "training_set/manifest.json", tmp)
            return json.loads(Path(path).read_text())
        except (MlflowException, OSError, ValueError) as err:
            log.warning("Run %s logged no readable training-set manifest: %s", run_id, err)
            return {}


def training_window(manifest: Mapping[str, Any]) -> list[str]:
    """The partition days of a training set's train split, oldest first; [] when it names none.

    Its ``time_range.train`` holds the first and last ``feature_ts``; a day's features carry
    the next midnight (``features/*.hql``), so the partitions are one day earlier.
    """
    import pandas as pd

    span = (manifest.get("time_range") or {}).get("train") or []
    if len(span) != 2:
        return []
    first, last = (pd.Timestamp(t).date() - dt.timedelta(days=1) for t in span)
    return [(first + dt.timedelta(days=k)).isoformat() for k in range((last - first).days + 1)]


def audited_threshold(tags: Mapping[str, str]) -> tuple[float | None, str]:
    """The threshold a version's last promotion recorded (``audit_promote_<event>``), or None; and where it came from.

    A version made champion by an override of its failed gates has ``audit_override_<event>`` instead.
    """
    action = "promote" if tags.get("last_promote") else "override"
    event = tags.get(f"last_{action}")
    if not event:
        return None, "no promotion audit on the version"
    try:
        entry = json.loads(tags.get(f"audit_{action}_{event}", "{}"))
        value = (entry.get("metrics") or {}).get("candidate_threshold")
    except (ValueError, AttributeError):
        value = None
    if value is None or not math.isfinite(float(value)):
        return None, f"promotion {event} recorded no threshold"
    return float(value), f"promotion audit {event}"


def threshold_on_test_split(champion: Champion, risk_type: str, operating_fpr: float, scorer) -> float | None:
    """The champion's threshold at ``operating_fpr`` on its training set's test split, or None."""
    import pandas as pd

    from integrity_risk.storage import as_storage_path

    if not champion.training_set:
        return None
    path = as_storage_path(champion.training_set) / "test.parquet"
    if not path.is_file():
        return None
    with path.open("rb") as data:
        test = pd.read_parquet(data)
    label = test.get(f"label_{risk_type}")
    if label is None:
        return None
    keep = label.notna().to_numpy()
    y = label.to_numpy(dtype=float)[keep]
    if y.size == 0 or y.sum() in (0, y.size):
        return None
    scores = np.asarray(scorer(champion.model_uri, test.loc[keep].reset_index(drop=True)), dtype=float)
    t = operating_point(y, scores, operating_fpr).threshold
    return t if math.isfinite(t) else None


# --- figures -----------------------------------------------------------------------------


def _values(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Both columns as floats without NULLs; a string column as codes of the reference's categories.

    Codes go by the reference's frequency, most frequent first, with one code for every
    category the reference lacks: each category holding a tenth of the reference is then a
    tied value, which ``psi`` bins on its own.
    """
    import pandas as pd

    ref, cur = reference.dropna(), current.dropna()
    if pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur):
        return ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)
    order = {value: code for code, value in enumerate(ref.astype(str).value_counts().index)}
    unseen = float(len(order))
    return (
        np.array([order[v] for v in ref.astype(str)], dtype=float),
        np.array([order.get(v, unseen) for v in cur.astype(str)], dtype=float),
    )


def feature_noise(reference: pd.DataFrame, features: Sequence[str], day_column: str = "feature_ts") -> dict[str, float]:
    """Each feature's normal day-to-day PSI in ``reference``: its largest PSI of one day against the other days.

    Leave-one-out, so that a day is not compared with itself. Empty with fewer than two days.
    """
    days = reference[day_column].to_numpy()
    distinct = np.unique(days)
    if len(distinct) < 2:
        return {}
    noise: dict[str, float] = {}
    for name in features:
        if name not in reference.columns:
            continue
        column = reference[name]
        figures = []
        for day in distinct:
            on_day = days == day
            rest, one = _values(column[~on_day], column[on_day])
            if rest.size and one.size:
                figures.append(psi(rest, one))
        if figures:
            noise[name] = max(figures)
    return noise


def feature_psi(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    noise: Mapping[str, float] | None = None,
) -> list[dict]:
    """One ``feature_psi`` row per feature present in both frames (PSI over non-NULL values).

    A feature NULL everywhere on either side has no distribution to compare: its PSI is None,
    its NULL shares say why. ``noise`` (:func:`feature_noise`) goes into ``reference_value``.
    """
    noise = noise or {}
    rows = []
    for name in features:
        if name not in reference.columns or name not in current.columns:
            continue
        ref, cur = _values(reference[name], current[name])
        value = psi(ref, cur) if ref.size and cur.size else None
        rows.append(
            _row(
                FEATURE_PSI,
                name,
                value,
                reference_value=noise.get(name),
                null_share=_share(current[name].isna()),
                reference_null_share=_share(reference[name].isna()),
                rows=len(current),
                reference_rows=len(reference),
            )
        )
    return rows


def volume_figures(history: Sequence[Mapping[str, Any]], ds: str, table: str) -> list[dict]:
    """``volume`` rows of ``table``: the day's rows and column sums against the trailing days' median.

    :param history: ``IntegrityHiveServer2Hook.partition_volumes`` of the table from the first
        trailing day up to and including ``ds``.
    """
    day = [h for h in history if h["ds"] == ds]
    past = [h for h in history if h["ds"] < ds]
    if not day:
        return []
    figures = [(f"rows:{table}", day[0]["rows"], [h["rows"] for h in past])]
    figures += [
        (f"sum:{table}.{c}", day[0]["volumes"][c] or 0, [h["volumes"][c] or 0 for h in past]) for c in day[0]["volumes"]
    ]
    rows = []
    for name, value, trailing in figures:
        median = statistics.median(trailing) if trailing else None
        rows.append(
            _row(
                VOLUME,
                name,
                float(value),
                reference_value=None if median is None else float(median),
                ratio=float(value) / median if median else None,
                reference_rows=len(trailing),
            )
        )
    return rows


def score_figures(reference_scores, day_scores, threshold: float | None) -> list[dict]:
    """``score`` rows: the champion's score quantiles, PSI and flag rate, day against reference."""
    ref = np.asarray(reference_scores, dtype=float)
    cur = np.asarray(day_scores, dtype=float)
    n, n_ref = len(cur), len(ref)
    if not n:
        return []
    rows = [_row(SCORE, "score_psi", psi(ref, cur) if n_ref else None, rows=n, reference_rows=n_ref)]
    for q in _QUANTILES:
        rows.append(
            _row(
                SCORE,
                f"score_p{round(q * 100)}",
                float(np.quantile(cur, q)),
                reference_value=float(np.quantile(ref, q)) if n_ref else None,
                rows=n,
                reference_rows=n_ref,
            )
        )
    if threshold is not None:
        rate = float(np.mean(cur >= threshold))
        ref_rate = float(np.mean(ref >= threshold)) if n_ref else None
        rows.append(
            _row(
                SCORE,
                "flag_rate",
                rate,
                reference_value=ref_rate,
                ratio=rate / ref_rate if ref_rate else None,
                rows=n,
                reference_rows=n_ref,
            )
        )
    return rows


def judge(rows: list[dict], bounds: DriftBounds) -> list[dict]:
    """Set each row's bounds and ``over_bound`` (1 or 0; None for figures without a bound)."""
    for row in rows:
        low = high = figure = None
        if row["kind"] == FEATURE_PSI:
            noise = row.get("reference_value")
            high, figure = max(bounds.max_psi, bounds.noise_multiplier * (noise or 0.0)), row["value"]
        elif row["name"] == "score_psi":
            high, figure = bounds.max_psi, row["value"]
        elif row["name"] == "flag_rate":
            low, high, figure = 1 / bounds.max_flag_rate_ratio, bounds.max_flag_rate_ratio, row["ratio"]
        elif row["kind"] == VOLUME:
            low, high, figure = bounds.min_volume_ratio, bounds.max_volume_ratio, row["ratio"]
        else:
            continue
        row["bound_low"], row["bound_high"] = low, high
        if figure is not None:
            row["over_bound"] = int((low is not None and figure < low) or (high is not None and figure > high))
    return rows


def summarize(figures: Sequence[Mapping[str, Any]], psi_bound: float | None = None, **facts: Any) -> dict[str, Any]:
    """The drift task's result: ``drifted``, what passed its bound, the headline figures and a message.

    :param psi_bound: the YAML's ``max_psi``; features judged against a higher bound (their
        noise's) are listed in ``noisy_features`` with it.
    """
    rows = figures
    over = [r for r in rows if r.get("over_bound") == 1]
    psis = [r["value"] for r in rows if r["kind"] == FEATURE_PSI and r["value"] is not None]
    flag = next((r for r in rows if r["name"] == "flag_rate"), None)
    summary = {
        "drifted": bool(over),
        "features_over_bound": [r["name"] for r in over if r["kind"] == FEATURE_PSI],
        "over_bound": [
            {k: r.get(k) for k in ("kind", "name", "value", "reference_value", "ratio", "bound_low", "bound_high")}
            for r in over
        ],
        "max_psi": max(psis) if psis else None,
        # Features whose own day-to-day noise raised their bound above max_psi.
        "noisy_features": {
            r["name"]: r["bound_high"]
            for r in rows
            if r["kind"] == FEATURE_PSI and psi_bound is not None and (r.get("bound_high") or 0.0) > psi_bound
        },
        "features_compared": len(psis),
        "flag_rate": flag["value"] if flag else None,
        "flag_rate_ratio": flag["ratio"] if flag else None,
        **facts,
    }
    summary["message"] = drift_message(summary)
    return summary


def drift_message(summary: Mapping[str, Any]) -> str:
    """What the platform team reads: the risk, the day, and each figure past its bound with the bound."""
    head = f"Drift in {summary.get('risk_type', '?')} on {summary.get('ds', '?')}"
    if not summary["drifted"]:
        return f"{head}: none past its bound (max feature PSI {_fmt(summary.get('max_psi'))})."
    lines = [
        f"{head}: {len(summary['over_bound'])} figure(s) past their bound (reference: {summary.get('reference')})."
    ]
    for r in summary["over_bound"]:
        if r["kind"] == FEATURE_PSI or r["name"] == "score_psi":
            noise = r.get("reference_value")
            normal = f" (its normal day-to-day PSI {_fmt(noise)})" if r["kind"] == FEATURE_PSI and noise else ""
            lines.append(f"- {r['name']}: PSI {_fmt(r['value'])} > {_fmt(r['bound_high'])}{normal}")
        else:
            lines.append(
                f"- {r['name']}: {_fmt(r['value'])} is {_fmt(r['ratio'])}x the reference {_fmt(r['reference_value'])}; "
                f"allowed {_fmt(r['bound_low'])}x..{_fmt(r['bound_high'])}x"
            )
    return "\n".join(lines)


def drift_frame(rows: Sequence[Mapping[str, Any]], **common: Any) -> pd.DataFrame:
    """The rows as a frame of :data:`DRIFT_SCHEMA`'s columns, ``common`` filled into every row."""
    import pandas as pd

    names = [name for name, _ in DRIFT_SCHEMA]
    return pd.DataFrame([{**{n: None for n in names}, **dict(r), **common} for r in rows], columns=names)


def _row(kind: str, name: str, value: float | None, **fields: Any) -> dict:
    row: dict[str, Any] = {"kind": kind, "name": name, "value": _num(value)}
    row.update({k: _num(v) if isinstance(v, float) else v for k, v in fields.items()})
    return row


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _share(mask) -> float | None:
    return float(np.mean(mask)) if len(mask) else None


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"
