"""Parameters are not code: under a real scheduler and API server, a ``ds``, a date range
or a risk type that would be code if pasted into HiveQL, a shell or a path is refused by
the REST API with a message naming the parameter, and nothing runs.

(The DAG params' own schema checks are in tests/test_dags.py and tests/evaluation; the
operators' checks of ``ds`` and ``sql_vars`` in tests/extract. The load of all five
risks at once is a benchmark: bench/bench_load.py.)
"""

from __future__ import annotations

import os

import pytest

from integrity_local.deployment import api, local_deployment
from integrity_risk.config.risk import all_risk_types

DAG_IDS = [f"integrity_{risk}" for risk in all_risk_types()]


@pytest.fixture(scope="module")
def airflow(hiveserver2, hive_hook, tmp_path_factory):
    from integrity_local.upstream import create_upstream_tables

    create_upstream_tables(hive_hook)  # what an injected DROP TABLE would destroy
    port = int(os.environ.get("INTEGRITY_TEST_PARAMS_AIRFLOW_PORT", "18280"))
    with local_deployment(
        "params", port, hiveserver2, tmp_path_factory.mktemp("risks"), lambda risk, text: text
    ) as deployment:
        for dag_id in DAG_IDS:
            api(deployment, "admin").wait_for_dag(dag_id)
        yield deployment


INJECTED_DS = "2026-01-01'; DROP TABLE raw.user_events; --"


def _runs_and_backfills(admin, dag_id):
    runs = admin.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 500})["total_entries"]
    return runs, admin.request("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})["total_entries"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from_date": INJECTED_DS, "to_date": "2026-01-02T00:00:00Z"}, "from_date"),
        ({"from_date": "2026-01-02T00:00:00Z", "to_date": "2026-01-01T00:00:00Z"}, "from_date"),
        (
            {
                "from_date": "2026-03-01T00:00:00Z",
                "to_date": "2026-03-02T00:00:00Z",
                "dag_run_conf": {"run_training": "yes; rm -rf /"},
            },
            "run_training",
        ),
        # A typo's 46,000 daily runs since 1900: refused before Airflow creates one (the guard plugin).
        ({"from_date": "1900-01-01T00:00:00Z", "to_date": "2026-03-02T00:00:00Z"}, "history_start"),
    ],
)
def test_a_backfill_with_a_hostile_or_wrong_range_is_refused_and_nothing_runs(airflow, hive_hook, body, field):
    from integrity_local.airflow_api import AirflowApiError

    modeler, admin = api(airflow, "modeler"), api(airflow, "admin")
    dag_id = DAG_IDS[0]
    before = _runs_and_backfills(admin, dag_id)
    with pytest.raises(AirflowApiError) as refused:
        modeler.request("POST", "/backfills", json={"dag_id": dag_id, **body}, retries=0)
    assert 400 <= refused.value.status < 500 and field in str(refused.value), refused.value
    assert _runs_and_backfills(admin, dag_id) == before
    assert hive_hook.get_records("SHOW TABLES IN raw LIKE 'user_events'")


def test_a_trigger_with_a_hostile_logical_date_is_refused_and_nothing_runs(airflow):
    from integrity_local.airflow_api import AirflowApiError

    modeler, admin = api(airflow, "modeler"), api(airflow, "admin")
    before = _runs_and_backfills(admin, DAG_IDS[0])
    with pytest.raises(AirflowApiError) as refused:
        modeler.trigger(DAG_IDS[0], logical_date=INJECTED_DS)
    assert refused.value.status == 422 and "logical_date" in str(refused.value)
    assert _runs_and_backfills(admin, DAG_IDS[0]) == before


@pytest.mark.parametrize("risk_type", ["../../etc", "fraud; DROP TABLE raw.user_events", "FRAUD"])
def test_a_rollback_of_a_risk_type_that_is_a_path_or_code_is_refused_and_nothing_runs(airflow, risk_type):
    from integrity_local.airflow_api import AirflowApiError

    reviewer, admin = api(airflow, "reviewer"), api(airflow, "admin")
    before = _runs_and_backfills(admin, "model_rollback")
    with pytest.raises(AirflowApiError) as refused:
        reviewer.trigger("model_rollback", conf={"risk_type": risk_type, "version": 1, "reason": "test"})
    assert refused.value.status == 400 and "risk_type" in str(refused.value) and risk_type in str(refused.value)
    assert _runs_and_backfills(admin, "model_rollback") == before


def test_a_scheduler_that_dies_is_restarted_and_the_deployment_is_healthy_again(airflow):
    """Last in this module: Airflow's scheduler can die on SQLite (a backfill's half-made runs
    deleted under it); the local deployment restarts it, as the containers' restart policy does."""
    import signal
    import time

    import psutil

    def scheduler_pid():
        wrapper = psutil.Process(int(airflow._pid_file("scheduler").read_text()))
        for child in wrapper.children():
            try:
                if "scheduler" in " ".join(child.cmdline()):
                    return child.pid
            except (psutil.ZombieProcess, psutil.NoSuchProcess):
                continue  # the killed scheduler, before its restart loop has reaped it
        return None

    first = scheduler_pid()
    assert first is not None and airflow.healthy()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        again = scheduler_pid()
        if again not in (None, first) and airflow.healthy():
            break
        time.sleep(3)
    else:
        raise AssertionError(f"no healthy scheduler within 180 s after pid {first} was killed")
    assert "airflow scheduler exited with status" in (airflow.home / "logs" / "scheduler.out").read_text()
