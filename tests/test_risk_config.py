import shutil

import pytest

from integrity_risk.paths import INCLUDE_DIR
from integrity_risk.config.risk import RISK_TYPES, RiskConfigError, all_risk_types, load_risk_config


def test_every_risk_type_has_a_valid_yaml():
    assert all_risk_types() == sorted(RISK_TYPES)
    for risk in RISK_TYPES:
        cfg = load_risk_config(INCLUDE_DIR / "risks" / f"{risk}.yaml")
        assert cfg.model.tasks[0] == risk
        assert cfg.dag_id == f"integrity_{risk}"


@pytest.fixture
def fraud_yaml(tmp_path):
    path = tmp_path / "fraud.yaml"
    shutil.copy(INCLUDE_DIR / "risks" / "fraud.yaml", path)
    return path


def test_a_misspelled_key_names_the_file_and_the_key(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("maturity_days:", "maturity_dayz:"))
    with pytest.raises(RiskConfigError) as err:
        load_risk_config(fraud_yaml)
    message = str(err.value)
    assert str(fraud_yaml) in message
    assert "'labels.maturity_dayz' is not a known setting" in message


def test_a_wrong_value_says_what_was_expected(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("operating_fpr: 0.01", "operating_fpr: 2"))
    with pytest.raises(RiskConfigError, match=r"evaluation\.operating_fpr.*less than 0\.5.*got 2"):
        load_risk_config(fraud_yaml)


def test_an_unknown_task_is_refused(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("tasks: [fraud, abusive_account]", "tasks: [fraud, phishing]"))
    with pytest.raises(RiskConfigError, match=r"model\.tasks.*phishing"):
        load_risk_config(fraud_yaml)


def test_a_missing_hql_file_is_named(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("hql: features/fraud.hql", "hql: features/nope.hql"))
    with pytest.raises(RiskConfigError, match=r"extract\.hql.*include/hql/features/nope\.hql"):
        load_risk_config(fraud_yaml)


def test_a_file_whose_name_disagrees_with_its_risk_type_is_refused(fraud_yaml, tmp_path):
    other = tmp_path / "scraping.yaml"
    fraud_yaml.rename(other)
    with pytest.raises(RiskConfigError, match="file is named 'scraping'"):
        load_risk_config(other)


def test_a_risk_yaml_without_its_tables_quality_rules_names_the_file(fraud_yaml):
    text = fraud_yaml.read_text()
    start = text.index("  quality:")
    end = text.index("\n\n", start)
    fraud_yaml.write_text(text[:start] + text[end + 1:])
    with pytest.raises(RiskConfigError) as err:
        load_risk_config(fraud_yaml)
    assert str(fraud_yaml) in str(err.value) and "'extract.quality' is missing" in str(err.value)


def test_quality_rules_naming_a_column_the_table_lacks_are_refused(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace(
        "volume_columns: [payment_attempts_1d]", "volume_columns: [payment_attempt_1d]"))
    with pytest.raises(RiskConfigError, match=r"extract.*\['payment_attempt_1d'\].*features\.fraud_daily"):
        load_risk_config(fraud_yaml)


def test_the_shared_tables_rules_validate_and_a_bad_bound_names_file_and_key(tmp_path):
    from integrity_risk.config.tables import SHARED_TABLES_FILE, TableRulesError, load_table_rules

    rules = load_table_rules()
    assert set(rules) == {"features.account_daily", "features.labels"}
    assert rules["features.labels"].key_columns == ["account_pk", "risk_type"]
    assert rules["features.account_daily"].rule("country", "string").max_null_rate == 0.5
    broken = tmp_path / "shared.yaml"
    broken.write_text(SHARED_TABLES_FILE.read_text().replace("max_null_rate: 0.5}", "max_null_rate: 5}", 1))
    with pytest.raises(TableRulesError, match=rf"{broken}.*features\.account_daily.*columns\.account_age_days"
                                              r"\.max_null_rate.*less than or equal to 1"):
        load_table_rules(broken)
