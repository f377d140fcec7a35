"""A risk DAG end to end under a real scheduler and API server.

Airflow runs as it does for the demo (api-server, scheduler, dag-processor and
triggerer, LocalExecutor) over a real HiveServer2, Feast store and MLflow registry.
The history is backfilled with Airflow's own backfill, the scheduler catches up the
last two days, and a backfill of the first of them must give the partitions the
scheduler wrote. The last day then trains, evaluates and asks for approval: a run of the
promotion DAG waits for the reviewers, who answer through the REST API.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

from integrity_local.deployment import api, e2e_risk_yaml, last_audit_move, local_deployment, wait_until_online_serves
from integrity_risk.paths import local_dir

pytestmark = pytest.mark.slow

RISK = "fraud"
DAG_ID = f"integrity_{RISK}"
ONLINE_DAG_ID = f"{DAG_ID}_online_features"
PROMOTION_DAG_ID = f"{DAG_ID}_promotion"
# On the last day: three days to train on, one to validate and two to test once labels mature
# (small_world_yaml); the day before trains on two, the least a training set needs.
DAYS = 8
ACCOUNTS = 4000
# The scheduler catches these up itself (more than one: a catch-up); the days before come from a backfill.
SCHEDULED_DAYS = 2


@pytest.fixture(scope="module")
def world(hiveserver2, hive_hook):
    """A synthetic world that ends yesterday, so the scheduler's own latest run has its data."""
    from integrity_local.demo import demo_world
    from integrity_local.synthetic import load_world, write_world

    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DAYS)
    cfg = demo_world(first.isoformat(), DAYS, ACCOUNTS, seed=11)
    write_world(cfg, local_dir() / "e2e-world")
    load_world(hive_hook, local_dir() / "e2e-world")
    return first, first + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def airflow(world, hiveserver2, tmp_path_factory):
    """The local Airflow deployment, with this test's connections, risks and stores."""
    first, last = world
    scheduled_from = last - dt.timedelta(days=SCHEDULED_DAYS - 1)

    def small_world(risk: str, text: str) -> str:
        if risk != RISK:
            return text
        # The two-person rule: every promotion of this world needs reviewer and reviewer2.
        return e2e_risk_yaml(text, scheduled_from, first, end=last).replace(
            "required_approvals: 1 ", "required_approvals: 2 "
        )

    port = int(os.environ.get("INTEGRITY_TEST_AIRFLOW_PORT", "18180"))
    with local_deployment("e2e", port, hiveserver2, tmp_path_factory.mktemp("risks"), small_world) as deployment:
        api(deployment, "admin").wait_for_dag(DAG_ID)
        yield deployment


@pytest.fixture(scope="module")
def history(airflow, world):
    """Every day's features: Airflow's backfill up to the DAG's start date, then the scheduler's runs."""
    from integrity_local.demo import backfill, wait_for_days

    first, last = world
    modeler = api(airflow, "modeler")
    api(airflow, "admin").unpause(ONLINE_DAG_ID)
    backfill(modeler, DAG_ID, first, last - dt.timedelta(days=SCHEDULED_DAYS), run_training="no", max_active_runs=2)
    # Unpaused with catchup from its start date, the DAG's own schedule runs the last days; their
    # quality gates wait for the backfill to extract the trailing days they compare with.
    api(airflow, "admin").unpause(DAG_ID)
    wait_for_days(modeler, DAG_ID, first, last)
    return last


def _scheduled_days(last: dt.date) -> list[dt.date]:
    return [last - dt.timedelta(days=n) for n in reversed(range(SCHEDULED_DAYS))]


def _model_run(airflow, day, **conf):
    """Re-run ``day`` with training on its extracted features (a one-day backfill, as a modeler); its run id."""
    return _model_runs(airflow, day, day, **conf)[0]


