"""The main job on the embedded default: from generated traffic to an approval request.

Starts the real components (HiveServer2, Airflow), loads the synthetic upstream
world, backfills the risk DAG over the history with features only, then runs the
last day with training and evaluation, and stops where a reviewer must answer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shlex
import time

from integrity_local.airflow_api import AirflowApiError
from integrity_risk.config.risk import risk_config
from integrity_risk.paths import local_dir

APPROVAL_TASK = "approval"
REQUEST_TASK = "request_approval"
MODEL_CYCLE_TASK = "model_cycle"
WAITING = {"awaiting_input", "deferred"}


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def demo_connections(hs2_uri: str) -> None:
    """Connections of the embedded default, as Airflow reads them: environment variables.

    The pseudonymization key is random per checkout, kept in .local/secrets (ignored
    by git), never in code.
    """
    key_file = local_dir() / "secrets" / "pseudonymization.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_hex(32))
    os.environ["AIRFLOW_CONN_HIVESERVER2_DEFAULT"] = hs2_uri
    os.environ["AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"] = json.dumps(
        {"conn_type": "generic", "password": key_file.read_text().strip()}
    )


def demo_environment(airflow_url: str) -> None:
    from integrity_risk.tracking import tracking_uri

    os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri())
    os.environ.setdefault("INTEGRITY_REPORT_BASE_URL", f"{airflow_url}/integrity/reports")


def demo_world(start: str, days: int, accounts: int, seed: int):
    """The demo's world: more of the abuse gets labelled, and sooner, than the generator's
    default, so a two-week history holds enough matured labels to train and judge a model.
    """
    from integrity_local.synthetic import WorldConfig

    return WorldConfig(
        seed=seed,
        start_ds=start,
        days=days,
        n_accounts=accounts,
        events_per_account=8.0,
        label_rate=0.8,
        label_delay_days=(1, 5),
    )


def world_dir(start: str, days: int, accounts: int, seed: int):
    """Where the demo writes the world of these settings."""
    return local_dir() / "synthetic" / f"seed{seed}-{start}-{days}d-{accounts}"


def load_world_once(start: str, days: int, accounts: int, seed: int) -> None:
    """Generate and load the synthetic world, unless this exact world is already loaded."""
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    from integrity_local.synthetic import load_world, write_world

    cfg = demo_world(start, days, accounts, seed)
    out_dir = world_dir(start, days, accounts, seed)
    marker = out_dir / ".loaded"
    hook = HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    if marker.exists():
        if _upstream_tables_present(hook):
            step(f"synthetic world already loaded ({out_dir})")
            return
        # The state folder kept the world but lost the warehouse (a cleaned hiveserver2/ folder).
        step(f"synthetic world {out_dir} was loaded into a warehouse that no longer has its tables: loading it again")
        marker.unlink()
    step(f"generating {days} days of synthetic traffic for {accounts} accounts (seed {seed})")
    began = time.monotonic()
    print(f"    {write_world(cfg, out_dir)} in {time.monotonic() - began:.1f}s")
    step("creating the upstream tables and loading the partitions through HiveServer2")
    began = time.monotonic()
    load_world(hook, out_dir)
    marker.touch()
    print(f"    loaded in {time.monotonic() - began:.1f}s")


def _upstream_tables_present(hook) -> bool:
    from integrity_local.upstream import UPSTREAM_TABLES

    if "raw" not in {row[0] for row in hook.get_records("SHOW DATABASES")}:
        return False
    tables = {row[1] for row in hook.get_records("SHOW TABLES IN raw")}  # (database, table, is temporary)
    return all(table.split(".", 1)[1] in tables for table in UPSTREAM_TABLES)


def show_upstream_partitions() -> None:
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    from integrity_local.upstream import UPSTREAM_TABLES

    step("upstream tables, queried back through HiveServer2")
    hook = HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    for table in UPSTREAM_TABLES:
        rows = hook.get_records(f"SELECT ds, count(*) FROM {table} GROUP BY ds ORDER BY ds")
        print(
            f"    {table}: {len(rows)} partitions, {sum(n for _, n in rows)} rows ({rows[0][0]} .. {rows[-1][0]})"
            if rows
            else f"    {table}: empty"
        )


def backfill(
    api,
    dag_id: str,
    first: dt.date,
    last: dt.date,
    run_training: str,
    reprocess: str = "failed",
    conf: dict | None = None,
    max_active_runs: int = 1,
) -> None:
    """Airflow's own backfill over [first, last] (``airflow backfill create`` through the REST API)."""
    days = [(first + dt.timedelta(d)).isoformat() for d in range((last - first).days + 1)]
    existing = api.runs_by_day(dag_id)
    if reprocess == "failed" and all(existing.get(d, {}).get("state") == "success" for d in days):
        print(f"    {dag_id}: {first}..{last} already done")
        return
    body = {
        "dag_id": dag_id,
        "from_date": f"{first}T00:00:00Z",
        "to_date": f"{last}T00:00:00Z",
        "dag_run_conf": {"run_training": run_training, **(conf or {})},
        "max_active_runs": max_active_runs,
        "reprocess_behavior": reprocess,
    }
    for attempt in range(5):
        wait_for_backfills_to_close(api, dag_id)
        before = {b.get("id") for b in api.backfills(dag_id)}
        try:
            # Not the client's quick 503 retry: on SQLite Airflow commits the backfill before
            # its runs, and a lock error in between answers 503 while it removes the half-made
            # one, so a retry a second later met it (409, seen in the e2e). Wait for it to go.
            api.request("POST", "/backfills", json=body, retries=0)
            return
        except AirflowApiError as err:
            if err.status not in (409, 500, 503) or attempt == 4:
                raise
            # A lock error after the commit (Airflow's own action log, seen answering 500 under
            # five DAGs' backfills) leaves the backfill made: posting again would wait it out.
            if err.status == 500 and any(
                b.get("id") not in before and not b.get("completed_at") for b in api.backfills(dag_id)
            ):
                print(f"    {dag_id}: the backfill was made although the API answered {err.status}")
                return
            print(f"    {dag_id}: backfill not created ({err}); trying again once no backfill is open")
            time.sleep(2**attempt)


