"""Ask the reviewers about the candidate a run evaluated: a run of the risk's promotion DAG."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator


def promotion_run_id(version: int, source_run_id: str, try_number: int = 1) -> str:
    """``v7__scheduled__2026-03-20T00:00:00+00:00``: the candidate first, then the run that evaluated it.

    A second request for the same evaluation (its task cleared) gets ``__2``, ``__3``, ...:
    every request is a run, and so an approval, of its own.
    """
    run_id = f"v{version}__{source_run_id}"
    return run_id if try_number <= 1 else f"{run_id}__{try_number}"


class RequestApprovalOperator(TriggerDagRunOperator):
    """Start a run of ``promotion_dag_id`` for the candidate the shadow evaluation judged.

    Each evaluated candidate gets a promotion run of its own, so each gets approval requests
    of its own. Airflow keeps one human-in-the-loop request per task instance, and a task
    instance cleared for a re-run keeps its first request's subject, body and assignees:
    an approval inside the day's run showed the reviewers of a re-run the previous
    candidate's version and figures. The day's run also ends here instead of waiting for
    the reviewers, so the next day's extracts do not wait behind a review.

    The promotion run's conf names the evaluated run and the version; the promotion DAG
    reads the evaluation from that run's XComs (``promotion_dag.evaluated_candidate``), not
    from the conf. A paused promotion DAG fails this task: no request would reach anyone.

    :param promotion_dag_id: the risk's ``integrity_<risk>_promotion``.
    :param metrics: the shadow evaluation's result, with ``candidate_version``; in a DAG,
        ``shadow_eval.output``. (templated)
    :return (XCom ``trigger_run_id``): the promotion run's id.
    """

    template_fields = (*TriggerDagRunOperator.template_fields, "metrics")
    template_fields_renderers = {**TriggerDagRunOperator.template_fields_renderers, "metrics": "json"}
    ui_color = "#fdf1d4"

    def __init__(self, *, promotion_dag_id: str, metrics: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fail_when_dag_is_paused", True)
        super().__init__(
            trigger_dag_id=promotion_dag_id, wait_for_completion=False, openlineage_inject_parent_info=False, **kwargs
        )
        self.metrics = metrics

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        if not isinstance(self.metrics, dict) or "candidate_version" not in self.metrics:
            raise AirflowFailException(
                f"no evaluated candidate to ask about: the shadow evaluation's result has no candidate_version "
                f"(got {type(self.metrics).__name__})"
            )
        version, source = int(self.metrics["candidate_version"]), str(context["run_id"])
        self.trigger_run_id = promotion_run_id(version, source, int(context["ti"].try_number or 1))
        self.conf = {"source_run_id": source, "candidate_version": version}
        self.log.info("asking the reviewers about v%d in %s, run %s", version, self.trigger_dag_id, self.trigger_run_id)
        super().execute(context)
