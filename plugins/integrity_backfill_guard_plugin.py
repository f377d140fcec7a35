"""Airflow plugin: the API server refuses a backfill of a risk DAG from before its first day."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from integrity_risk.backfill_guard import BackfillRangeGuard


class IntegrityBackfillGuardPlugin(AirflowPlugin):
    """``POST /api/v2/backfills`` (and its dry run) from before ``history_start``/``start_date`` gets a 400."""

    name = "integrity_backfill_guard"
    fastapi_root_middlewares = [
        {
            "middleware": BackfillRangeGuard,
            "args": [],
            "kwargs": {},
            "name": "Refuse backfills before a risk's first day",
        }
    ]
