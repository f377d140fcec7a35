"""The API server's guard against a backfill from before a risk DAG's first day (a typo's 46,000 runs)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from integrity_risk.backfill_guard import BackfillRangeGuard, backfill_refusal


@pytest.fixture
def client():
    app = FastAPI()
    seen = []

    @app.post("/api/v2/backfills")
    @app.post("/api/v2/backfills/dry_run")
    async def create(request: Request):
        seen.append(await request.json())
        return {"created": True}

    app.add_middleware(BackfillRangeGuard)
    test_client = TestClient(app)
    test_client.seen = seen
    return test_client


def test_a_backfill_from_before_the_first_day_is_refused_naming_it():
    message = backfill_refusal(
        {"dag_id": "integrity_fraud", "from_date": "1900-01-01T00:00:00Z", "to_date": "2026-11-28T00:00:00Z"}
    )
    assert message is not None
    assert "from_date 1900-01-01T00:00:00Z is before 2026-03-01" in message and "include/risks/fraud.yaml" in message
    assert backfill_refusal({"dag_id": "integrity_fraud", "from_date": "2026-03-01T00:00:00Z"}) is None
    # Not a risk DAG, or not a date: Airflow's own validation answers.
    assert backfill_refusal({"dag_id": "integrity_fraud_online_features", "from_date": "1900-01-01"}) is None
    assert backfill_refusal({"dag_id": "model_rollback", "from_date": "1900-01-01"}) is None
    assert backfill_refusal({"dag_id": "integrity_fraud", "from_date": "yesterday"}) is None


def test_history_start_moves_the_first_day_back(tmp_path, monkeypatch):
    from integrity_risk.paths import include_dir

    for source in (include_dir() / "risks").glob("*.yaml"):  # fraud's model co-trains another risk's head
        text = source.read_text()
        if source.name == "fraud.yaml":
            text = text.replace("start_date: 2026-03-01", "start_date: 2026-03-01\nhistory_start: 2026-01-01")
        (tmp_path / source.name).write_text(text)
    monkeypatch.setenv("INTEGRITY_RISKS_DIR", str(tmp_path))
    assert backfill_refusal({"dag_id": "integrity_fraud", "from_date": "2026-01-01T00:00:00Z"}) is None
    assert "before 2026-01-01" in backfill_refusal({"dag_id": "integrity_fraud", "from_date": "2025-12-31T00:00:00Z"})


def test_the_middleware_answers_400_before_the_route_and_hands_other_requests_on_unchanged(client):
    body = {"dag_id": "integrity_fraud", "from_date": "1900-01-01T00:00:00Z", "to_date": "2026-11-28T00:00:00Z"}
    for path in ("/api/v2/backfills", "/api/v2/backfills/dry_run"):
        refused = client.post(path, json=body)
        assert refused.status_code == 400 and "is before 2026-03-01" in refused.json()["detail"]
    assert client.seen == []  # Airflow's route never saw it: nothing was created

    fine = {**body, "from_date": "2026-11-01T00:00:00Z"}
    assert client.post("/api/v2/backfills", json=fine).json() == {"created": True}
    assert client.seen == [fine]  # the body reached the route whole
