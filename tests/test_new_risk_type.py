"""A sixth risk type added as a modeler would, with no Python outside feature_repo/, and its DAG run.

The project is copied to a temporary folder and given ``promo_abuse``: a YAML (a copy of
fraud.yaml), its HiveQL (the extract and the table's DDL), a feature view and service
in a file of its own in the Feast repo, and the six-line DAG file. Its DAG then runs a
feature day for real: the upstream health gates, Hive extracts on the test HiveServer2, the quality gates, and
``feast apply``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from typing import TYPE_CHECKING

import pytest

from integrity_risk.paths import project_root

if TYPE_CHECKING:
    from pathlib import Path

DAY = "2026-06-15"  # far from the other tests' days: no trailing upstream partitions to compare with
PREVIOUS = "2026-06-14"
RISK = "promo_abuse"
TEST_KEY = "new-risk-tests-key-0123456789"

FEATURE_VIEW = '''\
"""promo_abuse: the risk's view and service, in a file of their own (Feast reads every file here)."""

from feast import FeatureService, FeatureView, Field
from feast.types import Float64, Int64

from data_sources import extract_table
from entities import account
from features import DAILY_TTL, account_daily

promo_abuse_daily = FeatureView(
    name="promo_abuse_daily",
    description="Promotion abuse: payment attempts around promotions.",
    entities=[account],
    ttl=DAILY_TTL,
    schema=[
        Field(name="payment_attempts_1d", dtype=Int64),
        Field(name="payment_attempts_7d", dtype=Int64),
        Field(name="payment_fail_ratio_1d", dtype=Float64),
        Field(name="payment_amount_sum_7d", dtype=Float64),
    ],
    source=extract_table("promo_abuse_daily"),
    online=True,
    tags={"team": "integrity", "risk_type": "promo_abuse", "table": "features.promo_abuse_daily"},
)

