"""AutoGatesOperator: the risk's automatic gates on shadow_eval's metrics; a failure stops the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class AutoGatesOperator(BaseOperator):
    """Check shadow_eval's metrics against the thresholds of the risk's YAML ``gates:`` section.

    A failing gate fails the task without retries (``AirflowFailException``), with every
    failing gate's name, figure and bound in the message, so the approval is never asked.
    The verdicts are also written into the run's ``summary.md``, which the approval shows, and
    tagged on the candidate's model version (``auto_gates``), which an override names.

    :param gates: the ``gates:`` section, e.g. ``{"max_pr_auc_drop": 0.02, "min_recall_at_fpr": 0.3}``;
        see ``integrity_risk.evaluation.gates``.
    :param metrics: the shadow evaluation's metrics dict; in a DAG, ``shadow_eval.output``. (templated)
    A labelled gate short of evidence (``min_labelled_positives``, or fewer negatives than
    the operating FPR needs) does not fail the task: the approval is asked, and its first
    line says which gates could not judge the candidate.

    :return (XCom): ``{"passed": bool, "not_enough_evidence": [gate, ...], "gates": [GateResult as dict, ...]}``;
        ``passed`` is False when some gate lacked evidence.
    """

    template_fields = ("metrics",)
    template_fields_renderers = {"metrics": "json"}
    ui_color = "#f6d5d5"

    def __init__(self, *, gates: dict[str, float], metrics: dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gates = gates
        self.metrics = metrics

    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from integrity_risk.evaluation.gates import evaluate_gates
        from integrity_risk.evaluation.report import update_summary

        metrics = self.metrics
        if not isinstance(metrics, dict) or "overall" not in metrics:
            raise AirflowFailException(
                f"no shadow-eval metrics to judge: expected shadow_eval's result with "
                f"an 'overall' section, got {type(metrics).__name__}"
            )
        results = evaluate_gates(metrics, self.gates)
        update_summary(metrics, [r.as_dict() for r in results])
        self._tag_verdict(metrics, [r.as_dict() for r in results], str(context.get("run_id") or ""))
        for r in results:
            self.log.info("%s", r.message)
        failures = [r for r in results if r.passed is False]
        if failures:
            raise AirflowFailException("automatic gates failed: " + "; ".join(f.message for f in failures))
        thin = [r.gate for r in results if r.not_enough_evidence]
        if thin:
            self.log.warning("not enough evidence for %s: the reviewer decides, told so first", ", ".join(thin))
        return {"passed": not thin, "not_enough_evidence": thin, "gates": [r.as_dict() for r in results]}

    def _tag_verdict(self, metrics: dict, results: list[dict], run_id: str) -> None:
        """The verdict on the candidate's model version, before any failure: what an override names."""
        if "candidate_version" not in metrics or "model_name" not in metrics:
            return
        from mlflow import MlflowClient

        from integrity_risk.reviews import record_gate_verdict
        from integrity_risk.tracking import configure

        configure()
        record_gate_verdict(MlflowClient(), metrics, results, run_id=run_id)