def wait_for_backfills_to_close(api, dag_id: str, timeout: float = 300) -> None:
    """Airflow allows one active backfill per DAG; the scheduler closes one shortly after its runs end."""
    deadline = time.monotonic() + timeout
    while True:
        if all(b.get("completed_at") for b in api.backfills(dag_id)):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dag_id}: a backfill is still open after {timeout:.0f}s; see {api.base_url}")
        time.sleep(3)


def is_training_run(api, dag_id: str, run: dict | None) -> bool:
    """Whether a day's run passed its features and trains (``model_cycle`` chose a model day)."""
    if run is None or api.task_states(dag_id, run["dag_run_id"]).get(MODEL_CYCLE_TASK) != "success":
        return False
    try:
        value = api.xcom(dag_id, run["dag_run_id"], MODEL_CYCLE_TASK)
    except AirflowApiError:
        return False
    return value in (True, "true", "True")


def wait_for_days(api, dag_id: str, first: dt.date, last: dt.date) -> None:
    """Wait until every day's features are done: its run succeeded, or it passed them and trains.

    A day the model cycle trains on goes on to train, evaluate and ask for approval (or stops
    at its gates) after its features are done; the demo judges that part at the end.
    """
    days = [(first + dt.timedelta(d)).isoformat() for d in range((last - first).days + 1)]
    shown = None
    finished: set[str] = set()
    while True:
        runs = api.runs_by_day(dag_id)
        for d in days:
            run = runs.get(d)
            # Only a started run can have passed model_cycle: queued ones cost no API calls.
            if (
                d not in finished
                and run
                and (
                    run["state"] == "success"
                    or (run["state"] in ("running", "failed") and is_training_run(api, dag_id, run))
                )
            ):
                finished.add(d)
        failed = [d for d in days if d not in finished and runs.get(d, {}).get("state") == "failed"]
        if failed:
            raise RuntimeError(
                f"{dag_id}: the runs of {failed} failed; open {api.base_url}/dags/{dag_id} to see which task"
            )
        if len(finished) != shown:
            print(f"    {dag_id} {first}..{last}: {len(finished)}/{len(days)} days done", flush=True)
            shown = len(finished)
        if len(finished) == len(days):
            return
        time.sleep(5)


