"""Airflow plugin: serves the shadow-evaluation reports from the API server.

The approval request links to ``<airflow>/integrity/reports/<risk>/<run>/report.html``,
so a reviewer opens the report from the Airflow UI. The worker that evaluated wrote it
under the storage root (``<root>/reports``), which the API server reads too, whatever the
store: a folder, a bucket, HDFS. Reports hold pseudonymized scores and aggregates only. The
app is read-only and serves nothing outside ``<root>/reports``.
"""

from __future__ import annotations

import mimetypes
import re

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, HTTPException, Response

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


class IntegrityReportsPlugin(AirflowPlugin):
    """Serves the shadow-evaluation reports under ``/integrity/reports`` of the API server."""

    name = "integrity_reports"
    fastapi_apps = [{"app": reports_app, "url_prefix": "/integrity/reports", "name": "Integrity risk reports"}]
