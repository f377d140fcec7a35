"""Promotion and rollback move the champion alias in a real MLflow registry and leave an audit trail."""

import datetime as dt
import json

import pytest

from integrity_risk.promotion import (
    PromotionError, append_audit, approver_from_hitl, champion_version, promote, read_audit, rollback,
    unfinished_events,
)

METRICS = {"operating_fpr": 0.01, "labeled_rows": 900, "positives": 90, "report_path": "/r/report.html",
           "overall": {"candidate": {"pr_auc": 0.61, "recall_at_fpr": 0.42, "threshold": 0.7,
                                     "precision_at_threshold": 0.8}, "champion": None},
           "slices": []}


def test_promotion_moves_the_alias_and_writes_the_audit_entry_first(mlflow_registry, register_versions, tmp_path):
    audit = tmp_path / "promotions.jsonl"
    (v1,) = register_versions("scraping", [0.0])
    assert champion_version("scraping") is None
    at = dt.datetime(2026, 3, 20, 9, 15, tzinfo=dt.timezone.utc)
    done = promote("scraping", v1, approved_by="reviewer", approved_at=at,
                   dag_run_id="scheduled__2026-03-20", metrics=METRICS, audit_path=audit)
    assert champion_version("scraping") == v1
    entries = read_audit(audit)
    assert [e["status"] for e in entries] == ["started", "completed"]
    assert entries[0]["event_id"] == entries[1]["event_id"] == done["event_id"]
    assert entries[1] | {"recorded_at": None} == done | {"recorded_at": None}
    assert done["actor"] == "reviewer" and done["decided_at"] == at.isoformat()
    assert done["previous_champion"] is None and done["metrics"]["candidate_pr_auc"] == 0.61
    tags = mlflow_registry.get_model_version("integrity_scraping", str(v1)).tags
    tag = json.loads(tags[f"audit_promote_{done['event_id']}"])
    assert tag["actor"] == "reviewer" and tag["dag_run_id"] == "scheduled__2026-03-20"
    assert unfinished_events(audit) == []


def test_rollback_moves_the_champion_back_with_its_own_entry(mlflow_registry, register_versions, tmp_path):
    audit = tmp_path / "promotions.jsonl"
    v1, v2 = register_versions("fraud", [0.0, 1.0])
    promote("fraud", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    promote("fraud", v2, approved_by="bob", dag_run_id="r2", audit_path=audit)
    assert champion_version("fraud") == v2
    done = rollback("fraud", v1, reason="v2 flags too many business accounts", requested_by="oncall",
                    dag_run_id="manual__rb", audit_path=audit)
    assert champion_version("fraud") == v1
    assert done["action"] == "rollback" and done["previous_champion"] == v2
    last = read_audit(audit, risk_type="fraud")[-1]
    assert last["status"] == "completed" and last["reason"] == "v2 flags too many business accounts"
    assert "last_rollback" in mlflow_registry.get_model_version("integrity_fraud", str(v1)).tags


def test_rollback_refuses_a_version_that_does_not_exist_and_changes_nothing(mlflow_registry, register_versions, tmp_path):
    audit = tmp_path / "promotions.jsonl"
    (v1,) = register_versions("spam_redirect", [0.0])
    promote("spam_redirect", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    before = read_audit(audit)
    with pytest.raises(PromotionError, match=rf"has no version 99; existing versions: \[{v1}\]"):
        rollback("spam_redirect", 99, reason="bad", requested_by="oncall", dag_run_id="x", audit_path=audit)
    with pytest.raises(PromotionError, match="non-empty reason"):
        rollback("spam_redirect", v1, reason="  ", requested_by="oncall", dag_run_id="x", audit_path=audit)
    assert champion_version("spam_redirect") == v1
    assert read_audit(audit) == before


def test_a_crash_between_the_audit_entry_and_the_alias_move_is_visible(tmp_path):
    audit = tmp_path / "promotions.jsonl"
    append_audit({"event_id": "e1", "status": "started", "action": "promote"}, audit)
    append_audit({"event_id": "e2", "status": "started", "action": "promote"}, audit)
    append_audit({"event_id": "e2", "status": "completed", "action": "promote"}, audit)
    assert [e["event_id"] for e in unfinished_events(audit)] == ["e1"]


def test_approver_comes_from_the_approval_operators_return_value():
    at = dt.datetime(2026, 3, 20, 9, 15, tzinfo=dt.timezone.utc)
    response = {"chosen_options": ["Approve"], "params_input": {}, "responded_at": at,
                "responded_by_user": {"id": "7", "name": "reviewer"}}
    assert approver_from_hitl(response) == ("reviewer", at.isoformat())
    with pytest.raises(PromotionError, match="not promoting"):
        approver_from_hitl(response | {"chosen_options": ["Reject"]})
    with pytest.raises(PromotionError, match="without a reviewer"):
        approver_from_hitl(None)
