import shutil

import pytest

from integrity_risk.config.model import ConfigError, ModelConfig, resolve_config
from integrity_risk.config.risk import RiskConfigError, all_risk_types, load_risk_config
from integrity_risk.paths import INCLUDE_DIR

FIVE = ["abusive_account", "fake_engagement", "fraud", "scraping", "spam_redirect"]


def test_every_risk_type_has_a_valid_yaml():
    assert all_risk_types() == FIVE
    for risk in FIVE:
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


def test_exclusive_risks_must_be_other_known_risk_types(fraud_yaml):
    text = fraud_yaml.read_text()

    def exclusive(names):
        return _written(
            fraud_yaml,
            text.replace("  negatives_per_positive:", f"  exclusive_of: {names}\n  negatives_per_positive:", 1),
        )

    # A task of the model or not: the training set reads the labels of both.
    assert load_risk_config(exclusive("[abusive_account, scraping]")).labels.exclusive_of == [
        "abusive_account",
        "scraping",
    ]
    with pytest.raises(RiskConfigError, match=r"labels\.exclusive_of.*cannot exclude itself"):
        load_risk_config(exclusive("[fraud]"))
    with pytest.raises(RiskConfigError, match=r"'labels\.exclusive_of': unknown risk types \['phishing'\]"):
        load_risk_config(exclusive("[phishing]"))


def _written(path, text):
    path.write_text(text)
    return path


def test_a_missing_hql_file_is_named(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("hql: features/fraud.hql", "hql: features/nope.hql"))
    with pytest.raises(RiskConfigError, match=r"extract\.hql.*include/hql/features/nope\.hql"):
        load_risk_config(fraud_yaml)


def test_a_shared_table_the_project_does_not_write_is_refused_naming_the_ones_it_does(fraud_yaml):
    text = fraud_yaml.read_text()
    assert load_risk_config(fraud_yaml).extract.shared_tables == [
        "features.account_realtime_5m",
        "features.account_realtime_1h",
    ]
    fraud_yaml.write_text(text.replace("- features.account_realtime_1h", "- features.account_realtime_1d"))
    with pytest.raises(RiskConfigError, match=r"extract\.shared_tables.*account_realtime_1d.*account_realtime_1h"):
        load_risk_config(fraud_yaml)
    fraud_yaml.write_text(text.replace("- features.account_realtime_1h", "- features.account_realtime_5m"))
    with pytest.raises(RiskConfigError, match=r"extract\.shared_tables.*names a table twice"):
        load_risk_config(fraud_yaml)


def test_a_file_whose_name_disagrees_with_its_risk_type_is_refused(fraud_yaml, tmp_path):
    other = tmp_path / "scraping.yaml"
    fraud_yaml.rename(other)
    with pytest.raises(RiskConfigError, match="file is named 'scraping'"):
        load_risk_config(other)


def test_the_risk_types_are_the_yamls_in_the_risks_folder(tmp_path, monkeypatch):
    risks = tmp_path / "risks"
    shutil.copytree(INCLUDE_DIR / "risks", risks)
    (risks / "promo_abuse.yaml").write_text(
        (risks / "fraud.yaml")
        .read_text()
        .replace("risk_type: fraud", "risk_type: promo_abuse")
        .replace("tasks: [fraud, abusive_account]", "tasks: [promo_abuse, fraud]")
    )
    (risks / "Not-A-Risk.yaml").write_text("{}")
    monkeypatch.setenv("INTEGRITY_RISKS_DIR", str(risks))
    assert all_risk_types() == sorted([*FIVE, "promo_abuse"])
    assert load_risk_config(risks / "promo_abuse.yaml").model.tasks == ["promo_abuse", "fraud"]
    # fraud may now co-train a promo_abuse head; without the YAML it could not.
    fraud = risks / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("tasks: [fraud, abusive_account]", "tasks: [fraud, promo_abuse]"))
    assert load_risk_config(fraud).model.tasks == ["fraud", "promo_abuse"]
    (risks / "promo_abuse.yaml").unlink()
    with pytest.raises(RiskConfigError, match=r"model\.tasks.*\['promo_abuse'\]"):
        load_risk_config(fraud)


def test_the_table_must_be_declared_in_its_ddl(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("table: features.fraud_daily", "table: features.fraud_dayly"))
    with pytest.raises(
        RiskConfigError,
        match=r"extract.*feature_tables\.hql has no CREATE TABLE IF NOT EXISTS "
        r"features\.fraud_dayly",
    ):
        load_risk_config(fraud_yaml)


