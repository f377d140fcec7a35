"""DAG integrity: every DAG file parses, a bad risk YAML breaks only its own DAG,
and no DAG file pulls a heavy library into the parser."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys

import pytest

from integrity_risk.config.risk import all_risk_types, risk_config
from integrity_risk.paths import INCLUDE_DIR, PROJECT_ROOT

RISK_TYPES = all_risk_types()

DAGS = PROJECT_ROOT / "dags"
HEAVY = ("tensorflow", "feast", "pyspark", "pandas", "mlflow", "sklearn", "lightgbm", "matplotlib", "pyarrow")


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), safe_mode=False)


def _fraud_yaml_in_a_copy(tmp_path, monkeypatch):
    """The path of fraud.yaml in a copy of the risk YAMLs that the DAG files read from now on."""
    risks = tmp_path / "risks"
    shutil.copytree(INCLUDE_DIR / "risks", risks)
    monkeypatch.setenv("INTEGRITY_RISKS_DIR", str(risks))
    return risks / "fraud.yaml"


def test_every_dag_file_imports_without_errors():
    bag = _dagbag()
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == (
        {f"integrity_{risk}" for risk in RISK_TYPES}
        | {"model_rollback", "model_override", "accept_partition", "streaming_features"}
        | {f"integrity_{risk}_online_features" for risk in RISK_TYPES}
        | {f"integrity_{risk}_promotion" for risk in RISK_TYPES}
    )


def test_the_risk_dag_runs_the_stages_in_order_with_training_on_the_gpu_queue():
    dag = _dagbag().dags["integrity_fraud"]
    order = [
        "extract.wait_upstream",
        "extract.upstream_health",
        "extract.clean_events",
        "extract.hive_extract_account_daily",
        "extract.quality_gate_account_daily",
        "extract.quality_gate_fraud_daily",
        "features.feast_apply",
        "training_set",
        "train",
        "evaluate.shadow_eval",
        "evaluate.auto_gates",
        "request_approval",
    ]
    for before, after in zip(order, order[1:], strict=False):
        assert after in dag.get_task(before).get_flat_relative_ids(upstream=False), (before, after)
    # Nothing is cleaned or extracted from a day whose upstream health failed; the features
    # come from the day's cleaned events.
    for task_id in ("clean_events", "hive_extract_labels"):
        assert dag.get_task(f"extract.{task_id}").upstream_task_ids == {"extract.upstream_health"}
    for extract in ("hive_extract_account_daily", "hive_extract_fraud_daily"):
        assert dag.get_task(f"extract.{extract}").upstream_task_ids == {"extract.clean_events"}
    # The training set waits, in reschedule mode, for every day of its window to be extracted.
    window = {"wait_training_window_account_daily", "wait_training_window_fraud_daily"}
    assert dag.get_task("training_set").upstream_task_ids == window
    for task_id in window:
        sensor = dag.get_task(task_id)
        assert sensor.upstream_task_ids == {"model_cycle"} and sensor.mode == "reschedule"
        assert sensor.trailing_days == 21  # fraud.yaml's training_set.lookback_days
    train = dag.get_task("train")
    assert (train.queue, train.pool) == ("gpu", "gpu")
    # Only the gpu queue's workers have TensorFlow: what loads a model runs there, the rest not.
    on_gpu = {t.task_id for t in dag.tasks if t.queue == "gpu"}
    assert on_gpu == {"train", "evaluate.shadow_eval", "feature_drift"}
    assert dag.get_task("extract.hive_extract_fraud_daily").pool == "hiveserver2"
    assert dag.max_active_runs == 1 and "fraud" in dag.tags and dag.doc_md
    # The reviewers are asked in a run of the promotion DAG, which the day's run does not wait for.
    request = dag.get_task("request_approval")
    assert (request.trigger_dag_id, request.wait_for_completion) == ("integrity_fraud_promotion", False)
    assert request.fail_when_dag_is_paused and not request.downstream_task_ids - {"watcher"}


def test_the_trainer_gets_the_model_config_the_dag_validated(tmp_path):
    from integrity_risk.config.model import load_model_config
    from integrity_risk.config.risk import risk_config

    train = _dagbag().dags["integrity_fraud"].get_task("train")
    validated = risk_config("fraud").model.model_dump(mode="json")
    assert train.model_config == validated and train.config is None
    command = train.command(tmp_path / "result.json")
    assert load_model_config(command[command.index("--config") + 1], "fraud") == validated


def test_shadow_eval_takes_the_version_the_train_task_registered():
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    dag = _dagbag().dags["integrity_fraud"]
    pinned = dag.get_task("evaluate.shadow_eval").candidate_version
    # train.output["version"]: the train task's own XCom, not whatever `candidate` points at later.
    assert isinstance(pinned, PlainXComArg)
    assert (pinned.operator.task_id, pinned.key) == ("train", "version")
    assert dag.get_task("train").multiple_outputs  # so each key of its result is an XCom of its own


def test_each_step_gets_its_inputs_from_the_outputs_of_the_steps_before_it():
    # Typed wiring (XComArg): no step pulls another's XCom by task id or rebuilds its paths,
    # and each input resolves when the task renders its templates.
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    dag = _dagbag().dags["integrity_fraud"]
    shadow, gates = ("evaluate.shadow_eval", "return_value"), ("evaluate.auto_gates", "return_value")
    wired = {
        "train": {"training_set": ("training_set", "path")},
        "evaluate.shadow_eval": {
            "candidate_version": ("train", "version"),
            "evaluation_data": ("training_set", "test_path"),
        },
        "evaluate.auto_gates": {"metrics": shadow},
        "request_approval": {"metrics": shadow},
    }
    xcoms = {
        ("training_set", "path"): "/sets/fraud/2026-03-20",
        ("training_set", "test_path"): "/sets/fraud/2026-03-20/test.parquet",
        ("train", "version"): 7,
        shadow: {"overall": {}, "candidate_version": 7},
        gates: {"passed": True, "gates": []},
    }

    class _TaskInstance:  # the XCom store as the task runner's ti answers a pull
        def xcom_pull(self, task_ids, key, default, map_indexes=None):
            return xcoms.get((task_ids, key), default)

    context = {"ti": _TaskInstance(), "ds": "2026-03-20", "run_id": "r", "params": {"label_control": "none"}}
    for task_id, inputs in wired.items():
        task = dag.get_task(task_id)
        for name, (upstream, key) in inputs.items():
            arg = getattr(task, name)
            assert isinstance(arg, PlainXComArg), (task_id, name, arg)
            assert (arg.operator.task_id, arg.key) == (upstream, key), (task_id, name)
            assert name in task.template_fields, (task_id, name)
        task.render_template_fields(context)
        assert {name: getattr(task, name) for name in inputs} == {name: xcoms[src] for name, src in inputs.items()}
    # Indexing an output by key needs each key pushed as an XCom of its own.
    assert dag.get_task("training_set").multiple_outputs and dag.get_task("train").multiple_outputs


def test_writes_of_the_shared_tables_take_turns_across_every_risk_dag():
    # Two overwrites of one partition at once nest one in the other (dag_factory.SHARED_TABLES_POOL).
    from integrity_local.airflow_services import POOLS
    from integrity_risk.config.tables import SHARED_EXTRACTS

    bag = _dagbag()
    shared = {"clean.user_events", "features.labels", *SHARED_EXTRACTS}
    writers = {
        (dag_id, t.task_id): t.pool
        for dag_id, dag in bag.dags.items()
        for t in dag.tasks
        if getattr(t, "table", None) in shared and type(t).__name__ in ("HiveExtractOperator", "CleanEventsOperator")
    }
    extra = sum(len(risk_config(r).extract.shared_tables) for r in RISK_TYPES)
    assert len(writers) == 3 * len(RISK_TYPES) + extra
    assert set(writers.values()) == {"shared_tables"} and POOLS["shared_tables"][0] == 1
    used = {t.pool for dag in bag.dags.values() for t in dag.tasks} - {"default_pool"}
    assert used <= set(POOLS), f"pools the DAGs use but the local deployment does not create: {used - set(POOLS)}"
    init = (PROJECT_ROOT / "docker" / "airflow" / "init.sh").read_text()
    assert all(f"airflow pools set {pool} " in init for pool in used)
    assert "airflow pools set shared_tables 1 " in init and "airflow pools set feast 1 " in init


def test_each_risk_dag_writes_every_table_its_feature_service_reads():
    """A table the service reads and the DAG does not write would give the training set
    whatever an earlier run left there, or nothing."""
    from feast import FeatureService, FeatureView

    from integrity_risk.config.graph import graph_settings
    from integrity_risk.config.tables import GRAPH_TABLE, SHARED_EXTRACTS
    from integrity_risk.features.feast_store import repo_objects

    objects = repo_objects()
    services = {o.name: o for o in objects if isinstance(o, FeatureService)}
    tables = {o.name: o.tags["table"] for o in objects if isinstance(o, FeatureView)}
    bag = _dagbag()
    read_by = {}
    for risk in RISK_TYPES:
        service = services[risk_config(risk).training_set.feature_service]
        read = {tables[p.name] for p in service.feature_view_projections if p.name in tables}
        dag = bag.dags[f"integrity_{risk}"]
        extracts = {t.table: t for t in dag.tasks if type(t).__name__ == "HiveExtractOperator"}
        assert read <= set(extracts), f"{risk}: {service.name} reads {sorted(read - set(extracts))}, never written"
        for table in read & set(SHARED_EXTRACTS):
            # The graph's features read its window (graph.yaml), the others their own look-back.
            window = graph_settings().window_days if table == GRAPH_TABLE else SHARED_EXTRACTS[table].lookback_days
            assert extracts[table].lookback_days == window
            # The risk table's gate publishes the Asset the online refresh waits for: after every shared gate.
            gate = dag.get_task(f"extract.quality_gate_{table.split('.')[1]}")
            assert f"extract.quality_gate_{risk_config(risk).extract.table.split('.')[1]}" in gate.downstream_task_ids
        read_by[risk] = read
    # Card testing and scraping sessions are minutes long: their models read the stream's windows.
    realtime = {"features.account_realtime_5m", "features.account_realtime_1h"}
    assert {risk for risk, read in read_by.items() if realtime <= read} == {"fraud", "scraping"}


def test_a_watcher_fails_the_run_when_any_task_fails_and_no_skip_decision_reaches_it():
    dag = _dagbag().dags["integrity_fraud"]
    watcher = dag.get_task("watcher")
    assert [t.task_id for t in dag.leaves] == ["watcher"]
    assert str(watcher.trigger_rule) in ("one_failed", "TriggerRule.ONE_FAILED") and watcher.retries == 0
    everything_else = {t.task_id for t in dag.tasks} - {"watcher", "model_cycle"}
    assert watcher.upstream_task_ids == everything_else


def test_the_promotion_dag_asks_about_the_evaluation_it_reads_from_the_evaluated_run():
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    from integrity_risk.operators.request_approval import promotion_run_id

    dag = _dagbag().dags["integrity_fraud_promotion"]
    assert dag.schedule is None
    assert not dag.is_paused_upon_creation and dag.max_active_runs > 1
    # Runs are dated when asked for: a start date ahead (a risk still backfilling its history)
    # would leave them without tasks, green and asking nobody.
    assert dag.start_date is None and all(t.start_date is None for t in dag.tasks)
    assert {"source_run_id", "candidate_version"} <= set(dag.params)
    candidate, approval, promote = (dag.get_task(t) for t in ("evaluated_candidate", "approval", "promote"))
    assert approval.upstream_task_ids == {"evaluated_candidate"} and promote.upstream_task_ids >= {"approval"}
    assert approval.assigned_users == [{"id": u, "name": u} for u in ("reviewer", "reviewer2")]
    assert "reason" in approval.params and candidate.retries == 0
    # Approval and promote get the evaluation the first task read and checked, typed.
    for task, name in ((approval, "metrics"), (approval, "gates"), (promote, "metrics"), (promote, "gates")):
        arg = getattr(task, name)
        assert isinstance(arg, PlainXComArg) and (arg.operator.task_id, arg.key) == ("evaluated_candidate", name)
    assert [(a.operator.task_id, a.key) for a in promote.approvals] == [("approval", "return_value")]
    assert promote.required_approvals == 1
    # One run per request: a second request for the same evaluation is a run of its own.
    first, again = (promotion_run_id(7, "scheduled__2026-03-20T00:00:00+00:00", n) for n in (1, 2))
    assert first == "v7__scheduled__2026-03-20T00:00:00+00:00" and again == first + "__2"


def test_two_required_approvals_chain_two_requests_before_promote(tmp_path, monkeypatch):
    fraud = _fraud_yaml_in_a_copy(tmp_path, monkeypatch)
    fraud.write_text(fraud.read_text().replace("required_approvals: 1 ", "required_approvals: 2 "))

    dag = _dagbag().dags["integrity_fraud_promotion"]
    first, second, promote = (dag.get_task(t) for t in ("approval", "approval_2", "promote"))
    assert second.upstream_task_ids == {"approval", "evaluated_candidate"}
    assert promote.upstream_task_ids >= {"approval", "approval_2"} and promote.required_approvals == 2
    assert [a.operator.task_id for a in second.earlier_approvals] == ["approval"]
    assert (first.step, second.step, second.required) == (1, 2, 2)
    # Both requests ask for a reason.
    assert "reason" in first.params and "reason" in second.params

    fraud.write_text(fraud.read_text().replace("required_approvals: 2 ", "required_approvals: 3 "))
    error = next(iter(_dagbag().import_errors.values()))
    assert "required_approvals 3 needs at least as many distinct reviewers, got 2" in error


def test_the_gated_risk_table_schedules_the_online_refresh_of_its_features():
    bag = _dagbag()
    pipeline, online = bag.dags["integrity_fraud"], bag.dags["integrity_fraud_online_features"]
    published = {
        t.task_id: [a.uri for a in t.outlets] for t in pipeline.tasks if t.outlets and t.task_id.startswith("extract.")
    }
    assert published == {
        "extract.quality_gate_account_daily": ["hive://warehouse/features/account_daily"],
        "extract.quality_gate_account_realtime_5m": ["hive://warehouse/features/account_realtime_5m"],
        "extract.quality_gate_account_realtime_1h": ["hive://warehouse/features/account_realtime_1h"],
        "extract.quality_gate_fraud_daily": ["hive://warehouse/features/fraud_daily"],
        "extract.hive_extract_labels": ["hive://warehouse/features/labels"],
    }
    assert [a.uri for a in online.timetable.asset_condition.objects] == ["hive://warehouse/features/fraud_daily"]
    materialize = online.get_task("feast_materialize")
    assert materialize.feature_service == "fraud_v2" and materialize.pool == "feast"
    assert "feast_materialize" not in {t.task_id.split(".")[-1] for t in pipeline.tasks}


def test_the_materialized_window_spans_the_days_the_asset_events_name():
    from types import SimpleNamespace

    from integrity_risk.operators.feast_materialize import days_of_asset_events

    asset = "hive://warehouse/features/fraud_daily"
    events = {
        asset: [
            SimpleNamespace(extra={"ds": "2026-05-03"}),
            SimpleNamespace(extra={"ds": "2026-05-01"}),
            SimpleNamespace(extra={}),
            SimpleNamespace(extra={"ds": "2026-05-03"}),
        ]
    }
    assert [d.isoformat() for d in days_of_asset_events(events)] == ["2026-05-01", "2026-05-03"]
    assert days_of_asset_events({}) == []


def test_a_broken_risk_yaml_is_one_import_error_naming_file_and_key(tmp_path, monkeypatch):
    broken = _fraud_yaml_in_a_copy(tmp_path, monkeypatch)
    broken.write_text(broken.read_text().replace("batch_size: 256", "batch_size: lots"))

    bag = _dagbag()

    assert list(bag.import_errors) == [str(DAGS / "integrity_fraud.py")]
    error = next(iter(bag.import_errors.values()))
    assert str(broken) in error and "model.batch_size" in error and "valid integer" in error
    others = [r for r in RISK_TYPES if r != "fraud"]
    assert set(bag.dag_ids) == (
        {f"integrity_{r}" for r in others}
        | {f"integrity_{r}_online_features" for r in others}
        | {f"integrity_{r}_promotion" for r in others}
        | {"model_rollback", "model_override", "accept_partition", "streaming_features"}
    )


def test_the_schedule_catches_up_from_start_date_and_stops_at_the_yamls_end_date(tmp_path, monkeypatch):
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    from integrity_local.deployment import e2e_risk_yaml

    fraud = _fraud_yaml_in_a_copy(tmp_path, monkeypatch)
    # The e2e's YAML: the world's last day is its end, whatever the clock says when the scheduler looks.
    fraud.write_text(
        e2e_risk_yaml(fraud.read_text(), dt.date(2026, 5, 1), dt.date(2026, 4, 20), end=dt.date(2026, 5, 3))
    )
    # The DAG as the scheduler sees it, serialized, and the runs it would create one after the other.
    dag = LazyDeserializedDAG.from_dag(_dagbag().dags["integrity_fraud"])
    runs, info = [], None
    while len(runs) < 10:
        info = dag.next_dagrun_info(last_automated_run_info=info)
        if info is None:
            break
        runs.append((info.data_interval.start.date().isoformat(), info.data_interval.end.date().isoformat()))
    assert runs == [("2026-05-01", "2026-05-02"), ("2026-05-02", "2026-05-03"), ("2026-05-03", "2026-05-04")]


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_a_dag_file_imports_nothing_heavy_at_parse_time(dag_file):
    probe = (
        "import runpy, sys\n"
        f"runpy.run_path({str(DAGS / dag_file)!r})\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], f"{dag_file} imports at parse time: {heavy}"


def test_training_runs_every_cycle_days_from_the_start_date_unless_the_param_decides():
    from integrity_risk.model_cycle import is_model_day

    start = "2026-03-01"
    auto = [ds for ds in (f"2026-03-{d:02d}" for d in range(1, 22)) if is_model_day("auto", ds, start, 7)]
    assert auto == ["2026-03-07", "2026-03-14", "2026-03-21"]
    assert is_model_day("yes", "2026-03-02", start, 7) and not is_model_day("no", "2026-03-07", start, 7)
    assert not is_model_day("auto", "2026-02-27", start, 7)


def test_feature_drift_runs_after_the_extract_gates_and_before_model_cycle():
    dag = _dagbag().dags["integrity_fraud"]
    drift = dag.get_task("feature_drift")
    assert {"extract.quality_gate_fraud_daily", "extract.quality_gate_account_daily"} <= drift.get_flat_relative_ids(
        upstream=True
    )
    # model_cycle reads the day's figures from eval.feature_drift: it must run after they are written.
    assert "model_cycle" in drift.downstream_task_ids
    # Drift informs and triggers, it never holds the features back: not upstream of feast_apply.
    assert "features.feast_apply" not in drift.get_flat_relative_ids(upstream=False)
    cycle = dag.get_task("model_cycle").op_kwargs
    assert cycle["model_cycle"] == "fixed" and cycle["risk_type"] == "fraud"
    # fraud.yaml leaves it null: maturity 3 + validation 2 + test 2 + 1.
    assert cycle["retrain_delay_days"] == 8
    assert drift.bounds["noise_multiplier"] == 2.0
    # The first task refuses a day before the DAG's first day at once (a backfill's typo).
    assert dag.get_task("extract.wait_upstream").not_before == "2026-03-01"
    assert [n["class"] for n in drift.notifiers] == ["integrity_risk.notifiers.log.LogNotifier"]


def test_on_drift_trains_on_a_drifted_day_and_the_param_still_decides():
    from integrity_risk.model_cycle import is_model_day

    start = "2026-03-01"
    assert is_model_day("auto", "2026-03-03", start, 7, "on_drift", True)
    assert not is_model_day("auto", "2026-03-03", start, 7, "on_drift", False)
    assert not is_model_day("auto", "2026-03-03", start, 7, "fixed", True)  # the fixed cycle ignores drift
    assert is_model_day("auto", "2026-03-07", start, 7, "on_drift", False)  # and on_drift keeps the cycle
    assert not is_model_day("no", "2026-03-03", start, 7, "on_drift", True)
    assert is_model_day("yes", "2026-03-03", start, 7, "fixed", False)


def test_a_drift_begins_on_a_drifted_day_after_calm_ones_so_a_persisting_or_flickering_drift_trains_once():
    from integrity_risk.model_cycle import drift_began

    days = {"2026-03-01": False, "2026-03-02": True, "2026-03-03": True, "2026-03-05": True, "2026-03-06": False}
    assert drift_began(days, "2026-03-02")
    assert not drift_began(days, "2026-03-03")  # the same drift, still there: the fixed cycle's
    assert not drift_began(days, "2026-03-01")  # calm
    assert drift_began(days, "2026-03-05")  # the day before has no figures: nothing says it drifted then
    assert not drift_began(days, "2026-03-09")  # no figures at all
    # A drift that flickers around its bound: quiet days before a new beginning, as many as the delay.
    assert not drift_began(days, "2026-03-05", quiet_days=3)  # 03-03 drifted, within 3 days
    assert drift_began({**days, "2026-03-09": True}, "2026-03-09", quiet_days=3)  # 03-06..03-08 calm


def test_the_dags_whose_service_reads_the_graph_build_it_after_the_labels_and_the_wider_cleaning():
    """The graph's features need the day's components (from its edges over the graph's
    window, so every raw day of that window cleaned) and the day's labels."""
    from integrity_risk.config.graph import graph_settings
    from integrity_risk.config.tables import GRAPH_TABLE

    bag = _dagbag()
    with_graph = [risk for risk in RISK_TYPES if GRAPH_TABLE in risk_config(risk).extract.shared_tables]
    assert {"abusive_account", "fake_engagement"} <= set(with_graph)
    for risk in RISK_TYPES:
        dag = bag.dags[f"integrity_{risk}"]
        ids = {t.task_id for t in dag.tasks}
        graph_tasks = ("extract.graph_edges", "extract.graph_components", "extract.hive_extract_graph_daily")
        if risk not in with_graph:
            assert not set(graph_tasks) & ids, risk
            continue
        edges, components, features = (dag.get_task(t) for t in graph_tasks)
        assert edges.lookback_days == graph_settings().window_days
        assert dag.get_task("extract.clean_events").lookback_days >= edges.lookback_days
        assert "extract.clean_events" in edges.upstream_task_ids
        assert edges.task_id in components.upstream_task_ids
        assert {components.task_id, "extract.hive_extract_labels"} <= features.upstream_task_ids
        # The hub bound is applied once, where the edges are written; the components and the
        # features read the edges' hub column.
        assert edges.sql_vars == {"hub_max_accounts": graph_settings().hub_max_accounts}
        assert features.sql_vars == {"label_maturity_days": graph_settings().label_maturity_days}
        # Written once a day between the DAGs, in the shared tables' pool, like the other shared tables.
        assert {t.pool for t in (edges, components, features)} == {"shared_tables"}
