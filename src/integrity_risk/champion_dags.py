"""What the hand-triggered DAGs that move a risk's champion share: their DAG, params and first task.

``model_rollback`` and ``model_override`` are triggered from the Airflow UI (or the REST
API) with a risk type, a version and a reason, each checked by its Param schema before
the run is created; their first task, ``authorize``, fails the run, before anything is
read or moved, unless a reviewer of the risk triggered it (Airflow lets every user who may
trigger runs trigger these DAGs too).
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from integrity_risk.config.risk import all_risk_types


def champion_move_dag(dag_id: str, *, doc_md: str, version_description: str) -> DAG:
    """A DAG with the params ``risk_type``, ``version`` and ``reason``, one run at a time."""
    return DAG(
        dag_id=dag_id,
        schedule=None,
        catchup=False,
        doc_md=doc_md,
        tags=["integrity", "registry"],
        max_active_runs=1,  # two moves racing on one alias would make the audit trail ambiguous
        params={
            "risk_type": Param(type="string", enum=all_risk_types(), description="the risk type"),
            "version": Param(type="integer", minimum=1, description=version_description),
            "reason": Param(type="string", minLength=1, pattern=r"\S", description="why: goes into the audit record"),
        },
    )


@task(retries=0)
def authorize(params: dict | None = None, dag_run=None) -> str:
    """Refuse anyone but the risk's reviewers; return who triggered the run."""
    from integrity_risk.promotion import require_reviewer

    return require_reviewer((params or {}).get("risk_type", ""), getattr(dag_run, "triggering_user_name", None))
