"""The fraud DAG run for real (``dag.test()``) on a world whose card testers adapt, then whose upstream breaks.

One generated world serves both. After seven days of raw.* only (so the 7-day features are
whole), five days run features only; on ``CUTOVER`` the fraud family adapts abruptly (the
generator's cut-over scenario: fewer card tests, larger payments from home); on each of the
three days after it ``raw.user_events`` suffers an outage (an event type missing, a
half-loaded day, a day loaded twice).

- Drift: the cut-over day passes every health gate; ``feature_drift`` finds the card testers'
  features past the YAML's PSI bound (they were not the day before), writes its
  ``eval.feature_drift`` partition and notifies through the log notifier; ``model_cycle:
  on_drift`` then trains and registers a candidate on a day the fixed cycle would not train,
  which meets the automatic gates and asks for approval like any other: the run of the
  promotion DAG it requests asks the reviewers (nobody answers: the approval's default,
  Reject, applies once its timeout passed, and promote is skipped).
- Outages: each day fails ``extract.upstream_health`` naming its check, nothing after the gate
  runs, and the run fails.

Everything is real and local: the test HiveServer2, the Feast offline store over its
warehouse, TensorFlow and an MLflow registry in this module's own state folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from integrity_risk.paths import project_root

pytestmark = pytest.mark.slow

RISK = "fraud"
DAG_ID = f"integrity_{RISK}"
TEST_KEY = "drift-outage-tests-key-0123456789"
# Days no other test's world comes near (21 days either side): the labels extract reads every
# raw.enforcement_labels partition up to its day, and the health gate the trailing 7 days.
WARM_UP = dt.date(2026, 8, 26)  # the world's first day: 7 days of raw.* only, so the 7-day features are whole
START = WARM_UP + dt.timedelta(days=7)  # the DAG's first day
FEATURE_DAYS = 5  # features only: the training set's days (labels of 4 of them mature) and the drift reference
CUTOVER = START + dt.timedelta(days=FEATURE_DAYS)
OUTAGES = {
    (CUTOVER + dt.timedelta(days=1)).isoformat(): "missing_event_type:login",
    (CUTOVER + dt.timedelta(days=2)).isoformat(): "half_loaded",
    (CUTOVER + dt.timedelta(days=3)).isoformat(): "duplicated_load",
}
REFERENCE_DAYS = 3
MAX_PSI = 0.25  # fraud.yaml's own bound


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is no longer in fraud.yaml; update the test"
    return text.replace(old, new)


def _fraud_yaml(text: str) -> str:
    """fraud.yaml for a world of days: trains on drift, fails at once, and never waits on a person."""
    from integrity_local.deployment import small_world_yaml

    # small_world_yaml: labels mature in 2 days, one validation day (the e2e's small world).
    text = small_world_yaml(text)
    for old, new in (
        ("model_cycle: fixed", "model_cycle: on_drift"),
        # Train on the day the drift begins: the test shows the trigger, not what the labels teach.
        ("retrain_delay_days: null", "retrain_delay_days: 0"),
        ("retries: 2", "retries: 0"),  # a failure fails the test now, not after the retry delays
        # The daily tables only: the stream's windows in batch (two more extracts a day) have no
        # part in the health gates, the drift or its training, and cost a minute and a half here.
        ("feature_service: fraud_v2", "feature_service: fraud_v1"),
        (
            "    - features.account_realtime_5m\n    - features.account_realtime_1h\n",
            "    []\n",
        ),
        ("maturity_days: 2", "maturity_days: 1"),  # after small_world_yaml's 2: labels of 4 days are usable
        # Labels observed from START + 1 on: those of the day before START would join no features.
        ("lookback_days: 21", f"lookback_days: {FEATURE_DAYS}"),
        ("test_days: 2", "test_days: 1"),
        ("epochs: 15", "epochs: 10"),
        ("n_bootstrap: 200", "n_bootstrap: 50"),
        # A test split of tens of positives: the small-world gates of the e2e.
        ("operating_fpr: 0.01", "operating_fpr: 0.05"),
        ("min_recall_at_fpr: 0.30", "min_recall_at_fpr: 0.10"),
        ("reference_days: 14", f"reference_days: {REFERENCE_DAYS}"),
        # No reviewer answers in a test: one second, then the default answer (Reject) applies.
        ("response_timeout_hours: 48", f"response_timeout_hours: {1 / 3600}"),
    ):
        text = _replace(text, old, new)
    return text


@pytest.fixture(scope="module")
def project(tmp_path_factory, hiveserver2):
    """A copy of the project whose fraud YAML is :func:`_fraud_yaml`'s, and a private state folder.

    The state folder holds this module's MLflow registry, training sets, reports and audit, so
    no other test's champion is the drift's reference here, and no candidate of ours is theirs.
    """
    tmp = tmp_path_factory.mktemp("drift_outage")
    root = tmp / "project"
    for folder in ("include", "feature_repo"):
        shutil.copytree(project_root() / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Only the fraud DAG's file: dag.test() parses the bundle's files before each run.
    (root / "dags").mkdir()
    shutil.copy(project_root() / "dags" / f"integrity_{RISK}.py", root / "dags")
    risks = root / "include" / "risks"
    (risks / f"{RISK}.yaml").write_text(_fraud_yaml((risks / f"{RISK}.yaml").read_text()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTEGRITY_PROJECT_DIR", str(root))
        mp.setenv("INTEGRITY_RISKS_DIR", str(risks))
        mp.setenv("INTEGRITY_LOCAL_DIR", str(tmp / "local"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv(
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
            json.dumps(
                [
                    {
                        "name": "dags-folder",
                        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {"path": str(root / "dags")},
                    }
                ]
            ),
        )
        mp.setenv("AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION", json.dumps({"conn_type": "generic", "password": TEST_KEY}))
        mp.delenv("INTEGRITY_ALLOW_DEMO_KEY", raising=False)
        # Feast reads the extracts' parquet from the test server's warehouse; the registry is ours.
        mp.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(hiveserver2.warehouse_dir))
        mp.setenv("INTEGRITY_FEAST_DIR", str(tmp / "feast"))
        mp.delenv("INTEGRITY_FEAST_PROFILE", raising=False)
        yield root


@pytest.fixture(scope="module")
def world(project, hive_hook, tmp_path_factory):
    """The world in raw.*: attackers adapt on CUTOVER, the upstream breaks on each OUTAGES day."""
    from integrity_local.synthetic import WorldConfig, load_world, write_world

    cfg = WorldConfig(
        seed=16,
        start_ds=WARM_UP.isoformat(),
        days=(CUTOVER - WARM_UP).days + 1 + len(OUTAGES),
        n_accounts=1500,
        # Many card testers, so the fraud features' distributions move when they adapt; few of
        # the families whose bulk signups and rings make the shared-IP features jump from day to day.
        attack_shares={"abusive_account": 0.02, "fraud": 0.3},
        drift=0.0,  # no gradual adaptation: the days before the cut-over are alike
        cutover_ds=CUTOVER.isoformat(),
        cutover_families=("fraud",),
        outages=OUTAGES,
        # Labels come within days, so the few days before the cut-over hold matured ones.
        label_rate=0.8,
        label_delay_days=(1, 2),
    )
    out = tmp_path_factory.mktemp("drift_world")
    write_world(cfg, out)
    load_world(hive_hook, out)
    return cfg


@pytest.fixture(scope="module")
def fraud_dag(project, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(project / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


@pytest.fixture(scope="module")
def promotion_dag(fraud_dag, project):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(project / "dags"), safe_mode=False).dags[f"{DAG_ID}_promotion"]


def _run(dag, day: dt.date, **conf):
    return dag.test(logical_date=dt.datetime.combine(day, dt.time(), dt.UTC), run_conf=conf)


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _xcom(run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key=key)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def _approval_request(run):
    """The approval's human-in-the-loop request: what was chosen, by whom."""
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session

    ti_id = run.get_task_instance("approval").id
    with create_session() as session:
        request = session.scalars(select(HITLDetail).where(HITLDetail.ti_id == ti_id)).one()
        session.expunge(request)
        return request


