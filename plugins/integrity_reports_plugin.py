"""Airflow plugin: serves the shadow-evaluation reports from the API server.

The approval request links to ``<airflow>/integrity/reports/<risk>/<run>/report.html``,
so a reviewer opens the report from the Airflow UI. Reports hold pseudonymized
scores and aggregates only. The app is read-only and serves nothing outside
``<local state>/reports``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from integrity_risk.paths import local_dir

reports_app = FastAPI(title="Integrity risk reports")
reports_app.mount("/", StaticFiles(directory=local_dir() / "reports", html=True, check_dir=False), name="reports")


class IntegrityReportsPlugin(AirflowPlugin):
    """Serves the shadow-evaluation reports under ``/integrity/reports`` of the API server."""

    name = "integrity_reports"
    fastapi_apps = [{"app": reports_app, "url_prefix": "/integrity/reports", "name": "Integrity risk reports"}]
