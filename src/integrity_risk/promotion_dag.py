"""The DAG ``integrity_<risk>_promotion``: the reviewers' approval of one evaluated candidate, and its promotion.

The risk DAG's ``request_approval`` starts one run of it per candidate that passed its
automatic gates (``operators.request_approval``). Like ``dag_factory``, this module imports
only the Airflow SDK and the project's operators.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import DAG, Param, chain, task

from integrity_risk.config.risk import risk_config
from integrity_risk.dag_factory import risk_default_args
from integrity_risk.operators.approval import PromotionApprovalOperator
from integrity_risk.operators.promote import PromoteOperator

# How many candidates of one risk may wait for reviewers at once (their runs hold no worker
# slot while they wait); approving one refuses the others' promotions (compare-and-set).
WAITING_CANDIDATES = 8

DOC = """\
### Promotion of a `{risk}` candidate

One run per candidate that `{source}` evaluated and whose automatic gates passed: its task
`request_approval` starts the run, with the evaluated run and the version as conf.

| task | what it does |
|---|---|
| `evaluated_candidate` | reads that run's shadow evaluation and gate results (its XComs, not the conf); refuses, naming why, a version the run no longer evaluates, failed gates (that is `model_override`'s job) or a champion that moved since |
| `approval`{steps} | a reviewer ({reviewers}) approves or rejects in the UI (Browse → Required Actions), with a reason; {required} distinct reviewer(s); no answer within {timeout} h rejects |
| `promote` | moves `champion` to the candidate if it still is the champion the candidate was compared with, and writes the audit entry |

A reviewer can ask again about a candidate whose request timed out by triggering this DAG with
the same `source_run_id` and `candidate_version`: the checks above run again first.

Owner: **{owner}**. Built from `include/risks/{risk}.yaml` by `src/integrity_risk/promotion_dag.py`.
"""


@task(retries=0, multiple_outputs=True)
def evaluated_candidate(risk_type: str, source_dag_id: str, params: Any = None, ti: Any = None) -> dict:
    """The evaluation this run asks about, read from the run that made it; refuse what is no longer askable."""
    from airflow.sdk.exceptions import AirflowFailException

    from integrity_risk.promotion import PromotionError, champion_version
    from integrity_risk.reviews import evaluated_candidate as checked
    from integrity_risk.tracking import configure

    source = params["source_run_id"]
    metrics, gates = (
        ti.xcom_pull(task_ids=task_id, dag_id=source_dag_id, run_id=source)
        for task_id in ("evaluate.shadow_eval", "evaluate.auto_gates")
    )
    configure()
    try:
        return checked(
            metrics,
            gates,
            version=int(params["candidate_version"]),
            source_run_id=source,
            champion=champion_version(risk_type),
        )
    except PromotionError as err:  # the evaluation is what it is: a retry cannot change it
        raise AirflowFailException(f"{source_dag_id}: {err}") from err


def build_promotion_dag(risk_type: str) -> DAG:
    """The DAG ``integrity_<risk_type>_promotion``; raises RiskConfigError naming the YAML on a bad config."""
    cfg = risk_config(risk_type)
    approval = cfg.approval
    with DAG(
        dag_id=cfg.promotion_dag_id,
        description=f"Reviewers approve or reject a {risk_type} candidate; the approved one becomes champion",
        doc_md=DOC.format(
            risk=risk_type,
            source=cfg.dag_id,
            steps="".join(f", `approval_{n}`" for n in range(2, approval.required_approvals + 1)),
            reviewers=", ".join(approval.reviewers),
            required=approval.required_approvals,
            timeout=approval.response_timeout_hours,
            owner=cfg.owner,
        ),
        schedule=None,  # started by the risk DAG, one run per evaluated candidate
        # No start_date: a run's logical date is when it was asked for, and Airflow creates no
        # task for a run dated before its tasks' start date. The risk's start_date may lie ahead
        # while its history is backfilled; its requests would then end green having asked nobody.
        catchup=False,
        max_active_runs=WAITING_CANDIDATES,
        # Unpaused from the start: a risk DAG that runs must reach its reviewers; requests
        # to a DAG paused on purpose fail the risk DAG's request_approval, naming it.
        is_paused_upon_creation=False,
        default_args=risk_default_args(cfg),
        tags=["integrity", risk_type, cfg.owner, "promotion"],
        params={
            "source_run_id": Param(
                type="string", minLength=1, description=f"the run of {cfg.dag_id} that evaluated the candidate"
            ),
            "candidate_version": Param(
                type="integer", minimum=1, description=f"the version of integrity_{risk_type} it evaluated"
            ),
        },
    ) as dag:
        # Typed Any: each key is an XComArg the receiving operator resolves into the type it declares.
        candidate: Any = evaluated_candidate(risk_type, cfg.dag_id)
        # The two-person rule: one request per approval needed, each assigned to the reviewers
        # who have not approved yet; any reject (or timeout) skips the rest and promote.
        approvals: list[PromotionApprovalOperator] = []
        for step in range(1, approval.required_approvals + 1):
            approvals.append(
                PromotionApprovalOperator(
                    task_id="approval" if step == 1 else f"approval_{step}",
                    risk_type=risk_type,
                    metrics=candidate["metrics"],
                    gates=candidate["gates"],
                    report_base_url=os.environ.get("INTEGRITY_REPORT_BASE_URL"),
                    reviewers=approval.reviewers,
                    required=approval.required_approvals,
                    step=step,
                    earlier_approvals=[a.output for a in approvals],
                    response_timeout=dt.timedelta(hours=approval.response_timeout_hours),
                )
            )
        chain(*approvals)
        # Each approval's result is its XCom like any task's (HITLOperator returns the answer, the
        # reason and who gave it), so the reviewers reach promote typed too.
        approvals[-1] >> PromoteOperator(
            task_id="promote",
            risk_type=risk_type,
            approvals=[a.output for a in approvals],
            required_approvals=approval.required_approvals,
            metrics=candidate["metrics"],
            gates=candidate["gates"],
        )
    return dag
