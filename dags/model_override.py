"""model_override: make a candidate champion past its failed automatic gates, by two people.

Triggered by hand from the Airflow UI (or the REST API) with three parameters, each
checked by its Param schema before the run is created.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import task

from integrity_risk.champion_dags import authorize, champion_move_dag
from integrity_risk.config.risk import RiskConfigError, all_risk_types, risk_config
from integrity_risk.operators.approval import OverrideApprovalOperator

DOC = """
### Override failed automatic gates

When a candidate's automatic gates fail, nobody is asked to approve it. A reviewer who
has reasons the gates do not see (a label outage, a known attack the old model misses)
can still make it champion here, by the **two-person rule**, whatever the risk's YAML says:

1. `authorize`: only the risk's reviewers (`approval.reviewers`) may trigger an override;
   anyone else fails the run before anything is read or moved.
2. `override_case`: the version must have been judged by the gates and failed them (its
   `auto_gates` tag), be no control model and not be champion already.
3. `approval` (and `approval_<n>`): another reviewer, not the requester, approves or rejects in
   the Airflow UI, with a reason; at least two people agree, or `approval.required_approvals`
   if more.
4. `override`: the champion moves if it still is the version the candidate was evaluated
   against (else refused, naming both), with an audit entry (`action: override`) naming each
   overridden gate, its figure and its bound, and every reason.

**Owner:** integrity ML platform. **Params:** `risk_type`, `version`, `reason` (all required).
"""


def _steps() -> int:
    """The most approval steps any risk needs: the requester is one of the people, each step adds one."""
    needed = [2]
    for risk in all_risk_types():
        try:
            needed.append(risk_config(risk).approval.required_approvals)
        except RiskConfigError:
            continue  # its own DAG shows the error; the other risks keep their override
    return max(needed) - 1


STEPS = _steps()

with champion_move_dag(
    "model_override", doc_md=DOC, version_description="the candidate whose failed gates are overridden"
) as dag:

    @task(retries=0)
    def override_case(requested_by: str, params: dict | None = None) -> dict:
        """The failed gates to override, and who must agree; refuse a version there is nothing to override for."""
        from mlflow import MlflowClient

        from integrity_risk.promotion import PromotionError
        from integrity_risk.reviews import override_case as checked_case
        from integrity_risk.tracking import configure

        configure()
        approval = risk_config(params["risk_type"]).approval
        required = max(2, approval.required_approvals)
        if len(approval.reviewers) < required:
            raise PromotionError(
                f"an override of {params['risk_type']} needs {required} distinct reviewers, and its YAML lists "
                f"{len(approval.reviewers)}: {approval.reviewers}"
            )
        case = checked_case(MlflowClient(), params["risk_type"], int(params["version"]))
        return {**case, "risk_type": params["risk_type"], "reviewers": approval.reviewers, "required": required}

    @task(retries=0)
    def override(case: dict, requested_by: str, approvals: list, params: dict | None = None, run_id=None, dag_run=None):
        """Move the champion past the failed gates, with the audit entry; refuse if production moved."""
        from airflow.sdk.exceptions import AirflowFailException

        from integrity_risk.promotion import OVERRIDE, ChampionMovedError, PromotionError, move_champion
        from integrity_risk.reviews import approvals as checked_approvals, joined_reason
        from integrity_risk.tracking import configure

        try:
            decisions = checked_approvals(approvals, required=case["required"], requested_by=requested_by)
        except PromotionError as err:
            raise AirflowFailException(f"not overriding: {err}") from err
        configure()
        request = {"user": requested_by, "answer": "Request", "reason": params["reason"].strip(), "at": None}
        if dag_run is not None and getattr(dag_run, "start_date", None):
            request["at"] = dag_run.start_date.isoformat()
        try:
            return move_champion(
                case["risk_type"],
                case["version"],
                action=OVERRIDE,
                actor=", ".join([requested_by, *(d.user for d in decisions)]),
                dag_run_id=run_id,
                reason=joined_reason(decisions, first=f"{requested_by}: {request['reason']}"),
                decided_at=decisions[-1].at,
                approvals=[request, *(d.as_dict() for d in decisions)],
                overridden=case["failed"],
                figures=case.get("figures") or {},
                expected=case.get("champion_version"),
            )
        except ChampionMovedError as err:
            raise AirflowFailException(
                f"production moved since the evaluation: version {case['version']} was judged against "
                f"{'no champion' if err.expected is None else f'version {err.expected}'}, but the champion is now "
                f"{'unset' if err.actual is None else f'version {err.actual}'}; not overriding. Re-run its model "
                "cycle to evaluate it against the current champion."
            ) from err

    requester = authorize()
    case = override_case(requester)
    steps: list[OverrideApprovalOperator] = []
    for step in range(1, STEPS + 1):
        steps.append(
            OverrideApprovalOperator(
                task_id="approval" if step == 1 else f"approval_{step}",
                case=case,
                requested_by=requester,
                step=step,
                earlier_approvals=[s.output for s in steps],
                response_timeout=dt.timedelta(hours=48),  # then "Reject": nothing moves
            )
        )
    # Each step waits for the ones before it (their outputs are its input); a reject skips the rest.
    steps[-1] >> override(case, requester, [s.output for s in steps])
