"""The risk pipeline on the at-scale topology: separate machines that share only the storage root.

The components of ``docker-compose.yaml`` run as processes (integrity_local.topology):
PostgreSQL, Redis, a Spark standalone cluster under the Thrift Server (metastore on
PostgreSQL), an MLflow server, and Airflow with the CeleryExecutor and two workers,
``default`` (no TensorFlow) and ``gpu``. The workers, the HiveServer2 and the Spark worker
each have their own mount namespace: a private /tmp and none of the others' folders.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from integrity_local.deployment import api, e2e_risk_yaml, last_audit_move, wait_until_online_serves

pytestmark = pytest.mark.slow

RISK = "fraud"
DAG_ID = f"integrity_{RISK}"
PROMOTION_DAG_ID = f"{DAG_ID}_promotion"
DAYS = 7  # two days to train on, one to validate and two to test once labels mature (small_world_yaml)
ACCOUNTS = 4000


@pytest.fixture(scope="module")
def topology():
    """The topology's services, fresh, with this process a client of them (its environment)."""
    from integrity_local.demo import demo_connections
    from integrity_local.topology import Ports, Topology
    from integrity_risk.paths import local_dir

    topo = Topology(
        state=local_dir() / "topology",
        ports=Ports(int(os.environ.get("INTEGRITY_TEST_TOPOLOGY_PORT_BASE", "20100"))),
    )
    topo.wipe()
    saved = dict(os.environ)
    try:
        server = topo.up_services()
        os.environ.update(topo.client_env())
        demo_connections(server.uri)
        yield topo
    finally:
        topo.down()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def hook(topology):
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    return IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")


@pytest.fixture(scope="module")
def world(topology, hook):
    """A world that ends yesterday, loaded into the topology's upstream tables through the storage root."""
    from integrity_local.demo import demo_world
    from integrity_local.synthetic import load_world, write_world
    from integrity_risk.paths import local_dir

    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DAYS)
    folder = local_dir() / "topology-world"
    shutil.rmtree(folder, ignore_errors=True)
    write_world(demo_world(first.isoformat(), DAYS, ACCOUNTS, seed=11), folder)
    load_world(hook, folder)
    return first, first + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def airflow(topology, world):
    """Airflow of the topology, with the risk YAMLs of a small world in the deployment's files."""
    from integrity_risk.paths import include_dir

    first, last = world
    risks = topology.image / "risks"
    risks.mkdir(parents=True, exist_ok=True)
    for path in (include_dir() / "risks").glob("*.yaml"):
        text = path.read_text()
        # Nothing scheduled: the history and the model run come from backfills.
        (risks / path.name).write_text(
            e2e_risk_yaml(text, last + dt.timedelta(days=30), first) if path.stem == RISK else text
        )
    deployment = topology.airflow(risks)
    deployment.start(timeout=600)
    try:
        api(deployment, "admin").wait_for_dag(DAG_ID)
        yield deployment
    finally:
        deployment.stop()


