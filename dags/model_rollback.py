"""model_rollback: move a risk type's ``champion`` alias back to a former champion.

Triggered by hand from the Airflow UI (or the REST API) with three parameters, each
checked by its Param schema before the run is created.
"""

from __future__ import annotations

from airflow.sdk import task

from integrity_risk.champion_dags import authorize, champion_move_dag

DOC = """
### Roll a risk model back

Moves the `champion` alias of `integrity_<risk_type>` in the MLflow registry to `version`
and writes an audit entry (who triggered the run, when, why, which version was
champion before) to `<storage root>/audit` and as a tag on the version.

Only a **former champion** can be rolled back to: a version the audit shows as champion
once (a `completed` promotion or rollback to it, or named as the `previous_champion` of
one), that is not a control model (tagged `label_control` = `invert`/`permute` by
training, even if it was let through once) and is not the champion already. Anything else
fails the run before anything moves, and before any audit entry is written, with the
list of the versions that may be rolled back to. A version that does not exist is
refused with the list of those that do. The champion then stays where it was.

Only the risk's reviewers (`approval.reviewers` in `include/risks/<risk_type>.yaml`) may roll
back: Airflow lets every user who may trigger runs trigger this DAG too, so its first task,
`authorize`, fails the run, before anything moves, when someone else triggered it.

**Owner:** integrity ML platform. **Params:** `risk_type`, `version`, `reason` (all required).
"""

with champion_move_dag(
    "model_rollback", doc_md=DOC, version_description="the former champion to make champion again"
) as dag:

    @task(retries=0)
    def rollback(requested_by: str, params: dict | None = None, run_id: str | None = None) -> dict:
        """Move the champion back and return the audit entry; refuse a version that was never champion."""
        from integrity_risk.promotion import rollback as rollback_champion
        from integrity_risk.tracking import configure

        configure()
        return rollback_champion(
            params["risk_type"],
            int(params["version"]),
            reason=params["reason"],
            requested_by=requested_by,
            dag_run_id=run_id,
        )

    rollback(authorize())
