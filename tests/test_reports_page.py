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


def test_the_history_page_needs_a_signed_in_user_and_shows_each_move(client, tmp_path):
    import importlib.util as util

    from integrity_risk.promotion import append_audit

    spec = util.spec_from_file_location("reports_plugin_h", project_root() / "plugins" / "integrity_reports_plugin.py")
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.history_app
    assert TestClient(app).get("/fraud").status_code == 401  # no token, no cookie
    audit = tmp_path / "root" / "audit"
    move = {"event_id": "e1", "action": "promote", "risk_type": "fraud", "version": 3, "previous_champion": 2}
    append_audit({**move, "status": "started", "recorded_at": "2026-03-20T10:00:00"}, audit)
    append_audit({**move, "status": "completed", "actor": "ann, bob", "reason": "a <b>reason</b>"}, audit)
    app.dependency_overrides[module.get_user] = object  # a signed-in user; the auth manager is Airflow's
    page = TestClient(app).get("/fraud")
    assert page.status_code == 200 and "v2 → v3" in page.text and "ann, bob" in page.text
    assert "a &lt;b&gt;reason&lt;/b&gt;" in page.text  # escaped
    assert TestClient(app).get("/phishing").status_code == 404