HEALTH_GATES = (
    "extract.wait_upstream",
    "extract.upstream_health",
    "extract.quality_gate_account_daily",
    "extract.quality_gate_fraud_daily",
)
EXTRACTS = ("extract.hive_extract_account_daily", "extract.hive_extract_fraud_daily", "extract.hive_extract_labels")


@contextmanager
def _scheduler_timeout_sweep(give_up_after_s: float = 600):
    """The scheduler's part for human-in-the-loop tasks, which dag.test() leaves out.

    Airflow 3.3 parks an approval in ``awaiting_input``, and the scheduler's timeout sweep
    resolves it once its response timeout has passed (with the operator's defaults, here
    "Reject"). dag.test() runs no scheduler and would wait for such a task forever, so this
    runs the scheduler's sweep once a second beside the run. Should it not resolve the task
    within ``give_up_after_s``, the task is failed, so the test fails instead of hanging.
    """
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    runner = SchedulerJobRunner(job=Job())
    stop = threading.Event()
    errors: list[Exception] = []

    def sweep():
        give_up = time.monotonic() + give_up_after_s
        while not stop.wait(1.0):
            try:
                runner.check_awaiting_input_timeouts()
            except Exception as err:  # SQLite busy while dag.test() writes: the next second tries again
                errors.append(err)
            if time.monotonic() > give_up:
                with create_session() as session:
                    for ti in session.scalars(
                        select(TaskInstance).where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
                    ):
                        ti.state = TaskInstanceState.FAILED
                return

    thread = threading.Thread(target=sweep, name="hitl-timeout-sweep", daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        stop.set()
        thread.join(timeout=30)


def test_adapted_attackers_pass_every_health_gate_drift_past_the_bound_notify_and_train_a_candidate(
    world, fraud_dag, promotion_dag, hive_hook, caplog
):
    from mlflow import MlflowClient

    from integrity_risk.model_cycle import is_model_day
    from integrity_risk.notifiers.log import LOGGER_NAME
    from integrity_risk.promotion import read_audit
    from integrity_risk.tracking import registered_model_name, tracking_uri

    # The day trains only because it drifted: the fixed cycle would not train on it.
    assert not is_model_day("auto", CUTOVER.isoformat(), fraud_dag.start_date.date().isoformat(), 7, "fixed")

    for n in range(FEATURE_DAYS):
        day = START + dt.timedelta(days=n)
        run = _run(fraud_dag, day, run_training="no")
        states = _states(run)
        assert str(run.state) == "success", (day, states)
        assert all(states[t] == "success" for t in (*HEALTH_GATES, *EXTRACTS)), (day, states)
        assert states["training_set"] == "skipped", (day, states)

    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    run = _run(fraud_dag, CUTOVER, run_training="auto")
    states = _states(run)
    drift = _xcom(run, "feature_drift")

    # Attackers changed what they do, not how much data arrives: every health gate passed.
    assert all(states[t] == "success" for t in (*HEALTH_GATES, *EXTRACTS)), states
    assert states["features.feast_apply"] == "success" and states["feature_drift"] == "success", states

    # The card testers' features drifted past the bound on the cut-over (no champion yet: against
    # the trailing days): fewer card tests (a lower fail ratio) in slower bursts, as many payments.
    fraud_features = [f"fraud_daily__{name}" for name in ("payment_fail_ratio_1d", "max_payments_1h")]
    assert drift["drifted"] is True, drift
    assert set(fraud_features) <= set(drift["features_over_bound"]), drift["message"]
    assert "fraud_daily__payment_attempts_1d" not in drift["features_over_bound"], drift["message"]
    # None of the fraud table's features had drifted on the days before, measured the same way.
    before = hive_hook.get_records(
        "SELECT ds, name, value FROM eval.feature_drift WHERE risk_type = 'fraud' AND kind = 'feature_psi' "
        f"AND name LIKE 'fraud_daily__%' AND ds >= '{START}' AND ds < '{CUTOVER}' AND value IS NOT NULL"
    )
    assert {ds for ds, _, _ in before} == {(START + dt.timedelta(days=n)).isoformat() for n in range(1, FEATURE_DAYS)}
    assert max(value for _, _, value in before) < MAX_PSI, before
    assert drift["reference"].startswith(f"trailing {REFERENCE_DAYS} days"), drift["reference"]
    rows = {
        name: (value, flag)
        for name, value, flag in hive_hook.get_records(
            "SELECT name, value, over_bound FROM eval.feature_drift "
            f"WHERE risk_type = '{RISK}' AND ds = '{CUTOVER}' AND kind = 'feature_psi'"
        )
    }
    assert {name for name, (_, flag) in rows.items() if flag == 1} == set(drift["features_over_bound"]), rows
    assert all(rows[f][0] > MAX_PSI for f in fraud_features), rows
    # The log notifier told the platform team, naming the features and their figures.
    assert drift["notified"] == ["integrity_risk.notifiers.log.LogNotifier"]
    notified = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    message = next((m for m in notified if m.startswith(f"Drift in {RISK} on {CUTOVER}")), None)
    assert message is not None, notified
    assert all(f"- {f}: PSI " in message for f in fraud_features), message

    # model_cycle: on_drift let the run go on: a candidate trained and registered.
    assert states["model_cycle"] == "success", states
    assert states["training_set"] == "success" and states["train"] == "success", states
    version = int(_xcom(run, "train", "version"))
    client = MlflowClient(tracking_uri=tracking_uri())
    model = registered_model_name(RISK)
    assert int(client.get_model_version_by_alias(model, "candidate").version) == version
    # Within the same gates and approval as any candidate: the day's run asked for a promotion
    # run and ended. Nobody answers the approval in a test: its one-second timeout passes, the
    # scheduler's sweep applies its default "Reject", promote is skipped and production stays
    # as it was (no champion).
    assert states["evaluate.shadow_eval"] == "success" and states["evaluate.auto_gates"] == "success", states
    assert states["request_approval"] == "success" and str(run.state) == "success", states
    requested = _xcom(run, "request_approval", "trigger_run_id")
    assert requested == f"v{version}__{run.run_id}", requested
    with _scheduler_timeout_sweep() as sweep_errors:
        review = promotion_dag.test(run_conf={"source_run_id": run.run_id, "candidate_version": version})
    review_states = _states(review)
    assert review_states["evaluated_candidate"] == "success", review_states
    assert review_states["approval"] == "success" and review_states["promote"] == "skipped", (
        review_states,
        sweep_errors,
    )
    request = _approval_request(review)
    assert request.chosen_options == ["Reject"] and request.responded_by is None, request  # no person: the default
    # The timeout's reject is a decision on record too, with who (nobody) and why.
    rejected = [e for e in read_audit(risk_type=RISK) if e.get("action") == "reject" and e["version"] == version]
    assert [(e["actor"], e["reason"].startswith("no answer within")) for e in rejected] == [("timeout", True)]
    assert "champion" not in client.get_registered_model(model).aliases
    assert str(review.state) == "success", review_states


CHECKS = {"missing_event_type": "event_type_rows", "half_loaded": "rows", "duplicated_load": "duplicate_rate"}


@pytest.mark.parametrize(("day", "kind"), sorted(OUTAGES.items()), ids=[k for _, k in sorted(OUTAGES.items())])
def test_an_upstream_outage_fails_the_health_gate_naming_the_check_and_nothing_downstream_runs(
    world, fraud_dag, capfd, day, kind
):
    check = CHECKS[kind.split(":")[0]]
    capfd.readouterr()
    run = _run(fraud_dag, dt.date.fromisoformat(day), run_training="yes")  # training asked for, even
    states = _states(run)
    logged = capfd.readouterr()
    assert str(run.state) == "failed", states
    assert states["extract.wait_upstream"] == "success" and states["extract.upstream_health"] == "failed", states
    # The task's log (Airflow's structlog writes it to stdout here) names the check.
    assert f"upstream health gate failed for ds={day}" in logged.out + logged.err
    assert f"- raw.user_events: {check}: " in logged.out + logged.err
    if kind.startswith("missing_event_type:"):
        assert f"event_type={kind.split(':')[1]}: 0 rows" in logged.out + logged.err
    # Nothing after the gate ran: every extract, drift and training task, and no approval was requested.
    after = {
        t: s for t, s in states.items() if t not in ("extract.wait_upstream", "extract.upstream_health", "watcher")
    }
    assert set(after) >= {*EXTRACTS, "feature_drift", "training_set", "train", "request_approval"}
    assert {t: s for t, s in after.items() if s not in ("upstream_failed", "None")} == {}, states
    assert states["watcher"] == "failed"  # and the run is failed with the gate
