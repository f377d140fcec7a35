"""How the demo waits for a history of runs, against a scripted stand-in for Airflow's REST API."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from integrity_local import demo
from integrity_local.airflow_api import AirflowApiError

FIRST, LAST = dt.date(2026, 11, 26), dt.date(2026, 11, 28)


class ScriptedRuns:
    """Runs by day with the state of their model_cycle task and its decision (its XCom)."""

    base_url = "http://127.0.0.1:8080"

    def __init__(self, runs: dict[str, tuple[str, str | None, bool | None]]):
        self.runs = runs  # day -> (run state, model_cycle state, model_cycle XCom)

    def runs_by_day(self, dag_id):
        return {day: {"dag_run_id": f"run_{day}", "state": state} for day, (state, _, _) in self.runs.items()}

    def task_states(self, dag_id, run_id):
        return {demo.MODEL_CYCLE_TASK: self.runs[run_id.removeprefix("run_")][1]}

    def xcom(self, dag_id, run_id, task_id, key="return_value"):
        assert (task_id, key) == (demo.MODEL_CYCLE_TASK, "return_value")
        decision = self.runs[run_id.removeprefix("run_")][2]
        if decision is None:
            raise AirflowApiError(404, "no XCom")
        return decision


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)


def test_a_last_day_that_trains_counts_as_done_once_its_features_passed():
    api = ScriptedRuns(
        {
            "2026-11-26": ("success", "success", False),
            "2026-11-27": ("success", "success", False),
            # the scheduler's run of a model-cycle day: still training, not "success" yet
            "2026-11-28": ("running", "success", True),
        }
    )
    demo.wait_for_days(api, "integrity_fraud", FIRST, LAST)
    assert demo.is_training_run(api, "integrity_fraud", api.runs_by_day("d")["2026-11-28"])
    assert not demo.is_training_run(api, "integrity_fraud", api.runs_by_day("d")["2026-11-27"])


def test_a_training_day_stopped_by_its_gates_still_has_its_features():
    api = ScriptedRuns(
        {
            "2026-11-26": ("success", "success", False),
            "2026-11-27": ("success", "success", False),
            "2026-11-28": ("failed", "success", True),
        }
    )
    demo.wait_for_days(api, "integrity_fraud", FIRST, LAST)


def test_a_day_whose_features_failed_fails_the_wait_naming_it():
    api = ScriptedRuns(
        {
            "2026-11-26": ("success", "success", False),
            "2026-11-27": ("failed", "upstream_failed", None),
            "2026-11-28": ("success", "success", False),
        }
    )
    with pytest.raises(RuntimeError, match=r"the runs of \['2026-11-27'\] failed"):
        demo.wait_for_days(api, "integrity_fraud", FIRST, LAST)


class ScriptedReview:
    """The day's model run, then the promotion run its request_approval started, each a script of task states."""

    base_url = "http://127.0.0.1:8080"
    PROMOTION = "v3__scheduled__2026-11-29T00:00:00+00:00"

    def __init__(
        self,
        day_states: list[dict],
        promotion_states: list[dict],
        promotion_run_state: str = "running",
        day_run_state: str = "running",
    ):
        self.day_states, self.promotion_states = day_states, promotion_states
        self.promotion_run_state, self.day_run_state = promotion_run_state, day_run_state

    def runs_by_day(self, dag_id):
        return {LAST.isoformat(): {"dag_run_id": "run_day", "state": self.day_run_state}}

    def task_states(self, dag_id, run_id):
        script = self.promotion_states if dag_id.endswith("_promotion") else self.day_states
        return script.pop(0) if len(script) > 1 else script[0]

    def xcom(self, dag_id, run_id, task_id, key="return_value"):
        assert (dag_id, run_id, task_id, key) == ("integrity_fraud", "run_day", demo.REQUEST_TASK, "trigger_run_id")
        return self.PROMOTION

    def run(self, dag_id, run_id):
        return {"state": self.promotion_run_state}


def test_the_demo_waits_for_the_promotion_run_that_asks_the_reviewers():
    api = ScriptedReview(
        [{"train": "running"}, {demo.REQUEST_TASK: "running"}, {demo.REQUEST_TASK: "success"}],
        [{"evaluated_candidate": "running"}, {demo.APPROVAL_TASK: "deferred"}],
    )
    assert demo.wait_for_approval_request(api, "fraud", LAST) == ScriptedReview.PROMOTION


def test_a_demo_run_again_finds_the_finished_run_that_asked_and_its_waiting_reviewers(monkeypatch):
    api = ScriptedReview([{demo.REQUEST_TASK: "success"}], [{demo.APPROVAL_TASK: "deferred"}], day_run_state="success")
    assert demo.wait_for_approval_request(api, "fraud", LAST, requeued=False) == ScriptedReview.PROMOTION
    # Just queued again, the finished run is the last one's: the wait is for the new one.
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(demo.time, "monotonic", lambda: next(clock))
    with pytest.raises(RuntimeError, match="no run for 2026-11-28 appeared"):
        demo.wait_for_approval_request(api, "fraud", LAST)


def test_a_promotion_run_that_ended_without_asking_fails_the_wait_naming_it():
    # What a promotion DAG with a start date after its runs' dates did: a run with no task, green.
    api = ScriptedReview([{demo.REQUEST_TASK: "success"}], [{}], promotion_run_state="success")
    with pytest.raises(
        RuntimeError, match=re.escape(f"{ScriptedReview.PROMOTION}: the reviewers were not asked (run success")
    ):
        demo.wait_for_approval_request(api, "fraud", LAST)


def test_a_day_stopped_by_its_gates_fails_the_wait_before_any_promotion_run():
    api = ScriptedReview([{"evaluate.auto_gates": "failed", demo.REQUEST_TASK: "upstream_failed"}], [{}])
    with pytest.raises(RuntimeError, match=r"\['evaluate.auto_gates', 'request_approval'\] failed"):
        demo.wait_for_approval_request(api, "fraud", LAST)
