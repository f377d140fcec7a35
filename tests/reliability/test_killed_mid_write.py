"""A task SIGKILLed while it writes, then retried as Airflow does (the same ``execute`` again),
ends in the state a clean run leaves, and no reader ever sees a half-written state.

Each write runs in a child process (``faults.spawn``), killed at a point the test
observes from outside: the server running the INSERT, the first rows online, the
model version registered.
"""

from __future__ import annotations

import re
import time

import pytest
import writers
from faults import Sampler, sigkill, wait_until
from stores import (
    ACCOUNT_DAILY,
    DAY,
    airflow_try,
    days_from,
    interval,
    partition,
    registry_state,
    row_count,
    sqlite_online_rows,
    sqlite_writing_over_rows,
    write_day,
)

from integrity_local.synthetic import load_world


@pytest.mark.slow  # 50-100 s: four extracts on a 2-core machine
def test_an_extract_killed_mid_write_then_retried_leaves_a_clean_runs_partition_and_no_reader_sees_less(
    hive, hive_log, worlds, spawn
):
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    table, hql = ACCOUNT_DAILY
    load_world(hive, worlds["new"])
    writers.extract(table, hql, DAY)
    clean = partition(hive, table, DAY)
    load_world(hive, worlds["old"])
    old = writers.extract(table, hql, DAY)["rows"]
    load_world(hive, worlds["new"])
    assert old != len(clean)

    reader = HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")  # its own sessions
    hive_log.mark()
    with Sampler(lambda: row_count(reader, table, DAY), pause=0.1) as counts:
        child = spawn("extract", table=table, hql=hql, ds=DAY)
        running = hive_log.wait_for(
            r"Submitting query 'INSERT OVERWRITE TABLE features\.account_daily.*?' "
            r"with ([0-9a-f-]{36})"
        )
        sigkill(child)
        # Killing the client does not stop the server-side Spark job: Spark's Thrift
        # server notices the dead session only when it answers, so the job runs on and
        # commits. What matters is what a reader sees meanwhile; wait for the job's end.
        hive_log.wait_for(rf"Close statement with {re.escape(running.group(1))}")
        retried = writers.extract(table, hql, DAY)  # Airflow's next try

    assert retried["rows"] == len(clean)
    assert partition(hive, table, DAY) == clean
    assert len({row[0] for row in clean}) == len(clean)  # one row per account
    # Every reader saw the old partition or the new one, whole; never a part or an empty day.
    seen = [sample for sample in counts.samples if isinstance(sample, int)]
    assert seen[0] == old and seen[-1] == len(clean) and set(seen) == {old, len(clean)}, counts.samples
    # A read overlapping a commit can fail on a file the commit removed (Spark lists the
    # files, then opens them): it fails and is retried; it never returns a short count.
    failed = [sample[1] for sample in counts.samples if not isinstance(sample, int)]
    assert all("FAILED_READ_FILE" in message for message in failed), failed


def test_a_materialization_killed_mid_write_then_retried_leaves_a_clean_runs_online_rows(
    feast_env, spawn, monkeypatch, tmp_path
):
    from feast.feature_view import FeatureViewState

    from integrity_risk.features.feast_store import apply_repo, feature_store
    from integrity_risk.features.online import fetch_online_features

    days = days_from(DAY, 4)
    accounts = [f"{i:064x}" for i in range(1500)]
    for n, ds in enumerate(days):
        write_day(feast_env, ds, accounts, base=1000 * n)
    window = interval(days[0], days[-1])  # four one-day chunks per view, oldest first

    apply_repo()
    child = spawn("materialize", chunk_hours=24, **window)
    # Killed inside a chunk's transaction, after an earlier chunk committed: SQLite's
    # journal must undo the torn one, leaving whole chunks only.
    wait_until(
        lambda: sqlite_writing_over_rows(feast_env.feast_dir),
        timeout=180,
        what="a write over committed rows",
        child=child,
        pause=0.01,
    )
    sigkill(child)
    killed = sqlite_online_rows(feast_env.feast_dir)
    # A load killed after its view turned MATERIALIZING leaves it so until the next load; readers
    # keep the committed values meanwhile. (Whether the kill fell there depends on timing:
    # test_materialize sets the state itself.)
    served = fetch_online_features("fraud", accounts[:50])
    assert served["account_daily__account_age_days"].notna().all()
    writers.materialize(chunk_hours=24, **window)  # Airflow's next try
    assert feature_store().get_feature_view("account_daily").state == FeatureViewState.AVAILABLE_ONLINE
    retried = sqlite_online_rows(feast_env.feast_dir)

    monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(tmp_path / "feast_clean"))
    apply_repo()
    writers.materialize(chunk_hours=24, **window)
    clean = sqlite_online_rows(tmp_path / "feast_clean")

    account_rows = killed["integrity_risk_account_daily"]
    assert len(account_rows) == len(clean["integrity_risk_account_daily"])
    assert len({event_ts for _, event_ts, *_ in account_rows}) == 1  # one whole day, no part of the next
    assert killed != clean
    assert retried == clean
    for table, rows in retried.items():
        assert len(rows) == len({key for key, *_ in rows}), table  # one row per account


