"""Ranking and decision metrics of one or two scorers, with vectorised bootstrap intervals.

Every metric is computed from one sort of the scores and cumulative sums of per-row
weights. A bootstrap resample is the same rows with multinomial counts as weights, so
B resamples are a (B, n) weight matrix run through the same cumulative sums: one sort,
no Python loop over resamples. Matrices are built in chunks to bound memory.

Conventions: a higher score means riskier; an account is flagged when ``score >= threshold``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Rows x resamples held in memory at once by the bootstrap (float64: 8 bytes each).
_BOOTSTRAP_CELLS = 4_000_000


@dataclass(frozen=True)
class OperatingPoint:
    """The decision threshold that keeps the false-positive rate at or under a target."""

    threshold: float
    recall: float
    precision: float
    fpr: float

    def as_dict(self) -> dict:
        return asdict(self)


def _check(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"labels and scores must be 1-d and of one length, got {y.shape} and {s.shape}")
    if np.isnan(s).any():
        raise ValueError(f"scores contain {int(np.isnan(s).sum())} NaN values")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (drop unlabeled rows before computing metrics)")
    return y, s


class _Ranked:
    """Rows sorted by descending score with the last index of each run of tied scores.

    Ties must be cut together: a threshold cannot separate two rows of equal score.
    """

    def __init__(self, y: np.ndarray, s: np.ndarray) -> None:
        order = np.argsort(-s, kind="stable")
        self.y = y[order]
        self.s = s[order]
        self.order = order
        # Index of the last row of each distinct score, in descending score order.
        self.cut = np.r_[np.flatnonzero(np.diff(self.s) != 0), len(self.s) - 1]

    def cumulative(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted true and false positives at each distinct threshold; ``w`` is (B, n) in row order."""
        w = w[:, self.order]
        tp = np.cumsum(w * self.y, axis=1)[:, self.cut]
        fp = np.cumsum(w * (1.0 - self.y), axis=1)[:, self.cut]
        return tp, fp


