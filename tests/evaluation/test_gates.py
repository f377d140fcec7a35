"""Gates stop a candidate that is worse than the champion, naming the gate, figure and bound."""

import numpy as np
import pandas as pd
import pytest

from integrity_risk.evaluation.evaluate import evaluate
from integrity_risk.evaluation.gates import GateFailure, check_gates, evaluate_gates, validate_gates

GATES = {"max_pr_auc_drop": 0.01, "min_recall_at_fpr": 0.2, "max_slice_recall_drop": 0.15,
         "max_decision_flip_rate": 0.05}


def _world(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(float)
    frame = pd.DataFrame({
        "label_spam_redirect": y,
        "account_daily__country": rng.choice(["DE", "US"], size=n),
        "account_daily__account_age_days": rng.integers(0, 1500, size=n),
        "account_daily__is_business": rng.integers(0, 2, size=n),
    })

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
    cand_auc = metrics["overall"]["candidate"]["pr_auc"]
    low = metrics["overall"]["champion"]["pr_auc_ci"][0]
    assert f"max_pr_auc_drop FAILED: candidate PR-AUC" in message
    assert f"= {cand_auc:.4f}" in message and f">= {low - 0.01:.4f}" in message
    assert "min_recall_at_fpr FAILED" in message and ">= 0.2000" in message


def test_a_candidate_as_good_as_the_champion_passes():
    frame, y, model, _ = _world()
    champion = model(y, 1)
    candidate = np.clip(champion + np.random.default_rng(5).normal(0, 0.002, size=y.size), 0, 1)
    metrics = evaluate(frame, "spam_redirect", candidate, champion, operating_fpr=0.02, n_bootstrap=50)
    results = check_gates(metrics, GATES)
    assert [r.gate for r in results] == ["min_recall_at_fpr", "max_pr_auc_drop", "max_slice_recall_drop",
                                         "max_decision_flip_rate"]
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
