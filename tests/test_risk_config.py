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
