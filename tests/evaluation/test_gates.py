"""Gates stop a candidate that is worse than the champion, naming the gate, figure and bound."""

import numpy as np
import pandas as pd
import pytest

from integrity_risk.evaluation.gates import GateFailure, check_gates, evaluate_gates, validate_gates
from integrity_risk.evaluation.shadow import evaluate

GATES = {
    "max_pr_auc_drop": 0.01,
    "min_recall_at_fpr": 0.2,
    "max_slice_recall_drop": 0.15,
    "max_decision_flip_rate": 0.05,
}


def _world(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(float)
    frame = pd.DataFrame(
        {
            "label_spam_redirect": y,
            "account_daily__country": rng.choice(["DE", "US"], size=n),
            "account_daily__account_age_days": rng.integers(0, 1500, size=n),
            "account_daily__is_business": rng.integers(0, 2, size=n),
        }
    )

    def model(labels, noise_seed):
        r = np.random.default_rng(noise_seed)
        return 1 / (1 + np.exp(-(r.normal(size=n) + 3 * labels - 2)))

    return frame, y, model, rng


def test_a_candidate_trained_on_shuffled_labels_fails_the_gates_with_gate_figure_and_bound():
    frame, y, model, rng = _world()
    champion = model(y, 1)
    shuffled = model(rng.permutation(y), 2)  # learned from shuffled labels: no signal
    metrics = evaluate(frame, "spam_redirect", shuffled, champion, operating_fpr=0.02, n_bootstrap=50)
    with pytest.raises(GateFailure) as err:
        check_gates(metrics, GATES)
    message = str(err.value)
    failed = {f.gate for f in err.value.failures}
    assert {"max_pr_auc_drop", "min_recall_at_fpr"} <= failed
    high = metrics["overall"]["pr_auc_delta_ci"][1]
    assert "max_pr_auc_drop FAILED: PR-AUC change" in message
    assert f"the interval's high end = {high:.4f}, bound >= -0.0100" in message
    assert "min_recall_at_fpr FAILED" in message and ">= 0.2000" in message


def test_a_candidate_as_good_as_the_champion_passes():
    frame, y, model, _ = _world()
    champion = model(y, 1)
    candidate = np.clip(champion + np.random.default_rng(5).normal(0, 0.002, size=y.size), 0, 1)
    metrics = evaluate(frame, "spam_redirect", candidate, champion, operating_fpr=0.02, n_bootstrap=50)
    results = check_gates(metrics, GATES)
    assert [r.gate for r in results] == [
        "min_recall_at_fpr",
        "max_pr_auc_drop",
        "max_slice_recall_drop",
        "max_decision_flip_rate",
    ]
    assert all(r.passed for r in results)


def test_without_a_champion_only_absolute_gates_apply():
    frame, y, model, _ = _world()
    metrics = evaluate(frame, "spam_redirect", model(y, 1), None, operating_fpr=0.02, n_bootstrap=20)
    results = {r.gate: r for r in check_gates(metrics, GATES)}
    assert results["min_recall_at_fpr"].passed is True
    for gate in ("max_pr_auc_drop", "max_slice_recall_drop", "max_decision_flip_rate"):
        assert results[gate].passed is None and "no champion" in results[gate].message


def test_a_flip_rate_over_its_bound_fails_that_gate():
    frame, y, model, _ = _world()
    metrics = evaluate(frame, "spam_redirect", model(y, 2), model(y, 1), operating_fpr=0.05, n_bootstrap=20)
    results = {r.gate: r for r in evaluate_gates(metrics, {"max_decision_flip_rate": 0.001})}
    assert results["max_decision_flip_rate"].passed is False
    assert results["max_decision_flip_rate"].figure == metrics["overall"]["flip_rate"]


def test_an_unknown_or_non_numeric_gate_is_refused_by_name():
    with pytest.raises(ValueError, match="max_pr_auc_dorp"):
        validate_gates({"max_pr_auc_dorp": 0.1})
    with pytest.raises(ValueError, match="min_recall_at_fpr"):
        validate_gates({"min_recall_at_fpr": "high"})


def _paired_trial(seed, n=400, positives=32, noise=0.7):
    """A champion and a candidate that is the champion blurred by ``noise``, on the same ``n`` rows.

    The two rank alike, so their paired interval is narrow while each one's own is wide.
    """
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    y[rng.choice(n, positives, replace=False)] = 1.0
    champion = rng.normal(size=n) + 2.0 * y
    candidate = champion + rng.normal(0, noise, size=n)
    return pd.DataFrame({"label_fraud": y}), candidate, champion


def test_the_pr_auc_gate_fails_every_candidate_whose_paired_interval_lies_below_the_allowance():
    clearly_worse = passed_anyway = 0
    for seed in range(30):
        frame, candidate, champion = _paired_trial(seed)
        metrics = evaluate(frame, "fraud", candidate, champion, operating_fpr=0.05, n_bootstrap=200, seed=seed)
        (gate,) = evaluate_gates(metrics, {"max_pr_auc_drop": 0.02})
        if metrics["overall"]["pr_auc_delta_ci"][1] < -0.02:
            clearly_worse += 1
            passed_anyway += bool(gate.passed)
    assert clearly_worse >= 5  # the trials do hold clearly worse candidates
    assert passed_anyway == 0


def test_the_pr_auc_gate_message_names_the_change_its_paired_interval_and_the_bound():
    frame, candidate, champion = _paired_trial(3, n=2000, positives=200, noise=3.0)
    metrics = evaluate(frame, "fraud", candidate, champion, operating_fpr=0.05, n_bootstrap=100)
    (gate,) = evaluate_gates(metrics, {"max_pr_auc_drop": 0.02})
    lo, hi = metrics["overall"]["pr_auc_delta_ci"]
    assert gate.passed is False and gate.figure == hi and gate.bound == -0.02
    assert f"change {metrics['overall']['pr_auc_delta']:+.4f}" in gate.message
    assert f"[{lo:+.4f}, {hi:+.4f}]" in gate.message


def _equally_good_pair(seed, n=3000):
    """Two models of one quality on a population whose slices hold 10 to 60 positives."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.06).astype(float)
    frame = pd.DataFrame(
        {
            "label_fraud": y,
            "account_daily__country": rng.choice(["DE", "US", "BR", "IN"], size=n, p=[0.4, 0.3, 0.2, 0.1]),
            "account_daily__account_age_days": rng.integers(0, 1500, size=n),
            "account_daily__is_business": rng.integers(0, 2, size=n),
        }
    )
    return frame, rng.normal(size=n) + 2.0 * y, rng.normal(size=n) + 2.0 * y


def test_the_slice_gate_passes_equally_good_models():
    failed = 0
    for seed in range(40):
        frame, candidate, champion = _equally_good_pair(seed)
        metrics = evaluate(
            frame,
            "fraud",
            candidate,
            champion,
            operating_fpr=0.05,
            n_bootstrap=200,
            min_slice_size=30,
            min_slice_positives=10,
            seed=seed,
        )
        (gate,) = evaluate_gates(metrics, {"max_slice_recall_drop": 0.15})
        failed += gate.passed is False
    assert failed <= 2  # 5 % of pairs at the intervals' one-sided level; the point estimates failed 7 of 40


def test_the_slice_gate_fails_a_candidate_that_loses_one_slice():
    frame, candidate, champion = _equally_good_pair(1, n=6000)
    in_de = (frame["account_daily__country"] == "DE").to_numpy()
    candidate = np.where(in_de, np.random.default_rng(9).normal(size=len(frame)), candidate)  # blind in DE
    metrics = evaluate(
        frame,
        "fraud",
        candidate,
        champion,
        operating_fpr=0.05,
        n_bootstrap=200,
        min_slice_size=30,
        min_slice_positives=10,
    )
    (gate,) = evaluate_gates(metrics, {"max_slice_recall_drop": 0.15})
    assert gate.passed is False and "country=DE" in gate.message and "interval" in gate.message
    assert gate.figure > 0.15


def test_a_labelled_gate_short_of_positives_reports_not_enough_evidence_instead_of_passing():
    frame, y, model, _ = _world()
    metrics = evaluate(frame, "spam_redirect", model(y, 1), None, operating_fpr=0.02, n_bootstrap=20)
    enough = {r.gate: r for r in check_gates(metrics, {"min_recall_at_fpr": 0.2})}
    assert enough["min_recall_at_fpr"].passed is True and enough["min_recall_at_fpr"].not_enough_evidence is None

    need = metrics["positives"] + 1
    results = {r.gate: r for r in check_gates(metrics, {"min_recall_at_fpr": 0.2, "min_labelled_positives": need})}
    recall = results["min_recall_at_fpr"]
    assert recall.passed is None  # neither passed nor failed: the reviewer decides, told so
    assert (
        recall.not_enough_evidence
        == f"{metrics['positives']} labelled positives, fewer than min_labelled_positives {need}"
    )
    assert recall.message.startswith("min_recall_at_fpr NOT ENOUGH EVIDENCE (")


def test_a_failure_the_interval_settles_still_fails_on_thin_evidence():
    frame, y, model, rng = _world()
    shuffled = model(rng.permutation(y), 2)  # no signal: recall at FPR far below the bound, interval too
    metrics = evaluate(frame, "spam_redirect", shuffled, None, operating_fpr=0.02, n_bootstrap=50)
    assert metrics["overall"]["candidate"]["recall_at_fpr_ci"][1] < 0.2
    with pytest.raises(GateFailure, match="min_recall_at_fpr FAILED"):
        check_gates(metrics, {"min_recall_at_fpr": 0.2, "min_labelled_positives": metrics["positives"] + 1})


def test_recall_at_an_fpr_needs_the_negatives_that_place_its_threshold():
    frame, y, model, _ = _world(n=300, seed=3)
    negatives = int((y == 0).sum())
    assert 200 < negatives < 1000
    metrics = evaluate(frame, "spam_redirect", model(y, 1), None, operating_fpr=0.001, n_bootstrap=20)
    recall = evaluate_gates(metrics, {"min_recall_at_fpr": 0.01})[0]
    assert recall.passed is None
    assert recall.not_enough_evidence == (
        f"{negatives} labelled negatives, fewer than the 1000 that place a threshold at FPR 0.001"
    )
    wide = evaluate(frame, "spam_redirect", model(y, 1), None, operating_fpr=0.01, n_bootstrap=20)
    assert evaluate_gates(wide, {"min_recall_at_fpr": 0.01})[0].passed is True  # 1 / 0.01 = 100 negatives: enough


def _with_population(metrics, **figures):
    population = {
        "accounts": 10_000,
        "candidate_flagged": 100,
        "champion_flagged": 100,
        "flip_rate": 0.01,
        "alert_volume_ratio": 1.0,
        "feature_psi": [{"name": "v__a", "value": 0.05}, {"name": "v__b", "value": 0.02}],
        "psi_note": "training window sample",
    }
    return {**metrics, "population": {**population, **figures}}


def test_the_alert_volume_gate_fails_a_candidate_that_flags_far_more_or_far_fewer_accounts():
    frame, y, model, _ = _world()
    champion = model(y, 1)
    metrics = evaluate(frame, "spam_redirect", champion, champion, operating_fpr=0.02, n_bootstrap=20)
    gates = {"max_alert_volume_change": 2.0}
    (calm,) = evaluate_gates(_with_population(metrics, candidate_flagged=150, alert_volume_ratio=1.5), gates)
    assert calm.passed is True
    for flagged, ratio in ((250, 2.5), (40, 0.4), (7, None)):
        champion_flagged = 0 if ratio is None else 100
        (result,) = evaluate_gates(
            _with_population(
                metrics, candidate_flagged=flagged, champion_flagged=champion_flagged, alert_volume_ratio=ratio
            ),
            gates,
        )
        assert result.passed is False and result.figure == ratio
        assert result.message.startswith(
            f"max_alert_volume_change FAILED: the candidate flags {flagged} accounts against the champion's "
            f"{champion_flagged} on the evaluation days, ratio {'unbounded' if ratio is None else f'{ratio:.4f}'}, "
            "bound within [0.5000, 2.0000]"
        )
    # Without a population, or without a champion, it does not apply.
    (alone,) = evaluate_gates(metrics, gates)
    assert alone.passed is None and "no population scored" in alone.message
    with pytest.raises(ValueError, match="needs a ratio above 1"):
        validate_gates({"max_alert_volume_change": 0.5})


def test_the_feature_psi_gate_names_the_input_that_moved_past_its_bound():
    frame, y, model, _ = _world()
    champion = model(y, 1)
    metrics = evaluate(frame, "spam_redirect", champion, None, operating_fpr=0.02, n_bootstrap=20)
    moved = [{"name": "v__a", "value": 0.05}, {"name": "v__count", "value": 1.7}, {"name": "v__null", "value": None}]
    (result,) = evaluate_gates(_with_population(metrics, feature_psi=moved), {"max_feature_psi": 1.0})
    assert result.passed is False and result.figure == 1.7
    assert result.message == (
        "max_feature_psi FAILED: PSI of input v__count, the candidate's training window vs the run's day = 1.7000, "
        "bound <= 1.0000"
    )
    (calm,) = evaluate_gates(_with_population(metrics), {"max_feature_psi": 1.0})
    assert calm.passed is True  # applies without a champion: the inputs moved or not
    (unknown,) = evaluate_gates(
        _with_population(metrics, feature_psi=[], psi_note="no training window to compare with"),
        {"max_feature_psi": 1.0},
    )
    assert (
        unknown.passed is None and unknown.message == "max_feature_psi not applied: no training window to compare with"
    )


def test_the_flip_rate_gate_judges_the_population_when_one_was_scored():
    frame, y, model, _ = _world()
    champion = model(y, 1)
    metrics = evaluate(frame, "spam_redirect", champion, champion, operating_fpr=0.02, n_bootstrap=20)
    (result,) = evaluate_gates(_with_population(metrics, flip_rate=0.08), {"max_decision_flip_rate": 0.05})
    assert result.passed is False and result.figure == 0.08
    assert "decision flip rate on all 10000 accounts of the evaluation days = 0.0800" in result.message
