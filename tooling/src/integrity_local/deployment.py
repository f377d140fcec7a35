"""A local Airflow deployment for the tests and benchmarks that drive Airflow as its users do.

Airflow runs as it does for the demo (api-server, scheduler, dag-processor and
triggerer, LocalExecutor) over the session's HiveServer2, with its own home, MLflow
registry and copy of the risk YAMLs, which a test may edit (small worlds need looser
gates and sooner labels than production).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from typing import TYPE_CHECKING

from integrity_risk.paths import INCLUDE_DIR, local_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@contextlib.contextmanager
def local_deployment(
    name: str, port: int, hiveserver2, risks_dir: Path, edit_risk: Callable[[str, str], str]
) -> Iterator:
    """Start Airflow under ``<local>/airflow-<name>``; ``edit_risk(risk, yaml_text)`` returns the YAML to use."""
    from integrity_local.airflow_services import LocalAirflow
    from integrity_local.demo import demo_connections

    for path in (INCLUDE_DIR / "risks").glob("*.yaml"):
        (risks_dir / path.name).write_text(edit_risk(path.stem, path.read_text()))
    mlflow_dir = local_dir() / f"mlflow-{name}"
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "INTEGRITY_RISKS_DIR": str(risks_dir),
        "INTEGRITY_FEATURE_WAREHOUSE": str(hiveserver2.warehouse_dir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_dir / 'mlflow.db'}",
    }
    # The registry in the same store, over any MLFLOW_REGISTRY_URI an earlier mlflow.set_registry_uri exported.
    env["MLFLOW_REGISTRY_URI"] = env["MLFLOW_TRACKING_URI"]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the Airflow processes inherit them
    deployment = None
    try:  # a start that fails (a port taken) must not leave this deployment's environment to the next tests
        demo_connections(hiveserver2.uri)
        home = local_dir() / f"airflow-{name}"
        LocalAirflow(port=port, home=home).stop()  # whatever an interrupted session left
        shutil.rmtree(home, ignore_errors=True)
        deployment = LocalAirflow(port=port, home=home)
        deployment.start()
        yield deployment
    finally:
        if deployment is not None:
            deployment.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def api(deployment, user: str):
    """The REST client of ``user`` (admin, reviewer or modeler)."""
    from integrity_local.airflow_api import AirflowApi

    return AirflowApi(deployment.url, user, deployment.password(user))


def small_world_yaml(text: str) -> str:
    """A risk YAML for a world of days rather than months: labels mature in 2 days, the
    validation split is 1 day, and a failed task is retried after 10 s.
    """
    return (
        text.replace("maturity_days: 3", "maturity_days: 2")
        .replace("validation_days: 2", "validation_days: 1")
        .replace("retries: 2", "retries: 2\nretry_delay_seconds: 10")
    )


def e2e_risk_yaml(text: str, start: dt.date, history_start: dt.date, end: dt.date | None = None) -> str:
    """The end-to-end tests' risk YAML: a small world's (:func:`small_world_yaml`), whose test split
    holds tens of positives, not thousands, so the gates are looser than production's; scheduled
    from ``start`` with catch-up, the days from ``history_start`` before it left to a backfill, and
    up to ``end``, the world's last day (else a session that runs past midnight UTC gets a run of a
    day without data).
    """
    if "start_date: 2026-03-01" not in text:
        raise ValueError("the risk YAML no longer starts on 2026-03-01: update e2e_risk_yaml")
    return (
        small_world_yaml(text)
        .replace("operating_fpr: 0.01", "operating_fpr: 0.05")
        .replace("min_recall_at_fpr: 0.30", "min_recall_at_fpr: 0.10")
        .replace(
            "start_date: 2026-03-01",
            f"start_date: {start}\nhistory_start: {history_start}\ncatchup: true"
            + (f"\nend_date: {end}" if end else ""),
        )
    )


def wait_until_online_serves(hook, risk: str, day: dt.date | str, timeout: float = 600) -> None:
    """Wait until Feast's online store serves ``features.<risk>_daily`` of ``day`` (its first 20 accounts).

    The online-features DAG materializes a day when its quality gate publishes the asset, so
    the last day's run may still be on its way.
    """
    import time

    from integrity_risk.features.online import fetch_online_features

    rows = hook.get_records(
        f"SELECT account_pk, payment_attempts_7d FROM features.{risk}_daily "
        f"WHERE ds = '{day}' ORDER BY account_pk LIMIT 20"
    )
    if not rows:
        raise AssertionError(f"features.{risk}_daily has no rows for {day}")
    deadline = time.monotonic() + timeout
    while True:
        online = fetch_online_features(risk, [pk for pk, _ in rows])
        if online[f"{risk}_daily__payment_attempts_7d"].astype(float).tolist() == [float(v) for _, v in rows]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the online store does not serve {day} after {timeout:.0f}s:\n{online.head()}")
        time.sleep(10)


def last_audit_move(risk: str) -> tuple:
    """The newest audit entry of ``risk`` as (action, status, actor, version, previous champion)."""
    from integrity_risk.promotion import ACTIONS, read_audit

    entry = [e for e in read_audit(risk_type=risk) if e.get("action") in ACTIONS][-1]  # no reject decisions
    return entry["action"], entry["status"], entry["actor"], entry["version"], entry["previous_champion"]
