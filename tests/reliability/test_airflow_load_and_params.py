"""Under a real scheduler and API server: hostile parameters are refused, and a load of
all five risk DAGs backfilled at once stays within its pools.

Parameters first: a ``ds`` or a risk type that would be code if pasted into HiveQL or
a path is refused by the REST API with a message naming it, and nothing runs.

Load: all five risk DAGs backfilled at once, under a real scheduler, within their pools.

Every risk trains on the last day of the backfilled range, so five trainings contend for the
one-slot ``gpu`` pool at the same moment. The pools' occupancy and the scheduler's
heartbeat are sampled while the backfills run; the task records give the peak
overlap afterwards (``integrity_risk.load_check``). The note of issue 8 gives the
figures of a 30-day run of the same check: ``INTEGRITY_LOAD_DAYS=30``.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from airflow_deployment import api, local_deployment

from integrity_risk.paths import local_dir
from integrity_risk.risk_config import RISK_TYPES

pytestmark = pytest.mark.slow

DAYS = int(os.environ.get("INTEGRITY_LOAD_DAYS", "10"))  # the world; the backfill leaves the last day
BACKFILLED = DAYS - 1  # to the scheduler
ACCOUNTS = 2500
DAG_IDS = [f"integrity_{risk}" for risk in RISK_TYPES]


@pytest.fixture(scope="module")
def days(hiveserver2, hive_hook):
    """A world of ``DAYS`` days ending yesterday, for every risk type."""
    from integrity_risk.demo import demo_world
    from integrity_risk.synthetic import load_world, write_world

    first = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=DAYS)
    write_world(demo_world(first.isoformat(), DAYS, ACCOUNTS, seed=23), local_dir() / "load-world")
    load_world(hive_hook, local_dir() / "load-world")
    return first, first + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def airflow(days, hiveserver2, tmp_path_factory):
    first, last = days

    def train_on_the_last_day(risk: str, text: str) -> str:
        # Labels mature sooner in a short world; an unanswered approval rejects after 36 s.
        return (text.replace("start_date: 2026-03-01", f"start_date: {first}\nmodel_cycle_days: {BACKFILLED}")
                .replace("maturity_days: 3", "maturity_days: 2")
                .replace("validation_days: 2", "validation_days: 1")
                .replace("epochs: 15", "epochs: 3")
                .replace("response_timeout_hours: 48", "response_timeout_hours: 0.01")
                .replace("retries: 2", "retries: 2\nretry_delay_seconds: 10"))

    port = int(os.environ.get("INTEGRITY_TEST_LOAD_AIRFLOW_PORT", "18280"))
    with local_deployment("load", port, hiveserver2, tmp_path_factory.mktemp("risks"),
                          train_on_the_last_day) as deployment:
        for dag_id in DAG_IDS:
            api(deployment, "admin").wait_for_dag(dag_id)
        yield deployment


@pytest.fixture(scope="module")
def report(airflow, days):
    from integrity_risk.load_check import run_load

    first, last = days
    result = run_load(api(airflow, "admin"), DAG_IDS, first, last - dt.timedelta(days=1), timeout=3600,
                      followers=tuple(f"{dag_id}_online_features" for dag_id in DAG_IDS))
    figures = "\n".join(result.lines())
    (local_dir() / "load_report.txt").write_text(figures + "\n")
    print(figures)
    return result


INJECTED_DS = "2026-01-01'; DROP TABLE raw.user_events; --"


def _runs_and_backfills(admin, dag_id):
    runs = admin.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 500})["total_entries"]
    return runs, admin.request("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})["total_entries"]


@pytest.mark.parametrize("body, field", [
    ({"from_date": INJECTED_DS, "to_date": "2026-01-02T00:00:00Z"}, "from_date"),
    ({"from_date": "2026-01-02T00:00:00Z", "to_date": "2026-01-01T00:00:00Z"}, "from_date"),
    ({"from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-02T00:00:00Z",
      "dag_run_conf": {"run_training": "yes; rm -rf /"}}, "run_training"),
])
def test_a_backfill_with_a_hostile_or_wrong_range_is_refused_and_nothing_runs(airflow, hive_hook, body, field):
    from integrity_risk.airflow_api import AirflowApiError

    modeler, admin = api(airflow, "modeler"), api(airflow, "admin")
    dag_id = DAG_IDS[0]
    before = _runs_and_backfills(admin, dag_id)
    with pytest.raises(AirflowApiError) as refused:
        modeler.request("POST", "/backfills", json={"dag_id": dag_id, **body}, retries=0)
    assert 400 <= refused.value.status < 500 and field in str(refused.value), refused.value
    assert _runs_and_backfills(admin, dag_id) == before
    assert hive_hook.get_records("SHOW TABLES IN raw LIKE 'user_events'")


def test_a_trigger_with_a_hostile_logical_date_is_refused_and_nothing_runs(airflow):
    from integrity_risk.airflow_api import AirflowApiError

    modeler, admin = api(airflow, "modeler"), api(airflow, "admin")
    before = _runs_and_backfills(admin, DAG_IDS[0])
    with pytest.raises(AirflowApiError) as refused:
        modeler.trigger(DAG_IDS[0], logical_date=INJECTED_DS)
    assert refused.value.status == 422 and "logical_date" in str(refused.value)
    assert _runs_and_backfills(admin, DAG_IDS[0]) == before


@pytest.mark.parametrize("risk_type", ["../../etc", "fraud; DROP TABLE raw.user_events", "FRAUD"])
def test_a_rollback_of_a_risk_type_that_is_a_path_or_code_is_refused_and_nothing_runs(airflow, risk_type):
    from integrity_risk.airflow_api import AirflowApiError

    reviewer, admin = api(airflow, "reviewer"), api(airflow, "admin")
    before = _runs_and_backfills(admin, "model_rollback")
    with pytest.raises(AirflowApiError) as refused:
        reviewer.trigger("model_rollback", conf={"risk_type": risk_type, "version": 1, "reason": "test"})
    assert refused.value.status == 400 and "risk_type" in str(refused.value) and risk_type in str(refused.value)
    assert _runs_and_backfills(admin, "model_rollback") == before


def test_every_run_of_every_risk_ends_and_the_feature_days_succeed(report):
    assert sum(report.runs.values()) == len(DAG_IDS) * BACKFILLED, report.runs
    assert set(report.runs) <= {"success", "failed"}, report.runs
    # Runs before the model day only refresh features: nothing in them may fail.
    for task in ("extract.quality_gate_account_daily", "extract.hive_extract_labels", "features.feast_apply"):
        assert report.task_states[(task, "success")] == len(DAG_IDS) * BACKFILLED, (task, report.task_states)
    # The gated extracts triggered the online refreshes, which all succeeded.
    assert report.follower_runs and set(report.follower_runs) == {"success"}, report.follower_runs


def test_the_five_trainings_ran_one_at_a_time_on_the_gpu_pool(report):
    assert report.task_states[("train", "success")] == len(DAG_IDS), report.task_states
    assert report.pool_slots["gpu"] == 1
    assert report.peak_overlap["gpu"] == 1 and report.peak_running.get("gpu", 0) <= 1


def test_hiveserver2_and_feast_work_never_exceeded_their_pools(report):
    for pool in ("hiveserver2", "feast"):
        assert 1 <= report.peak_overlap[pool] <= report.pool_slots[pool], (pool, report.peak_overlap)
        assert report.peak_running[pool] <= report.pool_slots[pool], (pool, report.peak_running)


def test_the_scheduler_stayed_healthy_and_the_api_answered(report):
    assert report.samples > 10 and report.unhealthy_samples == 0
    assert report.max_heartbeat_age_s < 30  # Airflow's own threshold for an unhealthy scheduler
    assert report.max_api_latency_s < 30
