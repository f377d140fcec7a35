"""The API server's report page reads the reports under the storage root, and nothing outside them."""

from __future__ import annotations

import importlib.util

import pytest
from fastapi.testclient import TestClient

from integrity_risk.paths import project_root


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", (tmp_path / "root").as_uri())
    spec = importlib.util.spec_from_file_location(
        "reports_plugin", project_root() / "plugins" / "integrity_reports_plugin.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = tmp_path / "root" / "reports" / "fraud" / "manual__2026-03-20"
    report.mkdir(parents=True)
    (report / "report.html").write_text("<html>the report</html>")
    (tmp_path / "root" / "secret.txt").write_text("not a report")
    return TestClient(module.reports_app)


def test_a_report_written_under_the_root_is_served(client):
    page = client.get("/fraud/manual__2026-03-20/report.html")
    assert page.status_code == 200 and page.text == "<html>the report</html>"
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/fraud/../../secret.txt", "/fraud/%2e%2e/%2e%2e/secret.txt", "/nope.html", "/"]
)
def test_nothing_else_is(client, path):
    assert client.get(path).status_code == 404
