"""PromoteOperator: the approved candidate becomes the champion, with an audit entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class PromoteOperator(BaseOperator):
    """Move the ``champion`` alias to the version shadow_eval evaluated, recording who approved it.

    Runs after an ``ApprovalOperator``: a rejection skips this task, and a missing or
    non-"Approve" answer makes it refuse. The version promoted is the one pinned by
    shadow_eval (its ``candidate_version``), not wherever ``candidate`` points now.

    :param risk_type: the risk whose ``integrity_<risk>`` model is promoted.
    :param approval_task_id: the ``ApprovalOperator`` task; its XCom names the reviewer.
    :param shadow_eval_task_id: the task whose XCom holds the metrics and the version.
    :param gates_task_id: the ``AutoGatesOperator`` task, whose verdicts go into the audit
        entry (None to skip).
    :return (XCom): the audit entry (``completed``).
    """

    ui_color = "#d5f0f6"

    def __init__(self, *, risk_type: str, approval_task_id: str = "approval",
                 shadow_eval_task_id: str = "shadow_eval", gates_task_id: str | None = "auto_gates",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.risk_type = risk_type
        self.approval_task_id = approval_task_id
        self.shadow_eval_task_id = shadow_eval_task_id
        self.gates_task_id = gates_task_id

    def execute(self, context: Context) -> dict:
        from integrity_risk.promotion import PromotionError, approver_from_hitl, promote
        from integrity_risk.tracking import configure, registered_model_name

        configure()
        ti = context["ti"]
        approver, approved_at = approver_from_hitl(ti.xcom_pull(task_ids=self.approval_task_id))
        metrics = ti.xcom_pull(task_ids=self.shadow_eval_task_id) or {}
        if "candidate_version" not in metrics:
            raise PromotionError(f"no evaluated candidate version in the XCom of {self.shadow_eval_task_id!r}")
        if metrics.get("model_name") not in (None, registered_model_name(self.risk_type)):
            raise PromotionError(f"metrics are of {metrics['model_name']}, not of {registered_model_name(self.risk_type)}")
        if self.gates_task_id:
            gates = ti.xcom_pull(task_ids=self.gates_task_id) or {}
            metrics = {**metrics, "gates": gates.get("gates")}
        entry = promote(self.risk_type, int(metrics["candidate_version"]), approved_by=approver,
                        approved_at=approved_at, dag_run_id=str(context["run_id"]), metrics=metrics)
        self.log.info("champion of %s is now version %s (approved by %s; audit event %s)",
                      entry["model_name"], entry["version"], approver, entry["event_id"])
        return entry