def start_model_run(api, dag_id: str, day: dt.date, timeout: float = 300) -> None:
    """Run ``day`` again with training and evaluation, on the features its run extracted.

    A one-day backfill that reprocesses the day with ``reuse_features``: the extracts keep
    the day's partitions, so a model day, or a demo run again after a failed one, costs
    training and evaluation only. Returns once the run is queued again.
    """
    backfill(api, dag_id, day, day, run_training="yes", reprocess="completed", conf={"reuse_features": True})
    deadline = time.monotonic() + timeout
    while (run := api.runs_by_day(dag_id).get(day.isoformat())) is None or run["state"] in ("success", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dag_id}: the run of {day} was not queued again after {timeout:.0f}s")
        time.sleep(2)


def wait_for_approval_request(api, risk: str, day: dt.date, requeued: bool = True) -> str:
    """Wait until the risk's run of ``day`` asked for approval and the reviewers are asked; return the promotion run's id.

    :param requeued: the day's run was just queued again (``start_model_run``): until it
        leaves its last state, a finished run is the last one's. Otherwise a finished run
        that asked (a demo run again) counts as it is.
    Raises if the day's run, or the promotion run it started, stops first.
    """
    cfg = risk_config(risk)
    dag_id, promotion_dag = cfg.dag_id, cfg.promotion_dag_id
    deadline = time.monotonic() + 120
    while (run := api.runs_by_day(dag_id).get(day.isoformat())) is None or (requeued and run["state"] == "success"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dag_id}: no run for {day} appeared")
        time.sleep(3)
    run_id = run["dag_run_id"]
    shown = None
    while True:
        states = api.task_states(dag_id, run_id)
        state = states.get(REQUEST_TASK)
        if state == "success":
            break
        running = sorted(t for t, s in states.items() if s in ("running", "queued", "up_for_retry"))
        failed = sorted(t for t, s in states.items() if s in ("failed", "upstream_failed"))
        if failed:
            raise RuntimeError(f"{dag_id} {run_id}: {failed} failed; open {api.base_url}/dags/{dag_id}/runs/{run_id}")
        if state == "skipped":
            raise RuntimeError(f"{dag_id} {run_id}: {REQUEST_TASK} was skipped; nothing to approve")
        if running != shown:
            print(f"    {dag_id} {day}: running {', '.join(running) or '(scheduling)'}", flush=True)
            shown = running
        time.sleep(5)
    promotion_run = api.xcom(dag_id, run_id, REQUEST_TASK, "trigger_run_id")
    print(f"    {dag_id} {day}: asked for approval in {promotion_dag} run {promotion_run}", flush=True)
    deadline = time.monotonic() + 600
    while (approval := api.task_states(promotion_dag, promotion_run).get(APPROVAL_TASK)) not in WAITING:
        run = api.run(promotion_dag, promotion_run)
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            states = api.task_states(promotion_dag, promotion_run)
            raise RuntimeError(
                f"{promotion_dag} {promotion_run}: the reviewers were not asked (run {run['state']}, approval "
                f"{approval}, tasks {states}); open {api.base_url}/dags/{promotion_dag}/runs/{promotion_run}"
            )
        time.sleep(3)
    return promotion_run


def approval_command(risk: str, run_id: str, answer: str = "approve") -> str:
    command = f"scripts/approve.sh {risk} {shlex.quote(run_id)} --reason '<why>'"
    return command + ("" if answer == "approve" else " --reject")


