"""How the demo waits for a history of runs, against a scripted stand-in for Airflow's REST API."""

from __future__ import annotations

import datetime as dt

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

    def request(self, method, path, **kwargs):
        day = path.split("/dagRuns/run_")[1].split("/")[0]
        decision = self.runs[day][2]
        if decision is None:
            raise AirflowApiError(404, "no XCom")
        return {"value": decision}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)


def test_a_last_day_that_trains_counts_as_done_once_its_features_passed():
    api = ScriptedRuns(
        {
            "2026-11-26": ("success", "success", False),
            "2026-11-27": ("success", "success", False),
            # the scheduler's run of a model-cycle day: waits for a reviewer, never "success" yet
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