def test_trainer_settings_are_accepted_in_the_yaml_and_checked(fraud_yaml):
    text = fraud_yaml.read_text()
    fraud_yaml.write_text(
        text.replace(
            "  focal_gamma: 2.0\n",
            "  focal_gamma: 2.0\n  focal_alpha: 0.25\n  embedding_dim: 4\n  seed: 7\n  baseline: false\n",
        )
    )
    model = load_risk_config(fraud_yaml).model
    assert (model.focal_alpha, model.embedding_dim, model.seed, model.baseline) == (0.25, 4, 7, False)
    fraud_yaml.write_text(text.replace("  focal_gamma: 2.0\n", "  focal_gamma: 2.0\n  focal_alpha: 1.5\n"))
    with pytest.raises(RiskConfigError, match=r"model\.focal_alpha.*less than 1.*got 1\.5"):
        load_risk_config(fraud_yaml)


def test_one_model_config_gives_the_dag_and_the_trainer_the_same_settings():
    # What the DAG hands the trainer (the validated JSON) is what the trainer trains with.
    for risk in FIVE:
        model = load_risk_config(INCLUDE_DIR / "risks" / f"{risk}.yaml").model
        assert resolve_config(model.model_dump(mode="json"), risk) == model.model_dump(mode="json")
    defaults = resolve_config({}, "fraud")
    assert defaults == {**ModelConfig(tasks=["fraud"]).model_dump(mode="json")}
    assert (defaults["batch_size"], defaults["epochs"], defaults["seed"], defaults["shuffle_buffer"]) == (
        256,
        20,
        0,
        50_000,
    )
    with pytest.raises(ConfigError, match=r"key 'model\.batch_size': .*greater than or equal to 8.*got 2"):
        resolve_config({"batch_size": 2}, "fraud")


def test_a_risk_yaml_without_its_tables_quality_rules_names_the_file(fraud_yaml):
    text = fraud_yaml.read_text()
    start = text.index("  quality:")
    end = text.index("\n\n", start)
    fraud_yaml.write_text(text[:start] + text[end + 1 :])
    with pytest.raises(RiskConfigError) as err:
        load_risk_config(fraud_yaml)
    assert str(fraud_yaml) in str(err.value) and "'extract.quality' is missing" in str(err.value)


def test_quality_rules_naming_a_column_the_table_lacks_are_refused(fraud_yaml):
    fraud_yaml.write_text(fraud_yaml.read_text().replace("columns: {}", "columns: {payment_attempt_1d: {min: 0}}"))
    with pytest.raises(RiskConfigError, match=r"extract.*\['payment_attempt_1d'\].*features\.fraud_daily"):
        load_risk_config(fraud_yaml)


def test_the_shared_tables_rules_validate_and_a_bad_bound_names_file_and_key(tmp_path):
    from integrity_risk.config.tables import SHARED_EXTRACTS, TableRulesError, load_table_rules, shared_tables_file

    rules = load_table_rules()
    assert set(rules) == {"features.account_daily", "features.labels", *SHARED_EXTRACTS}
    assert rules["features.account_realtime_5m"].key_columns == ["account_pk", "window_end"]
    assert rules["features.account_realtime_5m"].feature_ts == "within_day"
    assert rules["features.account_daily"].feature_ts == "day_end"
    assert rules["features.labels"].key_columns == ["account_pk", "risk_type"]
    assert rules["features.account_daily"].rule("country", "string").max_null_rate == 0.5
    broken = tmp_path / "shared.yaml"
    broken.write_text(shared_tables_file().read_text().replace("max_null_rate: 0.5}", "max_null_rate: 5}", 1))
    with pytest.raises(
        TableRulesError,
        match=rf"{broken}.*features\.account_daily.*columns\.account_age_days"
        r"\.max_null_rate.*less than or equal to 1",
    ):
        load_table_rules(broken)


def test_every_risk_yaml_has_drift_bounds_and_a_log_notifier():
    for risk in FIVE:
        cfg = load_risk_config(INCLUDE_DIR / "risks" / f"{risk}.yaml")
        assert cfg.model_cycle == "fixed" and 0 < cfg.drift.max_psi < 1
        assert [n.class_ for n in cfg.drift.notify] == ["integrity_risk.notifiers.log.LogNotifier"]
        assert set(cfg.drift.volume_columns) == {cfg.extract.table, "features.account_daily"}


def test_a_drift_notifier_that_cannot_be_imported_is_named_at_parse(fraud_yaml):
    text = fraud_yaml.read_text()
    fraud_yaml.write_text(text.replace("class: integrity_risk.notifiers.log.LogNotifier", "class: acme.chat.Notifier"))
    with pytest.raises(RiskConfigError, match=r"drift\.notify\.0.*cannot import 'acme\.chat'.*provider installed"):
        load_risk_config(fraud_yaml)
    not_a_notifier = "class: integrity_risk.config.risk.RiskConfig"
    fraud_yaml.write_text(text.replace("class: integrity_risk.notifiers.log.LogNotifier", not_a_notifier))
    with pytest.raises(RiskConfigError, match=r"drift\.notify\.0.*not an Airflow notifier"):
        load_risk_config(fraud_yaml)