def _model_runs(airflow, first, last, **conf):
    """Re-run the days ``first``..``last`` with training, in one backfill (as a modeler); their run ids."""
    from integrity_local.demo import backfill

    modeler = api(airflow, "modeler")
    conf = {"reuse_features": True, **conf}
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    backfill(modeler, DAG_ID, first, last, run_training="yes", reprocess="completed", conf=conf, max_active_runs=2)
    run_ids = [modeler.runs_by_day(DAG_ID)[day.isoformat()]["dag_run_id"] for day in days]
    # The re-run clears the days' task states a moment later: until then they are the last runs'.
    deadline = time.monotonic() + 300
    for run_id in run_ids:
        while modeler.task_states(DAG_ID, run_id).get("evaluate.auto_gates") is not None:
            assert time.monotonic() < deadline, f"{run_id} was not cleared for the re-run"
            time.sleep(1)
    return run_ids


def _promotion_run(airflow, run_id):
    """The run of the promotion DAG that the model run ``run_id`` asked for (its request_approval)."""
    admin = api(airflow, "admin")
    admin.wait_for(DAG_ID, run_id, task_id="request_approval", states={"success"}, timeout=2400)
    return _xcom(admin, run_id, "request_approval", key="trigger_run_id")


def _wait_for_approval(airflow, promotion_run_id, task_id="approval"):
    """Wait until the promotion run's ``task_id`` asks; return its request (subject, body, assignees)."""
    admin = api(airflow, "admin")
    admin.wait_for(
        PROMOTION_DAG_ID, promotion_run_id, task_id=task_id, states={"awaiting_input", "deferred"}, timeout=900
    )
    # A person takes longer than this to read a report. An answer within a second of the
    # request races the executor's report of the paused task in Airflow 3.3 (seen here:
    # the task was then retried and asked again).
    time.sleep(15)
    return admin.approval_request(PROMOTION_DAG_ID, promotion_run_id, task_id)


def _xcom(admin, run_id: str, task_id: str, *, dag_id: str = DAG_ID, key: str = "return_value"):
    return admin.xcom(dag_id, run_id, task_id, key)


def _partition(hive_hook, table, day):
    return sorted(hive_hook.get_records(f"SELECT * FROM {table} WHERE ds = '{day}'"), key=repr)


TABLES = ("features.account_daily", f"features.{RISK}_daily", "features.labels")


@pytest.fixture(scope="module")
def scheduled_partitions(history, hive_hook, airflow):
    """The partitions of the scheduler's own runs, read before anything re-runs those days."""
    runs = api(airflow, "admin").runs(DAG_ID)
    scheduled = sorted(r["logical_date"][:10] for r in runs if r["run_type"] == "scheduled")
    assert scheduled == [d.isoformat() for d in _scheduled_days(history)]
    return {(day, table): _partition(hive_hook, table, day) for day in _scheduled_days(history) for table in TABLES}


def _champion():
    from integrity_risk.promotion import champion_version

    return champion_version(RISK)


