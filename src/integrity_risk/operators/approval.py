"""The reviewers' approval of a move of production: Airflow's human-in-the-loop ApprovalOperator."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator


class ReviewerApprovalOperator(ApprovalOperator):
    """One step of a decision that needs ``required`` distinct reviewers, each giving a reason.

    Step ``step`` is assigned to the ``reviewers`` who have not approved in an earlier step
    (``earlier_approvals``, the earlier steps' results) and are not ``requested_by``, so the
    same person never counts twice: Airflow answers anyone else with HTTP 403. "Reject", or
    no answer within ``response_timeout`` (``defaults`` is "Reject"), skips what follows. An
    answer without a reason (possible through the REST API; the form asks for one) fails
    this task, so nothing moves: clearing the task asks again.

    A step beyond what the decision needs (``step`` > ``required`` minus the requester)
    asks nobody and returns ``{"not_needed": True}``.

    :param reviewers: who may answer, e.g. the risk's ``approval.reviewers``.
    :param required: how many distinct people the decision needs, ``requested_by`` included.
    :param step: this request's place in the chain, from 1.
    :param earlier_approvals: the results of steps 1 to ``step - 1``. (templated)
    :param requested_by: who asked for the decision, already one of the people (an override's
        requester); None for a promotion. (templated)
    """

    template_fields = (*ApprovalOperator.template_fields, "earlier_approvals", "requested_by")
    template_fields_renderers = {"earlier_approvals": "json"}

    def __init__(
        self,
        *,
        reviewers: list[str],
        required: int = 1,
        step: int = 1,
        earlier_approvals: list | None = None,
        requested_by: str | None = None,
        **kwargs: Any,
    ) -> None:
        from integrity_risk.reviews import reason_form

        kwargs.setdefault("defaults", ApprovalOperator.REJECT)
        # The form's fields. In a DAG, Airflow hands every task the DAG's params here, which
        # HITLOperator drops (they are no form fields).
        kwargs["params"] = reason_form()
        kwargs.setdefault("body", "The request's details are added when it is made.")
        # Airflow's HITL leaves a request without assigned users open to everyone: each step is assigned.
        kwargs.setdefault("assigned_users", [{"id": u, "name": u} for u in reviewers])
        super().__init__(**kwargs)
        self.reviewers = list(reviewers)
        self.required = required
        self.step = step
        self.earlier_approvals = earlier_approvals or []
        self.requested_by = requested_by

    def request_text(self, context: Any, preface: str) -> tuple[str, str]:
        """The request's subject and body; ``preface`` (the approvals so far) goes near the body's top."""
        return self.subject, preface + (self.body or "")

    def steps_needed(self) -> int:
        return self.required - (1 if self.requested_by else 0)

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from integrity_risk.promotion import PromotionError
        from integrity_risk.reviews import approvals, earlier_approvals_markdown

        if self.step > self.steps_needed():
            self.log.info("step %d of %d is not needed: nobody is asked", self.step, self.steps_needed())
            return {"not_needed": True}
        try:
            earlier = approvals(self.earlier_approvals, required=0, requested_by=self.requested_by or None)
        except PromotionError as err:
            raise AirflowFailException(f"the earlier approvals do not hold: {err}") from err
        counted = ([self.requested_by] if self.requested_by else []) + [d.user for d in earlier]
        remaining = [u for u in self.reviewers if u not in counted]
        if not remaining:
            raise AirflowFailException(
                f"no reviewer is left to give approval {self.step} of {self.steps_needed()}: "
                f"{', '.join(counted)} counted already, and the reviewers are {', '.join(self.reviewers)}"
            )
        self.assigned_users = [{"id": u, "name": u} for u in remaining]
        preface = (
            earlier_approvals_markdown(earlier, step=self.step, of=self.steps_needed(), excluded=counted) + "\n"
            if counted
            else ""
        )
        self.subject, self.body = self.request_text(context, preface)
        self.log.info("asking %s (approval %d of %d)", ", ".join(remaining), self.step, self.steps_needed())
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from integrity_risk.promotion import PromotionError
        from integrity_risk.reviews import REASON_FIELD, decision_from_hitl

        if "error" not in event and event.get("responded_by_user"):  # a person answered: a timeout has no reason
            try:
                decision_from_hitl(event)
            except PromotionError as err:
                raise AirflowFailException(
                    f"{err} (the form's Reason field; through the REST API, params_input.{REASON_FIELD}). "
                    "Nothing moved; clear this task to ask again."
                ) from err
        self.after_answer(context, event)
        return super().execute_complete(context, event)

    def after_answer(self, context: Any, event: dict[str, Any]) -> None:
        """What a subclass does once the request is answered or timed out, before the answer is acted on."""


class PromotionApprovalOperator(ReviewerApprovalOperator):
    """Ask the risk's reviewers to approve or reject a candidate model in the Airflow UI.

    The subject carries the risk, the candidate version and the headline figures (what
    Airflow's Required Actions page lists); the body opens with a link to the shadow
    evaluation's HTML report, then its summary. While the candidate waits, its version is
    tagged ``approval_pending``, and the request names any other candidate of the risk that
    waits too (approving one refuses the other's promotion).

    :param risk_type: the risk whose candidate is reviewed.
    :param metrics: the shadow evaluation's result, with ``summary_path`` and ``report_path``;
        in a DAG, ``shadow_eval.output``. (templated)
    :param gates: the automatic gates' result (which gates lacked evidence); in a DAG,
        ``auto_gates.output``. (templated)
    :param report_base_url: where a browser reaches ``<storage root>/reports``; default a
        ``file://`` link. The demo serves reports from the Airflow API server.
    """

    template_fields = (*ReviewerApprovalOperator.template_fields, "metrics", "gates")
    template_fields_renderers = {
        **ReviewerApprovalOperator.template_fields_renderers,
        "metrics": "json",
        "gates": "json",
    }

    def __init__(
        self,
        *,
        risk_type: str,
        metrics: dict,
        gates: dict | None = None,
        report_base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("subject", f"Promote the new {risk_type} model to production?")
        super().__init__(**kwargs)
        self.risk_type = risk_type
        self.metrics = metrics
        self.gates = gates
        self.report_base_url = report_base_url

    def request_text(self, context: Any, preface: str) -> tuple[str, str]:
        from integrity_risk.evaluation.report import approval_body
        from integrity_risk.reviews import promotion_subject

        metrics = self.metrics or {}
        subject = promotion_subject(self.risk_type, metrics, self.gates, step=self.step, of=self.steps_needed())
        preface += self._pending_note(context, metrics)
        return subject, approval_body(metrics, report_url=self._report_url(metrics), preface=preface)

    def _pending_note(self, context: Any, metrics: dict) -> str:
        """Mark this candidate as waiting; name the other candidates of the risk that wait."""
        from integrity_risk.reviews import mark_pending, other_pending, pending_markdown
        from integrity_risk.tracking import configure, registered_model_name

        if "candidate_version" not in metrics:
            return ""
        configure()
        from mlflow import MlflowClient

        client, name = MlflowClient(), metrics.get("model_name") or registered_model_name(self.risk_type)
        version, champion = int(metrics["candidate_version"]), metrics.get("champion_version")
        now = dt.datetime.now(dt.UTC)
        until = now + (self.response_timeout or dt.timedelta(days=7))
        mark_pending(client, name, version, run_id=str(context["run_id"]), champion_version=champion, until=until)
        pending = other_pending(client, name, version, now=now)
        return pending_markdown(pending, version, champion) + ("\n" if pending else "")

    def after_answer(self, context: Any, event: dict[str, Any]) -> None:
        """Record a reject (or a timeout) with its reason; the candidate no longer waits unless another step follows."""
        from integrity_risk.reviews import APPROVE, approvals, clear_pending, decision_from_hitl, record_rejection
        from integrity_risk.tracking import configure, registered_model_name

        metrics = self.metrics or {}
        approved = event.get("chosen_options") == [APPROVE] and not event.get("timedout")
        if "candidate_version" not in metrics or (approved and self.step < self.steps_needed()):
            return  # still waiting for the next reviewer
        configure()
        from mlflow import MlflowClient

        client = MlflowClient()
        metrics = {**metrics, "model_name": metrics.get("model_name") or registered_model_name(self.risk_type)}
        clear_pending(client, metrics["model_name"], int(metrics["candidate_version"]))
        if approved:
            return  # promote records the decision
        earlier = [d.as_dict() for d in approvals(self.earlier_approvals, required=0)]
        if event.get("responded_by_user"):
            rejection = decision_from_hitl(event)
            actor, reason, at = rejection.user, rejection.reason, rejection.at
            earlier.append(rejection.as_dict())
        else:
            actor, at = "timeout", None
            reason = f"no answer within {self.response_timeout}: rejected by default"
        record_rejection(
            client,
            self.risk_type,
            metrics,
            actor=actor,
            reason=reason,
            decided_at=at,
            approvals=earlier,
            dag_run_id=str(context["run_id"]),
        )

    def _report_url(self, metrics: dict) -> str | None:
        if not self.report_base_url or not metrics.get("report_path"):
            return None
        from integrity_risk.evaluation.report import reports_root

        relative = metrics["report_path"].removeprefix(str(reports_root())).lstrip("/")
        return f"{self.report_base_url.rstrip('/')}/{relative}"


class OverrideApprovalOperator(ReviewerApprovalOperator):
    """One reviewer's approval of an override of failed gates (``dags/model_override.py``).

    Who may answer and how many must come from ``case``, the run's ``override_case`` result
    (the risk is a run parameter): ``reviewers`` and ``required`` (at least two people, the
    requester included). The body opens with the requester's reason, then each failed gate
    with its figure and bound, then the report's link.

    :param case: the checked case: risk, version, failed gates, reviewers, required. (templated)
    """

    template_fields = (*ReviewerApprovalOperator.template_fields, "case")
    template_fields_renderers = {**ReviewerApprovalOperator.template_fields_renderers, "case": "json"}

    def __init__(self, *, case: dict, **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Override failed automatic gates?")
        super().__init__(reviewers=[], **kwargs)
        self.case = case

    def execute(self, context: Any) -> Any:
        self.reviewers, self.required = list(self.case["reviewers"]), int(self.case["required"])
        return super().execute(context)

    def request_text(self, context: Any, preface: str) -> tuple[str, str]:
        case, reason = self.case, context["params"]["reason"]
        gates = "\n".join(f"- **{g['gate']}**: {g['message']}" for g in case["failed"])
        against = "no champion" if case.get("champion_version") is None else f"champion v{case['champion_version']}"
        link = case.get("report_path")
        subject = (
            f"[override {self.step} of {self.steps_needed()}] Override {len(case['failed'])} failed gate(s) and "
            f"make {case['risk_type']} v{case['version']} champion? Requested by {self.requested_by}"
        )
        body = (
            (f"**Report of the evaluation:** [{link}]({link})\n\n" if link else "")
            + preface
            + f"**{self.requested_by} asks to override the automatic gates** that stopped {case['risk_type']} "
            f"v{case['version']} in run {case['run_id']} (evaluated against {against}): “{reason}”\n\n"
            f"Failed gates:\n{gates}\n\nApproving makes it champion with an audit entry naming each gate, its "
            "figure and its bound; production must still be the champion it was evaluated against."
        )
        return subject, body
