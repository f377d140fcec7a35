"""Writing test data into the stores and reading their state back, for the reliability tests."""

from __future__ import annotations

import contextlib
import importlib.util
import sqlite3
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS_DAY, DAY = "2026-03-01", "2026-03-02"
ACCOUNT_DAILY = ("features.account_daily", "features/account_daily.hql")  # the longest extract: 5-12 s
SPAM_REDIRECT_DAILY = ("features.spam_redirect_daily", "features/spam_redirect.hql")  # the shortest
ONLINE_TABLES = ("integrity_risk_account_daily", "integrity_risk_fraud_daily")


def _features_fixtures():
    """The Feast tests' fixtures and warehouse writer (tests/features/conftest.py), so both
    suites write extract partitions and start Redis the same way; loaded by path because
    every test folder's conftest is named ``conftest``."""
    spec = importlib.util.spec_from_file_location("features_fixtures", ROOT / "tests" / "features" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


features_fixtures = _features_fixtures()
Warehouse, feature_ts = features_fixtures.Warehouse, features_fixtures.feature_ts


# --- Hive --------------------------------------------------------------------


def partition(hook, table: str, ds: str) -> list[tuple]:
    """All rows of one partition, sorted; a new session per call, as every reader in the pipeline."""
    return sorted((tuple(r) for r in records(hook, f"SELECT * FROM {table} WHERE ds = '{ds}'")), key=repr)


def row_count(hook, table: str, ds: str) -> int:
    """The partition's row count as one reader sees it, in a session of its own."""
    return records(hook, f"SELECT count(*) FROM {table} WHERE ds = '{ds}'")[0][0]


def records(hook, sql: str) -> list[tuple]:
    """The rows of ``sql`` in a session of its own, closed after."""
    with contextlib.closing(hook.get_conn()) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()


# --- Feast -------------------------------------------------------------------


def write_day(warehouse, ds: str, accounts: list[str], base: int) -> None:
    """account_daily and fraud_daily partitions of ``ds``; the features of account ``i`` are ``base + i``."""
    for table in ("account_daily", "fraud_daily"):
        warehouse.write(table, ds, [{"account_pk": pk, "base": base + i} for i, pk in enumerate(accounts)])


def days_from(first: str, count: int) -> list[str]:
    return [(date.fromisoformat(first) + timedelta(days=n)).isoformat() for n in range(count)]


def interval(first_day: str, last_day: str) -> dict[str, str]:
    """The data interval covering ``first_day`` .. ``last_day``, as ``writers.materialize`` takes it."""
    return {"start": (feature_ts(first_day) - timedelta(days=1)).isoformat(), "end": feature_ts(last_day).isoformat()}


def sqlite_online_rows(feast_dir: Path) -> dict[str, list[tuple]]:
    """Every row of the SQLite online store but its write time: ``{table: [(key, event_ts, features, cells)]}``.

    A read-write connection, as Feast's: after a writer was killed, the first one to open
    the file rolls its unfinished transaction back (from the journal it left).
    """
    db = sqlite3.connect(feast_dir / "online_store.db", timeout=30)
    try:
        return {
            table: db.execute(
                f"SELECT entity_key, event_ts, features, cells FROM {table} ORDER BY entity_key"
            ).fetchall()
            for table in ONLINE_TABLES
        }
    finally:
        db.close()


def sqlite_writing_over_rows(feast_dir: Path) -> bool:
    """Whether a write transaction is open (its rollback journal exists) while rows are already stored."""
    if not (feast_dir / "online_store.db-journal").exists():
        return False
    db = sqlite3.connect(f"file:{feast_dir / 'online_store.db'}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(f"SELECT count(*) FROM {ONLINE_TABLES[0]}").fetchone()[0] > 0
    finally:
        db.close()


def redis_contents(port: int, db: int) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash in one Redis database (Feast keeps one per entity)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, db=db)
    try:
        return {key: client.hgetall(key) for key in client.scan_iter()}
    finally:
        client.close()


# --- MLflow ------------------------------------------------------------------


def airflow_try(monkeypatch, run_id: str, try_number: int, task_instance: str = "integrity_reliability/train") -> None:
    """Name the task instance and try in the environment, as ``TFTrainOperator`` does for its trainer."""
    from integrity_risk.training.registry import TASK_INSTANCE_ENV, TRY_NUMBER_ENV

    monkeypatch.setenv(TASK_INSTANCE_ENV, f"{task_instance}/{run_id}")
    monkeypatch.setenv(TRY_NUMBER_ENV, str(try_number))


def registry_state(model_name: str) -> list[tuple]:
    """What a registered model holds, version numbers left out (a retry uses more of them):
    per version, sorted, the task instance that registered it, its aliases and status."""
    import mlflow

    from integrity_risk.training.registry import AIRFLOW_TASK_TAG

    client = mlflow.MlflowClient()
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    return sorted(
        (v.tags.get(AIRFLOW_TASK_TAG), sorted(aliases.get(str(v.version), [])), str(v.status))
        for v in client.search_model_versions(f"name = '{model_name}'")
    )


def load_version(model_name: str, version: str):
    """Load one registered version as a Keras model: it is complete."""
    import mlflow.keras

    import integrity_risk.training.model  # noqa: F401  (registers the custom layers before loading)

    return mlflow.keras.load_model(f"models:/{model_name}/{version}", load_model_kwargs={"compile": False})
