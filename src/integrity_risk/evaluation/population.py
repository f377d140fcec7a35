"""Population scoring: every account of the evaluation days, scored by the champion and the candidate.

What the labelled rows cannot tell a reviewer, the day's whole population can: how many
accounts each model would action, which accounts approval would newly flag or stop
flagging, how often the decision flips, and whether the inputs moved since the
candidate's training window. The figures are a JSON-able dict (``metrics["population"]``
of shadow_eval), read by the gates, the report and the approval's body.

Memory stays flat in the population's size: each day is read and scored one range of
``account_pk`` at a time (:func:`~integrity_risk.features.training_set.account_ranges`),
sized so a range holds at most ``batch_accounts`` accounts; only counts, the score
histograms, a bounded sample for the PSIs and the top flipped accounts are kept between
ranges. The ranges are independent, so at scale each can be a mapped task (Airflow
dynamic task mapping over the same ranges); the shadow_eval task runs them in turn.

The labelled metrics are judged the same way (:meth:`PopulationScoring.labelled`): every
account of the days whose labels have matured since the cutoff, each labelled by
:class:`MaturedLabels`, instead of the training set's test split, whose negatives are a
sample drawn at a few per positive: on the population, the operating threshold is the one
that flags the operating FPR of the real negatives, and precision meets the real base rate.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from integrity_risk.evaluation import metrics as m
from integrity_risk.evaluation.drift import MAX_REFERENCE_ROWS, SHARED_TABLE
from integrity_risk.features.training_set import AccountRange, account_ranges, count_extract_rows
from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    import pandas as pd

    from integrity_risk.evaluation.drift import ServiceFeatures

SCORE_BINS = 20  # equal-width bins of [0, 1]: the report's histograms of both models
PSI_SAMPLE_ROWS = 100_000  # accounts of the run's day the input PSIs compare (a uniform share)

Scorer = Callable[["pd.DataFrame"], np.ndarray]


def evaluation_days(ds: str, cutoff: str | None, max_days: int) -> list[str]:
    """The partitions after the candidate's training ``cutoff`` up to ``ds``, oldest first; at most the newest ``max_days``.

    Partition ``d`` holds the features as of the end of ``d`` (``feature_ts`` = ``d`` + 1 day),
    so it is unseen when that lies after the cutoff. Always at least ``ds``, the run's day.
    """
    day = parse_ds(ds)
    if max_days < 1:
        raise ValueError(f"max_days must be >= 1, got {max_days}")
    if not cutoff:
        return [day.isoformat()]
    cut = _utc(cutoff)
    first = cut.date() - dt.timedelta(days=1)
    days = [
        d.isoformat()
        for d in (first + dt.timedelta(days=i) for i in range(max(0, (day - first).days) + 1))
        if dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), dt.UTC) > cut
    ]
    return days[-max_days:] or [day.isoformat()]


def _utc(value: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


@dataclass(frozen=True)
class MaturedLabels:
    """The labels the population of each day is judged on, for one risk.

    An account-day is labelled by the account's matured label of the risk observed on the
    next day (the features it is judged on are those known at the observation: partition
    ``d`` holds the values as of midnight after ``d``, as Feast's point-in-time join reads
    them for the training set); 0.0 when the account has no label event at all in the
    labels partition, matured or not, of any risk (the training set's negatives); else
    unknown (NaN): an account labelled for another risk, not yet matured or observed before
    the cutoff is left out, except the matured positives of a risk the YAML names in
    ``labels.exclusive_of`` (with no label of this risk): 0.0, as in the training set.

    :param by_day: partition -> the risk's labels there, a float Series indexed by ``account_pk``.
    :param labelled_accounts: every account with a label event in the partition.
    :param note: how the labels were chosen, for the report.
    :param exclusive_negatives: accounts that are negatives through ``labels.exclusive_of``.
    """

    by_day: dict[str, pd.Series]
    labelled_accounts: pd.Index
    note: str = ""
    exclusive_negatives: pd.Index | None = None

    @property
    def days(self) -> list[str]:
        return sorted(self.by_day)

    @property
    def positives(self) -> int:
        return int(sum((s == 1.0).sum() for s in self.by_day.values()))

    def of(self, day: str, account_pk: pd.Series) -> np.ndarray:
        """The label of each account of ``day`` (1.0, 0.0 or NaN), aligned with ``account_pk``."""
        known = self.by_day.get(day)
        labels = account_pk.map(known).to_numpy(dtype=float) if known is not None else np.full(len(account_pk), np.nan)
        negative = ~account_pk.isin(self.labelled_accounts).to_numpy()
        if self.exclusive_negatives is not None:
            negative |= account_pk.isin(self.exclusive_negatives).to_numpy()
        return np.where(np.isnan(labels) & negative, 0.0, labels)


def matured_labels(
    labels: pd.DataFrame,
    risk_type: str,
    cutoff: str | None,
    ds: str,
    maturity_days: int,
    exclusive_of: Sequence[str] = (),
) -> MaturedLabels:
    """The risk's labels matured by the end of ``ds`` and observed after the candidate's ``cutoff``, by partition.

    :param labels: the ``features.labels`` partition ``ds`` (``training_set.read_labels``): the
        newest label per account and risk.
    :param cutoff: the end of what the candidate saw (``shadow_eval.evaluation_cutoff``); None: every matured label.
    :param maturity_days: the risk's ``labels.maturity_days``: the same labels the training set would trust.
    :param exclusive_of: the risk's ``labels.exclusive_of``: their matured positives, with no
        label of this risk, are its negatives (``training_set.exclusive_negative_accounts``).
    """
    import pandas as pd

    from integrity_risk.features.training_set import exclusive_negative_accounts, matured

    end = dt.datetime.combine(parse_ds(ds) + dt.timedelta(days=1), dt.time(), dt.UTC)
    usable = matured(labels, end, maturity_days)
    observed = pd.to_datetime(usable["observed_at"], utc=True)
    keep = (usable["risk_type"] == risk_type) & (observed < end)
    if cutoff:
        keep &= observed > _utc(cutoff)
    rows = usable[keep].assign(observed_at=observed[keep])
    rows = rows.sort_values("labeled_at").drop_duplicates(["account_pk", "observed_at"], keep="last")
    partition = (rows["observed_at"].dt.floor("D") - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")
    by_day = {
        day: group.groupby("account_pk")["label"].max().astype(float)
        for day, group in rows.assign(partition=partition).groupby("partition")
    }
    after = f"observed after {cutoff}" if cutoff else "observed"
    note = (
        f"every {risk_type} label matured ({maturity_days} days) by the end of {ds} and {after}, "
        f"judged with every account of {len(by_day)} day(s) without any label as negatives"
    )
    exclusive = None
    if exclusive_of:
        exclusive = pd.Index(sorted(exclusive_negative_accounts(labels, usable, risk_type, exclusive_of)))
        note += f"; the matured positives of {', '.join(exclusive_of)} as negatives (labels.exclusive_of)"
    return MaturedLabels(by_day, pd.Index(labels["account_pk"].unique()), note, exclusive)


def sample_range(rows: int, wanted: int) -> AccountRange:
    """The range of ``account_pk`` that holds about ``wanted`` of ``rows`` accounts (a uniform share)."""
    share = 1.0 if rows <= wanted else wanted / rows
    cut = min(4096, max(1, math.ceil(share * 4096)))
    return AccountRange("", None if cut >= 4096 else f"{cut:03x}")


@dataclass
class _Sample:
    """The ``size`` accounts with the highest ``key`` score seen so far, with their feature rows."""

    size: int
    key: str
    rows: Any = None  # pandas DataFrame

    def offer(self, frame: pd.DataFrame) -> None:
        import pandas as pd

        if not self.size or frame.empty:
            return
        merged = frame if self.rows is None else pd.concat([self.rows, frame], ignore_index=True)
        self.rows = merged.nlargest(self.size, self.key).reset_index(drop=True)


@dataclass
class PopulationScoring:
    """Scores the evaluation days' population with the candidate (and the champion) and sums up what changes.

    :param risk_type: the risk judged.
    :param service: the feature service's tables and on-demand views (``drift.service_features``).
    :param candidate: scores a frame of service features with the candidate (one per row).
    :param champion: the same with the champion, or None when there is none.
    :param thresholds: ``(candidate, champion)`` score thresholds at the operating FPR; None: flags nobody.
    :param batch_accounts: the most accounts read and scored at once.
    :param sample_size: flipped accounts kept for the report, each way.
    :param read: ``read(days, account_range)`` -> the service's features (``drift.day_features``).
    :param count: ``count(days)`` -> rows of the shared table in ``days``.
    """

    risk_type: str
    service: ServiceFeatures
    candidate: Scorer
    champion: Scorer | None
    thresholds: tuple[float | None, float | None]
    read: Callable[[Sequence[str], AccountRange | None], pd.DataFrame]
    count: Callable[[Sequence[str]], int]
    batch_accounts: int = 250_000
    sample_size: int = 5
    day_sample: Any = field(default=None, init=False)  # the run day's uniform sample, after run()

    def labelled(self, labels: MaturedLabels, keep: Sequence[str] = ()) -> pd.DataFrame | None:
        """Every account of the labelled days scored by both models; the rows with a label.

        Columns ``account_pk``, ``feature_ts``, ``label_<risk>``, ``candidate_score`` (and
        ``champion_score``), and those of ``keep`` present (the slices' sources). None when no
        account of those days has features. The scores of every account are computed, but only
        the labelled rows are kept (a few columns each).
        """
        label = f"label_{self.risk_type}"
        rows = {day: self.count([day]) for day in labels.days}
        parts = []
        for day, frame in self.batches(rows):
            frame[label] = labels.of(day, frame["account_pk"].astype(str))
            columns = ["account_pk", "feature_ts", *(c for c in keep if c in frame.columns), label, "candidate_score"]
            if self.champion is not None:
                columns.append("champion_score")
            parts.append(frame.loc[frame[label].notna().to_numpy(), columns])
        return _concat(parts)

    def batches(self, rows: dict[str, int]) -> Iterator[tuple[str, pd.DataFrame]]:
        """``(day, scored frame)`` one account range at a time, with ``candidate_score``, ``candidate_flagged``
        (and the champion's) beside the features; ``rows``: each day's accounts (``count``).
        """
        t_cand, t_champ = (np.inf if t is None else t for t in self.thresholds)
        for day, accounts in rows.items():
            if not accounts:
                continue
            n = min(4096, max(1, math.ceil(accounts / self.batch_accounts)))
            for account_range in account_ranges(n):
                frame = self.read([day], account_range)
                if frame.empty:
                    continue
                frame["candidate_score"] = np.asarray(self.candidate(frame), dtype=float)
                frame["candidate_flagged"] = frame["candidate_score"] >= t_cand
                if self.champion is not None:
                    frame["champion_score"] = np.asarray(self.champion(frame), dtype=float)
                    frame["champion_flagged"] = frame["champion_score"] >= t_champ
                yield day, frame

    def run(
        self,
        days: Sequence[str],
        reference: pd.DataFrame | None,
        sink: Callable[[str, pd.DataFrame], None],
        labels: MaturedLabels | None = None,
    ):
        """Score every account of ``days``; hand each scored range to ``sink(day, frame)``; the figures.

        :param reference: a uniform sample of the candidate's training window (service features),
            the PSIs' reference; None: no PSI figures.
        :param labels: with them, each range handed to ``sink`` has its ``label`` (NaN: unknown).
        """
        has_champion = self.champion is not None
        hist = {"candidate": np.zeros(SCORE_BINS, dtype=np.int64), "champion": np.zeros(SCORE_BINS, dtype=np.int64)}
        newly, gone = _Sample(self.sample_size, "candidate_score"), _Sample(self.sample_size, "champion_score")
        per_day: dict[str, dict[str, int]] = {}
        run_day = days[-1]
        rows = {day: self.count([day]) for day in days}
        psi_cut = sample_range(rows[run_day], PSI_SAMPLE_ROWS).high
        day_sample = []
        for day, frame in self.batches(rows):
            if labels is not None:
                frame["label"] = labels.of(day, frame["account_pk"].astype(str))
            sink(day, frame)
            figures = per_day.setdefault(day, dict.fromkeys(_COUNTS, 0))
            cand = frame["candidate_flagged"].to_numpy()
            figures["accounts"] += len(frame)
            figures["candidate_flagged"] += int(cand.sum())
            hist["candidate"] += _histogram(frame["candidate_score"])
            if has_champion:
                champ = frame["champion_flagged"].to_numpy()
                figures["champion_flagged"] += int(champ.sum())
                figures["newly_flagged"] += int((cand & ~champ).sum())
                figures["no_longer_flagged"] += int((champ & ~cand).sum())
                hist["champion"] += _histogram(frame["champion_score"])
                newly.offer(frame[cand & ~champ])
                gone.offer(frame[champ & ~cand])
            if day == run_day:
                pks = frame["account_pk"].astype(str)
                day_sample.append(frame[(pks < psi_cut).to_numpy()] if psi_cut else frame)
        days_out: list[dict[str, Any]] = [{"ds": d, **per_day.get(d, dict.fromkeys(_COUNTS, 0))} for d in days]
        totals = {k: sum(int(d[k]) for d in days_out) for k in _COUNTS}
        if not totals["accounts"]:
            raise ValueError(f"no accounts with features on the evaluation days {list(days)} ({SHARED_TABLE})")
        out: dict[str, Any] = {
            "days": days_out,
            **totals,
            "thresholds": {"candidate": _num(self.thresholds[0]), "champion": _num(self.thresholds[1])},
            "score_histogram": {
                "edges": np.linspace(0, 1, SCORE_BINS + 1).round(4).tolist(),
                "candidate": hist["candidate"].tolist(),
                "champion": hist["champion"].tolist() if has_champion else None,
            },
            "flip_rate": None,
            "alert_volume_ratio": None,
            "score_psi": None,
        }
        if has_champion:
            out["flip_rate"] = _num((totals["newly_flagged"] + totals["no_longer_flagged"]) / totals["accounts"])
            out["alert_volume_ratio"] = alert_volume_ratio(totals["candidate_flagged"], totals["champion_flagged"])
        sample = _concat(day_sample)
        self.day_sample = sample
        if has_champion and sample is not None:
            # On the run day's uniform sample, with the quantile bins of the labelled rows' PSI.
            out["score_psi"] = _num(m.psi(sample["champion_score"], sample["candidate_score"]))
        out["newly_flagged_sample"] = newly.rows
        out["no_longer_flagged_sample"] = gone.rows
        out.update(self._drift(reference, sample, run_day))
        return out

    def _drift(self, reference: pd.DataFrame | None, day: pd.DataFrame | None, run_day: str) -> dict[str, Any]:
        """PSI of every input feature and of the candidate's score: training window against the run's day."""
        from integrity_risk.evaluation.drift import feature_psi

        if reference is None or reference.empty or day is None or day.empty:
            why = "no training window to compare with" if reference is None or reference.empty else "no day sample"
            return {"feature_psi": [], "max_feature_psi": None, "score_psi_vs_training": None, "psi_note": why}
        rows = feature_psi(reference, day, self.service.names)
        psis = sorted(
            ({"name": r["name"], "value": _num(r["value"])} for r in rows),
            key=lambda r: -1.0 if r["value"] is None else -r["value"],
        )
        values = [r["value"] for r in psis if r["value"] is not None]
        return {
            "feature_psi": psis,
            "max_feature_psi": max(values) if values else None,
            "score_psi_vs_training": _num(m.psi(np.asarray(self.candidate(reference)), day["candidate_score"])),
            "psi_note": f"training window sample of {len(reference)} account-days against {len(day)} accounts of {run_day}",
        }


_COUNTS = ("accounts", "candidate_flagged", "champion_flagged", "newly_flagged", "no_longer_flagged")


def alert_volume_ratio(candidate_flagged: int, champion_flagged: int) -> float | None:
    """Candidate's flagged accounts over the champion's; 1.0 when both flag none, None (unbounded) when only the candidate does."""
    if champion_flagged == 0:
        return 1.0 if candidate_flagged == 0 else None
    return candidate_flagged / champion_flagged


def _histogram(scores) -> np.ndarray:
    values = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    return np.histogram(values[~np.isnan(values)], bins=SCORE_BINS, range=(0.0, 1.0))[0]


def _concat(frames: list) -> pd.DataFrame | None:
    import pandas as pd

    return pd.concat(frames, ignore_index=True) if frames else None


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def reference_sample(
    read: Callable[[Sequence[str], AccountRange | None], pd.DataFrame],
    count: Callable[[Sequence[str]], int],
    days: Sequence[str],
    rows: int = MAX_REFERENCE_ROWS,
) -> pd.DataFrame | None:
    """A uniform share of the accounts of ``days`` (about ``rows`` account-days), or None without days."""
    total = count(days) if days else 0
    return read(days, sample_range(total, rows)) if total else None


def hive_readers(service: ServiceFeatures, profile: str | None, hive_conn_id: str):
    """``(read, count)`` of the feature tables as ``PopulationScoring`` takes them."""
    from integrity_risk.evaluation.drift import day_features

    def read(days, account_range):
        return day_features(service, days, profile, hive_conn_id, account_range)

    def count(days):
        return count_extract_rows(SHARED_TABLE.split(".", 1)[1], days, profile, hive_conn_id)

    return read, count
