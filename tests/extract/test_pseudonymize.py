"""Keyed pseudonymization: the SQL HMAC equals Python's, and the key stays out of SQL and logs."""

from __future__ import annotations

import pytest
from extract_helpers import TEST_KEY

from integrity_risk.features import pseudonymize as p
from integrity_risk.operators.hive_extract import HiveExtractOperator

IDS = ["acct_000001", "10.1.2.3", "2001:db8::1", "dev-ü-ß-漢字", "x" * 300, ""]


@pytest.mark.parametrize("key", [TEST_KEY.encode(), b"k", b"long-key-" * 20], ids=["test", "short", "over-64-bytes"])
def test_sql_hmac_equals_python_hmac(hive, key):
    values = ", ".join(f"'{v}'" for v in IDS)
    sql = (
        f"SELECT v, {p.sql_hmac('v')} FROM (SELECT explode(array({values})) AS v) t "
        f"UNION ALL SELECT 'NULL', {p.sql_hmac('CAST(NULL AS STRING)')}"
    )
    got = dict(hive.get_records(sql, parameters=p.hive_conf(key)))
    assert got.pop("NULL") is None
    assert got == {v: p.pseudonymize(key, v) for v in IDS}
    assert all(len(h) == 64 and h == h.lower() for h in got.values())


@pytest.mark.reliability
def test_the_key_is_read_from_the_airflow_connection(hive):
    assert p.get_key() == TEST_KEY.encode()


@pytest.mark.reliability
def test_a_missing_connection_is_a_clear_error_unless_the_demo_key_is_allowed(monkeypatch):
    monkeypatch.delenv(p.DEMO_KEY_ENV, raising=False)
    with pytest.raises(p.PseudonymizationKeyError, match="'no_such_pseudonymization_conn' is missing"):
        p.get_key("no_such_pseudonymization_conn")
    monkeypatch.setenv(p.DEMO_KEY_ENV, "1")
    assert p.get_key("no_such_pseudonymization_conn") == p.DEMO_KEY.encode()


@pytest.mark.reliability
def test_the_key_never_reaches_sql_text_and_is_masked_in_logs(hive):
    from airflow.sdk._shared.secrets_masker import redact

    key = p.get_key()
    conf = p.hive_conf(key)
    secrets = [TEST_KEY, conf[p.IPAD_VAR], conf[p.OPAD_VAR]]
    op = HiveExtractOperator(
        task_id="x", hql="features/account_daily.hql", table="features.account_daily", ds="2026-03-02"
    )
    op.render_template_fields({"ds": "2026-03-02"})
    assert "${integrity_hmac_ipad}" in op.hql
    assert not any(s in op.hql or s.upper() in op.hql for s in secrets)
    # what pyhive would log for the session's `set` statements, through Airflow's masker
    for name in (p.IPAD_VAR, p.OPAD_VAR):
        logged = redact(f"set {name}={conf[name]}")
        assert conf[name] not in logged and "***" in logged
    assert TEST_KEY not in redact(f"key is {TEST_KEY}")


@pytest.mark.reliability
def test_a_server_error_that_echoes_the_substituted_sql_shows_no_key(hive):
    from extract_helpers import run_task

    from integrity_risk.operators.hive_extract import ExtractError

    conf = p.hive_conf(p.get_key())
    op = HiveExtractOperator(
        task_id="broken",
        table="features.labels",
        ds="2026-03-02",
        required_partitions=(),
        hql="INSERT OVERWRITE TABLE features.labels PARTITION (ds = '{{ ds }}') "
        "SELECT {{ pseudonymize('account_id') }} FROM WHERE GROUP",
    )
    with pytest.raises(ExtractError) as err:
        run_task(op, "2026-03-02")
    message = str(err.value)
    assert "Server message:" in message and "${integrity_hmac_ipad}" in message
    assert conf[p.IPAD_VAR] not in message and conf[p.OPAD_VAR] not in message


@pytest.mark.reliability
def test_an_extract_run_logs_no_key_nor_pad(hive, capfd, caplog):
    from extract_helpers import extract

    caplog.set_level("DEBUG")
    conf = p.hive_conf(p.get_key())
    extract("labels", "2026-03-02")
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "INSERT OVERWRITE TABLE features.labels" in logged  # the statement itself is logged
    for secret in (TEST_KEY, conf[p.IPAD_VAR], conf[p.OPAD_VAR]):
        assert secret not in logged and secret.upper() not in logged