def test_a_registration_killed_before_candidate_moved_is_removed_by_the_retry(
    mlflow_home, spawn, monkeypatch, tmp_path
):
    import mlflow

    from integrity_risk.training.registry import AIRFLOW_TRY_TAG, load_registered

    model, experiment = "integrity_reliability", "integrity_reliability_training"
    airflow_try(monkeypatch, "scheduled__2026-03-01", 1)
    first = writers.register(model, experiment)["version"]  # an earlier day's candidate
    client = mlflow.MlflowClient()

    def candidate() -> str:
        return str(client.get_model_version_by_alias(model, "candidate").version)

    paused = tmp_path / "paused"
    with Sampler(candidate, pause=0.05) as seen:
        airflow_try(monkeypatch, "scheduled__2026-03-02", 1)
        child = spawn("register", model_name=model, experiment=experiment, pause_before_alias=str(paused))
        # The alias moves milliseconds after the version is created, too soon to aim a
        # kill at from outside; the child waits there instead (its only change).
        wait_until(paused.exists, timeout=180, what="the version registered", child=child)
        orphan = max(client.search_model_versions(f"name = '{model}'"), key=lambda v: int(v.version))
        assert str(orphan.version) != first and candidate() == first
        sigkill(child)

        airflow_try(monkeypatch, "scheduled__2026-03-02", 2)
        retried = writers.register(model, experiment)["version"]  # Airflow's next try

    versions = {str(v.version) for v in client.search_model_versions(f"name = '{model}'")}
    assert versions == {first, retried} and str(orphan.version) not in versions
    assert client.get_model_version(model, retried).tags[AIRFLOW_TRY_TAG] == "2"
    assert client.get_run(orphan.run_id).info.status == "KILLED"
    assert load_registered(model, "candidate")[1] == retried
    # While the killed try's version existed, the alias kept naming the earlier, complete one.
    assert seen.samples[0] == first and set(seen.samples) <= {first, retried}, seen.samples
    killed_state = registry_state(model)

    monkeypatch.setenv("INTEGRITY_LOCAL_DIR", str(tmp_path / "clean"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # exported by mlflow.set_tracking_uri
    for run_id in ("scheduled__2026-03-01", "scheduled__2026-03-02"):
        airflow_try(monkeypatch, run_id, 1)
        writers.register(model, experiment)
    assert killed_state == registry_state(model)


def test_the_trainer_tags_its_version_with_its_own_task_try_never_an_inherited_one(monkeypatch):
    from types import SimpleNamespace

    from integrity_risk.operators.tf_train import TFTrainOperator
    from integrity_risk.training.registry import (
        AIRFLOW_TASK_TAG,
        AIRFLOW_TRY_TAG,
        TASK_INSTANCE_ENV,
        airflow_attempt_tags,
    )

    op = TFTrainOperator(task_id="train", training_set="unused", risk_type="fraud")
    monkeypatch.setenv(TASK_INSTANCE_ENV, "integrity_scraping/train/manual__1")  # left in the worker's env
    context = {
        "ti": SimpleNamespace(dag_id="integrity_fraud", task_id="train", try_number=2),
        "dag_run": SimpleNamespace(run_id="scheduled__2026-03-02T00:00:00+00:00"),
    }
    assert airflow_attempt_tags(op.trainer_env(context)) == {
        AIRFLOW_TASK_TAG: "integrity_fraud/train/scheduled__2026-03-02T00:00:00+00:00",
        AIRFLOW_TRY_TAG: "2",
    }
    assert airflow_attempt_tags(op.trainer_env({})) == {}


def test_a_rerun_of_a_day_keeps_the_candidates_its_earlier_tries_made(mlflow_home, monkeypatch):
    import mlflow

    model, experiment = "integrity_reliability", "integrity_reliability_training"
    airflow_try(monkeypatch, "scheduled__2026-03-02", 1)
    first = writers.register(model, experiment)["version"]
    airflow_try(monkeypatch, "scheduled__2026-03-03", 1)
    second = writers.register(model, experiment)["version"]  # the next day's candidate replaces it
    airflow_try(monkeypatch, "scheduled__2026-03-02", 2)  # the day is cleared and run again
    rerun = writers.register(model, experiment)["version"]

    versions = {str(v.version) for v in mlflow.MlflowClient().search_model_versions(f"name = '{model}'")}
    assert versions == {first, second, rerun} and len(versions) == 3


REGISTRY_ENTITIES = 20_000  # about 0.5 MB: a write takes long enough to be caught midway


def _registry_entities(path) -> int:
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto

    return len(RegistryProto.FromString(path.read_bytes()).entities)


def test_a_feast_registry_write_read_or_killed_midway_is_always_whole(tmp_path, spawn):
    # Feast's own file store truncates then writes: readers in between saw an empty
    # registry, and a kill there left one (integrity_risk.features.feast_registry says more).
    registry = tmp_path / "registry.db"
    writer = spawn("registry_updates", path=str(registry), entities=REGISTRY_ENTITIES)
    wait_until(registry.exists, 60, "first registry write", child=writer)
    seen = [_registry_entities(registry) for _ in range(300)]
    assert set(seen) == {REGISTRY_ENTITIES}
    sigkill(writer)
    assert _registry_entities(registry) == REGISTRY_ENTITIES
    for delay in (0.05, 0.1, 0.2, 0.3, 0.5):
        writer = spawn("registry_updates", path=str(registry), entities=REGISTRY_ENTITIES)
        time.sleep(delay)
        sigkill(writer)
        assert _registry_entities(registry) == REGISTRY_ENTITIES
