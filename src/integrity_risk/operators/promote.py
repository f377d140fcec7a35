"""PromoteOperator: the approved candidate becomes the champion, with an audit entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class PromoteOperator(BaseOperator):
    """Move the ``champion`` alias to the version shadow_eval evaluated, recording who approved it.

    Runs after the approval steps (``ReviewerApprovalOperator``): a rejection skips this
    task. It refuses, before anything moves, unless ``required_approvals`` distinct reviewers
    answered "Approve", each with a reason; their decisions and reasons go into the audit
    entry and the version's tags. The version promoted is the one pinned by shadow_eval (its
    ``candidate_version``), not wherever ``candidate`` points now.

    The reviewer approved a comparison with the champion shadow_eval pinned (its
    ``champion_version``, null when there was none). If production moved since, that
    comparison no longer holds: the task fails without retries, naming both versions,
    and the champion stays (a compare-and-set, see ``promotion.move_champion``). A retry
    of a promotion that already moved the alias returns its ``completed`` entry.

    :param risk_type: the risk whose ``integrity_<risk>`` model is promoted.
    :param approvals: each approval step's result, which names the reviewer, the answer and
        the reason; in a DAG, ``[approval.output, ...]``. (templated)
    :param required_approvals: how many distinct reviewers must have approved.
    :param metrics: the shadow evaluation's result, with the versions it compared; in a
        DAG, ``shadow_eval.output``. (templated)
    :param gates: the ``AutoGatesOperator``'s result, whose verdicts go into the audit
        entry; in a DAG, ``auto_gates.output``; None leaves them out. (templated)
    :return (XCom): the audit entry (``completed``).
    """

    template_fields = ("approvals", "metrics", "gates")
    template_fields_renderers = {"approvals": "json", "metrics": "json", "gates": "json"}
    ui_color = "#d5f0f6"

    def __init__(
        self,
        *,
        risk_type: str,
        approvals: list,
        metrics: dict,
        required_approvals: int = 1,
        gates: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.risk_type = risk_type
        self.approvals = approvals
        self.required_approvals = required_approvals
        self.metrics = metrics
        self.gates = gates

    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from integrity_risk.promotion import ChampionMovedError, PromotionError, promote
        from integrity_risk.reviews import approvals, joined_reason
        from integrity_risk.tracking import configure, registered_model_name

        try:
            decisions = approvals(self.approvals, required=self.required_approvals)
        except PromotionError as err:  # the answers are what they are: a retry cannot change them
            raise AirflowFailException(f"not promoting: {err}") from err
        approver = ", ".join(d.user for d in decisions)
        reason = decisions[0].reason if len(decisions) == 1 else joined_reason(decisions)
        metrics, name = self.metrics or {}, registered_model_name(self.risk_type)
        if "candidate_version" not in metrics:
            raise PromotionError(
                f"no evaluated candidate version in the shadow evaluation's metrics (keys: {sorted(metrics) or 'none'})"
            )
        if metrics.get("model_name") not in (None, name):
            raise PromotionError(f"metrics are of {metrics['model_name']}, not of {name}")
        configure()
        if self.gates is not None:
            metrics = {**metrics, "gates": self.gates.get("gates")}
        candidate = int(metrics["candidate_version"])
        # The champion the candidate was compared with; an XCom older than that key compares with
        # whatever is champion when the promotion starts.
        pinned: dict[str, Any] = {}
        if "champion_version" in metrics:
            evaluated = metrics["champion_version"]
            pinned["expected"] = None if evaluated is None else int(evaluated)
        try:
            entry = promote(
                self.risk_type,
                candidate,
                approved_by=approver,
                approved_at=decisions[-1].at,
                reason=reason,
                approvals=[d.as_dict() for d in decisions],
                dag_run_id=str(context["run_id"]),
                metrics=metrics,
                **pinned,
            )
        except ChampionMovedError as err:
            # Retrying cannot help: the approval was given for a comparison that no longer holds.
            evaluated = "no champion" if err.expected is None else f"champion version {err.expected}"
            now = "unset" if err.actual is None else f"version {err.actual}"
            raise AirflowFailException(
                f"production moved since the evaluation: shadow_eval compared candidate version {candidate} with "
                f"{evaluated}, but the champion is now {now}; not promoting. Re-run the model cycle to evaluate "
                f"the candidate against the current champion."
            ) from err
        self.log.info(
            "champion of %s is now version %s (approved by %s; audit event %s)",
            entry["model_name"],
            entry["version"],
            approver,
            entry["event_id"],
        )
        return entry
