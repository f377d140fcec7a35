"""One Airflow DAG per risk type, built from ``include/risks/<risk>.yaml``.

A DAG file calls :func:`build_risk_pipeline` with its risk type and nothing else.
This module imports only the Airflow SDK and the project's operators, whose heavy
libraries (TensorFlow, Feast, pandas, MLflow) load inside ``execute``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, BaseOperator, CronDataIntervalTimetable, Param, TaskGroup, task

from integrity_risk.assets import table_asset
from integrity_risk.config.graph import graph_settings
from integrity_risk.config.health import load_upstream_health
from integrity_risk.config.risk import RiskConfig, risk_config
from integrity_risk.config.tables import GRAPH_TABLE, SHARED_EXTRACTS, shared_table_rules
from integrity_risk.model_cycle import model_day
from integrity_risk.operators.auto_gates import AutoGatesOperator
from integrity_risk.operators.clean_events import CleanEventsOperator
from integrity_risk.operators.feast_apply import FeastApplyOperator
from integrity_risk.operators.feast_materialize import FeastMaterializeOperator
from integrity_risk.operators.feature_drift import FeatureDriftOperator
from integrity_risk.operators.graph_components import GraphComponentsOperator
from integrity_risk.operators.hive_extract import HiveExtractOperator
from integrity_risk.operators.quality_gate import QualityGateOperator
from integrity_risk.operators.request_approval import RequestApprovalOperator
from integrity_risk.operators.shadow_eval import ShadowEvalOperator
from integrity_risk.operators.tf_train import TFTrainOperator
from integrity_risk.operators.training_set import TrainingSetOperator
from integrity_risk.operators.upstream_health import UpstreamHealthOperator
from integrity_risk.paths import hql_dir
from integrity_risk.sensors.history import TrailingPartitionsSensor
from integrity_risk.sensors.upstream import UpstreamPartitionsSensor

HIVE_POOL = "hiveserver2"
GPU_POOL = "gpu"
FEAST_POOL = "feast"
# Every risk DAG writes the tables all risks share. Two overwrites of one partition at
# once are unsafe in Spark (each commit renames its staging folder onto the partition;
# the second lands inside the first, and file readers then see every row twice), so
# their writes take turns in a pool of one slot, and a run leaves a day another risk's
# run wrote as it is unless its param rewrite_shared_tables asks.
SHARED_TABLES_POOL = "shared_tables"
GPU_QUEUE = "gpu"
SHARED_TABLE = "features.account_daily"
# A day with events is a day whose features the training window needs; the training set
# waits this long for the window's days still being extracted.
HISTORY_UPSTREAM = "raw.user_events"
TRAINING_WINDOW_WAIT_HOURS = 12

DOC = """\
### Integrity risk pipeline: `{risk}`

{description}

Owner: **{owner}**. Built from `include/risks/{risk}.yaml` by `src/integrity_risk/dag_factory.py`;
change the YAML, not this DAG.

