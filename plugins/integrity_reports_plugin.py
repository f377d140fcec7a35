"""Airflow plugin: serves the shadow-evaluation reports and production's history from the API server.

The approval request links to ``<airflow>/integrity/reports/<risk>/<run>/report.html``,
so a reviewer opens the report from the Airflow UI. The worker that evaluated wrote it
under the storage root (``<root>/reports``), which the API server reads too, whatever the
store: a folder, a bucket, HDFS. Reports hold pseudonymized scores and aggregates only. The
app is read-only and serves nothing outside ``<root>/reports``.

``/integrity/history/<risk>`` shows who moved each risk's production model, when, why and
with which figures (``integrity_risk.history``), to signed-in users only: it names people.
The Airflow UI links it from Browse → "Model history".
"""

from __future__ import annotations

import mimetypes
import re
from typing import Annotated

from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.responses import HTMLResponse

# What report_dir writes: <risk>/<run id made safe>/<file>, no other characters.
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")

reports_app = FastAPI(title="Integrity risk reports")


@reports_app.get("/{path:path}")
def report_file(path: str) -> Response:
    """One file of a report, as stored; 404 for anything else."""
    from integrity_risk.evaluation.report import reports_root

    parts = path.split("/")
    if not path or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise HTTPException(status_code=404, detail="no such report file")
    target = reports_root().joinpath(*parts)
    if not target.is_file():
        raise HTTPException(status_code=404, detail="no such report file")
    kind = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
    return Response(content=target.read_bytes(), media_type=kind)


history_app = FastAPI(title="Integrity risk models: production's history")


@history_app.get("/", response_class=HTMLResponse)
@history_app.get("/{risk_type}", response_class=HTMLResponse)
def history_page(user: Annotated[object, Depends(get_user)], risk_type: str | None = None) -> HTMLResponse:
    """The moves of one risk's champion, newest first; 404 for a risk type that does not exist."""
    from integrity_risk.config.risk import all_risk_types
    from integrity_risk.history import history_html, model_history

    risks = all_risk_types()
    risk_type = risk_type or risks[0]
    if risk_type not in risks:
        raise HTTPException(status_code=404, detail=f"no risk type {risk_type!r}; known: {', '.join(risks)}")
    return HTMLResponse(history_html(risk_type, model_history(risk_type), risks=risks))


class IntegrityReportsPlugin(AirflowPlugin):
    """Serves the reports under ``/integrity/reports`` and the history under ``/integrity/history``."""

    name = "integrity_reports"
    fastapi_apps = [
        {"app": reports_app, "url_prefix": "/integrity/reports", "name": "Integrity risk reports"},
        {"app": history_app, "url_prefix": "/integrity/history", "name": "Integrity model history"},
    ]
    external_views = [
        {"name": "Model history", "href": "/integrity/history/", "destination": "nav", "category": "browse"}
    ]
