"""Reviewers' decisions: what an answer in the Airflow UI says, and the two-person rule.

Airflow's human-in-the-loop (HITL) operators take one answer per task, from any one of its
``assigned_users``. A promotion that needs ``approval.required_approvals`` reviewers asks
them one after the other: each approval task is assigned to the risk's reviewers who have
not approved yet, so the same person can never count twice, and any reject stops the chain.
Every answer carries a reason (the form's ``reason`` field), which the audit entry and the
model version's tags keep.

While a candidate waits for its reviewers, its model version carries the tag
``approval_pending``; an approval request for another candidate of the same risk names it,
because approving either changes the champion the other was compared with (the promotion
of the other is then refused, see ``PromoteOperator``).

MLflow is imported inside the functions: a DAG file may import this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from integrity_risk.promotion import PromotionError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mlflow import MlflowClient

APPROVE, REJECT = "Approve", "Reject"
# The approval form's field: HITL ``params``, answered as ``params_input``.
REASON_FIELD = "reason"
PENDING_TAG = "approval_pending"


@dataclasses.dataclass(frozen=True)
class Decision:
    """One reviewer's answer: who, what, why and when."""

    user: str
    answer: str
    reason: str
    at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def reason_form() -> dict:
    """The approval form's fields (HITL ``params``): a free-text reason, required for both answers."""
    from airflow.sdk import Param

    return {
        REASON_FIELD: Param(
            "",
            type="string",
            title="Reason",
            description="Why you approve or reject: it goes into the audit record and the model version's tags.",
            # A form field of this task: HITLOperator keeps only task-level params, and a default set
            # inside the operator's __init__ is not given a source by Airflow's argument merging.
            source="task",
        )
    }


def decision_from_hitl(response: dict | None) -> Decision:
    """The decision in the return value (XCom) of an approval task.

    Airflow 3.3's ``HITLOperator.execute_complete`` returns ``{"chosen_options": [...],
    "params_input": {...}, "responded_at": datetime, "responded_by_user": {"id", "name"}}``.

    :raises PromotionError: no answer, no responding user, or no reason.
    """
    if not response:
        raise PromotionError("no approval response found: refusing to promote without a reviewer's answer")
    if response.get("not_needed"):
        raise PromotionError("this approval step was not needed: it holds no decision")
    chosen = list(response.get("chosen_options") or [])
    user = response.get("responded_by_user") or {}
    name = user.get("name") or user.get("id")
    if not name:
        raise PromotionError(f"the answer {chosen!r} has no responding user (a timeout's default?): not promoting")
    reason = str((response.get("params_input") or {}).get(REASON_FIELD) or "").strip()
    if not reason:
        raise PromotionError(f"{name} answered {chosen!r} without a reason: every decision needs one")
    at = response.get("responded_at")
    at = at.isoformat() if isinstance(at, (dt.datetime, dt.date)) else (None if at is None else str(at))
    return Decision(user=str(name), answer=chosen[0] if len(chosen) == 1 else repr(chosen), reason=reason, at=at)


def approvals(responses: Iterable[dict | None], *, required: int, requested_by: str | None = None) -> list[Decision]:
    """The approvals of a promotion or override, checked against the two-person rule.

    :param responses: each approval task's result, in order; steps marked ``not_needed`` are left out.
    :param required: how many distinct people must agree, ``requested_by`` included when given.
    :param requested_by: who asked for the move (an override's requester), who counts as one person.
    :raises PromotionError: an answer other than "Approve", one without a reason, the same person
        counted twice, or fewer people than ``required``.
    """
    decisions = [decision_from_hitl(r) for r in responses if not (r and r.get("not_needed"))]
    for d in decisions:
        if d.answer != APPROVE:
            raise PromotionError(
                f"{d.user} answered {d.answer!r}, not 'Approve' ({d.reason!r}): not moving the champion"
            )
    people = ([requested_by] if requested_by else []) + [d.user for d in decisions]
    twice = sorted({p for p in people if people.count(p) > 1})
    if twice:
        raise PromotionError(f"{', '.join(twice)} counted twice: a decision needs {required} distinct people")
    if len(people) < required:
        raise PromotionError(f"{len(people)} of the {required} distinct people needed agreed ({', '.join(people)})")
    return decisions


