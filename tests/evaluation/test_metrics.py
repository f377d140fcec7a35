"""Metrics on arrays whose answers are known, checked against hand counts and scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from integrity_risk.evaluation import metrics as m
from integrity_risk.evaluation.shadow import TOO_SMALL, evaluate
from integrity_risk.evaluation.slices import age_band


def _data(n, base_rate=0.1, seed=0, signal=2.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < base_rate).astype(float)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + signal * y - 2)))
    return y, s


def test_a_perfect_scorer_has_pr_auc_one_and_full_recall_at_zero_fpr():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0], dtype=float)
    s = y * 0.5 + 0.25
    assert m.pr_auc(y, s) == pytest.approx(1.0)
    point = m.operating_point(y, s, target_fpr=0.01)
    assert point.recall == 1.0 and point.precision == 1.0 and point.fpr == 0.0
    assert point.threshold == pytest.approx(0.75)


def test_a_random_scorer_has_pr_auc_near_the_base_rate():
    rng = np.random.default_rng(1)
    y = (rng.random(40_000) < 0.2).astype(float)
    assert m.pr_auc(y, rng.random(y.size)) == pytest.approx(0.2, abs=0.01)


def test_pr_auc_matches_scikit_learn_with_ties():
    y, s = _data(3000)
    s = np.round(s, 2)  # many ties: a threshold cannot split them
    assert m.pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_recall_at_fpr_picks_the_lowest_threshold_within_the_fpr_budget():
    # 10 negatives, 4 positives; descending: p .95, n .9, p .8, p .7, n .6, p .5, n <.5 ...
    y = np.array([1, 0, 1, 1, 0, 1] + [0] * 8, dtype=float)
    s = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5] + list(np.linspace(0.4, 0.05, 8)))
    point = m.operating_point(y, s, target_fpr=0.1)  # one false positive allowed
    assert point.threshold == pytest.approx(0.7)
    assert point.recall == pytest.approx(3 / 4)
    assert point.precision == pytest.approx(3 / 4)
    assert point.fpr == pytest.approx(0.1)
    tight = m.operating_point(y, s, target_fpr=0.05)  # no false positive allowed
    assert tight.threshold == pytest.approx(0.95) and tight.recall == pytest.approx(0.25)


def test_a_budget_that_even_the_top_score_exceeds_flags_nobody():
    point = m.operating_point(np.array([0.0, 1.0]), np.array([0.9, 0.1]), target_fpr=0.1)
    assert point.threshold == np.inf and point.recall == 0.0 and np.isnan(point.precision)


def test_bootstrap_intervals_contain_the_estimate_and_shrink_with_n():
    widths = []
    for n in (1000, 16000):
        y, s = _data(n, seed=n)
        ci = m.bootstrap_metrics(y, s, target_fpr=0.05, n_bootstrap=200)
        lo, hi = ci["candidate_pr_auc"]
        assert lo <= m.pr_auc(y, s) <= hi
        lo_r, hi_r = ci["candidate_recall_at_fpr"]
        assert lo_r <= m.operating_point(y, s, 0.05).recall <= hi_r
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2  # 16x the rows: about a quarter of the width


def test_bootstrap_is_reproducible_with_a_seed():
    y, s = _data(2000)
    a = m.bootstrap_metrics(y, s, target_fpr=0.05, n_bootstrap=50, seed=7)
    assert a == m.bootstrap_metrics(y, s, target_fpr=0.05, n_bootstrap=50, seed=7)


def test_psi_is_zero_for_one_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    a = rng.random(20_000)
    assert m.psi(a, rng.random(20_000)) < 0.01
    assert m.psi(a, a**4) > 0.5


def test_decision_flip_rate_counts_accounts_flagged_by_one_model_only():
    a = np.array([0.9, 0.8, 0.1, 0.1])
    b = np.array([0.9, 0.1, 0.8, 0.1])
    assert m.decision_flip_rate(a, b, 0.5, 0.5) == 0.5


def test_labels_other_than_zero_or_one_are_refused():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        m.pr_auc(np.array([0.0, np.nan, 1.0]), np.array([0.1, 0.2, 0.3]))


def test_age_bands_cover_unknown_and_edges():
    bands = age_band(pd.Series([0, 29, 30, 200, 5000, None, -1]))
    assert list(bands) == ["<30d", "<30d", "30-180d", "180d-2y", "2y+", "unknown", "unknown"]


def _frame(n=4000, seed=0):
    rng = np.random.default_rng(seed + 100)  # not _data's stream, or the NaNs hit exactly the positives
    y, s = _data(n, seed=seed)
    y[rng.random(n) < 0.1] = np.nan  # unlabeled rows are scored, not judged
    return pd.DataFrame(
        {
            "account_pk": [f"{i:064x}" for i in range(n)],
            "label_fraud": y,
            # "XS" is a tiny country: too small to judge, but listed
            "account_daily__country": rng.choice(["DE", "US", "BR", "XS"], size=n, p=[0.4, 0.4, 0.195, 0.005]),
            "account_daily__account_age_days": rng.integers(0, 2000, size=n),
            "account_daily__is_business": rng.integers(0, 2, size=n),
        }
    ), s


def test_evaluate_marks_small_slices_and_keeps_them_listed():
    frame, s = _frame()
    rng = np.random.default_rng(3)
    champion = np.clip(s + rng.normal(0, 0.05, size=s.size), 0, 1)
    out = evaluate(frame, "fraud", s, champion, operating_fpr=0.05, n_bootstrap=50, min_slice_size=100)
    by_key = {(r["dimension"], r["value"]): r for r in out["slices"]}
    xs = by_key[("country", "XS")]
    assert xs["status"] == TOO_SMALL
    assert "needs at least 100 labeled rows" in xs["reason"]
    # How far the slice is from being judged: what it has, subtracted from the bounds.
    assert xs["needs"]["labeled_rows"] == 100 - xs["labeled_rows"] > 0
    assert xs["needs"]["positives"] == max(0, 10 - xs["positives"])
    assert f"{100 - xs['labeled_rows']} more labeled rows" in xs["reason"]
    de = by_key[("country", "DE")]
    assert de["status"] == "ok"
    lo, hi = de["candidate"]["recall_ci"]
    assert lo <= de["candidate"]["recall"] <= hi
    assert {d for d, _ in by_key} == {"country", "account_age_band", "is_business"}
    assert out["has_champion"] and 0 < out["overall"]["flip_rate"] < 0.5
    assert out["labeled_rows"] < out["rows"]


def test_evaluate_without_a_champion_says_so_and_judges_the_candidate_alone():
    frame, s = _frame()
    out = evaluate(frame.drop(columns=["account_daily__country"]), "fraud", s, None, operating_fpr=0.05, n_bootstrap=20)
    assert out["has_champion"] is False and "no champion" in out["note"]
    assert out["overall"]["champion"] is None and "flip_rate" not in out["overall"]
    assert out["slice_dimensions_missing"] == ["country"]
    import json

    json.dumps(out, allow_nan=False)  # XCom-able: no NaN/inf


def test_evaluate_names_a_missing_label_column():
    frame, s = _frame(200)
    with pytest.raises(ValueError, match="label_scraping"):
        evaluate(frame, "scraping", s)


def test_psi_sees_a_shift_away_from_a_reference_of_tied_values():
    # Quantile bins of an all-zero reference merge into one bin that holds the ones too.
    assert m.psi(np.zeros(100), np.ones(100)) > 1.0
    rng = np.random.default_rng(0)
    mostly_zero = np.where(rng.random(10_000) < 0.9, 0.0, rng.random(10_000))
    # Half the zeros become tiny positives: the same shape of ranks, a different population.
    shifted = np.where(rng.random(10_000) < 0.5, 0.001, mostly_zero)
    assert m.psi(mostly_zero, shifted) > 0.25
    assert m.psi(mostly_zero, np.where(rng.random(10_000) < 0.9, 0.0, rng.random(10_000))) < 0.01


def test_bootstrap_intervals_resample_accounts_not_rows():
    # 400 accounts each seen on 10 days with the same label and score: 4,000 rows but only
    # 400 independent observations. Resampling rows would claim ten times the evidence.
    y, s = _data(400, base_rate=0.2, seed=4)
    accounts = np.repeat([f"acct{i:04d}" for i in range(400)], 10)
    frame = pd.DataFrame({"account_pk": accounts, "label_fraud": np.repeat(y, 10)})
    repeated = evaluate(frame, "fraud", np.repeat(s, 10), operating_fpr=0.05, n_bootstrap=300)
    once = evaluate(frame.iloc[::10].reset_index(drop=True), "fraud", s, operating_fpr=0.05, n_bootstrap=300)

    def width(out):
        lo, hi = out["overall"]["candidate"]["pr_auc_ci"]
        return hi - lo

    assert width(repeated) == pytest.approx(width(once), rel=0.25)
    assert repeated["accounts"] == 400 and repeated["rows"] == 4000


def test_the_paired_recall_change_holds_the_change_and_is_zero_for_one_scorer():
    y, s = _data(4000)
    worse = s + np.random.default_rng(1).normal(0, 0.5, len(s))
    ci = m.bootstrap_metrics(y, worse, s, target_fpr=0.05, n_bootstrap=200)
    change = m.operating_point(y, worse, 0.05).recall - m.operating_point(y, s, 0.05).recall
    assert change < 0 and ci["recall_at_fpr_delta"][0] <= change <= ci["recall_at_fpr_delta"][1]
    assert ci["recall_at_fpr_delta"][1] < 0  # the noise costs recall on every resample's threshold
    assert m.bootstrap_metrics(y, s, s, target_fpr=0.05, n_bootstrap=50)["recall_at_fpr_delta"] == [0.0, 0.0]