@pytest.mark.reliability
def test_a_wrong_param_is_refused_before_anything_runs(airflow, history):
    from integrity_local.airflow_api import AirflowApiError

    modeler = api(airflow, "modeler")
    before = modeler.request("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 200})["total_entries"]
    with pytest.raises(AirflowApiError) as refused:
        modeler.trigger(DAG_ID, conf={"run_training": "sometimes"})
    assert refused.value.status == 400 and "run_training" in str(refused.value)
    assert modeler.request("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 200})["total_entries"] == before


def test_the_gated_extracts_refresh_the_online_store_through_their_asset(airflow, history, hive_hook):
    wait_until_online_serves(hive_hook, RISK, history)
    admin = api(airflow, "admin")
    runs = admin.runs(ONLINE_DAG_ID)
    assert runs and {r["run_type"] for r in runs} == {"asset_triggered"}
    assert "failed" not in {r["state"] for r in runs}


def test_a_backfill_of_a_scheduled_day_gives_the_partitions_of_its_scheduled_run(
    airflow, history, scheduled_partitions, hive_hook
):
    from integrity_local.demo import backfill, wait_for_backfills_to_close, wait_for_days

    # The catch-up's first day: one re-run shows the equality, a second would only cost time.
    day = _scheduled_days(history)[0]
    modeler = api(airflow, "modeler")
    backfill(modeler, DAG_ID, day, day, run_training="no", reprocess="completed", conf={"rewrite_shared_tables": True})
    wait_for_backfills_to_close(modeler, DAG_ID, timeout=1200)
    wait_for_days(modeler, DAG_ID, day, day)

    runs = modeler.runs_by_day(DAG_ID)
    assert runs[day.isoformat()]["run_type"] == "backfill"
    assert runs[history.isoformat()]["run_type"] == "scheduled"
    for table in TABLES:
        rows, again = scheduled_partitions[(day, table)], _partition(hive_hook, table, day)
        assert rows and again == rows, (
            f"{table} ds={day}: {len(rows)} rows scheduled, {len(again)} backfilled; only scheduled: "
            f"{sorted(set(rows) - set(again))[:5]}; only backfilled: {sorted(set(again) - set(rows))[:5]}"
        )


@pytest.mark.reliability
def test_two_reviewers_promote_and_an_approval_of_a_stale_comparison_is_refused(
    airflow, history, scheduled_partitions, hive_hook
):
    """Two candidates wait at once (the days before and of the last); the newer is promoted by two
    reviewers, each with a reason; the older, approved after, was compared with a champion that
    is no longer in place: its promotion is refused, naming both versions, and production stays.
    """
    from mlflow import MlflowClient

    from integrity_risk.promotion import read_audit
    from integrity_risk.tracking import registered_model_name, tracking_uri

    champion = _champion()
    older_day, newer_day = _model_runs(airflow, history - dt.timedelta(days=1), history)
    # Each evaluated candidate is asked about in a run of the promotion DAG of its own.
    older, newer = (_promotion_run(airflow, r) for r in (older_day, newer_day))
    for run_id in (older, newer):
        _wait_for_approval(airflow, run_id)
    admin, reviewer, reviewer2 = (api(airflow, u) for u in ("admin", "reviewer", "reviewer2"))
    # The day's runs ended once they asked: the next days do not wait for the reviewers.
    assert {admin.run(DAG_ID, r)["state"] for r in (older_day, newer_day)} == {"success"}
    # reuse_features: the re-run trained on the partitions the day's run wrote, unchanged.
    for task in ("clean_events", "hive_extract_account_daily", f"hive_extract_{RISK}_daily", "hive_extract_labels"):
        result = _xcom(admin, newer_day, f"extract.{task}")
        assert result.get("skipped") is True, (task, result)
    for (day, table), rows in scheduled_partitions.items():
        if day == history:
            assert _partition(hive_hook, table, day) == rows, table
    old_version, version = (int(_xcom(admin, r, "train")["version"]) for r in (older_day, newer_day))
    assert (older, newer) == (f"v{old_version}__{older_day}", f"v{version}__{newer_day}")
    # Shadow mode scored every account of the run's day, not only the labelled test split.
    population = _xcom(admin, newer_day, "evaluate.shadow_eval")["population"]
    [(accounts,)] = hive_hook.get_records(f"SELECT count(*) FROM features.account_daily WHERE ds = '{history}'")
    assert population["days_scored"][-1] == history.isoformat() and population["days"][-1]["accounts"] == accounts

    # What the reviewers see: the headline in the subject, the report's link first, the other candidate.
    requests = {r: admin.approval_request(PROMOTION_DAG_ID, r, "approval") for r in (older, newer)}
    for run_id, v in ((older, old_version), (newer, version)):
        assert requests[run_id]["subject"].startswith(f"[approval 1 of 2] Promote {RISK} v{v}? PR-AUC ")
        assert requests[run_id]["body"].startswith("**Full report:** [")
        assert {u["name"] for u in requests[run_id]["assigned_users"]} == {"reviewer", "reviewer2"}
    assert any(
        f"Another candidate of this risk waits for reviewers: v{other}" in requests[r]["body"]
        for r, other in ((older, version), (newer, old_version))
    ), "the request made second names the candidate already waiting"

    with pytest.raises(Exception, match="403"):
        api(airflow, "modeler").answer_approval(
            PROMOTION_DAG_ID, newer, "approval", "Approve", reason="not mine to give"
        )
    reviewer.answer_approval(PROMOTION_DAG_ID, newer, "approval", "Approve", reason="e2e: recall holds, alerts flat")
    _wait_for_approval(airflow, newer, "approval_2")
    second = admin.approval_request(PROMOTION_DAG_ID, newer, "approval_2")
    assert [u["name"] for u in second["assigned_users"]] == ["reviewer2"]
    assert second["subject"].startswith("[approval 2 of 2]")
    assert "reviewer approved at" in second["body"] and "e2e: recall holds, alerts flat" in second["body"]
    # The same reviewer twice counts once: the second request is not theirs to answer.
    with pytest.raises(Exception, match="403"):
        reviewer.answer_approval(PROMOTION_DAG_ID, newer, "approval_2", "Approve", reason="me again")
    reviewer2.answer_approval(PROMOTION_DAG_ID, newer, "approval_2", "Approve", reason="e2e: agreed after the report")
    run = admin.wait_for(PROMOTION_DAG_ID, newer, timeout=900)

    assert run["state"] == "success" and admin.task_states(PROMOTION_DAG_ID, newer)["promote"] == "success"
    assert _champion() == version
    entries = [e for e in read_audit(risk_type=RISK) if e["dag_run_id"] == newer]
    assert [e["status"] for e in entries] == ["started", "completed"]
    done = entries[-1]
    assert (done["actor"], done["version"]) == ("reviewer, reviewer2", version)
    assert done["reason"] == "reviewer: e2e: recall holds, alerts flat; reviewer2: e2e: agreed after the report"
    assert done["metrics"]["evaluation_run_id"] == newer_day
    assert [(a["user"], a["answer"]) for a in done["approvals"]] == [("reviewer", "Approve"), ("reviewer2", "Approve")]
    tags = MlflowClient(tracking_uri=tracking_uri()).get_model_version(registered_model_name(RISK), str(version)).tags
    tag = json.loads(tags[f"audit_promote_{done['event_id']}"])
    assert tag["reason"] == done["reason"] and "approval_pending" not in tags

    # The older candidate was compared with the champion of before: approving it now is refused.
    reviewer.answer_approval(PROMOTION_DAG_ID, older, "approval", "Approve", reason="e2e: approved late")
    _wait_for_approval(airflow, older, "approval_2")
    reviewer2.answer_approval(PROMOTION_DAG_ID, older, "approval_2", "Approve", reason="e2e: approved late too")
    run = admin.wait_for(PROMOTION_DAG_ID, older, timeout=900)
    assert run["state"] == "failed" and admin.task_states(PROMOTION_DAG_ID, older)["promote"] == "failed"
    assert _champion() == version
    refused = [e for e in read_audit(risk_type=RISK) if e["dag_run_id"] == older][-1]
    assert (refused["status"], refused["version"], refused["champion_in_place"]) == ("refused", old_version, version)
    assert f"is version {version}, not {'unset' if champion is None else f'version {champion}'}" in refused["error"]


def test_one_approval_and_a_reject_leave_the_champion_and_record_the_reason(airflow, history):
    from integrity_risk.promotion import read_audit

    champion = _champion()
    assert champion is not None, "runs after the approval test"
    day_run = _model_run(airflow, history)
    run_id = _promotion_run(airflow, day_run)
    # The day ran again (the approval test's run id): its new candidate is asked about in a new
    # promotion run, with its own version and figures, not in the request of the run before.
    version = int(_xcom(api(airflow, "admin"), day_run, "train")["version"])
    request = _wait_for_approval(airflow, run_id)
    assert request["subject"].startswith(f"[approval 1 of 2] Promote {RISK} v{version}? ")

    api(airflow, "reviewer").answer_approval(PROMOTION_DAG_ID, run_id, "approval", "Approve", reason="e2e: fine by me")
    _wait_for_approval(airflow, run_id, "approval_2")
    api(airflow, "reviewer2").answer_approval(
        PROMOTION_DAG_ID, run_id, "approval_2", "Reject", reason="e2e: too many alerts"
    )
    admin = api(airflow, "admin")
    admin.wait_for(PROMOTION_DAG_ID, run_id, timeout=900)

    assert admin.task_states(PROMOTION_DAG_ID, run_id)["promote"] == "skipped"
    assert _champion() == champion
    [rejected] = [e for e in read_audit(risk_type=RISK) if e["dag_run_id"] == run_id and e["action"] == "reject"]
    assert (rejected["action"], rejected["status"], rejected["actor"]) == ("reject", "rejected", "reviewer2")
    assert rejected["reason"] == "e2e: too many alerts"
    assert [a["user"] for a in rejected["approvals"]] == ["reviewer", "reviewer2"]


@pytest.mark.reliability
def test_an_override_of_failed_gates_needs_a_reviewer_and_a_second_one_and_names_the_gates(airflow, history):
    """The candidate the reviewers rejected (the test before), judged again with a stricter bound it
    fails (a bound its team chose after the evaluation); a non-reviewer's override fails before
    anything moves; a reviewer's needs another reviewer, and its audit entry names the gate,
    figure and bound.
    """
    from mlflow import MlflowClient

    from integrity_risk.evaluation.gates import evaluate_gates
    from integrity_risk.promotion import read_audit
    from integrity_risk.reviews import record_gate_verdict
    from integrity_risk.tracking import registered_model_name, tracking_uri

    admin, reviewer, reviewer2 = (api(airflow, u) for u in ("admin", "reviewer", "reviewer2"))
    client = MlflowClient(tracking_uri=tracking_uri())
    rejected = [e for e in read_audit(risk_type=RISK) if e.get("action") == "reject"][-1]
    metrics = _xcom(admin, rejected["dag_run_id"], "evaluated_candidate", dag_id=PROMOTION_DAG_ID, key="metrics")
    assert metrics["champion_version"] == _champion(), "evaluated against the champion in place"
    bound = round(metrics["overall"]["candidate"]["pr_auc"] + 0.01, 4)
    failed = evaluate_gates(metrics, {"min_pr_auc": bound})
    record_gate_verdict(client, metrics, [r.as_dict() for r in failed], run_id=metrics["evaluation_run_id"])
    conf = {"risk_type": RISK, "version": rejected["version"], "reason": "e2e: the labels of the new attack are late"}
    admin.unpause("model_override")
    entries = len(read_audit(risk_type=RISK))

    refused = api(airflow, "modeler").trigger("model_override", conf=conf)
    run = admin.wait_for("model_override", refused["dag_run_id"], timeout=600)
    assert run["state"] == "failed"
    states = admin.task_states("model_override", refused["dag_run_id"])
    assert states["authorize"] == "failed" and states["override"] == "upstream_failed"
    assert len(read_audit(risk_type=RISK)) == entries

    run_id = reviewer.trigger("model_override", conf=conf)["dag_run_id"]
    admin.wait_for("model_override", run_id, task_id="approval", states={"awaiting_input", "deferred"}, timeout=600)
    time.sleep(15)  # as _wait_for_approval: an instant answer races the executor's report
    request = admin.approval_request("model_override", run_id, "approval")
    assert [u["name"] for u in request["assigned_users"]] == ["reviewer2"]  # never the requester
    assert "min_pr_auc FAILED" in request["body"] and "e2e: the labels of the new attack are late" in request["body"]
    with pytest.raises(Exception, match="403"):
        reviewer.answer_approval("model_override", run_id, "approval", "Approve", reason="my own request")
    reviewer2.answer_approval("model_override", run_id, "approval", "Approve", reason="e2e: agreed, labels are late")
    run = admin.wait_for("model_override", run_id, timeout=600)

    assert run["state"] == "success" and _champion() == rejected["version"]
    done = [e for e in read_audit(risk_type=RISK) if e["dag_run_id"] == run_id][-1]
    assert (done["action"], done["status"], done["actor"]) == ("override", "completed", "reviewer, reviewer2")
    assert [(g["gate"], g["bound"]) for g in done["overridden"]] == [("min_pr_auc", bound)]
    assert done["overridden"][0]["figure"] == metrics["overall"]["candidate"]["pr_auc"]
    tag = json.loads(
        client.get_model_version(registered_model_name(RISK), str(rejected["version"])).tags[
            f"audit_override_{done['event_id']}"
        ]
    )
    assert tag["reason"] == (
        "reviewer: e2e: the labels of the new attack are late; reviewer2: e2e: agreed, labels are late"
    )

    # The history page names the move, to signed-in users only.
    page = reviewer.page(f"/integrity/history/{RISK}")
    assert page.status_code == 200 and "override" in page.text and "min_pr_auc = " in page.text
    assert reviewer.page(f"/integrity/history/{RISK}", signed_in=False).status_code in (401, 403)


@pytest.mark.reliability
def test_a_candidate_trained_on_inverted_labels_is_stopped_by_the_gates(airflow, history):
    champion = _champion()
    run_id = _model_run(airflow, history, label_control="invert")
    admin = api(airflow, "admin")
    admin.wait_for(
        DAG_ID, run_id, task_id="evaluate.auto_gates", states={"success", "failed", "upstream_failed"}, timeout=2400
    )
    states = admin.task_states(DAG_ID, run_id)
    assert states["train"] == "success" and states["evaluate.auto_gates"] == "failed"
    run = admin.wait_for(DAG_ID, run_id, timeout=300)
    states = admin.task_states(DAG_ID, run_id)
    # The failed gates decide the run, and nobody is asked.
    assert run["state"] == "failed" and states["watcher"] == "failed"
    assert states["request_approval"] == "upstream_failed"
    assert _champion() == champion


@pytest.mark.reliability
def test_only_a_reviewer_may_roll_back_and_only_to_a_former_champion(airflow, history):
    from mlflow import MlflowClient

    from integrity_risk.promotion import promote, read_audit
    from integrity_risk.tracking import registered_model_name, tracking_uri

    champion = _champion()
    versions = {
        int(v.version): v.tags
        for v in MlflowClient(tracking_uri=tracking_uri()).search_model_versions(
            f"name = '{registered_model_name(RISK)}'"
        )
    }
    control = max(v for v, tags in versions.items() if tags.get("label_control") == "invert")
    conf = {"risk_type": RISK, "reason": "e2e: back to the previous model"}
    admin, reviewer = api(airflow, "admin"), api(airflow, "reviewer")
    admin.unpause("model_rollback")
    entries = len(read_audit(risk_type=RISK))

    refused = api(airflow, "modeler").trigger("model_rollback", conf=conf | {"version": champion})
    run = admin.wait_for("model_rollback", refused["dag_run_id"], timeout=600)
    assert run["state"] == "failed"
    assert admin.task_states("model_rollback", refused["dag_run_id"]) == {
        "authorize": "failed",
        "rollback": "upstream_failed",
    }

    # The inverted-label control model the gates stopped was never champion: refused too.
    to_control = reviewer.trigger("model_rollback", conf=conf | {"version": control})
    run = admin.wait_for("model_rollback", to_control["dag_run_id"], timeout=600)
    assert run["state"] == "failed"
    assert admin.task_states("model_rollback", to_control["dag_run_id"]) == {
        "authorize": "success",
        "rollback": "failed",
    }
    assert _champion() == champion and len(read_audit(risk_type=RISK)) == entries

    # Once another version has been champion, the first one is a former champion to go back to.
    newer = max(v for v, tags in versions.items() if v != champion and tags.get("label_control") in (None, "none"))
    promote(RISK, newer, approved_by="reviewer", dag_run_id="e2e_out_of_band_promotion")
    accepted = reviewer.trigger("model_rollback", conf=conf | {"version": champion})
    run = admin.wait_for("model_rollback", accepted["dag_run_id"], timeout=600)
    assert run["state"] == "success" and _champion() == champion
    assert last_audit_move(RISK) == ("rollback", "completed", "reviewer", champion, newer)


@pytest.mark.reliability
def test_no_log_of_the_whole_run_holds_the_pseudonymization_key(airflow, history, hiveserver2):
    # Last in the module: by now every task of the e2e has logged what it logs.
    from integrity_risk.features.pseudonymize import get_key, hmac_pads

    key = get_key()
    secrets = [key.decode(), *hmac_pads(key)]
    logs = [p for p in (*airflow.home.rglob("*"), hiveserver2.log_file) if p.is_file() and p.suffix in (".log", ".out")]
    assert len([p for p in logs if "task_id=" in str(p)]) > 50, "the task logs are not where this test looks"
    leaks = [
        (str(p), n) for p in logs for n, s in enumerate(secrets) if s.lower() in p.read_text(errors="replace").lower()
    ]
    assert not leaks
