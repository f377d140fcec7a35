"""All extracts on a generated world: no raw identifier leaves them, and the quality gate holds them.

(The upstream health gate, outages and acceptance: test_health_gates.py.)
"""

from __future__ import annotations

import pytest
from extract_helpers import FEATURE_TABLES, TEST_KEY, extract, run_task

from integrity_local.synthetic import WorldConfig, load_world, write_world
from integrity_risk.acceptance import accept_partition
from integrity_risk.config.risk import risk_config
from integrity_risk.config.tables import TableQuality, shared_table_rules
from integrity_risk.features.hql import read_hql
from integrity_risk.features.pseudonymize import pseudonymize
from integrity_risk.features.table_schema import ddl_schema
from integrity_risk.operators.quality_gate import QualityGateError, QualityGateOperator
from integrity_risk.promotion import read_audit

DAY1, DAY2, DAY3 = "2026-04-01", "2026-04-02", "2026-04-03"
ALL_TABLES = (*FEATURE_TABLES, "labels")


@pytest.fixture(scope="module")
def world(hive, tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(WorldConfig(seed=11, start_ds=DAY1, days=3, n_accounts=150), out)
    load_world(hive, out)
    return out


@pytest.fixture(scope="module")
def extracted(hive, world):
    """Every output table for DAY2 (labels without a maturity delay, so the few there are show)."""
    for table in FEATURE_TABLES:
        extract(table, DAY2)
    extract("labels", DAY2)
    return DAY2


def raw_identifiers(hive) -> set[str]:
    """Every identifier in the upstream tables (all partitions, whoever loaded them)."""
    sources = {
        "raw.user_events": ("account_id", "device_id", "ip", "target_account_id"),
        "raw.account_profiles": ("account_id", "signup_ip", "signup_device_id"),
        "raw.enforcement_labels": ("account_id",),
    }
    union = " UNION ".join(
        f"SELECT {c} AS id, '{c}' AS kind FROM {t} WHERE {c} IS NOT NULL AND {c} <> ''"
        for t, columns in sources.items()
        for c in columns
    )
    return {(ident, kind) for ident, kind in hive.get_records(union)}


def rules_of(table: str) -> TableQuality:
    """The rules the DAGs give the gate: the risk YAML's for a risk table, shared.yaml's for the others."""
    if table in ("account_daily", "labels"):
        return shared_table_rules(f"features.{table}")
    return risk_config(table.removesuffix("_daily")).extract.quality


def gate(table: str, ds: str, **kwargs):
    kwargs.setdefault("rules", rules_of(table))
    return run_task(QualityGateOperator(task_id=f"gate_{table}", table=f"features.{table}", ds=ds, **kwargs), ds)


@pytest.mark.reliability
def test_no_raw_identifier_appears_in_any_output_table(hive, extracted):
    raw = raw_identifiers(hive)
    raw_ids = {ident for ident, _ in raw}
    pseudonyms = {pseudonymize(TEST_KEY.encode(), ident) for ident, kind in raw if kind == "account_id"}
    assert len(raw_ids) > 500
    for table in ALL_TABLES:
        result = hive.get_results(f"SELECT * FROM features.{table} WHERE ds = '{extracted}'")
        names = [c[0].split(".")[-1] for c in result["header"]]
        assert result["data"], f"{table} is empty"
        cells = {v for row in result["data"] for v in row if isinstance(v, str)}
        leaked = [(cell, ident) for cell in cells for ident in raw_ids if ident in cell]
        assert not leaked, f"raw identifiers in features.{table}: {leaked[:3]}"
        pks = {row[names.index("account_pk")] for row in result["data"]}
        assert pks <= pseudonyms, f"features.{table} has account_pk values that are no HMAC of an account"


def test_the_quality_gate_passes_every_table_of_a_normal_day(extracted):
    for table in ALL_TABLES:
        assert gate(table, extracted)["rows"] > 0


def test_the_gate_holds_a_table_to_the_rules_it_is_given(extracted):
    # The DAG hands over shared.yaml's rules for labels; a stricter bound fails the same partition.
    assert rules_of("labels").key_columns == ["account_pk", "risk_type"]
    assert gate("labels", DAY2)["rows"] > 0
    with pytest.raises(QualityGateError, match=r"column label: max 1 is above the bound 0"):
        gate(
            "labels",
            DAY2,
            rules={
                "key_columns": ["account_pk", "risk_type"],
                "columns": {"label": {"min": 0, "max": 0}},
            },
        )


def test_feature_ts_is_the_days_end_or_a_time_within_the_day_as_the_tables_rules_say(extracted):
    # A daily table's rows are known at the day's end; the stream's windows at their newest event.
    assert gate("account_daily", extracted)["rows"] > 0
    within = rules_of("account_daily").model_copy(update={"feature_ts": "within_day"})
    with pytest.raises(QualityGateError, match=rf"feature_ts: column feature_ts: .* expected all within {extracted}"):
        gate("account_daily", extracted, rules=within)


def test_the_gates_judge_the_data_not_its_volume(extracted):
    # A day whose features hold a tenth of the accounts, and of their activity, is well
    # formed: the gate passes it (volumes are the drift report's and the upstream health
    # gate's), while a floor above its rows fails it naming the check.
    rows = gate("account_daily", extracted)["rows"]
    assert gate("account_daily", extracted, min_rows=rows)["rows"] == rows
    with pytest.raises(QualityGateError, match=rf"min_rows: {rows} rows, below the minimum {rows + 1}"):
        gate("account_daily", extracted, min_rows=rows + 1)


@pytest.mark.reliability
def test_a_value_out_of_range_names_the_column_and_its_bound_unless_accepted(hive, extracted, tmp_path, monkeypatch):
    columns = [name for name, _ in ddl_schema("features.account_daily", read_hql("feature_tables.hql"))]
    select = ", ".join(
        "fail_ratio_1d + 1.5" if c == "fail_ratio_1d" else "TIMESTAMP '2026-04-10 00:00:00'" if c == "feature_ts" else c
        for c in columns
    )
    # Spark refuses to overwrite a table it reads in the same statement: stage the rows first.
    hive.get_records(
        [
            "DROP TABLE IF EXISTS default.gate_probe",
            f"CREATE TABLE default.gate_probe STORED AS PARQUET AS "
            f"SELECT {select} FROM features.account_daily WHERE ds = '{extracted}'",
            "INSERT OVERWRITE TABLE features.account_daily PARTITION (ds = '2026-04-09') "
            "SELECT * FROM default.gate_probe",
            "DROP TABLE default.gate_probe",
            "SELECT 1",
        ]
    )
    with pytest.raises(QualityGateError, match=r"range: column fail_ratio_1d: max [\d.]+ is above the bound 1"):
        gate("account_daily", "2026-04-09")
    # Accepted by the platform team (that check of that partition): it passes, the acceptance in the audit.
    monkeypatch.setenv("INTEGRITY_LOCAL_DIR", str(tmp_path / "local"))  # a private audit log
    entry = accept_partition(
        "features.account_daily", "2026-04-09", check="range", reason="a known client bug, fixed", actor="admin"
    )
    assert gate("account_daily", "2026-04-09")["accepted"] == [entry["event_id"]]
    assert read_audit()[-1]["event_id"] == entry["event_id"]


@pytest.mark.reliability
def test_a_schema_that_drifted_from_the_ddl_names_the_column(extracted, tmp_path):
    ddl = read_hql("feature_tables.hql").replace(
        "automation_ua_ratio_1d    DOUBLE\n)", "automation_ua_ratio_1d    DOUBLE,\n  new_feature BIGINT\n)"
    )
    (tmp_path / "drifted.hql").write_text(ddl)
    with pytest.raises(QualityGateError, match="column new_feature: missing"):
        gate("account_daily", extracted, ddl=str(tmp_path / "drifted.hql"))


def window_sensor(table: str, ds: str, **kwargs):
    from integrity_risk.sensors.history import TrailingPartitionsSensor

    sensor = TrailingPartitionsSensor(
        task_id=f"wait_training_window_{table}",
        table=f"features.{table}",
        upstream="raw.user_events",
        ds=ds,
        **kwargs,
    )
    sensor.render_template_fields({"ds": ds, "params": {}})
    return sensor


class FirstPoke:
    """The task instance of a sensor's first poke, as the task runner hands it over."""

    def get_first_reschedule_date(self, context):
        return None


@pytest.mark.reliability
def test_the_training_window_sensor_waits_for_a_day_not_extracted_yet_then_fails_naming_it(extracted):
    import datetime as dt

    from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout

    # raw.user_events has DAY1 and DAY3, features.scraping_daily only DAY2: DAY1's extract has
    # not run. DAY3 is after ds, and a day before DAY1 has no events: neither is awaited.
    sensor = window_sensor("scraping_daily", DAY2)
    assert sensor.mode == "reschedule"
    assert sensor.poke({}) is False and sensor.pending == [DAY1]
    with pytest.raises(AirflowRescheduleException):  # frees its slot until the next poke
        sensor.execute({"ti": FirstPoke()})
    with pytest.raises(AirflowSensorTimeout, match=rf"partitions of features\.scraping_daily \['{DAY1}'\]"):
        window_sensor("scraping_daily", DAY2, timeout=dt.timedelta(0)).execute({"ti": FirstPoke()})
    extract("scraping_daily", DAY1)
    assert window_sensor("scraping_daily", DAY2).poke({}) is True
    assert window_sensor("scraping_daily", DAY1).poke({}) is True  # nothing before DAY1 to wait for