def _task_instances(client, run_id: str) -> dict[str, dict]:
    listed = client.request("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 200})
    return {ti["task_id"]: ti for ti in listed["task_instances"]}


def _approved_model_run(airflow, day: dt.date) -> tuple[str, dict, str]:
    """Run ``day`` with training through a one-day backfill; the reviewer approves its promotion run over REST.

    Returns the day's run id, the day's run, and the promotion run's id.
    """
    from integrity_local.demo import backfill

    admin, modeler, reviewer = (api(airflow, user) for user in ("admin", "modeler", "reviewer"))
    backfill(modeler, DAG_ID, day, day, run_training="yes")
    run_id = modeler.runs_by_day(DAG_ID)[day.isoformat()]["dag_run_id"]
    run = admin.wait_for(DAG_ID, run_id, timeout=2400)
    promotion = admin.xcom(DAG_ID, run_id, "request_approval", "trigger_run_id")
    admin.wait_for(PROMOTION_DAG_ID, promotion, task_id="approval", states={"awaiting_input", "deferred"}, timeout=900)
    time.sleep(15)  # an answer within a second races the executor's report of the paused task (Airflow 3.3)
    reviewer.answer_approval(PROMOTION_DAG_ID, promotion, "approval", "Approve", reason="topology: the figures hold")
    promoted = admin.wait_for(PROMOTION_DAG_ID, promotion, timeout=900)
    assert promoted["state"] == "success", admin.task_states(PROMOTION_DAG_ID, promotion)
    return run_id, run, promotion


def test_a_path_on_one_machine_does_not_exist_for_another(topology, hook, tmp_path):
    """What proves the isolation: a file of this machine, or of a worker, is not there for HiveServer2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrity_risk.storage import staging_dir

    hook.run(
        [
            "CREATE DATABASE IF NOT EXISTS isolation",
            "DROP TABLE IF EXISTS isolation.probe",
            "CREATE TABLE isolation.probe (n BIGINT) PARTITIONED BY (ds STRING) STORED AS PARQUET",
        ]
    )
    rows = pa.table({"n": pa.array([1, 2, 3], pa.int64())})
    here = Path(tempfile.mkdtemp(dir="/tmp"))  # this process's /tmp: not the server's
    worker_own = topology.node("worker-default") / "probe"  # a worker's own folder
    worker_own.mkdir(parents=True, exist_ok=True)
    for folder in (here, worker_own):
        pq.write_table(rows, folder / "part-0.parquet")
        with pytest.raises(Exception, match="does not exist"):
            hook.load_partition("isolation.probe", folder.as_uri(), {"ds": "2026-01-01"})
    shutil.rmtree(here)

    # The same file under the storage root is there for it.
    shared = staging_dir("probe")
    pq.write_table(rows, (shared / "part-0.parquet").open("wb"))
    hook.load_partition("isolation.probe", str(shared), {"ds": "2026-01-01"})
    assert hook.get_records("SELECT sum(n) FROM isolation.probe WHERE ds = '2026-01-01'") == [(6,)]


def test_the_pipeline_runs_on_separate_workers_up_to_a_reviewed_promotion(topology, airflow, world, hook):
    from integrity_local.demo import backfill, wait_for_days
    from integrity_risk.evaluation.report import report_dir
    from integrity_risk.promotion import champion_version, read_audit

    first, last = world
    admin, modeler = api(airflow, "admin"), api(airflow, "modeler")
    admin.unpause(DAG_ID)
    admin.unpause(f"{DAG_ID}_online_features")
    backfill(modeler, DAG_ID, first, last - dt.timedelta(days=1), run_training="no", max_active_runs=2)
    wait_for_days(modeler, DAG_ID, first, last - dt.timedelta(days=1))

    run_id, run, promotion = _approved_model_run(airflow, last)

    tis = _task_instances(admin, run_id)
    assert run["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    # Training and scoring on the gpu worker; the extract on the default worker, which has no TensorFlow.
    assert {tis[t]["queue"] for t in ("train", "evaluate.shadow_eval", "feature_drift")} == {"gpu"}
    assert (
        tis["extract.hive_extract_fraud_daily"]["queue"] == "default"
        and tis["extract.hive_extract_fraud_daily"]["state"] == "success"
    )
    version = int(admin.xcom(DAG_ID, run_id, "train")["version"])
    assert champion_version(RISK) == version
    entries = [e for e in read_audit(risk_type=RISK) if e["dag_run_id"] == promotion]
    assert [e["status"] for e in entries] == ["started", "completed"]
    assert entries[-1]["actor"] == "reviewer"
    # What crossed the machines lies under the storage root, and only there.
    storage = topology.storage
    assert list((storage / "training_sets" / RISK).iterdir())
    assert Path(report_dir(RISK, run_id).path, "report.html").is_file()
    assert list((storage / "audit" / "entries").rglob("*"))
    assert list((storage / "mlflow-artifacts").rglob("*"))
    # Every account of the run's day scored in shadow, the scores loaded by a HiveServer2 with a /tmp of its own.
    [(scored,)] = hook.get_records(
        f"SELECT count(DISTINCT account_pk) FROM eval.shadow_scores WHERE risk_type = '{RISK}' AND ds = '{last}' "
        f"AND to_date(event_timestamp) = '{last + dt.timedelta(days=1)}'"
    )
    [(accounts,)] = hook.get_records(f"SELECT count(*) FROM features.account_daily WHERE ds = '{last}'")
    assert scored == accounts > 0


def test_the_online_store_serves_the_extracted_features_through_the_sql_registry(topology, airflow, world, hook):
    """Materialized by the online-features DAG on a worker; read here through Feast's SQL registry and Redis."""
    wait_until_online_serves(hook, RISK, world[1])  # the newest day extracted
    assert os.environ["INTEGRITY_FEAST_PROFILE"] == "cluster"
    assert api(airflow, "admin").runs(f"{DAG_ID}_online_features")


def test_a_reviewer_rolls_production_back_to_the_former_champion(airflow, world):
    import mlflow

    from integrity_risk import tracking
    from integrity_risk.promotion import champion_version, promote

    former = champion_version(RISK)
    assert former is not None, "runs after the promotion"
    # A newer champion, promoted out of band: a second reviewed model run on these workers would
    # prove nothing the first did not (the e2e re-runs a model day with reuse_features).
    name = tracking.registered_model_name(RISK)
    first = tracking.client().get_model_version(name, str(former))
    newer = int(mlflow.register_model(first.source, name, tags={"risk_type": RISK}).version)
    promote(RISK, newer, approved_by="reviewer", dag_run_id="topology_out_of_band_promotion")
    assert champion_version(RISK) == newer != former

    admin, reviewer = api(airflow, "admin"), api(airflow, "reviewer")
    admin.unpause("model_rollback")
    conf = {"risk_type": RISK, "version": former, "reason": "topology e2e: back to the former champion"}
    rollback = reviewer.trigger("model_rollback", conf=conf)
    run = admin.wait_for("model_rollback", rollback["dag_run_id"], timeout=600)
    assert run["state"] == "success" and champion_version(RISK) == former
    assert last_audit_move(RISK) == ("rollback", "completed", "reviewer", former, newer)


def test_a_backfill_from_1900_is_refused_and_the_scheduler_stays_healthy(airflow):
    from integrity_local.airflow_api import AirflowApiError

    modeler = api(airflow, "modeler")
    body = {
        "dag_id": DAG_ID,
        "from_date": "1900-01-01T00:00:00Z",
        "to_date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT00:00:00Z"),
        "dag_run_conf": {"run_training": "no"},
    }
    with pytest.raises(AirflowApiError) as refused:
        modeler.request("POST", "/backfills", json=body, retries=0)
    assert refused.value.status == 400 and "1900-01-01" in str(refused.value)
    assert not any(b for b in modeler.backfills(DAG_ID) if b.get("from_date", "").startswith("1900"))
    health = modeler.request("GET", "/monitor/health")
    assert health["scheduler"]["status"] == "healthy" and health["metadatabase"]["status"] == "healthy"