def run_demo(
    *,
    risks: list[str],
    start: str | None,
    days: int,
    accounts: int,
    seed: int,
    hs2_port: int,
    airflow_port: int,
    streaming: bool = False,
) -> int:
    from integrity_local.airflow_api import AirflowApi
    from integrity_local.airflow_services import LocalAirflow
    from integrity_local.hiveserver2 import LocalHiveServer

    began = time.monotonic()
    if start is None:  # the world ends yesterday, so today's scheduled run has its data
        start = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()
    server = LocalHiveServer(port=hs2_port)
    step(f"starting the local HiveServer2 (Spark Thrift Server) on {server.host}:{hs2_port}")
    print(f"    answers at {server.uri} after {server.start():.1f}s (log {server.log_file})")
    demo_connections(server.uri)
    load_world_once(start, days, accounts, seed)
    show_upstream_partitions()

    airflow = LocalAirflow(port=airflow_port)
    demo_environment(airflow.url)
    step(f"starting Airflow (api-server, scheduler, dag-processor, triggerer) at {airflow.url}")
    print(f"    healthy after {airflow.start():.0f}s (logs {airflow.home / 'logs'})")
    admin = AirflowApi(airflow.url, "admin", airflow.password("admin"))

    first = dt.date.fromisoformat(start)
    last = first + dt.timedelta(days=days - 1)
    dag_ids = {risk: f"integrity_{risk}" for risk in risks}
    for dag_id in dag_ids.values():
        admin.wait_for_dag(dag_id)
    step(
        f"features for {first}..{last}: Airflow backfills of the history, all risks at once within the "
        f"pools; the scheduler's own runs do {last}"
    )
    for dag_id in dag_ids.values():
        admin.unpause(f"{dag_id}_online_features")  # loads each gated day into the online store
        # Feature days are independent: two at a time per DAG, within the hiveserver2 and feast pools.
        backfill(admin, dag_id, first, last - dt.timedelta(days=1), run_training="no", max_active_runs=2)
        # Unpausing lets the scheduler run the latest day, [last, today), as it would in production.
        admin.unpause(dag_id)
    for dag_id in dag_ids.values():
        wait_for_days(admin, dag_id, first, last)
    step(f"{last} again, now with training (one at a time on the gpu pool), shadow evaluation and gates")
    requeued = set()
    for risk, dag_id in dag_ids.items():
        run = admin.runs_by_day(dag_id).get(last.isoformat())
        if run and run["state"] != "failed" and is_training_run(admin, dag_id, run):
            print(f"    {dag_id} {last}: its run trains (a model-cycle day, or a demo run again)")
        else:  # a features-only day, or a model day that failed (a demo run again resumes it)
            start_model_run(admin, dag_id, last)
            requeued.add(risk)
    waiting, stopped = {}, {}
    for risk in dag_ids:
        try:
            waiting[risk] = wait_for_approval_request(admin, risk, last, requeued=risk in requeued)
        except RuntimeError as err:  # one risk stopped (its gates, most often); the others go on
            stopped[risk] = str(err)
    minutes = (time.monotonic() - began) / 60
    print(
        f"\nDone in {minutes:.1f} min: {len(waiting)} risk pipeline(s) wait for a reviewer"
        + (f", {len(stopped)} stopped before the approval" if stopped else "")
        + ".\n"
    )
    shadow = {}
    for risk in risks:
        run_id = api_run_id(admin, dag_ids[risk], last)
        metrics = shadow[risk] = shadow_metrics(admin, dag_ids[risk], run_id) if run_id else None
        if risk in waiting:
            print(f"  {risk}: waits for a reviewer; report {metrics.get('report_path') if metrics else '(none)'}")
        else:
            print(f"  {risk}: STOPPED: {stopped[risk]}")
        for line in gate_lines(risk, metrics):
            print(f"      {line}")
        if risk in waiting:
            print(
                f"      review in the UI: {airflow.url}/dags/{risk_config(risk).promotion_dag_id}/runs/{waiting[risk]} "
                f"(or Browse → Required Actions; user 'reviewer', password in "
                f"{airflow.home}/simple_auth_manager_passwords.json.generated)"
            )
            print(f"      or answer from here: {approval_command(risk, waiting[risk])}   (add --reject to reject)")
    if streaming:
        from integrity_local.streaming_demo import TABLE, run_streaming_step

        streamed = [r for r in waiting if TABLE in risk_config(r).extract.shared_tables]
        if not streamed:
            print(f"\nNo streaming step: no waiting candidate reads {TABLE} (fraud and scraping do).")
            return 1
        risk = streamed[0]
        threshold = ((shadow[risk] or {}).get("overall") or {}).get("candidate", {}).get("threshold")
        if run_streaming_step(risk, world_dir(start, days, accounts, seed), threshold=threshold, seed=seed) != 0:
            return 1
    return 0 if not stopped else 1