| stage | what it does |
|---|---|
| `extract` | waits for the day's `raw.*` partitions (up to their deadline), checks their health (volumes per event type against the trailing days, dirty, duplicate and NULL rates), cleans and deduplicates the day's events once into `clean.user_events`, pseudonymizes and aggregates them into `{table}`, `{shared}` and `features.labels` (Hive, `INSERT OVERWRITE`; `features.graph_daily` from the account graph's edges and components, `graph_edges` and `graph_components`), then checks each feature partition's health (schema, keys, NULLs, ranges) |
| `features` | `feast apply` when the repo changed (the DAG `{dag_id}_online_features`, scheduled on the gated `{table}` Asset, materializes each day online) |
| `feature_drift` | on queue `gpu` (the champion scores the day), PSI of every feature against the champion's training window, volumes against the trailing days, the champion's scores on the day: `eval.feature_drift`; notifies the platform team past a `drift:` bound; never blocks |
| `model_cycle` | trains only every {cycle} days{on_drift} (param `run_training`: auto, yes, no); other days stop after `features` |
| `training_set` | point-in-time join of matured labels (`maturity_days` {maturity}) with features, split by time |
| `train` | multi-task TensorFlow model (heads: {tasks}) on queue `gpu`; registers a `candidate` version of `integrity_{risk}` in MLflow |
| `evaluate` | on queue `gpu` (TensorFlow), scores the held-out labelled days and every account of the days after the training cutoff with `champion` and `candidate`, writes `eval.shadow_scores` (the population), builds the HTML report, applies the YAML's gates |
| `request_approval` | when the gates passed, starts a run of `{dag_id}_promotion` for the candidate: a reviewer ({reviewers}) approves or rejects it there (Browse → Required Actions), with a reason; no answer within {timeout} h leaves production as it is; `promote` then moves `champion` and writes the audit entry. This run does not wait for the answer |

Backfill a range with `airflow backfill create --dag-id {dag_id} --from-date ... --to-date ...`:
every task reads its day from the run's data interval, so a backfilled day equals the scheduled one.
A failing gate fails `evaluate.auto_gates` with the gate, the figure and the bound; nobody is asked to approve.
A failing health gate (`extract.upstream_health`, `extract.quality_gate_*`) names the check, the figure and the
bound and stops the day; when the platform team knows the day is right, it accepts the partition with the
`accept_partition` DAG (audited), and a clear of the gate lets it pass.
Roll back with the `model_rollback` DAG.
"""


def risk_default_args(cfg: RiskConfig) -> dict:
    return {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3: each wait doubles
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(hours=2),
    }


_SHARED_WRITE: dict[str, Any] = {
    "pool": SHARED_TABLES_POOL,
    "skip_existing": "{{ not params.rewrite_shared_tables }}",
    "reuse_existing": "{{ params.reuse_features and not params.rewrite_shared_tables }}",
}


def _output(task: BaseOperator, key: str | None = None) -> Any:
    """What ``task`` returns (its ``key``), as another task's argument.

    An XComArg, which Airflow resolves when the receiving task renders its templates; typed
    Any because the receiving operator declares the type of the resolved value.
    """
    output: Any = task.output
    return output if key is None else output[key]


def _graph_components() -> tuple[BaseOperator, BaseOperator]:
    """The account graph's edges and components of the day (its features are a shared table)."""
    settings = graph_settings()
    edges = HiveExtractOperator(
        task_id="graph_edges",
        doc_md="The devices and IPs each account used over the graph's window (include/tables/graph.yaml).",
        hql="graph/account_edges.hql",
        table="graph.account_edges",
        ddl="graph_tables.hql",
        lookback_days=settings.window_days,
        sql_vars={"hub_max_accounts": settings.hub_max_accounts},
        outlets=[],
        **_SHARED_WRITE,
    )
    components = GraphComponentsOperator(task_id="graph_components", outlets=[], **_SHARED_WRITE)
    edges >> components
    return edges, components


def _extract_group(cfg: RiskConfig) -> TaskGroup:
    upstream = load_upstream_health()
    with TaskGroup("extract", tooltip="Upstream freshness and health, Hive extracts, their quality gates") as group:
        # Health first: an upstream outage stops the day before anything is built from it.
        wait_upstream = UpstreamPartitionsSensor(
            task_id="wait_upstream",
            tables=upstream.partitions,
            pool=HIVE_POOL,
            timeout=dt.timedelta(hours=upstream.upstream_deadline_hours),
            poke_interval=60,
            not_before=cfg.first_day.isoformat(),
        )
        upstream_health = UpstreamHealthOperator(task_id="upstream_health", config=upstream, pool=HIVE_POOL)
        # The day's raw events are cleaned and deduplicated once, for every risk's extracts;
        # the earlier days of the look-back too, when no run cleaned them yet.
        shared = [SHARED_TABLE, *cfg.extract.shared_tables]
        clean_events = CleanEventsOperator(
            task_id="clean_events",
            doc_md="Cleans the day's raw.user_events (and any raw day of the look-back not cleaned yet) "
            "into clean.user_events, which every feature extract reads.",
            # The graph's edges read the longest look-back, when the service reads the graph.
            lookback_days=max(7, graph_settings().window_days) if GRAPH_TABLE in shared else 7,
            **_SHARED_WRITE,
        )
        wait_upstream >> upstream_health >> clean_events
        labels = HiveExtractOperator(
            task_id="hive_extract_labels",
            hql="labels.hql",
            table="features.labels",
            **_SHARED_WRITE,
            required_partitions=("raw.enforcement_labels",),
        )
        upstream_health >> labels
        gates = []
        for table, hql, ddl, rules, min_rows in (
            *((t, SHARED_EXTRACTS[t].hql, "feature_tables.hql", shared_table_rules(t), 1) for t in shared),
            (cfg.extract.table, cfg.extract.hql, cfg.extract.ddl, cfg.extract.quality, cfg.extract.min_rows),
        ):
            short = table.split(".", 1)[1]
            # The gate, not the extract, publishes the table's Asset: a partition counts as
            # updated once it passed its checks.
            extract = HiveExtractOperator(
                task_id=f"hive_extract_{short}",
                hql=hql,
                table=table,
                ddl=ddl,
                outlets=[],
                **(
                    {**_SHARED_WRITE, "lookback_days": _shared_lookback_days(table)}
                    if table in shared
                    else {"pool": HIVE_POOL, "reuse_existing": "{{ params.reuse_features }}"}
                ),
                sql_vars=_graph_sql_vars() if table == GRAPH_TABLE else None,
            )
            gate = QualityGateOperator(
                task_id=f"quality_gate_{short}",
                table=table,
                ddl=ddl,
                rules=rules,
                pool=HIVE_POOL,
                outlets=[table_asset(table)],
                min_rows=min_rows,
            )
            if table == GRAPH_TABLE:  # its components first, and the labels it counts
                edges, components = _graph_components()
                clean_events >> edges
                [components, labels] >> extract
            else:
                clean_events >> extract
            extract >> gate
            gates.append(gate)
        # The risk table's Asset schedules the online refresh of the service's views, so it
        # is published only once the shared tables passed too.
        gates[:-1] >> gates[-1]
    return group


def _shared_lookback_days(table: str) -> int:
    """The shared extract's look-back: the graph's features read the graph's window (graph.yaml)."""
    return graph_settings().window_days if table == GRAPH_TABLE else SHARED_EXTRACTS[table].lookback_days


def _graph_sql_vars() -> dict[str, int]:
    return {"label_maturity_days": graph_settings().label_maturity_days}


def build_risk_pipeline(risk_type: str) -> DAG:
    """The DAG ``integrity_<risk_type>``; raises RiskConfigError naming the YAML on a bad config."""
    cfg = risk_config(risk_type)
    ev = cfg.evaluation
    doc = DOC.format(
        risk=risk_type,
        description=cfg.description,
        owner=cfg.owner,
        table=cfg.extract.table,
        shared="`, `".join([SHARED_TABLE, *cfg.extract.shared_tables]),
        maturity=cfg.labels.maturity_days,
        tasks=", ".join(cfg.model.tasks),
        reviewers=", ".join(cfg.approval.reviewers),
        timeout=cfg.approval.response_timeout_hours,
        dag_id=cfg.dag_id,
        cycle=cfg.model_cycle_days,
        on_drift=(
            f", and {cfg.drift_retrain_delay_days} days after a drift began (`model_cycle: on_drift`)"
            if cfg.model_cycle == "on_drift"
            else ""
        ),
    )
    with DAG(
        dag_id=cfg.dag_id,
        description=cfg.description,
        doc_md=doc,
        # A run for day D covers [D, D+1): ds, the data interval and a backfill agree.
        schedule=CronDataIntervalTimetable(cfg.schedule, timezone="UTC") if cfg.schedule else None,
        start_date=dt.datetime.combine(cfg.start_date, dt.time(), tzinfo=dt.UTC),
        # The last run's data interval starts on end_date: the timetable stops there.
        end_date=dt.datetime.combine(cfg.end_date, dt.time(), tzinfo=dt.UTC) if cfg.end_date else None,
        catchup=cfg.catchup,
        max_active_runs=cfg.max_active_runs,
        default_args=risk_default_args(cfg),
        template_searchpath=[str(hql_dir())],
        tags=["integrity", risk_type, cfg.owner],
        dagrun_timeout=dt.timedelta(hours=72),
        params={
            "run_training": Param(
                "auto",
                enum=["auto", "yes", "no"],
                description=f"Train, evaluate and ask for approval of the candidate: auto = every "
                f"{cfg.model_cycle_days} days from the start date; yes; no = features only.",
            ),
            "rewrite_shared_tables": Param(
                False,
                type="boolean",
                description=f"Write this day's clean.user_events, {SHARED_TABLE} and features.labels again "
                "even if another risk's run wrote them (after a change to their HQL or a late upstream day); "
                "clearing their tasks does too (clear clean_events with its downstream tasks).",
            ),
            "reuse_features": Param(
                False,
                type="boolean",
                description="Keep this day's partitions that exist (clean.user_events, "
                f"{SHARED_TABLE}, {cfg.extract.table}, features.labels) even when the run is a "
                "re-run: train and evaluate again on the features already extracted (rewrite_shared_tables "
                "still rewrites the shared ones). Off, a re-run writes the day's features again.",
            ),
            "label_control": Param(
                "none",
                enum=["none", "permute", "invert"],
                description="Control run that checks the gates: train on permuted or inverted labels. "
                "An inverted candidate is worse than chance, and the automatic gates must "
                "stop it before anyone is asked to approve.",
            ),
        },
    ) as dag:
        extract = _extract_group(cfg)
        with TaskGroup("features", tooltip="Feast: apply the repo when it changed") as features:
            # Materialization online is the job of the DAG integrity_<risk>_online_features,
            # scheduled on the extract Assets: the online store follows every extract, daily,
            # whatever the model cycle.
            FeastApplyOperator(task_id="feast_apply", pool=FEAST_POOL)
        # Beside `features`, not before it: drift informs and may trigger training, it never
        # holds the features back. It reads the feature repo's files, not the registry.
        feature_drift = FeatureDriftOperator(
            task_id="feature_drift",
            risk_type=risk_type,
            feature_service=cfg.training_set.feature_service,
            bounds=cfg.drift.model_dump(
                include={"max_psi", "noise_multiplier", "max_flag_rate_ratio", "min_volume_ratio", "max_volume_ratio"}
            ),
            reference_days=cfg.drift.reference_days,
            volume_columns=cfg.drift.volume_columns,
            operating_fpr=ev.operating_fpr,
            notifiers=[{"class": n.class_, "kwargs": n.kwargs} for n in cfg.drift.notify],
            # The champion scores the day (its flag rate drifts too): TensorFlow, on the gpu
            # queue's workers; the default queue's have none (seen on scripts/topology.sh).
            queue=GPU_QUEUE,
            pool=HIVE_POOL,
            doc_md="Behaviour drift of the day (eval.feature_drift); notifies past the YAML's drift bounds; never blocks.",
        )
        model_cycle = ShortCircuitOperator(
            task_id="model_cycle",
            python_callable=model_day,
            op_kwargs={
                "run_training": "{{ params.run_training }}",
                "ds": "{{ ds }}",
                "start_ds": cfg.start_date.isoformat(),
                "cycle_days": cfg.model_cycle_days,
                "model_cycle": cfg.model_cycle,
                "risk_type": risk_type,
                "retrain_delay_days": cfg.drift_retrain_delay_days,
            },
            doc_md="Skips training and evaluation on days that only refresh features.",
        )
        training_set = TrainingSetOperator(
            task_id="training_set",
            risk_type=risk_type,
            tasks=cfg.model.tasks,
            feature_service=cfg.training_set.feature_service,
            options={
                "lookback_days": cfg.training_set.lookback_days,
                "validation_days": cfg.training_set.validation_days,
                "test_days": cfg.training_set.test_days,
                "negatives_per_positive": cfg.labels.negatives_per_positive,
                "maturity_days": cfg.labels.maturity_days,
                "exclusive_of": cfg.labels.exclusive_of,
            },
            sequence=cfg.training_set.sequence.model_dump() if cfg.training_set.sequence.days else None,
        )
        # Steps hand each other their outputs (XComArgs, resolved when the task renders its
        # templates): no step names another's task id or rebuilds its paths.
        train = TFTrainOperator(
            task_id="train",
            risk_type=risk_type,
            queue=GPU_QUEUE,
            pool=GPU_POOL,
            training_set=_output(training_set, "path"),
            model_config=cfg.model.model_dump(mode="json"),  # validated at parse; the trainer validates it again
            label_control="{{ params.label_control }}",
            multiple_outputs=True,  # _output(train, "version") below is the version this run registered
        )
        with TaskGroup("evaluate", tooltip="Shadow evaluation against production and automatic gates") as evaluate:
            shadow_eval = ShadowEvalOperator(
                task_id="shadow_eval",
                risk_type=risk_type,
                candidate_version=_output(train, "version"),
                evaluation_data=_output(training_set, "test_path"),
                operating_fpr=ev.operating_fpr,
                n_bootstrap=ev.n_bootstrap,
                min_slice_size=ev.min_slice_size,
                max_psi=cfg.drift.max_psi,  # marked on the report's drift heat map
                # Every account of the days after the training cutoff, scored by both models.
                feature_service=cfg.training_set.feature_service,
                population_days=ev.population_days,
                population_batch_accounts=ev.population_batch_accounts,
                maturity_days=cfg.labels.maturity_days,  # the labels the metrics trust, as the training set's
                exclusive_of=cfg.labels.exclusive_of,
                # Scoring loads the TensorFlow models: the gpu queue's workers have TensorFlow,
                # the default queue's do not (requirements/common.txt).
                queue=GPU_QUEUE,
                pool=HIVE_POOL,
            )
            AutoGatesOperator(
                task_id="auto_gates",
                gates=ev.gates.model_dump(exclude_none=True),
                metrics=_output(shadow_eval),
            )
        # The reviewers are asked in a run of the promotion DAG, one per evaluated candidate: each
        # candidate gets requests of its own, and this run does not wait for the reviewers.
        request_approval = RequestApprovalOperator(
            task_id="request_approval",
            promotion_dag_id=cfg.promotion_dag_id,
            metrics=_output(shadow_eval),
            doc_md="Starts a run of the promotion DAG that asks the reviewers about this run's candidate.",
        )
        extract >> [features, feature_drift]
        # The training set joins lookback_days of features: it waits (reschedule mode) until each
        # of those days that has upstream data is extracted, e.g. while a backfill of the history
        # still runs beside the scheduler's run, instead of training on the few days done so far.
        window = [
            TrailingPartitionsSensor(
                task_id=f"wait_training_window_{table.split('.', 1)[1]}",
                table=table,
                upstream=HISTORY_UPSTREAM,
                trailing_days=cfg.training_set.lookback_days,
                pool=HIVE_POOL,
                timeout=dt.timedelta(hours=TRAINING_WINDOW_WAIT_HOURS),
                poke_interval=30,
            )
            for table in (SHARED_TABLE, cfg.extract.table)
        ]
        [features, feature_drift] >> model_cycle >> window >> training_set >> train >> evaluate >> request_approval
        _watch(dag, exclude=(model_cycle,))
    return dag


@task(trigger_rule="one_failed", retries=0, doc_md="""Fails the run when any task failed, whatever the leaves did.""")
def watcher() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException("a task of this run failed (see the failed task); the run is failed with it")


def _watch(dag: DAG, exclude) -> None:
    """Airflow's watcher pattern: a run in which any task failed ends failed, not green.

    A run's state comes from its leaf tasks only, and a skip decision can reach a leaf past a
    failure: a skipping task's decision is an XCom that clearing keeps, so a day re-run after
    it skipped can skip its leaves again although a gate failed this time. The watcher is
    downstream of every task except those that skip their downstream tasks (``exclude``:
    ``model_cycle``), so their decisions cannot skip it; ``model_cycle`` still skips it on
    feature-only days, as it skips everything after it.
    """
    skipping = {t.task_id for t in exclude}
    watch: Any = watcher()  # an XComArg of the watcher task
    for upstream in list(dag.tasks):
        if upstream.task_id not in skipping and upstream is not watch.operator:
            upstream >> watch


ONLINE_DOC = """\
### Online features: `{risk}`

Materializes the `{service}` feature views into Feast's online store whenever the
`{dag_id}` DAG publishes a day of `{table}` (the Asset its quality gate emits once
both that table and `{shared}` passed). Each run loads the days named by the asset
events that triggered it, so a backfill of the history is loaded too, in as few runs
as the events allow. The online store serves the newest values whatever the order.

Owner: **{owner}**. Built from `include/risks/{risk}.yaml` by `src/integrity_risk/dag_factory.py`.
"""


def build_online_features(risk_type: str) -> DAG:
    """The DAG ``integrity_<risk_type>_online_features``, scheduled on the risk table's Asset."""
    cfg = risk_config(risk_type)
    with DAG(
        dag_id=f"{cfg.dag_id}_online_features",
        description=f"Materialize {risk_type} features online after each gated extract",
        doc_md=ONLINE_DOC.format(
            risk=risk_type,
            service=cfg.training_set.feature_service,
            dag_id=cfg.dag_id,
            table=cfg.extract.table,
            shared=SHARED_TABLE,
            owner=cfg.owner,
        ),
        schedule=[table_asset(cfg.extract.table)],
        start_date=dt.datetime.combine(cfg.start_date, dt.time(), tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=risk_default_args(cfg),
        tags=["integrity", risk_type, cfg.owner, "features"],
        dagrun_timeout=dt.timedelta(hours=12),
    ) as dag:
        FeastApplyOperator(task_id="feast_apply", pool=FEAST_POOL) >> FeastMaterializeOperator(
            task_id="feast_materialize",
            risk_type=risk_type,
            feature_service=cfg.training_set.feature_service,
            pool=FEAST_POOL,
        )
    return dag
