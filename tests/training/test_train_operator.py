"""The trainer end to end through TFTrainOperator: trains, beats a trivial baseline, registers, reloads, fails loudly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from airflow.exceptions import AirflowException

from integrity_local.training_data import FEATURES, TASKS, make_frame, write_training_set

RISK = "abusive_account"


def test_operator_returns_model_version_run_and_metrics(trained):
    assert trained["model_name"] == f"integrity_{RISK}"
    assert trained["version"] == "1"
    assert trained["run_id"]
    for task in TASKS:
        assert 0.0 <= trained["metrics"][f"test_{task}_pr_auc"] <= 1.0


def test_new_version_gets_candidate_alias_and_tags(trained, client, training_set):
    version = client.get_model_version_by_alias(f"integrity_{RISK}", "candidate")
    assert str(version.version) == trained["version"]
    assert version.tags["risk_type"] == RISK
    assert version.tags["training_set"] == training_set.as_uri()  # where it lies, for any machine
    assert version.tags["feature_service"] == "abusive_account_v1"
    manifest = json.loads((training_set / "manifest.json").read_text())
    assert version.tags["training_cutoff"] == manifest["time_range"]["end"]


def test_deep_model_beats_prevalence_on_held_out_data_by_a_clear_margin(trained):
    for task in TASKS:
        prevalence = trained["metrics"][f"test_{task}_prevalence"]
        pr_auc = trained["metrics"][f"test_{task}_pr_auc"]
        # A constant score's PR-AUC is the prevalence.
        assert pr_auc > 2.5 * prevalence and pr_auc > prevalence + 0.15, (task, pr_auc, prevalence)


def test_run_logs_params_epoch_metrics_manifest_and_lightgbm_baseline(trained, client):
    run = client.get_run(trained["run_id"])
    assert run.data.params["learning_rate"] == "0.01"
    history = client.get_metric_history(trained["run_id"], f"val_{RISK}_pr_auc")
    assert len(history) >= 2 and [m.step for m in history] == list(range(1, len(history) + 1))
    for task in TASKS:
        assert run.data.metrics[f"baseline_test_{task}_pr_auc"] > run.data.metrics[f"test_{task}_prevalence"]
        assert f"test_{task}_roc_auc" in run.data.metrics
    artifacts = [a.path for a in client.list_artifacts(trained["run_id"], "training_set")]
    assert artifacts == ["training_set/manifest.json"]


def test_registered_model_reloads_and_gives_the_same_scores_in_row_order(trained, training_set):
    import mlflow

    from integrity_risk.training.scoring import score

    before = pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=trained["run_id"], artifact_path="evaluation/test_scores.parquet")
    )
    test = pd.read_parquet(training_set / "test.parquet")
    after = score(f"models:/integrity_{RISK}@candidate", test)
    assert list(after.columns) == [f"score_{t}" for t in TASKS]
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-5, atol=1e-6)
    shuffled = test.sample(frac=1.0, random_state=3)
    again = score(f"models:/integrity_{RISK}@candidate", shuffled)
    assert list(again.index) == list(shuffled.index)
    np.testing.assert_allclose(again.loc[test.index].to_numpy(), after.to_numpy(), rtol=1e-5, atol=1e-6)


def test_missing_feature_column_fails_with_a_message_naming_it(tmp_path, frame, config_file):
    missing = "abusive_account_daily__follow_ratio_7d"
    folder = write_training_set(tmp_path / "ts", frame.drop(columns=[missing]), features=FEATURES)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "integrity_risk.training.train",
            "--training-set",
            str(folder),
            "--risk-type",
            RISK,
            "--config",
            str(config_file),
            "--registered-model",
            "integrity_missing_test",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert missing in proc.stderr and "train.parquet" in proc.stderr


def test_nan_loss_fails_the_task_and_registers_nothing(tmp_path, config_file, client, fresh_registry):
    from integrity_risk.operators.tf_train import TFTrainOperator

    broken = make_frame(1500, seed=2)
    broken.loc[broken.index[::20], "fake_engagement_daily__like_burst_score_1d"] = np.inf
    folder = write_training_set(tmp_path / "ts", broken)
    op = TFTrainOperator(
        task_id="train",
        training_set=str(folder),
        risk_type=RISK,
        config=str(config_file),
        registered_model="integrity_nan_test",
    )
    with pytest.raises(AirflowException, match="NaN loss") as err:
        op.execute(context={})
    assert "exit status 3" in str(err.value)
    assert client.search_registered_models(filter_string="name = 'integrity_nan_test'") == []


def test_on_kill_stops_the_trainer_process(training_set, config_file):
    import threading
    import time

    from integrity_risk.operators.tf_train import TFTrainOperator

    op = TFTrainOperator(
        task_id="train",
        training_set=str(training_set),
        risk_type=RISK,
        config=str(config_file),
        registered_model="integrity_kill_test",
    )
    failures = []

    def run():
        try:
            op.execute(context={})
        except AirflowException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while op._process is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    op.on_kill()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert op._process.returncode < 0  # ended by the signal, not by finishing
    assert len(failures) == 1 and "failed with exit status" in str(failures[0])


def test_control_copies_permute_or_invert_only_the_train_and_validation_labels(tmp_path):
    import pandas as pd

    from integrity_local.training_data import make_frame, write_training_set
    from integrity_risk.training.data import control_copy, split_path

    source = write_training_set(tmp_path / "set", make_frame(2000, seed=3))
    label = "label_abusive_account"
    copy = control_copy(source, tmp_path / "permuted", [label], "permute", seed=0)

    original = pd.read_parquet(split_path(source, "train"))
    permuted = pd.read_parquet(split_path(copy, "train"))
    counts = lambda col: (int(col.isna().sum()), int((col == 1).sum()), int((col == 0).sum()))
    assert counts(original[label]) == counts(permuted[label])
    assert not original[label].equals(permuted[label])
    features = [
        c
        for c in original.columns
        if c not in (label,) and original[c].dtype.kind == "f" and not c.startswith("label_")
    ]
    assert original[features].equals(permuted[features])
    assert pd.read_parquet(split_path(copy, "test")).equals(pd.read_parquet(split_path(source, "test")))

    inverted = pd.read_parquet(split_path(control_copy(source, tmp_path / "inverted", [label], "invert"), "train"))
    assert ((1.0 - original[label]).fillna(-1) == inverted[label].fillna(-1)).all()
    assert inverted[label].isna().sum() == original[label].isna().sum()
