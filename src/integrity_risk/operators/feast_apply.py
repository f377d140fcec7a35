"""FeastApplyOperator: register ``feature_repo/`` with Feast, only when it changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class FeastApplyOperator(BaseOperator):
    """Run ``feast apply`` for the project's feature repo as its own step.

    The repo's files and the settings they read (profile, warehouse) are hashed and
    the hash kept beside the registry; when it matches and the registry holds the
    views, nothing is applied, so a DAG can put this step before every
    materialization at no cost. Objects removed from the repo are removed from the
    registry, as with the ``feast apply`` CLI.

    :param profile: Feast profile, ``local``, ``local_redis`` or ``production``
        (default: env ``INTEGRITY_FEAST_PROFILE``, else ``local``). (templated)
    :param force: apply even when the repo did not change.
    """

    template_fields = ("profile",)
    ui_color = "#d5e8f7"

    def __init__(self, *, profile: str | None = None, force: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile = profile
        self.force = force

    def execute(self, context: Context) -> dict:
        from integrity_risk.features.feast_store import apply_repo

        result = apply_repo(self.profile, force=self.force)
        verb = "applied" if result["applied"] else "unchanged, not applied"
        self.log.info(
            "Feast repo %s (sha256 %s): %s", verb, result["fingerprint"][:12], ", ".join(result["feature_views"])
        )
        return result