promo_abuse_v1 = FeatureService(
    name="promo_abuse_v1",
    features=[account_daily, promo_abuse_daily],
    tags={"risk_type": "promo_abuse"},
)
'''


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is no longer in the file this test copies; update the test"
    return text.replace(old, new)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project with the risk type promo_abuse added by configuration only."""
    root = tmp_path / "project"
    for folder in ("include", "feature_repo", "dags"):
        shutil.copytree(project_root() / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    hql = root / "include" / "hql"
    # The table's DDL, in a file the YAML names: the fraud table's columns under a new name.
    fraud_ddl = re.search(
        r"CREATE TABLE IF NOT EXISTS features\.fraud_daily .*?;", (hql / "feature_tables.hql").read_text(), re.DOTALL
    ).group(0)
    (hql / "features" / "promo_abuse_table.hql").write_text(
        "CREATE DATABASE IF NOT EXISTS features;\n\n" + fraud_ddl.replace("fraud_daily", "promo_abuse_daily") + "\n"
    )
    (hql / "features" / "promo_abuse.hql").write_text(
        _replace((hql / "features" / "fraud.hql").read_text(), "features.fraud_daily", "features.promo_abuse_daily")
    )
    risks = root / "include" / "risks"
    text = (risks / "fraud.yaml").read_text()
    # Its service reads account_daily and its own table only, not the stream's windows.
    text, removed = re.subn(r"  shared_tables:.*\n(    - .*\n)+", "", text)
    assert removed == 1, "fraud.yaml no longer lists extract.shared_tables; update the test"
    for old, new in (
        ("risk_type: fraud", f"risk_type: {RISK}"),
        ("hql: features/fraud.hql", "hql: features/promo_abuse.hql\n  ddl: features/promo_abuse_table.hql"),
        ("table: features.fraud_daily", "table: features.promo_abuse_daily"),
        ("features.fraud_daily: [", "features.promo_abuse_daily: ["),  # drift.volume_columns
        ("feature_service: fraud_v2", "feature_service: promo_abuse_v1"),
        ("tasks: [fraud, abusive_account]", "tasks: [promo_abuse, fraud]"),
        ("retries: 2", "retries: 0"),
    ):  # a failure fails the test now, not after the retry delays
        text = _replace(text, old, new)
    (risks / f"{RISK}.yaml").write_text(text)
    (root / "feature_repo" / f"{RISK}.py").write_text(FEATURE_VIEW)
    (root / "dags" / f"integrity_{RISK}.py").write_text(
        _replace((root / "dags" / "integrity_fraud.py").read_text(), "fraud", RISK)
    )
    monkeypatch.setenv("INTEGRITY_PROJECT_DIR", str(root))
    monkeypatch.setenv("INTEGRITY_RISKS_DIR", str(risks))
    # dag.test() stores the DAGs of the configured bundles before it runs: this copy's, with the new one.
    monkeypatch.setenv(
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
    return root


@pytest.fixture
def upstream(hiveserver2, hive_hook, tmp_path, monkeypatch):
    """One generated day of raw.* on the test HiveServer2, plus labels of the new risk and of a made-up one."""
    from integrity_local.synthetic import WorldConfig, load_world, write_world

    monkeypatch.setenv(
        "AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION", json.dumps({"conn_type": "generic", "password": TEST_KEY})
    )
    monkeypatch.delenv("INTEGRITY_ALLOW_DEMO_KEY", raising=False)
    out = tmp_path / "world"
    write_world(WorldConfig(seed=5, start_ds=DAY, days=1, n_accounts=150), out)
    load_world(hive_hook, out)
    hive_hook.get_records(
        [
            f"INSERT OVERWRITE TABLE raw.enforcement_labels PARTITION (ds='{PREVIOUS}') "
            f"SELECT 'acct-promo', '{RISK}', 1, 'reviewer', TIMESTAMP '{PREVIOUS} 10:00:00' "
            f"UNION ALL SELECT 'acct-other', 'made_up_risk', 1, 'reviewer', TIMESTAMP '{PREVIOUS} 11:00:00'",
            "SELECT 1",
        ]
    )
    # Feast reads the extract's parquet from the test server's warehouse; the registry is this test's.
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(hiveserver2.warehouse_dir))
    monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(tmp_path / "feast"))
    monkeypatch.delenv("INTEGRITY_FEAST_PROFILE", raising=False)
    return hive_hook


def _dagbag(project: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(project / "dags"), safe_mode=False)


def test_a_new_risk_type_needs_only_configuration_and_its_dag_runs_a_feature_day(project, upstream, airflow_db):
    from integrity_risk.config.risk import all_risk_types
    from integrity_risk.features.feast_store import feature_store

    assert RISK in all_risk_types()
    bag = _dagbag(project)
    assert bag.import_errors == {}
    assert {f"integrity_{RISK}", f"integrity_{RISK}_online_features", f"integrity_{RISK}_promotion"} <= set(bag.dag_ids)
    dag = bag.dags[f"integrity_{RISK}"]
    assert dag.get_task("train").model_config["tasks"] == [RISK, "fraud"]

    run = dag.test(logical_date=dt.datetime.fromisoformat(f"{DAY}T00:00:00+00:00"), run_conf={"run_training": "no"})

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    for task_id in (
        "extract.wait_upstream",
        "extract.upstream_health",
        "extract.hive_extract_promo_abuse_daily",
        "extract.quality_gate_promo_abuse_daily",
        "extract.quality_gate_account_daily",
        "extract.hive_extract_labels",
        "features.feast_apply",
    ):
        assert states[task_id] == "success", states
    assert states["training_set"] == "skipped"

    rows = upstream.get_records(f"SELECT count(*) FROM features.promo_abuse_daily WHERE ds = '{DAY}'")[0][0]
    assert rows >= 20  # the YAML's min_rows, which the gate held it to
    # The labels extract keeps the labels of every risk type with a YAML, and those only.
    risks = {r[0] for r in upstream.get_records(f"SELECT DISTINCT risk_type FROM features.labels WHERE ds = '{DAY}'")}
    assert RISK in risks and "made_up_risk" not in risks

    store = feature_store()
    assert f"{RISK}_daily" in {fv.name for fv in store.list_feature_views()}
    service = store.get_feature_service(f"{RISK}_v1")
    assert {p.name for p in service.feature_view_projections} == {"account_daily", f"{RISK}_daily"}
