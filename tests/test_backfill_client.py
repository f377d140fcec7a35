"""How the demo and the tests create a backfill through Airflow's REST API.

A scripted stand-in for the API replays what the e2e saw on SQLite: the POST answers
503 while Airflow removes the half-made backfill, which stays open a moment longer.
"""

from __future__ import annotations

import datetime as dt

import pytest

from integrity_local import demo
from integrity_local.airflow_api import AirflowApiError


class ScriptedApi:
    """Answers POST /backfills from a script; every answer is recorded with the backfills open then."""

    def __init__(self, answers: list[int], open_after_503: int = 2, made_despite_500: bool = False):
        self.answers = answers
        self.made_despite_500 = made_despite_500
        self.made: list[dict] = []
        self.open_after_503 = open_after_503
        self.open_polls = 0
        self.posts: list[tuple[int, int]] = []  # (status answered, backfills open at the time)

    def runs_by_day(self, dag_id):
        return {}

    def backfills(self, dag_id):
        if self.open_polls:
            self.open_polls -= 1
            return [{"id": 2, "completed_at": None}]
        return [{"id": 1, "completed_at": "2026-11-27T03:32:35Z"}, *self.made]

    def request(self, method, path, *, retries=10, **kwargs):
        assert (method, path, retries) == ("POST", "/backfills", 0)
        status = self.answers.pop(0)
        self.posts.append((status, self.open_polls))
        if status == 503:
            self.open_polls = self.open_after_503  # the half-made backfill, being removed
        if status == 500 and self.made_despite_500:
            self.made.append({"id": 4, "completed_at": None})  # committed before the failing log insert
        if status >= 300:
            raise AirflowApiError(status, "POST /backfills: scripted")
        return {"id": 3}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)


def test_a_backfill_answered_503_is_posted_again_only_once_no_backfill_is_open():
    api = ScriptedApi([503, 200])
    demo.backfill(
        api, "integrity_fraud", dt.date(2026, 11, 24), dt.date(2026, 11, 26), run_training="no", reprocess="completed"
    )
    assert api.posts == [(503, 0), (200, 0)]
    assert api.open_polls == 0  # the open one was waited out, not posted over


def test_a_backfill_refused_for_another_reason_fails_at_once_naming_it():
    api = ScriptedApi([400])
    with pytest.raises(AirflowApiError, match="HTTP 400"):
        demo.backfill(
            api,
            "integrity_fraud",
            dt.date(2026, 11, 24),
            dt.date(2026, 11, 26),
            run_training="no",
            reprocess="completed",
        )
    assert len(api.posts) == 1


def test_a_backfill_still_refused_after_five_tries_fails():
    api = ScriptedApi([409] * 5)
    with pytest.raises(AirflowApiError, match="HTTP 409"):
        demo.backfill(
            api,
            "integrity_fraud",
            dt.date(2026, 11, 24),
            dt.date(2026, 11, 26),
            run_training="no",
            reprocess="completed",
        )
    assert len(api.posts) == 5


def test_a_backfill_answered_500_after_it_was_made_is_not_posted_again():
    api = ScriptedApi([500], made_despite_500=True)
    demo.backfill(api, "integrity_fraud", dt.date(2026, 11, 24), dt.date(2026, 11, 26), run_training="no")
    assert api.posts == [(500, 0)]


def test_a_backfill_answered_500_that_was_not_made_is_posted_again():
    api = ScriptedApi([500, 200])
    demo.backfill(api, "integrity_fraud", dt.date(2026, 11, 24), dt.date(2026, 11, 26), run_training="no")
    assert api.posts == [(500, 0), (200, 0)]


def test_a_locked_database_answered_500_is_retried_for_a_patch_but_not_for_a_post(monkeypatch):
    import httpx

    from integrity_local import airflow_api

    answers = []

    def fake_request(method, url, **kwargs):
        answers.append(method)
        if len(answers) == 1 or method == "POST":
            return httpx.Response(500, json={"reason": "Database error", "message": "Serious error"})
        return httpx.Response(200, json={"is_paused": False})

    monkeypatch.setattr(airflow_api.httpx, "request", fake_request)
    monkeypatch.setattr(airflow_api.time, "sleep", lambda s: None)
    api = airflow_api.AirflowApi("http://127.0.0.1:1", "modeler", "secret", _token="token")  # no login call
    assert api.request("PATCH", "/dags/d", json={"is_paused": False}) == {"is_paused": False}
    assert answers == ["PATCH", "PATCH"]
    with pytest.raises(AirflowApiError, match="HTTP 500"):
        api.request("POST", "/backfills", json={})
    assert answers[2:] == ["POST"]
