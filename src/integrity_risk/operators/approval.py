"""The reviewer's approval of a promotion: Airflow's human-in-the-loop ApprovalOperator."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator


class PromotionApprovalOperator(ApprovalOperator):
    """Ask the risk's reviewers to approve or reject a candidate model in the Airflow UI.

    The request shows the shadow evaluation's summary and a link to its HTML report.
    Only ``assigned_users`` may answer (others get HTTP 403); "Reject", or no answer
    within ``response_timeout`` (``defaults`` is "Reject"), skips the promotion and
    leaves production as it was.

    :param metrics: the shadow evaluation's result, with ``summary_path`` and ``report_path``;
        in a DAG, ``shadow_eval.output``. (templated)
    :param report_base_url: where a browser reaches ``<storage root>/reports``; default a
        ``file://`` link. The demo serves reports from the Airflow API server.
    """

    template_fields = (*ApprovalOperator.template_fields, "metrics")
    template_fields_renderers = {"metrics": "json"}

    def __init__(self, *, metrics: dict, report_base_url: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("body", "The shadow evaluation's summary is added when the request is made.")
        kwargs.setdefault("defaults", ApprovalOperator.REJECT)
        super().__init__(**kwargs)
        self.metrics = metrics
        self.report_base_url = report_base_url

    def execute(self, context: Any) -> Any:
        from integrity_risk.evaluation.report import approval_body

        metrics = self.metrics or {}
        self.body = approval_body(metrics, report_url=self._report_url(metrics))
        return super().execute(context)

    def _report_url(self, metrics: dict) -> str | None:
        if not self.report_base_url or not metrics.get("report_path"):
            return None
        from integrity_risk.evaluation.report import reports_root

        relative = metrics["report_path"].removeprefix(str(reports_root())).lstrip("/")
        return f"{self.report_base_url.rstrip('/')}/{relative}"