def joined_reason(decisions: Iterable[Decision], *, first: str | None = None) -> str:
    """One text for the audit entry's ``reason``: each person's reason after their name."""
    parts = [first] if first else []
    parts += [f"{d.user}: {d.reason}" for d in decisions]
    return "; ".join(parts)


# --- The subject a reviewer sees first -------------------------------------------------------


def _alerts_change(population: dict | None) -> str | None:
    if not population or not population.get("champion_flagged"):
        return None
    ratio = population["candidate_flagged"] / population["champion_flagged"]
    return f"alerts {(ratio - 1) * 100:+.0f} %"


def promotion_subject(risk_type: str, metrics: dict | None, gates: dict | None, *, step: int = 1, of: int = 1) -> str:
    """``Promote fraud v3? PR-AUC 0.93 (champion 0.91), alerts +12 %``: the request's headline.

    Airflow's Required Actions page lists pending approvals by their subject, so it carries
    the risk, the version, the figures a reviewer triages by, and a missing-evidence warning.
    """
    metrics = metrics or {}
    overall = metrics.get("overall") or {}
    candidate, champion = overall.get("candidate") or {}, overall.get("champion")
    text = f"Promote {risk_type} v{metrics.get('candidate_version', '?')}?"
    if candidate.get("pr_auc") is not None:
        text += f" PR-AUC {candidate['pr_auc']:.2f}"
        text += f" (champion {champion['pr_auc']:.2f})" if champion and champion.get("pr_auc") is not None else ""
    alerts = _alerts_change(metrics.get("population"))
    if alerts:
        text += f", {alerts}"
    thin = (gates or {}).get("not_enough_evidence") or []
    if thin:
        text += f". NOT ENOUGH EVIDENCE for {', '.join(thin)}"
    if of > 1:
        text = f"[approval {step} of {of}] " + text
    return text


def earlier_approvals_markdown(decisions: list[Decision], *, step: int, of: int, excluded: list[str]) -> str:
    """What a later approval step shows first: who approved already, why, and who may answer now."""
    lines = [f"**Approval {step} of {of}.** Given so far:"]
    lines += [f"- {d.user} approved at {d.at or '?'}: “{d.reason}”" for d in decisions]
    lines += [
        "",
        f"This answer must come from another reviewer: {', '.join(excluded)} already counted once, so "
        "this request is not assigned to them (their answer would be refused with HTTP 403).",
    ]
    return "\n".join(lines) + "\n"


# --- Candidates waiting for their reviewers ---------------------------------------------------


def mark_pending(
    client: MlflowClient,
    model_name: str,
    version: int,
    *,
    run_id: str,
    champion_version: int | None,
    until: dt.datetime,
) -> None:
    """Tag ``version`` as waiting for its reviewers until ``until`` (the request's timeout)."""
    value = json.dumps({"run_id": run_id, "champion_version": champion_version, "until": until.isoformat()})
    client.set_model_version_tag(model_name, str(version), PENDING_TAG, value)


