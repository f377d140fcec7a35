"""Promotion and rollback move the champion alias in a real MLflow registry and leave an audit trail."""

import datetime as dt
import json

import pytest

from integrity_risk.promotion import (
    PromotionError,
    append_audit,
    champion_version,
    promote,
    read_audit,
    rollback,
    unfinished_events,
)
from integrity_risk.reviews import Decision, approvals, decision_from_hitl

METRICS = {
    "operating_fpr": 0.01,
    "labeled_rows": 900,
    "positives": 90,
    "report_path": "/r/report.html",
    "overall": {
        "candidate": {"pr_auc": 0.61, "recall_at_fpr": 0.42, "threshold": 0.7, "precision_at_threshold": 0.8},
        "champion": None,
    },
    "slices": [],
}


def test_promotion_moves_the_alias_and_writes_the_audit_entry_first(mlflow_registry, register_versions, tmp_path):
    audit = tmp_path / "audit"
    (v1,) = register_versions("scraping", [0.0])
    assert champion_version("scraping") is None
    at = dt.datetime(2026, 3, 20, 9, 15, tzinfo=dt.UTC)
    done = promote(
        "scraping",
        v1,
        approved_by="reviewer",
        approved_at=at,
        dag_run_id="scheduled__2026-03-20",
        metrics=METRICS,
        audit_path=audit,
    )
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
    audit = tmp_path / "audit"
    v1, v2 = register_versions("fraud", [0.0, 1.0])
    promote("fraud", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    promote("fraud", v2, approved_by="bob", dag_run_id="r2", audit_path=audit)
    assert champion_version("fraud") == v2
    done = rollback(
        "fraud",
        v1,
        reason="v2 flags too many business accounts",
        requested_by="oncall",
        dag_run_id="manual__rb",
        audit_path=audit,
    )
    assert champion_version("fraud") == v1
    assert done["action"] == "rollback" and done["previous_champion"] == v2
    last = read_audit(audit, risk_type="fraud")[-1]
    assert last["status"] == "completed" and last["reason"] == "v2 flags too many business accounts"
    assert "last_rollback" in mlflow_registry.get_model_version("integrity_fraud", str(v1)).tags


def test_rollback_refuses_a_version_that_does_not_exist_and_changes_nothing(
    mlflow_registry, register_versions, tmp_path
):
    audit = tmp_path / "audit"
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
    audit = tmp_path / "audit"
    append_audit({"event_id": "e1", "status": "started", "action": "promote"}, audit)
    append_audit({"event_id": "e2", "status": "started", "action": "promote"}, audit)
    append_audit({"event_id": "e2", "status": "completed", "action": "promote"}, audit)
    assert [e["event_id"] for e in unfinished_events(audit)] == ["e1"]


def test_a_decision_comes_from_the_approval_operators_return_value_with_its_reason():
    at = dt.datetime(2026, 3, 20, 9, 15, tzinfo=dt.UTC)
    response = {
        "chosen_options": ["Approve"],
        "params_input": {"reason": "  recall up, alerts flat  "},
        "responded_at": at,
        "responded_by_user": {"id": "7", "name": "reviewer"},
    }
    assert decision_from_hitl(response) == Decision("reviewer", "Approve", "recall up, alerts flat", at.isoformat())
    with pytest.raises(PromotionError, match="reviewer answered \\['Approve'\\] without a reason"):
        decision_from_hitl(response | {"params_input": {"reason": "   "}})
    with pytest.raises(PromotionError, match="without a reviewer"):
        decision_from_hitl(None)
    with pytest.raises(PromotionError, match="no responding user"):
        decision_from_hitl(response | {"responded_by_user": None})


def _answer(user: str, option: str = "Approve", reason: str = "looked at the report") -> dict:
    return {
        "chosen_options": [option],
        "params_input": {"reason": reason},
        "responded_by_user": {"id": user, "name": user},
    }


def test_the_two_person_rule_counts_distinct_approving_people():
    assert [d.user for d in approvals([_answer("ann"), _answer("bob")], required=2)] == ["ann", "bob"]
    with pytest.raises(PromotionError, match="ann counted twice: a decision needs 2 distinct people"):
        approvals([_answer("ann"), _answer("ann")], required=2)
    with pytest.raises(PromotionError, match="bob answered 'Reject', not 'Approve' \\('too many alerts'\\)"):
        approvals([_answer("ann"), _answer("bob", "Reject", "too many alerts")], required=2)
    with pytest.raises(PromotionError, match="1 of the 2 distinct people needed agreed \\(ann\\)"):
        approvals([_answer("ann"), {"not_needed": True}], required=2)
    # An override's requester is one of the people, and cannot approve their own request.
    assert [d.user for d in approvals([_answer("bob")], required=2, requested_by="ann")] == ["bob"]
    with pytest.raises(PromotionError, match="ann counted twice"):
        approvals([_answer("ann")], required=2, requested_by="ann")


# --- Registry and audit must agree whatever the registry does (issue #14, point 4) ---


class FlakyClient:
    """Delegates to a real ``MlflowClient``, but one chosen call misbehaves.

    :param method: the client method that misbehaves.
    :param when: ``before`` (the real call never runs) or ``after`` (it ran, then the error):
        a timeout after the server applied the change looks like ``after``.
    :param action: an exception to raise, or a callable run at that point instead (a
        concurrent writer); a ``BaseException`` such as ``SystemExit`` stands for a killed process.
    :param skip: how many calls of ``method`` pass untouched first.
    """

    def __init__(self, client, method, when, action, skip=0):
        self._client, self._method, self._when, self._action, self._skip = client, method, when, action, skip
        self.fired = False

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name != self._method:
            return real

        def call(*args, **kwargs):
            if self.fired or self._skip > 0:
                self._skip -= 1
                return real(*args, **kwargs)
            self.fired = True
            if self._when == "before":
                self._act()
            result = real(*args, **kwargs)
            if self._when == "after":
                self._act()
            return result

        return call

    def _act(self):
        if isinstance(self._action, BaseException):
            raise self._action
        self._action()


def _attempt(fn, *args, **kwargs):
    """``fn``'s return value, or the ``PromotionError`` it raised: the audit is checked either way."""
    try:
        return fn(*args, **kwargs)
    except PromotionError as err:
        return err


def _version_tags(client, risk_type, version):
    return {
        k
        for k in client.get_model_version(f"integrity_{risk_type}", str(version)).tags
        if k.startswith(("last_", "audit_"))
    }


def test_an_error_after_the_alias_moved_is_recorded_as_the_outcome_reached(
    mlflow_registry, register_versions, tmp_path
):
    audit = tmp_path / "audit"
    v1, v2 = register_versions("scraping", [0.0, 1.0])
    promote("scraping", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    timeout = FlakyClient(mlflow_registry, "set_registered_model_alias", "after", TimeoutError("read timed out"))

    outcome = _attempt(promote, "scraping", v2, approved_by="bob", dag_run_id="r2", client=timeout, audit_path=audit)

    assert champion_version("scraping") == v2
    last = read_audit(audit)[-1]
    assert (last["version"], last["status"], last["previous_champion"]) == (v2, "completed", v1)
    assert "read timed out" in last["error"] and "alias" in last["note"]
    assert not isinstance(outcome, PromotionError) and outcome["event_id"] == last["event_id"]
    assert _version_tags(mlflow_registry, "scraping", v2) == {"last_promote", f"audit_promote_{last['event_id']}"}
    assert unfinished_events(audit) == []


def test_a_refused_alias_move_leaves_no_tag_and_says_which_champion_is_in_place(
    mlflow_registry, register_versions, tmp_path
):
    from mlflow.exceptions import MlflowException

    audit = tmp_path / "audit"
    v1, v2 = register_versions("scraping", [0.0, 1.0])
    promote("scraping", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    refused = FlakyClient(
        mlflow_registry,
        "set_registered_model_alias",
        "before",
        MlflowException("alias update refused: permission denied"),
    )

    with pytest.raises(PromotionError, match="alias update refused"):
        promote("scraping", v2, approved_by="bob", dag_run_id="r2", client=refused, audit_path=audit)

    assert champion_version("scraping") == v1
    assert _version_tags(mlflow_registry, "scraping", v2) == set()
    last = read_audit(audit)[-1]
    assert (last["version"], last["status"], last["champion_in_place"]) == (v2, "failed", v1)
    assert "permission denied" in last["error"]


def test_a_retry_after_the_completed_line_was_lost_keeps_the_true_previous_champion(
    mlflow_registry, register_versions, tmp_path, monkeypatch
):
    from integrity_risk import promotion

    audit = tmp_path / "audit"
    v1, v2 = register_versions("scraping", [0.0, 1.0])
    promote("scraping", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    real_append = promotion.append_audit

    def disk_full_on_completed(entry, path=None):
        if entry.get("status") == "completed":
            raise OSError(28, "No space left on device")
        return real_append(entry, path)

    monkeypatch.setattr(promotion, "append_audit", disk_full_on_completed)
    with pytest.raises(OSError, match="No space left"):
        promote("scraping", v2, approved_by="bob", dag_run_id="r2", audit_path=audit)
    monkeypatch.undo()
    assert champion_version("scraping") == v2

    retry = promote("scraping", v2, approved_by="bob", dag_run_id="r2", audit_path=audit)  # Airflow's retry

    assert retry["previous_champion"] == v1
    of_run = [e for e in read_audit(audit) if e["dag_run_id"] == "r2"]
    assert {e["previous_champion"] for e in of_run} == {v1}
    assert [e["status"] for e in of_run] == ["started", "completed"]
    assert unfinished_events(audit) == []


def test_unfinished_events_are_reconciled_with_the_registry(mlflow_registry, register_versions, tmp_path):
    from integrity_risk.promotion import reconcile_unfinished

    audit = tmp_path / "audit"
    v1, v2 = register_versions("abusive_account", [0.0, 1.0])
    promote("abusive_account", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    killed = FlakyClient(mlflow_registry, "set_registered_model_alias", "before", SystemExit("worker killed"))
    with pytest.raises(SystemExit):
        promote("abusive_account", v2, approved_by="bob", dag_run_id="r2", client=killed, audit_path=audit)
    (crashed,) = unfinished_events(audit)

    done = reconcile_unfinished("abusive_account", audit_path=audit)

    assert [(e["event_id"], e["status"], e["champion_in_place"], e["reconciled"]) for e in done] == [
        (crashed["event_id"], "failed", v1, True)
    ]
    assert read_audit(audit)[-1] == done[0]
    assert unfinished_events(audit) == [] and reconcile_unfinished("abusive_account", audit_path=audit) == []


def test_a_move_first_settles_an_interrupted_move_of_its_risk(mlflow_registry, register_versions, tmp_path):
    audit = tmp_path / "audit"
    v1, v2, v3 = register_versions("spam_redirect", [0.0, 1.0, 2.0])
    promote("spam_redirect", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    killed = FlakyClient(mlflow_registry, "set_registered_model_alias", "after", SystemExit("worker killed"))
    with pytest.raises(SystemExit):  # killed right after the alias moved: no tags, no end entry
        promote("spam_redirect", v2, approved_by="bob", dag_run_id="r2", client=killed, audit_path=audit)
    (crashed,) = unfinished_events(audit)

    done = promote("spam_redirect", v3, approved_by="carol", dag_run_id="r3", audit_path=audit)

    assert done["previous_champion"] == v2 and champion_version("spam_redirect") == v3
    settled = [e for e in read_audit(audit) if e["event_id"] == crashed["event_id"]]
    assert [(e["status"], e.get("reconciled"), e.get("champion_in_place")) for e in settled] == [
        ("started", None, None),
        ("completed", True, v2),
    ]
    assert _version_tags(mlflow_registry, "spam_redirect", v2) == {
        "last_promote",
        f"audit_promote_{crashed['event_id']}",
    }
    assert unfinished_events(audit) == []


def test_an_interrupted_move_followed_by_others_is_settled_by_what_the_next_one_found(mlflow_registry, tmp_path):
    from integrity_risk.promotion import reconcile_unfinished

    audit = tmp_path / "audit"  # an old log: later moves did not reconcile first
    moves = [("e1", 5, 4, False), ("e2", 6, 5, True), ("e3", 8, 6, False), ("e4", 9, 6, True), ("e5", 10, None, False)]
    for event_id, version, previous, completed in moves:
        entry = {
            "event_id": event_id,
            "action": "promote",
            "risk_type": "fraud",
            "model_name": "integrity_fraud",
            "version": version,
            "previous_champion": previous,
        }
        append_audit(entry | {"status": "started"}, audit)
        if completed:
            append_audit(entry | {"status": "completed"}, audit)
    append_audit(
        {
            "event_id": "e6",
            "action": "promote",
            "risk_type": "fraud",
            "model_name": "integrity_fraud",
            "version": 999,
            "status": "started",
        },
        audit,
    )  # a hand-written line: no previous_champion

    done = reconcile_unfinished(audit_path=audit)

    # e2 found 5 (e1 had moved the alias), e4 found 6 (e3 had not), e6 does not say what it found;
    # e6, the last, is settled from the registry, where version 999 is not champion
    assert [(e["event_id"], e["status"]) for e in done] == [
        ("e1", "completed"),
        ("e3", "failed"),
        ("e5", "unknown"),
        ("e6", "failed"),
    ]
    assert [e.get("champion_in_place") for e in done[:3]] == [5, 6, None]
    assert done[3]["champion_in_place"] == champion_version("fraud")
    assert unfinished_events(audit) == []


def test_the_alias_does_not_move_over_a_champion_changed_by_someone_else(mlflow_registry, register_versions, tmp_path):
    audit = tmp_path / "audit"
    v1, v2, v3 = register_versions("abusive_account", [0.0, 1.0, 2.0])
    promote("abusive_account", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)

    def someone_else_moves_it():
        mlflow_registry.set_registered_model_alias("integrity_abusive_account", "champion", str(v3))

    # the first read (previous_champion) sees v1; the champion moves to v3 before the move
    racing = FlakyClient(mlflow_registry, "get_model_version_by_alias", "before", someone_else_moves_it, skip=1)
    with pytest.raises(
        PromotionError,
        match=rf"champion of integrity_abusive_account is version {v3}, "
        rf"not version {v1} as expected",
    ):
        promote("abusive_account", v2, approved_by="bob", dag_run_id="r2", client=racing, audit_path=audit)

    assert racing.fired and champion_version("abusive_account") == v3
    last = read_audit(audit)[-1]
    assert (last["version"], last["status"], last["champion_in_place"]) == (v2, "refused", v3)
    assert _version_tags(mlflow_registry, "abusive_account", v2) == set()


def test_promotion_refuses_when_production_moved_since_the_evaluation(mlflow_registry, register_versions, tmp_path):
    from integrity_risk.operators.promote import PromoteOperator

    audit = tmp_path / "audit"
    v1, v2, v3 = register_versions("abusive_account", [0.0, 1.0, 2.0])
    promote("abusive_account", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    with pytest.raises(PromotionError, match=rf"is version {v1}, not version {v2} as expected"):
        promote("abusive_account", v3, approved_by="bob", dag_run_id="r2", expected=v2, audit_path=audit)
    assert champion_version("abusive_account") == v1

    # shadow_eval compared v3 with v2, but v1 is the champion now: the comparison no longer holds
    approval = _answer("reviewer")
    metrics = {"model_name": "integrity_abusive_account", "candidate_version": v3, "champion_version": v2}
    op = PromoteOperator(task_id="promote", risk_type="abusive_account", approvals=[approval], metrics=metrics)
    with pytest.raises(
        Exception,
        match=rf"shadow_eval compared candidate version {v3} with champion version {v2}, "
        rf"but the champion is now version {v1}",
    ):
        op.execute({"run_id": "manual__r3"})
    assert champion_version("abusive_account") == v1


# --- Rollback only to a former champion (issue #14, point 5) ---


def test_rollback_only_to_a_former_champion_and_never_to_a_control_model(mlflow_registry, register_versions, tmp_path):
    import re

    audit = tmp_path / "audit"
    v1, v2, v3, v4 = register_versions("fraud", [0.0, 1.0, 2.0, 3.0])
    mlflow_registry.set_model_version_tag("integrity_fraud", str(v3), "label_control", "invert")
    promote("fraud", v1, approved_by="alice", dag_run_id="r1", audit_path=audit)
    promote("fraud", v3, approved_by="alice", dag_run_id="r2", audit_path=audit)  # a control run let through
    promote("fraud", v2, approved_by="bob", dag_run_id="r3", audit_path=audit)
    before = read_audit(audit)

    with pytest.raises(PromotionError, match=rf"version {v4} was never champion") as never:
        rollback(
            "fraud", v4, reason="gated out, but looks fine", requested_by="oncall", dag_run_id="x", audit_path=audit
        )
    with pytest.raises(PromotionError, match=rf"version {v3} is a control model \(label_control=invert\)") as control:
        rollback("fraud", v3, reason="it was champion", requested_by="oncall", dag_run_id="x", audit_path=audit)

    for err in (never, control):
        allowed = json.loads(re.search(r"may be rolled back to: (\[[\d, ]*\])", str(err.value)).group(1))
        assert v1 in allowed and not {v2, v3, v4} & set(allowed)
    assert champion_version("fraud") == v2
    assert read_audit(audit) == before
    assert (
        rollback("fraud", v1, reason="v2 over-flags", requested_by="oncall", dag_run_id="x", audit_path=audit)[
            "previous_champion"
        ]
        == v2
    )


def test_the_champion_is_read_from_the_configured_registry_not_a_process_wide_one(
    mlflow_registry, register_versions, tmp_path, monkeypatch
):
    """MLflow's set_registry_uri (called by any earlier configure in the process) must not redirect the read."""
    import mlflow

    (version,) = register_versions("fake_engagement", [0.0])
    promote(
        "fake_engagement",
        version,
        approved_by="reviewer",
        approved_at=dt.datetime(2026, 3, 21, tzinfo=dt.UTC),
        dag_run_id="scheduled__2026-03-21",
        metrics=METRICS,
        audit_path=tmp_path / "audit",
    )
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setattr(mlflow.tracking._model_registry.utils, "_registry_uri", None)
    mlflow.set_registry_uri(elsewhere)
    try:
        assert mlflow.get_registry_uri() == elsewhere
        assert champion_version("fake_engagement") == version
    finally:
        mlflow.set_registry_uri(mlflow_registry.tracking_uri)
