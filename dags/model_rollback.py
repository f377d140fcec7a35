"""model_rollback: move a risk type's ``champion`` alias back to an earlier model version.

Triggered by hand from the Airflow UI (or the REST API) with three parameters, each
checked by its Param schema before the run is created.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from integrity_risk.risk_config import RISK_TYPES

DOC = """
### Roll a risk model back

Moves the `champion` alias of `integrity_<risk_type>` in the MLflow registry to `version`
and writes an audit entry (who triggered the run, when, why, which version was
champion before) to `<local>/audit/promotions.jsonl` and as a tag on the version.
A version that does not exist is refused with the list of those that do; the champion
then stays where it was.

Only the risk's reviewers (`approval.reviewers` in `include/risks/<risk_type>.yaml`) may roll
back: Airflow lets every user who may trigger runs trigger this DAG too, so its first task,
`authorize`, fails the run, before anything moves, when someone else triggered it.

**Owner:** integrity ML platform. **Params:** `risk_type`, `version`, `reason` (all required).
"""

with DAG(
    dag_id="model_rollback",
    schedule=None,
    catchup=False,
    doc_md=DOC,
    tags=["integrity", "registry"],
    max_active_runs=1,  # two rollbacks racing on one alias would make the audit trail ambiguous
    params={
        "risk_type": Param(type="string", enum=list(RISK_TYPES), description="the risk type to roll back"),
        "version": Param(type="integer", minimum=1, description="the model version to make champion again"),
        "reason": Param(type="string", minLength=1, pattern=r"\S",
                        description="why: goes into the audit record"),
    },
) as dag:

    @task(retries=0)
    def authorize(params: dict | None = None, dag_run=None) -> str:
        """Refuse anyone but the risk's reviewers; return who triggered the run."""
        from integrity_risk.promotion import require_reviewer

        return require_reviewer(params["risk_type"], getattr(dag_run, "triggering_user_name", None))

    @task(retries=0)
    def rollback(requested_by: str, params: dict | None = None, run_id: str | None = None) -> dict:
        """Move the champion and return the audit entry."""
        from integrity_risk.promotion import rollback as rollback_champion
        from integrity_risk.tracking import configure

        configure()
        return rollback_champion(params["risk_type"], int(params["version"]), reason=params["reason"],
                                 requested_by=requested_by, dag_run_id=run_id)

    rollback(authorize())