def clear_pending(client: MlflowClient, model_name: str, version: int) -> None:
    """The candidate no longer waits (answered, or timed out)."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # never marked, or cleared already
        client.delete_model_version_tag(model_name, str(version), PENDING_TAG)


def other_pending(client: MlflowClient, model_name: str, version: int, *, now: dt.datetime) -> list[dict]:
    """The other candidates of the model that wait for reviewers now: ``[{version, run_id, champion_version}]``."""
    found = []
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        raw = (mv.tags or {}).get(PENDING_TAG)
        if not raw or int(mv.version) == int(version):
            continue
        try:
            mark = json.loads(raw)
            if dt.datetime.fromisoformat(mark["until"]) < now:
                continue  # its request timed out: a reject
        except (ValueError, KeyError, TypeError):
            continue
        found.append({"version": int(mv.version), **{k: mark.get(k) for k in ("run_id", "champion_version")}})
    return sorted(found, key=lambda p: p["version"])


def pending_markdown(pending: list[dict], version: int, champion: int | None) -> str:
    """The warning an approval request carries when other candidates of the risk wait too."""
    if not pending:
        return ""

    def one(p: dict) -> str:
        age = "newer" if p["version"] > version else "older"
        against = "no champion" if p["champion_version"] is None else f"champion v{p['champion_version']}"
        return f"v{p['version']} ({age}, run {p['run_id']}, evaluated against {against})"

    now = "no champion" if champion is None else f"v{champion}"
    return (
        f"**Another candidate of this risk waits for reviewers: {', '.join(one(p) for p in pending)}.** "
        f"This one (v{version}) was evaluated against {now}. Whichever is promoted first changes the "
        "champion the other was compared with: the other's promotion is then refused, naming both "
        "versions, and it needs a fresh evaluation (re-run its day with run_training=yes).\n"
    )


# --- Overrides of failed automatic gates ------------------------------------------------------

VERDICT_TAG = "auto_gates"


def evaluated_candidate(
    metrics: dict | None, gates: dict | None, *, version: int, source_run_id: str, champion: int | None
) -> dict:
    """What a promotion run asks the reviewers about: the evaluation of ``version`` in run ``source_run_id``.

    :param metrics: that run's shadow evaluation (its XCom), None when it has none.
    :param gates: that run's automatic gates' result, None when they failed or did not run.
    :param champion: the champion now.
    :return: ``{"metrics": ..., "gates": ...}``, the metrics naming the run (``evaluation_run_id``).
    :raises PromotionError: nothing to ask about, naming why and what to do instead.
    """
    if not metrics or "candidate_version" not in metrics:
        raise PromotionError(
            f"run {source_run_id} has no shadow evaluation of a candidate (it did not get that far, or it is "
            "running again): nothing to ask the reviewers"
        )
    evaluated = int(metrics["candidate_version"])
    if evaluated != version:
        raise PromotionError(
            f"run {source_run_id} evaluated version {evaluated}, not {version} (it ran again since this request was "
            f"made): v{version} is no longer what that run asks about; its new request is v{evaluated}'s"
        )
    if not gates or gates.get("gates") is None:
        raise PromotionError(
            f"the automatic gates of run {source_run_id} did not pass for version {version}: nobody is asked. "
            "To make it champion past failed gates, a reviewer triggers model_override"
        )
    judged_against = metrics.get("champion_version")
    if judged_against != champion:
        raise PromotionError(
            f"production moved since the evaluation: version {version} was compared with "
            f"{'no champion' if judged_against is None else f'version {judged_against}'}, but the champion is now "
            f"{'unset' if champion is None else f'version {champion}'}; nobody is asked. Re-run the model cycle "
            "to evaluate a candidate against the current champion"
        )
    return {"metrics": {**metrics, "evaluation_run_id": source_run_id}, "gates": gates}


def record_gate_verdict(client: MlflowClient, metrics: dict, results: list[dict], *, run_id: str) -> dict:
    """Tag the evaluated candidate with its gates' verdict, which an override later names.

    :param metrics: shadow_eval's result (``model_name``, ``candidate_version``, ``champion_version``).
    :param results: each gate's ``GateResult.as_dict()``.
    :return: the verdict as tagged.
    """
    from integrity_risk.promotion import headline

    failed = [
        {k: r.get(k) for k in ("gate", "figure", "bound", "message")} for r in results if r.get("passed") is False
    ]
    figures = {k: v for k, v in headline(metrics).items() if k not in ("gates", "population", "report_path")}
    verdict = {
        "run_id": run_id,
        "passed": not failed,
        "failed": failed,
        "champion_version": metrics.get("champion_version"),
        "report_path": metrics.get("report_path"),
        "figures": figures,
    }
    text = json.dumps(verdict, sort_keys=True, default=str)
    if len(text) > 4900:  # MLflow's tag value limit is 5000 characters: the messages say it all again
        verdict["failed"] = [{k: f[k] for k in ("gate", "figure", "bound")} for f in failed]
        verdict["figures"] = {}
        text = json.dumps(verdict, sort_keys=True, default=str)
    client.set_model_version_tag(metrics["model_name"], str(metrics["candidate_version"]), VERDICT_TAG, text)
    return verdict


def override_case(client: MlflowClient, risk_type: str, version: int) -> dict:
    """What an override of ``version`` would override: its failed gates and the champion it was judged against.

    :raises PromotionError: no such version, never judged by the gates, gates that passed
        (approve it in its own run instead), a control model, or the champion already.
    """
    from mlflow.exceptions import MlflowException

    from integrity_risk.promotion import CONTROL_TAG, champion_version
    from integrity_risk.tracking import registered_model_name

    name = registered_model_name(risk_type)
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as err:
        raise PromotionError(f"{name} has no version {version}") from err
    tags = mv.tags or {}
    control = str(tags.get(CONTROL_TAG, "none") or "none").strip().lower()
    if control != "none":
        raise PromotionError(
            f"{name} version {version} is a control model (label_control={control}): it exists to prove the "
            "gates stop it, and is never overridden into production"
        )
    if VERDICT_TAG not in tags:
        raise PromotionError(
            f"{name} version {version} has no automatic gate verdict (tag {VERDICT_TAG!r}): it was never "
            "evaluated, so there is nothing to override; run its model cycle first"
        )
    verdict = json.loads(tags[VERDICT_TAG])
    if verdict.get("passed"):
        raise PromotionError(
            f"{name} version {version} passed its automatic gates (run {verdict.get('run_id')}): there is "
            "nothing to override; approve it in that run instead"
        )
    if champion_version(risk_type, client=client) == int(version):
        raise PromotionError(f"{name} version {version} is the champion already")
    return {"model_name": name, "version": int(version), **verdict}


# --- Rejections -------------------------------------------------------------------------------

REJECT_ACTION, REJECTED = "reject", "rejected"


def record_rejection(
    client: MlflowClient,
    risk_type: str,
    metrics: dict,
    *,
    actor: str,
    reason: str,
    decided_at: str | None,
    approvals: list[dict],
    dag_run_id: str,
) -> dict:
    """Write a rejected (or timed-out) candidate's decision to the audit log and its version's tags.

    Nothing moved, so the entry has its own action and status (``reject``, ``rejected``): it is
    no ``completed`` move, so it never makes the version a former champion to roll back to.
    """
    import uuid

    from integrity_risk.promotion import _now, append_audit, headline

    version = int(metrics["candidate_version"])
    entry = {
        "event_id": uuid.uuid4().hex,
        "action": REJECT_ACTION,
        "status": REJECTED,
        "risk_type": risk_type,
        "model_name": metrics.get("model_name"),
        "version": version,
        "champion_evaluated": metrics.get("champion_version"),
        "actor": actor,
        "decided_at": decided_at,
        "dag_run_id": dag_run_id,
        "reason": reason,
        "approvals": approvals,
        "metrics": {k: v for k, v in headline(metrics).items() if k != "population"},
        "recorded_at": _now(),
    }
    append_audit(entry)
    tag = {k: entry[k] for k in ("event_id", "actor", "decided_at", "dag_run_id", "reason", "approvals")}
    client.set_model_version_tag(
        str(entry["model_name"]), str(version), f"audit_reject_{entry['event_id']}", json.dumps(tag, default=str)[:4900]
    )
    return entry