def test_a_drift_notifier_gets_its_kwargs_checked_and_an_installed_provider_is_accepted(fraud_yaml):
    text = fraud_yaml.read_text()
    smtp = (
        "class: airflow.providers.smtp.notifications.smtp.SmtpNotifier\n"
        "      kwargs: {to: platform@example.com, html_content: '{{ drift_message }}'}"
    )
    fraud_yaml.write_text(text.replace("class: integrity_risk.notifiers.log.LogNotifier", smtp))
    notifier = load_risk_config(fraud_yaml).drift.notify[0]
    assert notifier.kwargs == {"to": "platform@example.com", "html_content": "{{ drift_message }}"}
    fraud_yaml.write_text(
        text.replace("class: integrity_risk.notifiers.log.LogNotifier", smtp.replace("to:", "recipients:"))
    )
    with pytest.raises(RiskConfigError, match=r"drift\.notify\.0.*do not fit.*SmtpNotifier"):
        load_risk_config(fraud_yaml)


def test_drift_bounds_volume_columns_and_model_cycle_are_checked(fraud_yaml):
    text = fraud_yaml.read_text()
    for old, new, error in (
        ("max_psi: 0.25", "max_psi: -1", r"drift\.max_psi.*greater than 0"),
        ("max_flag_rate_ratio: 2.0", "max_flag_rate_ratio: 0.5", r"drift\.max_flag_rate_ratio"),
        ("reference_days: 14", "reference_days: 0", r"drift\.reference_days"),
        (
            "features.fraud_daily: [payment_attempts_1d]",
            "features.fraud_daily: [payment_attempts_9d]",
            r"features\.fraud_daily has no columns \['payment_attempts_9d'\]",
        ),
        ("features.account_daily: [events_1d]", "features.labels: [label]", r"'features\.labels' is not one of"),
        ("model_cycle: fixed", "model_cycle: weekly", r"model_cycle.*'fixed' or 'on_drift'"),
        ("  notify:", "  notfiy:", r"'drift\.notfiy' is not a known setting"),
        ("retrain_delay_days: null", "retrain_delay_days: -1", r"drift\.retrain_delay_days"),
        ("noise_multiplier: 2.0", "noise_multiplier: 0.5", r"drift\.noise_multiplier"),
        (
            "start_date: 2026-03-01",
            "start_date: 2026-03-01\nhistory_start: 2026-04-01",
            "history_start 2026-04-01 is after",
        ),
        (
            "start_date: 2026-03-01",
            "start_date: 2026-03-01\nend_date: 2026-02-28",
            "end_date 2026-02-28 is before start_date 2026-03-01",
        ),
    ):
        fraud_yaml.write_text(text.replace(old, new))
        with pytest.raises(RiskConfigError, match=error):
            load_risk_config(fraud_yaml)
    fraud_yaml.write_text(text.replace("model_cycle: fixed", "model_cycle: on_drift"))
    cfg = load_risk_config(fraud_yaml)
    assert cfg.model_cycle == "on_drift" and cfg.drift_retrain_delay_days == 3 + 2 + 2 + 1
    assert cfg.first_day == cfg.start_date  # no history_start: a backfill starts on start_date at the earliest
    fraud_yaml.write_text(text.replace("retrain_delay_days: null", "retrain_delay_days: 0"))
    assert load_risk_config(fraud_yaml).drift_retrain_delay_days == 0


def test_the_upstream_health_bounds_and_the_platform_team_validate_and_a_bad_file_is_named(tmp_path):
    from integrity_risk.config.health import (
        HealthConfigError,
        load_upstream_health,
        platform_users,
        upstream_health_file,
    )

    health = load_upstream_health()
    assert health.user_events.event_type_rows.max_ratio > health.user_events.rows.max_ratio  # a type may surge
    assert "raw.user_events" in health.partitions and platform_users() == ["platform"]
    broken = tmp_path / "upstream.yaml"
    broken.write_text(upstream_health_file().read_text().replace("max_dirty_rate: 0.05", "max_dirty_rate: 5"))
    with pytest.raises(
        HealthConfigError, match=rf"{broken}: key 'user_events\.max_dirty_rate'.*less than or equal to 1"
    ):
        load_upstream_health(broken)
    broken.write_text(upstream_health_file().read_text().replace("    account_id: 0.02", "    acount_id: 0.02"))
    with pytest.raises(HealthConfigError, match=r"acount_id.*raw\.user_events lacks"):
        load_upstream_health(broken)
    with pytest.raises(HealthConfigError, match=rf"{tmp_path / 'nope.yaml'}: cannot read YAML"):
        load_upstream_health(tmp_path / "nope.yaml")
    (tmp_path / "platform.yaml").write_text("platform: []\n")
    with pytest.raises(HealthConfigError, match=r"platform\.yaml: key 'platform'"):
        platform_users(tmp_path / "platform.yaml")
