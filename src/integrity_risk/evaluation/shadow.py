"""Shadow evaluation of a candidate against the champion on the same rows: a JSON-able dict.

The dict is the contract between shadow_eval, the gates, the report and the approval
body; its keys are documented in ``evaluate``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from integrity_risk.evaluation import metrics as m
from integrity_risk.evaluation.slices import slice_frame

if TYPE_CHECKING:
    import pandas as pd

TOO_SMALL = "too small"
OK = "ok"


def _num(x) -> float | None:
    """JSON has no NaN or infinity: both become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _model_block(y, s, target_fpr) -> dict:
    point = m.operating_point(y, s, target_fpr)
    return {
        "pr_auc": _num(m.pr_auc(y, s)),
        "threshold": _num(point.threshold),
        "recall_at_fpr": _num(point.recall),
        "precision_at_threshold": _num(point.precision),
        "fpr_at_threshold": _num(point.fpr),
    }


def evaluate(
    frame: pd.DataFrame,
    risk_type: str,
    candidate_scores,
    champion_scores=None,
    *,
    operating_fpr: float = 0.01,
    n_bootstrap: int = 200,
    min_slice_size: int = 200,
    min_slice_positives: int = 10,
    level: float = 0.9,
    seed: int = 0,
) -> dict:
    """Metrics of the candidate (and the champion, when there is one) on the evaluation rows.

    :param frame: evaluation rows with ``label_<risk_type>`` (1.0, 0.0 or NaN = unlabeled) and
        the slice source columns (see ``slices.SLICE_SOURCES``). With an ``account_pk`` column the
        intervals resample accounts, not rows: one account seen on several days is one observation.
    :param risk_type: the risk whose label and scores are judged.
    :param candidate_scores: candidate scores, one per row of ``frame``.
    :param champion_scores: champion scores on the same rows, or None when there is no champion.
    :param operating_fpr: the false-positive rate production runs at.
    :param n_bootstrap: bootstrap resamples for the intervals.
    :param min_slice_size: labeled rows below which a slice is marked "too small".
    :param min_slice_positives: positives below which a slice is marked "too small".
    :param level: coverage of the intervals.
    :param seed: seed of the resampling, so a re-run gives the same figures.
    :return: ``{"risk_type", "has_champion", "note", "operating_fpr", "rows", "accounts", "labeled_rows",
        "positives", "overall": {"candidate": {...}, "champion": {...} | None, "pr_auc_delta",
        "flip_rate", "psi", "*_ci"}, "slices": [{"dimension", "value", "status", ...}],
        "slice_dimensions_missing": [...]}``; NaN and infinity are None.
    """
    label_col = f"label_{risk_type}"
    if label_col not in frame.columns:
        raise ValueError(f"evaluation data has no {label_col!r} column; columns: {sorted(frame.columns)[:20]}")
    cand = np.asarray(candidate_scores, dtype=float)
    champ = None if champion_scores is None else np.asarray(champion_scores, dtype=float)
    for name, s in (("candidate", cand), ("champion", champ)):
        if s is not None and len(s) != len(frame):
            raise ValueError(f"{name} has {len(s)} scores for {len(frame)} evaluation rows")
    labels = frame[label_col].to_numpy(dtype=float)
    labeled = ~np.isnan(labels)
    y = labels[labeled]
    if y.size == 0 or y.sum() == 0 or y.sum() == y.size:
        raise ValueError(
            f"evaluation data needs both classes of {label_col}: {int(y.size)} labeled rows, "
            f"{int(y.sum()) if y.size else 0} positive"
        )
    common: dict[str, Any] = dict(n_bootstrap=n_bootstrap, level=level, seed=seed)
    accounts = m.group_codes(frame["account_pk"]) if "account_pk" in frame.columns else None

    overall: dict = {"candidate": _model_block(y, cand[labeled], operating_fpr), "champion": None}
    thresholds = (overall["candidate"]["threshold"], None)
    if champ is not None:
        overall["champion"] = _model_block(y, champ[labeled], operating_fpr)
        thresholds = (overall["candidate"]["threshold"], overall["champion"]["threshold"])
    t_cand, t_champ = (np.inf if t is None else t for t in thresholds)
    cis = m.bootstrap_metrics(
        y,
        cand[labeled],
        None if champ is None else champ[labeled],
        target_fpr=operating_fpr,
        groups=_codes(accounts, labeled),
        **common,
    )
    overall["candidate"]["pr_auc_ci"] = cis["candidate_pr_auc"]
    overall["candidate"]["recall_at_fpr_ci"] = cis["candidate_recall_at_fpr"]
    if champ is not None:
        overall["champion"]["pr_auc_ci"] = cis["champion_pr_auc"]
        overall["champion"]["recall_at_fpr_ci"] = cis["champion_recall_at_fpr"]
        overall["pr_auc_delta"] = _num(overall["candidate"]["pr_auc"] - overall["champion"]["pr_auc"])
        overall["pr_auc_delta_ci"] = cis["pr_auc_delta"]
        # Decisions and score drift concern every scored account, labeled or not.
        flips = (cand >= t_cand) != (champ >= t_champ)
        overall["flip_rate"] = _num(flips.mean())
        overall["flip_rate_ci"] = m.bootstrap_mean(flips, groups=accounts, **common)
        overall["psi"] = _num(m.psi(champ, cand))

    slices, missing = slice_frame(frame)
    rows = []
    for dimension in slices.columns:
        for value, idx in slices.groupby(dimension).indices.items():
            rows.append(
                _slice_row(
                    dimension,
                    value,
                    idx,
                    labels,
                    cand,
                    champ,
                    t_cand,
                    t_champ,
                    operating_fpr,
                    min_slice_size,
                    min_slice_positives,
                    common,
                    accounts,
                )
            )
    return {
        "risk_type": risk_type,
        "has_champion": champ is not None,
        "note": None if champ is not None else "no champion yet: the candidate is evaluated alone",
        "operating_fpr": operating_fpr,
        "n_bootstrap": n_bootstrap,
        "level": level,
        "min_slice_size": min_slice_size,
        "min_slice_positives": min_slice_positives,
        "rows": int(len(frame)),
        "accounts": int(accounts.max()) + 1 if accounts is not None and len(accounts) else int(len(frame)),
        "labeled_rows": int(labeled.sum()),
        "positives": int(y.sum()),
        "overall": overall,
        "slices": rows,
        "slice_dimensions_missing": missing,
    }


