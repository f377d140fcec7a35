"""A dependency goes away while a task writes: HiveServer2 during an extract, the online store
(Redis) during materialization, the MLflow store (locked, or its server unreachable) during
registration. The task fails naming the service and its address; once the service is back,
the retry Airflow makes succeeds; nothing written before is lost.

The services are never stopped: a TCP proxy between client and service is closed
(``faults.TcpProxy``), or the SQLite store is locked from another connection, so each
service keeps what it stored, as after a network partition.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys

import pytest
import writers
from faults import TcpProxy, free_port, wait_listening
from stores import (
    DAY,
    PREVIOUS_DAY,
    SPAM_REDIRECT_DAILY,
    interval,
    load_version,
    partition,
    redis_contents,
    write_day,
)

from integrity_local.synthetic import load_world

MODEL = "integrity_reliability"
EXPERIMENT = "integrity_reliability_training"


# --- HiveServer2 ---------------------------------------------------------------


def test_hiveserver2_cut_off_during_an_extract_fails_naming_it_and_the_retry_once_back_succeeds(
    hive, hiveserver2, worlds, monkeypatch
):
    from thrift.transport.TTransport import TTransportException

    from integrity_risk.hooks.hive import HiveServer2Unreachable
    from integrity_risk.operators.hive_extract import ExtractError

    table, hql = SPAM_REDIRECT_DAILY
    proxy = TcpProxy(hiveserver2.port).open()
    monkeypatch.setenv("AIRFLOW_CONN_HIVESERVER2_PROXIED", f"hiveserver2://{proxy.address}/default")
    try:
        load_world(hive, worlds["old"])
        for ds in (PREVIOUS_DAY, DAY):
            writers.extract(table, hql, ds, conn_id="hiveserver2_proxied")
        written = {ds: partition(hive, table, ds) for ds in (PREVIOUS_DAY, DAY)}
        load_world(hive, worlds["new"])
        unreachable = rf"HiveServer2 at {re.escape(proxy.address)} \(connection hiveserver2_proxied\) is unreachable"

        proxy.close()  # down before the task starts
        with pytest.raises(ExtractError, match=unreachable) as refused:
            writers.extract(table, hql, DAY, conn_id="hiveserver2_proxied")
        # The hook's error names the server; below it, the transport's own.
        assert isinstance(refused.value.__cause__, HiveServer2Unreachable)
        assert isinstance(refused.value.__cause__.__cause__, TTransportException)

        # Down in the middle: the checks ran, the INSERT never reaches the server.
        proxy.open(cut_on=b"INSERT OVERWRITE")
        with pytest.raises(ExtractError, match=unreachable + ".*was running: INSERT OVERWRITE"):
            writers.extract(table, hql, DAY, conn_id="hiveserver2_proxied")
        assert proxy.cut.is_set()
        assert {ds: partition(hive, table, ds) for ds in written} == written

        proxy.open()  # back: Airflow's next try
        rows = writers.extract(table, hql, DAY, conn_id="hiveserver2_proxied")["rows"]
    finally:
        proxy.close()
    new = partition(hive, table, DAY)
    assert rows == len(new) == len({r[0] for r in new}) != len(written[DAY])
    assert partition(hive, table, PREVIOUS_DAY) == written[PREVIOUS_DAY]


# --- the online store ------------------------------------------------------------


def test_redis_cut_off_during_materialization_fails_naming_it_and_the_retry_once_back_succeeds(
    feast_env, redis_server, monkeypatch, tmp_path
):
    from integrity_risk.features.feast_store import OnlineStoreUnavailable, apply_repo

    redis_port = int(redis_server.rsplit(":", 1)[1])
    accounts = [f"{i:064x}" for i in range(60)]
    write_day(feast_env, PREVIOUS_DAY, accounts, base=0)
    write_day(feast_env, DAY, accounts[:50], base=1000)  # the last ten are seen on PREVIOUS_DAY only
    proxy = TcpProxy(redis_port).open()
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local_redis")
    monkeypatch.setenv("INTEGRITY_REDIS_URL", f"{proxy.address},db=1")
    try:
        apply_repo()
        writers.materialize(**interval(PREVIOUS_DAY, PREVIOUS_DAY))
        written = redis_contents(redis_port, db=1)
        unreachable = rf"Feast online store redis at {re.escape(proxy.address)} is unreachable while materializing"

        proxy.close()
        with pytest.raises(OnlineStoreUnavailable, match=unreachable):
            writers.materialize(**interval(DAY, DAY))
        assert redis_contents(redis_port, db=1) == written

        # Down in the middle of the writes: cut after the first batch of HSETs went through.
        proxy.open(cut_on=b"HSET", cut_after=1)
        with pytest.raises(OnlineStoreUnavailable, match=unreachable):
            writers.materialize(**interval(DAY, DAY))
        assert proxy.cut.is_set()

        proxy.open()  # back: Airflow's next try
        writers.materialize(**interval(DAY, DAY))
    finally:
        proxy.close()

    # A clean run of both days, straight to Redis, in another database with a registry of its own.
    monkeypatch.setenv("INTEGRITY_REDIS_URL", f"127.0.0.1:{redis_port},db=2")
    monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(tmp_path / "feast_clean"))
    apply_repo()
    for ds in (PREVIOUS_DAY, DAY):
        writers.materialize(**interval(ds, ds))
    retried = redis_contents(redis_port, db=1)
    assert retried == redis_contents(redis_port, db=2)
    assert len(retried) == len(accounts)  # the accounts seen on PREVIOUS_DAY only are still there


# --- the MLflow store --------------------------------------------------------------


def test_a_locked_mlflow_store_fails_registration_naming_it_and_the_retry_once_free_succeeds(mlflow_home):
    import mlflow

    from integrity_risk.tracking import configure, tracking_uri
    from integrity_risk.training.registry import RegistryUnavailable, load_registered, log_and_register

    earlier = writers.register(MODEL, EXPERIMENT)["version"]
    configure(EXPERIMENT)
    with mlflow.start_run():
        # Another process holds the SQLite file longer than MLflow waits for it (20 s).
        lock = sqlite3.connect(mlflow_home / "mlflow.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(
                RegistryUnavailable,
                match=rf"MLflow tracking store at {re.escape(tracking_uri())} "
                r"is locked or unreachable .*candidate did not move",
            ):
                log_and_register(writers.small_model(), MODEL, {"risk_type": "reliability"})
        finally:
            lock.rollback()
            lock.close()

    retried = writers.register(MODEL, EXPERIMENT)["version"]  # Airflow's next try
    assert load_registered(MODEL, "candidate")[1] == retried != earlier
    assert load_version(MODEL, earlier) is not None


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server (SQLite backend, artifacts served through it) on a free port."""
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{tmp_path / 'server.db'}",
                "--artifacts-destination",
                str(tmp_path / "server_artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_listening(port, timeout=120)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its group: uvicorn and job runners too
        server.wait(timeout=30)


def test_an_unreachable_mlflow_server_fails_registration_naming_it_and_the_retry_once_back_succeeds(
    mlflow_home, mlflow_server, monkeypatch
):
    import mlflow

    from integrity_risk.tracking import configure
    from integrity_risk.training.registry import RegistryUnavailable, load_registered, log_and_register

    proxy = TcpProxy(mlflow_server).open()
    uri = f"http://{proxy.address}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # MLflow's client retries a refused request 7 times over minutes before it gives up;
    # those retries come before Airflow's, and would only make this test slow.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    try:
        earlier = writers.register(MODEL, EXPERIMENT)["version"]
        configure(EXPERIMENT)
        with mlflow.start_run():
            proxy.close()
            with pytest.raises(
                RegistryUnavailable,
                match=rf"MLflow tracking store at {re.escape(uri)} "
                r"is locked or unreachable .*candidate did not move",
            ):
                log_and_register(writers.small_model(), MODEL, {"risk_type": "reliability"})
            proxy.open()

        retried = writers.register(MODEL, EXPERIMENT)["version"]  # Airflow's next try
        assert load_registered(MODEL, "candidate")[1] == retried != earlier
        assert load_version(MODEL, earlier) is not None
    finally:
        proxy.close()


# --- Airflow's retries ---------------------------------------------------------------


def test_every_writing_task_is_retried_with_exponential_back_off_as_the_scheduler_computes_it():
    import datetime as dt
    import uuid

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization.serialized_objects import DagSerialization

    from integrity_risk.config.risk import all_risk_types, risk_config
    from integrity_risk.operators.feast_materialize import FeastMaterializeOperator
    from integrity_risk.operators.hive_extract import HiveExtractOperator
    from integrity_risk.operators.tf_train import TFTrainOperator
    from integrity_risk.paths import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    failed_at = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    checked = set()
    for risk in all_risk_types():
        cfg = risk_config(risk)
        assert cfg.retries >= 1
        for dag in (d for d in bag.dags.values() if d.dag_id.startswith(f"integrity_{risk}")):
            scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))  # as the scheduler reads it
            for task in dag.tasks:
                if not isinstance(task, (HiveExtractOperator, FeastMaterializeOperator, TFTrainOperator)):
                    continue
                ti = TaskInstance(
                    task=scheduled.get_task(task.task_id), run_id="scheduled__2026-03-02", dag_version_id=uuid.uuid4()
                )
                ti.end_date = failed_at
                delays = []
                for try_number in range(1, cfg.retries + 1):
                    ti.try_number = try_number
                    delays.append((ti.next_retry_datetime() - failed_at).total_seconds())
                assert task.retries == cfg.retries, task.task_id
                # Each wait is drawn from [d, 2d), d doubling per try from retry_delay, capped at 30 min.
                for n, delay in enumerate(delays):
                    first = cfg.retry_delay_seconds * 2**n
                    assert min(first, 1800) <= delay <= min(2 * first, 1800), (dag.dag_id, task.task_id, delays)
                checked.add(type(task).__name__)
    assert checked == {"HiveExtractOperator", "CleanEventsOperator", "FeastMaterializeOperator", "TFTrainOperator"}
