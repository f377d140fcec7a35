"""accept_partition: the platform team accepts a partition a health gate blocked, with a reason, audited.

Triggered by hand from the Airflow UI (or the REST API); its params are checked by their
Param schema before the run is created.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from integrity_risk.acceptance import ACCEPTABLE_CHECKS

DOC = """
### Accept a partition a health gate blocked

A health gate (`extract.upstream_health` on `raw.*`, `extract.quality_gate_<table>` on a
feature table) stops a day whose data look broken. When the platform team knows the day
is right (a launch, a holiday, a migration), one of them accepts that partition here:
`table` (`raw.user_events`, `raw.account_profiles`, `features.account_daily`, a risk's
`features.<risk>_daily`), `ds`, optionally the one `check` to accept (else every failed
check of that partition), and a `reason`.

The run appends an entry to the audit log of promotions (`<storage root>/audit`,
action `accept_partition`): who triggered it, when, the table, the day, the check and the
reason. From then on the gate passes that partition's accepted checks, logging the
acceptance and the figures it overrides; clear the failed gate (and what follows) to
carry on. Only that partition: the next day is judged afresh. A schema that differs from
the contract is never accepted.

Only the platform team (`platform` in `include/platform.yaml`) may accept: Airflow lets
every user who may trigger runs trigger this DAG too, so its first task, `authorize`,
fails the run, before anything is written, when someone else triggered it.

**Owner:** integrity ML platform. **Params:** `table`, `ds`, `reason` (required), `check` (optional).
"""

with DAG(
    dag_id="accept_partition",
    schedule=None,
    catchup=False,
    doc_md=DOC,
    tags=["integrity", "health"],
    max_active_runs=1,
    params={
        "table": Param(
            type="string",
            pattern=r"^(raw|features)\.[a-z][a-z0-9_]*$",
            description="the table whose partition a health gate blocked, e.g. raw.user_events",
        ),
        "ds": Param(type="string", pattern=r"^\d{4}-\d{2}-\d{2}$", description="the partition's day, YYYY-MM-DD"),
        "check": Param(
            None,
            type=["null", "string"],
            enum=[None, *ACCEPTABLE_CHECKS],
            description="the one failed check to accept; empty: every failed check of the partition",
        ),
        "reason": Param(type="string", minLength=1, pattern=r"\S", description="why: goes into the audit record"),
    },
) as dag:

    @task(retries=0)
    def authorize(dag_run=None) -> str:
        """Refuse anyone but the platform team; return who triggered the run."""
        from integrity_risk.acceptance import require_platform

        return require_platform(getattr(dag_run, "triggering_user_name", None))

    @task(retries=0)
    def accept(accepted_by: str, params: dict | None = None, run_id: str | None = None) -> dict:
        """Append the acceptance to the audit log and return it."""
        from integrity_risk.acceptance import accept_partition

        params = params or {}
        return accept_partition(
            params["table"],
            params["ds"],
            reason=params["reason"],
            actor=accepted_by,
            check=params.get("check") or None,
            dag_run_id=run_id,
        )

    accept(authorize())