def _average_precision(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Average precision (step-wise area under the PR curve, as scikit-learn defines it)."""
    pos = tp[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / pos
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        d_recall = np.diff(recall, axis=1, prepend=0.0)
        ap = np.sum(d_recall * precision, axis=1)
    return np.where(pos[:, 0] > 0, ap, np.nan)


def _operating_point(ranked: _Ranked, tp: np.ndarray, fp: np.ndarray, target_fpr: float):
    """Per resample: threshold index, recall, precision and FPR at the largest FPR <= target."""
    pos = tp[:, -1]
    neg = fp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fpr = fp / neg[:, None]
    # FPR only grows as the threshold falls, so the admissible cuts are a prefix.
    k = np.sum(fpr <= target_fpr + 1e-12, axis=1) - 1
    rows = np.arange(tp.shape[0])
    kk = np.maximum(k, 0)
    tp_k = np.where(k >= 0, tp[rows, kk], 0.0)
    fp_k = np.where(k >= 0, fp[rows, kk], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(pos > 0, tp_k / pos, np.nan)
        precision = np.where(tp_k + fp_k > 0, tp_k / (tp_k + fp_k), np.nan)
        fpr_k = np.where(neg > 0, fp_k / neg, np.nan)
    threshold = np.where(k >= 0, ranked.s[ranked.cut[kk]], np.inf)
    return threshold, recall, precision, fpr_k


def pr_auc(y_true, scores) -> float:
    """Average precision of ``scores`` against binary ``y_true`` (NaN without positives)."""
    y, s = _check(y_true, scores)
    ranked = _Ranked(y, s)
    tp, fp = ranked.cumulative(np.ones((1, len(y))))
    return float(_average_precision(tp, fp)[0])


def operating_point(y_true, scores, target_fpr: float) -> OperatingPoint:
    """The lowest threshold whose false-positive rate is at most ``target_fpr``.

    :param y_true: 0/1 labels.
    :param scores: model scores, higher is riskier.
    :param target_fpr: the operating false-positive rate, in (0, 1).
    :return: threshold (``inf`` when even the top score exceeds the FPR budget: flag nobody),
        recall, precision (NaN when nothing is flagged) and the achieved FPR.
    """
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"operating FPR must be in (0, 1), got {target_fpr}")
    y, s = _check(y_true, scores)
    ranked = _Ranked(y, s)
    tp, fp = ranked.cumulative(np.ones((1, len(y))))
    t, r, p, f = _operating_point(ranked, tp, fp, target_fpr)
    return OperatingPoint(threshold=float(t[0]), recall=float(r[0]), precision=float(p[0]), fpr=float(f[0]))


def recall_precision_at(y_true, scores, threshold: float) -> tuple[float, float]:
    """Recall and precision when flagging ``scores >= threshold`` (NaN where undefined)."""
    y, s = _check(y_true, scores)
    flagged = s >= threshold
    tp = float(np.sum(flagged & (y == 1)))
    pos, n_flag = float(np.sum(y == 1)), float(np.sum(flagged))
    return (tp / pos if pos else float("nan")), (tp / n_flag if n_flag else float("nan"))


def psi(reference, current, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` on the reference's quantile bins.

    A value that holds at least a bin's share of the reference (a score of exactly 0, a
    count of 0) is a bin of its own: merged quantile bins would put it together with the
    values just above it and hide a population that moved off it. Smaller ties stay in
    their quantile bin: a count feature ties at nearly every edge, and a bin per tied
    edge would turn every small day-to-day move of a clump of equal values (the accounts
    behind one shared IP) into drift. Empty bins get a small floor so one empty bin does
    not make the index infinite.
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        raise ValueError("PSI needs non-empty score arrays")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_sorted = np.sort(ref)
    copies = np.searchsorted(ref_sorted, edges, side="right") - np.searchsorted(ref_sorted, edges, side="left")
    tied = edges[copies >= ref.size / bins]
    n_bins = len(edges) + 1 + len(tied)

    def shares(values: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="right")
        at = np.minimum(np.searchsorted(tied, values, side="left"), max(len(tied) - 1, 0))
        on_tie = (tied[at] == values) if len(tied) else np.zeros(values.shape, dtype=bool)
        idx = np.where(on_tie, len(edges) + 1 + at, idx)
        return np.bincount(idx, minlength=n_bins) / values.size

    ref_share = np.clip(shares(ref), 1e-4, None)
    cur_share = np.clip(shares(cur), 1e-4, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def decision_flip_rate(scores_a, scores_b, threshold_a: float, threshold_b: float) -> float:
    """Share of accounts flagged by exactly one of two models, each at its own threshold."""
    a = np.asarray(scores_a, dtype=float) >= threshold_a
    b = np.asarray(scores_b, dtype=float) >= threshold_b
    if a.shape != b.shape:
        raise ValueError(f"score arrays differ in length: {a.shape} and {b.shape}")
    return float(np.mean(a != b)) if a.size else float("nan")


def _weights(n: int, n_bootstrap: int, rng: np.random.Generator, groups: np.ndarray | None = None):
    """Yield (b, n) matrices of resample counts per row, chunked to bound memory.

    Without ``groups`` rows are drawn; with ``groups`` (an integer code per row, e.g. the
    account) whole groups are drawn and each row weighs what its group drew. One account
    seen on several days is one observation, not several: drawing rows would shrink the
    intervals as if every day were a new account.
    """
    n_units = n if groups is None or n == 0 else int(groups.max()) + 1
    chunk = max(1, min(n_bootstrap, _BOOTSTRAP_CELLS // max(n, 1)))
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        idx = rng.integers(0, n_units, size=(b, n_units))
        flat = (np.arange(b)[:, None] * n_units + idx).ravel()
        counts = np.bincount(flat, minlength=b * n_units).reshape(b, n_units).astype(float)
        yield counts if groups is None else counts[:, groups]
        done += b


def group_codes(keys) -> np.ndarray | None:
    """Integer codes 0..G-1 of ``keys`` (e.g. account ids), or None when there are none."""
    if keys is None:
        return None
    import pandas as pd

    return pd.factorize(np.asarray(keys), sort=False)[0].astype(np.int64)


def bootstrap_mean(
    values, *, n_bootstrap: int = 200, level: float = 0.9, seed: int = 0, groups: np.ndarray | None = None
) -> list[float | None]:
    """Percentile bootstrap interval of the mean of ``values`` (e.g. 0/1 decision flips).

    :param groups: integer code of each row's account (``group_codes``): accounts are resampled.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return [None, None]
    rng = np.random.default_rng(seed)
    means = np.concatenate([(w @ v) / w.sum(axis=1) for w in _weights(v.size, n_bootstrap, rng, groups)])
    return _interval(means, level)


def _interval(samples: np.ndarray, level: float) -> list[float | None]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return [None, None]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


def bootstrap_metrics(
    y_true,
    candidate,
    champion=None,
    *,
    target_fpr: float,
    thresholds: tuple[float, float | None] | None = None,
    n_bootstrap: int = 200,
    level: float = 0.9,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict[str, list[float | None]]:
    """Percentile bootstrap intervals of the metrics of one or two scorers on the same rows.

    Both scorers see the same resamples (a paired bootstrap), so the interval of the
    PR-AUC difference is far narrower than the two separate intervals suggest.

    :param y_true: 0/1 labels.
    :param candidate: candidate scores.
    :param champion: champion scores on the same rows, or None.
    :param target_fpr: operating FPR for the ``recall_at_fpr`` interval (threshold re-fitted per resample).
    :param thresholds: fixed (candidate, champion) thresholds; when given, the intervals of
        ``recall_at_threshold`` at those thresholds are added. Slices use
        the global thresholds, because production applies one threshold to everyone.
    :param n_bootstrap: number of resamples.
    :param level: two-sided coverage of the intervals.
    :param seed: random seed, so a re-run gives the same intervals.
    :param groups: integer code of each row's account (``group_codes``): whole accounts are
        resampled, so an account seen on several days counts once in the evidence.
    :return: ``{metric: [low, high]}`` for the ``candidate_`` / ``champion_`` metrics, ``pr_auc_delta``
        and ``recall_at_fpr_delta`` (candidate minus champion, each at its own threshold of the
        operating FPR) and, with both thresholds, ``recall_at_threshold_drop``
        (champion minus candidate recall).
    """
    y, s_cand = _check(y_true, candidate)
    s_champ = _check(y_true, champion)[1] if champion is not None else None
    rng = np.random.default_rng(seed)
    ranked = {"candidate": _Ranked(y, s_cand)}
    if s_champ is not None:
        ranked["champion"] = _Ranked(y, s_champ)
    out: dict[str, list[np.ndarray]] = {}

    def add(key, values):
        out.setdefault(key, []).append(values)

    if groups is not None and len(groups) != len(y):
        raise ValueError(f"{len(groups)} group codes for {len(y)} rows")
    for w in _weights(len(y), n_bootstrap, rng, groups):
        aps, recalls = {}, {}
        for name, r in ranked.items():
            tp, fp = r.cumulative(w)
            aps[name] = _average_precision(tp, fp)
            recalls[name] = _operating_point(r, tp, fp, target_fpr)[1]
            add(f"{name}_pr_auc", aps[name])
            add(f"{name}_recall_at_fpr", recalls[name])
        if s_champ is not None:
            add("pr_auc_delta", aps["candidate"] - aps["champion"])
            add("recall_at_fpr_delta", recalls["candidate"] - recalls["champion"])
        if thresholds is not None:
            pos_w = w * y
            pos = pos_w.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                recall_cand = (pos_w * (s_cand >= thresholds[0])).sum(axis=1) / pos
                add("candidate_recall_at_threshold", recall_cand)
                if s_champ is not None and thresholds[1] is not None:
                    recall_champ = (pos_w * (s_champ >= thresholds[1])).sum(axis=1) / pos
                    add("champion_recall_at_threshold", recall_champ)
                    add("recall_at_threshold_drop", recall_champ - recall_cand)
    return {key: _interval(np.concatenate(parts), level) for key, parts in out.items()}