def api_run_id(api, dag_id: str, day: dt.date) -> str | None:
    run = api.runs_by_day(dag_id).get(day.isoformat())
    return run["dag_run_id"] if run else None


def shadow_metrics(api, dag_id: str, run_id: str) -> dict | None:
    """The shadow evaluation's metrics of a run (its XCom), or None when it did not get that far."""
    try:
        return api.xcom(dag_id, run_id, "evaluate.shadow_eval")
    except AirflowApiError:
        return None


def gate_lines(risk: str, metrics: dict | None) -> list[str]:
    """Each gate of the risk's YAML with its figure and bound, as auto_gates judged it."""
    if not metrics:
        return ["no shadow evaluation: the run stopped before it"]
    from integrity_risk.evaluation.gates import evaluate_gates
    from integrity_risk.evaluation.report import _ci, _fmt

    cand = metrics["overall"]["candidate"]
    head = (
        f"candidate PR-AUC {_fmt(cand['pr_auc'])}{_ci(cand.get('pr_auc_ci'))}, recall at FPR "
        f"{metrics['operating_fpr']} {_fmt(cand['recall_at_fpr'])}{_ci(cand.get('recall_at_fpr_ci'))} "
        f"on {metrics['labeled_rows']} labelled rows ({metrics['positives']} positive)"
    )
    gates = risk_config(risk).evaluation.gates.model_dump(exclude_none=True)  # as the DAG hands them over
    return [head, *(r.message for r in evaluate_gates(metrics, gates))]


def answer(risk: str, run_id: str, option: str, reason: str, airflow_port: int, *, user: str = "reviewer") -> int:
    """Answer the pending approval step of a promotion run as ``user``, with a reason, through Airflow's REST API."""
    from integrity_local.airflow_api import AirflowApi
    from integrity_local.airflow_services import LocalAirflow

    airflow = LocalAirflow(port=airflow_port)
    reviewer = AirflowApi(airflow.url, user, airflow.password(user))
    dag_id = risk_config(risk).promotion_dag_id
    states = reviewer.task_states(dag_id, run_id)
    steps = sorted((t for t in states if t == APPROVAL_TASK or t.startswith(f"{APPROVAL_TASK}_")), key=_step)
    waiting = [t for t in steps if states[t] in WAITING]
    if not waiting:
        print(f"{dag_id} {run_id}: no approval waits for an answer ({', '.join(f'{t} {states[t]}' for t in steps)})")
        return 1
    response = reviewer.answer_approval(dag_id, run_id, waiting[0], option, reason=reason)
    print(f"{option} recorded for {dag_id} {run_id} ({waiting[0]}) by {response['responded_by']['name']}")
    if option == "Approve":
        later = steps[steps.index(waiting[0]) + 1 :]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            states = reviewer.task_states(dag_id, run_id)
            if later and states.get(later[0]) in WAITING:
                print(
                    f"{later[0]} now waits for another reviewer: scripts/approve.sh {risk} {run_id} --as <reviewer> ..."
                )
                return 0
            if states.get("promote") in ("success", "failed", "skipped", "upstream_failed"):
                print(f"promote: {states['promote']}")
                return 0 if states["promote"] == "success" else 1
            time.sleep(3)
        print("no outcome within 600 s: see the run in the Airflow UI")
        return 1
    return 0


def _step(task_id: str) -> int:
    return 1 if task_id == APPROVAL_TASK else int(task_id.rsplit("_", 1)[1])