def _codes(accounts, keep):
    """The account codes of the kept rows, renumbered 0..G-1 (None without accounts)."""
    return None if accounts is None else m.group_codes(accounts[keep])


def _slice_row(
    dimension, value, idx, labels, cand, champ, t_cand, t_champ, target_fpr, min_size, min_pos, common, accounts
) -> dict:
    """One slice at the global thresholds: production applies one threshold to everyone.

    The recall drop comes with its paired interval (both models on the same resamples of the
    slice's accounts): a slice of a few dozen positives moves by chance, and the gate judges
    the interval, not the point.
    """
    lab = labels[idx]
    keep = ~np.isnan(lab)
    y = lab[keep]
    row = {
        "dimension": dimension,
        "value": str(value),
        "rows": int(len(idx)),
        "labeled_rows": int(keep.sum()),
        "positives": int(y.sum()),
    }
    if champ is not None:
        flips = (cand[idx] >= t_cand) != (champ[idx] >= t_champ)
        row["flip_rate"] = _num(flips.mean())
    if y.size < min_size or y.sum() < min_pos or y.sum() == y.size:
        row["status"] = TOO_SMALL
        # What the slice lacks, so a reviewer knows how far it is from being judged.
        needs = {"labeled_rows": max(0, min_size - int(y.size)), "positives": max(0, min_pos - int(y.sum()))}
        if y.sum() == y.size:
            needs["negatives"] = 1
        row["needs"] = needs
        row["reason"] = (
            f"{y.size} labeled rows and {int(y.sum())} positives; needs at least {min_size} labeled rows "
            f"and {min_pos} positives, with both classes: "
            + ", ".join(f"{n} more {what.replace('_', ' ')}" for what, n in needs.items() if n)
        )
        return row
    row["status"] = OK
    s_cand = cand[idx][keep]
    s_champ = None if champ is None else champ[idx][keep]
    cis = m.bootstrap_metrics(
        y,
        s_cand,
        s_champ,
        target_fpr=target_fpr,
        thresholds=(t_cand, t_champ),
        groups=_codes(None if accounts is None else accounts[idx], keep),
        **common,
    )
    row["candidate"] = {
        "pr_auc": _num(m.pr_auc(y, s_cand)),
        "pr_auc_ci": cis["candidate_pr_auc"],
        "recall": _num(m.recall_precision_at(y, s_cand, t_cand)[0]),
        "recall_ci": cis["candidate_recall_at_threshold"],
    }
    if s_champ is not None:
        row["champion"] = {
            "pr_auc": _num(m.pr_auc(y, s_champ)),
            "pr_auc_ci": cis["champion_pr_auc"],
            "recall": _num(m.recall_precision_at(y, s_champ, t_champ)[0]),
            "recall_ci": cis["champion_recall_at_threshold"],
        }
        rc, rh = row["candidate"]["recall"], row["champion"]["recall"]
        row["recall_drop"] = None if rc is None or rh is None else _num(rh - rc)
        row["recall_drop_ci"] = cis.get("recall_at_threshold_drop", [None, None])
        row["psi"] = _num(m.psi(s_champ, s_cand))
    return row
