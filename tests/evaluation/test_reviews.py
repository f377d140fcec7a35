"""Reviewers' decisions against a real MLflow registry: reasons, the two-person steps, overrides, history."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from integrity_risk.history import history_text, model_history
from integrity_risk.operators.approval import PromotionApprovalOperator
from integrity_risk.promotion import OVERRIDE, PromotionError, champion_version, move_champion, promote, read_audit
from integrity_risk.reviews import (
    evaluated_candidate,
    mark_pending,
    other_pending,
    override_case,
    pending_markdown,
    promotion_subject,
    record_gate_verdict,
)

GATES = [
    {"gate": "max_pr_auc_drop", "passed": False, "figure": -0.08, "bound": -0.02, "message": "max_pr_auc_drop FAILED"},
    {"gate": "min_recall_at_fpr", "passed": True, "figure": 0.5, "bound": 0.3, "message": "min_recall_at_fpr passed"},
]


def _metrics(name: str, candidate: int, champion: int | None) -> dict:
    overall = {"candidate": {"pr_auc": 0.81, "recall_at_fpr": 0.5}, "champion": {"pr_auc": 0.89, "recall_at_fpr": 0.6}}
    return {"model_name": name, "candidate_version": candidate, "champion_version": champion, "overall": overall}


def test_an_override_names_each_failed_gate_and_is_refused_where_there_is_nothing_to_override(
    mlflow_registry, register_versions, tmp_path
):
    audit = tmp_path / "audit"
    v1, v2, v3, v4 = register_versions("override_case", [0.0, 1.0, 2.0, 3.0])
    name = "integrity_override_case"
    promote("override_case", v1, approved_by="ann", dag_run_id="r1", reason="first model", audit_path=audit)

    with pytest.raises(PromotionError, match=rf"version {v2} has no automatic gate verdict"):
        override_case(mlflow_registry, "override_case", v2)
    record_gate_verdict(mlflow_registry, _metrics(name, v3, v1), [GATES[1]], run_id="r3")
    with pytest.raises(PromotionError, match=rf"version {v3} passed its automatic gates \(run r3\)"):
        override_case(mlflow_registry, "override_case", v3)
    mlflow_registry.set_model_version_tag(name, str(v4), "label_control", "invert")
    with pytest.raises(PromotionError, match=rf"version {v4} is a control model"):
        override_case(mlflow_registry, "override_case", v4)
    with pytest.raises(PromotionError, match="has no version 99"):
        override_case(mlflow_registry, "override_case", 99)

    record_gate_verdict(mlflow_registry, _metrics(name, v2, v1), GATES, run_id="r2")
    case = override_case(mlflow_registry, "override_case", v2)
    assert (case["version"], case["champion_version"], case["run_id"]) == (v2, v1, "r2")
    assert [(g["gate"], g["figure"], g["bound"]) for g in case["failed"]] == [("max_pr_auc_drop", -0.08, -0.02)]

    with pytest.raises(PromotionError, match="must name the failed gates"):
        move_champion("override_case", v2, action=OVERRIDE, actor="ann", dag_run_id="o", reason="x", audit_path=audit)
    approvals = [
        {"user": "ann", "answer": "Request", "reason": "labels of the new attack are late", "at": None},
        {"user": "bob", "answer": "Approve", "reason": "agreed, the drop is the late labels", "at": None},
    ]
    entry = move_champion(
        "override_case",
        v2,
        action=OVERRIDE,
        actor="ann, bob",
        dag_run_id="override_1",
        reason="ann: labels of the new attack are late; bob: agreed, the drop is the late labels",
        approvals=approvals,
        overridden=case["failed"],
        figures=case["figures"],
        expected=case["champion_version"],
        audit_path=audit,
    )
    assert champion_version("override_case") == v2
    assert entry["overridden"][0]["gate"] == "max_pr_auc_drop" and entry["approvals"] == approvals
    assert entry["metrics"]["candidate_pr_auc"] == 0.81 and entry["previous_champion"] == v1
    tag = json.loads(mlflow_registry.get_model_version(name, str(v2)).tags[f"audit_override_{entry['event_id']}"])
    assert tag["reason"].startswith("ann: labels") and tag["overridden"][0]["bound"] == -0.02
    assert [a["user"] for a in tag["approvals"]] == ["ann", "bob"]

    # The history: newest first, one row per move, with the gate, its figure and its bound.
    rows = model_history("override_case", audit_path=audit)
    assert [(r["action"], r["status"], r["version"]) for r in rows] == [
        ("override", "completed", v2),
        ("promote", "completed", v1),
    ]
    assert rows[0]["requested_at"] and rows[1]["reason"] == "first model"
    text = history_text("override_case", rows)
    assert "max_pr_auc_drop = -0.08 (bound -0.02)" in text and f"v{v1} → v{v2}" in text

    # An override judged against a champion that has since moved is refused, and says so.
    record_gate_verdict(mlflow_registry, _metrics(name, v3, v1), GATES, run_id="r3b")
    stale = override_case(mlflow_registry, "override_case", v3)
    with pytest.raises(PromotionError, match=rf"champion of {name} is version {v2}, not version {v1}"):
        move_champion(
            "override_case",
            v3,
            action=OVERRIDE,
            actor="ann, bob",
            dag_run_id="override_2",
            reason="x",
            overridden=stale["failed"],
            expected=stale["champion_version"],
            audit_path=audit,
        )
    assert champion_version("override_case") == v2 and read_audit(audit)[-1]["status"] == "refused"
    assert model_history("override_case", audit_path=audit)[0]["status"] == "refused"


def test_a_candidate_waiting_for_reviewers_is_named_in_the_other_candidates_request(mlflow_registry, register_versions):
    v1, v2, v3 = register_versions("pending_case", [0.0, 1.0, 2.0])
    name, now = "integrity_pending_case", dt.datetime.now(dt.UTC)
    mark_pending(mlflow_registry, name, v2, run_id="day_n", champion_version=v1, until=now + dt.timedelta(hours=1))
    mark_pending(mlflow_registry, name, v1, run_id="old", champion_version=None, until=now - dt.timedelta(hours=1))
    pending = other_pending(mlflow_registry, name, v3, now=now)
    assert pending == [{"version": v2, "run_id": "day_n", "champion_version": v1}]  # v1's request timed out
    note = pending_markdown(pending, v3, v1)
    assert f"v{v2} (older, run day_n, evaluated against champion v{v1})" in note and "refused" in note
    assert other_pending(mlflow_registry, name, v2, now=now) == [] and pending_markdown([], v3, v1) == ""


def test_a_promotion_run_asks_only_about_the_evaluation_its_run_still_holds_with_passed_gates():
    metrics, gates = _metrics("integrity_fraud", 7, 3), {"passed": True, "not_enough_evidence": [], "gates": []}
    case = evaluated_candidate(metrics, gates, version=7, source_run_id="scheduled__d", champion=3)
    assert case == {"metrics": {**metrics, "evaluation_run_id": "scheduled__d"}, "gates": gates}

    refused = {
        "no evaluation": ((None, gates), 3, "has no shadow evaluation of a candidate"),
        "re-run since": ((_metrics("integrity_fraud", 8, 3), gates), 3, "evaluated version 8, not 7"),
        "failed gates": ((metrics, None), 3, "did not pass for version 7: nobody is asked. To make it champion"),
        "champion moved": ((metrics, gates), 5, "compared with version 3, but the champion is now version 5"),
        "first champion since": ((_metrics("integrity_fraud", 7, None), gates), 3, "compared with no champion"),
    }
    for (m, g), champion, message in refused.values():
        with pytest.raises(PromotionError, match=message):
            evaluated_candidate(m, g, version=7, source_run_id="scheduled__d", champion=champion)


def test_the_subject_carries_risk_version_figures_alerts_and_missing_evidence():
    metrics = {
        "candidate_version": 3,
        "overall": {"candidate": {"pr_auc": 0.934}, "champion": {"pr_auc": 0.912}},
        "population": {"candidate_flagged": 112, "champion_flagged": 100},
    }
    assert promotion_subject("fraud", metrics, {"not_enough_evidence": []}) == (
        "Promote fraud v3? PR-AUC 0.93 (champion 0.91), alerts +12 %"
    )
    thin = promotion_subject("fraud", metrics, {"not_enough_evidence": ["min_recall_at_fpr"]}, step=2, of=2)
    assert thin == (
        "[approval 2 of 2] Promote fraud v3? PR-AUC 0.93 (champion 0.91), alerts +12 %. "
        "NOT ENOUGH EVIDENCE for min_recall_at_fpr"
    )


def _step(step: int, required: int = 2, **kwargs) -> PromotionApprovalOperator:
    return PromotionApprovalOperator(
        task_id=f"approval_{step}",
        risk_type="fraud",
        metrics={},
        reviewers=["ann", "bob"],
        required=required,
        step=step,
        **kwargs,
    )


def test_an_answer_without_a_reason_moves_nothing_and_says_how_to_ask_again():
    event = {
        "chosen_options": ["Approve"],
        "params_input": {"reason": " "},
        "responded_at": dt.datetime.now(dt.UTC),
        "responded_by_user": {"id": "ann", "name": "ann"},
    }
    with pytest.raises(AirflowFailException, match=r"ann answered \['Approve'\] without a reason.*clear this task"):
        _step(1).execute_complete({}, event)
    with pytest.raises(AirflowFailException, match="without a reason"):
        _step(1).execute_complete({}, {**event, "params_input": {}})  # the REST API's bare answer


def test_a_step_past_what_the_decision_needs_asks_nobody_and_a_step_nobody_may_answer_fails():
    assert _step(2, required=1).execute({}) == {"not_needed": True}
    ann = {
        "chosen_options": ["Approve"],
        "params_input": {"reason": "ok"},
        "responded_by_user": {"id": "ann", "name": "ann"},
    }
    bob = {**ann, "responded_by_user": {"id": "bob", "name": "bob"}}
    with pytest.raises(AirflowFailException, match="no reviewer is left to give approval 3 of 3: ann, bob counted"):
        _step(3, required=3, earlier_approvals=[ann, bob]).execute({})
    with pytest.raises(AirflowFailException, match="the earlier approvals do not hold: ann counted twice"):
        _step(3, required=3, earlier_approvals=[ann, ann]).execute({})


def test_a_rejection_is_recorded_with_its_reason_and_never_counts_as_a_former_champion(
    mlflow_registry, register_versions, tmp_path, monkeypatch
):
    from integrity_risk.promotion import rollback_targets
    from integrity_risk.reviews import record_rejection

    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", (tmp_path / "root").as_uri())
    v1, v2 = register_versions("reject_case", [0.0, 1.0])
    promote("reject_case", v1, approved_by="ann", dag_run_id="r1", reason="first")
    decision = {"user": "bob", "answer": "Reject", "reason": "alerts +40 %", "at": "2026-03-20T10:00:00+00:00"}
    record_rejection(
        mlflow_registry,
        "reject_case",
        _metrics("integrity_reject_case", v2, v1),
        actor="bob",
        reason="alerts +40 %",
        decided_at=decision["at"],
        approvals=[decision],
        dag_run_id="r2",
    )
    rows = model_history("reject_case")
    assert [(r["action"], r["status"], r["actor"], r["reason"]) for r in rows][0] == (
        "reject",
        "rejected",
        "bob",
        "alerts +40 %",
    )
    assert f"v{v2} not promoted" in history_text("reject_case", rows)
    tags = mlflow_registry.get_model_version("integrity_reject_case", str(v2)).tags
    assert [json.loads(v)["reason"] for k, v in tags.items() if k.startswith("audit_reject_")] == ["alerts +40 %"]
    assert v2 not in rollback_targets("reject_case", client=mlflow_registry)
