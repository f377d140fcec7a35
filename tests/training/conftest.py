"""Fixtures of the training tests: a generated training set, a model config, one real training run.

The run goes through ``TFTrainOperator`` (a real trainer subprocess, real MLflow on
SQLite under the local folder), once per session; several tests read its outputs.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from integrity_local.training_data import TASKS, make_frame, write_training_set

RISK = "abusive_account"
# Small and quick, but enough to learn the synthetic signal.
MODEL_SECTION = {
    "tasks": list(TASKS),
    "hidden_units": [32, 16],
    "dropout": 0.1,
    "learning_rate": 0.01,
    "batch_size": 128,
    "epochs": 5,
    "patience": 3,
    "focal_gamma": 2.0,
    "shuffle_buffer": 1000,
}


@pytest.fixture(scope="session", autouse=True)
def fresh_registry():
    """A fresh MLflow registry under the local folder for this session."""
    from integrity_risk.tracking import mlflow_dir

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    shutil.rmtree(mlflow_dir(), ignore_errors=True)
    return mlflow_dir()


@pytest.fixture(scope="session")
def model_section():
    return dict(MODEL_SECTION)


@pytest.fixture(scope="session")
def frame():
    return make_frame(4000, seed=1)


@pytest.fixture(scope="session")
def training_set(tmp_path_factory, frame):
    return write_training_set(tmp_path_factory.mktemp("ts") / "abusive_account" / "2026-11-01", frame)


@pytest.fixture(scope="session")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "abusive_account.json"
    path.write_text(json.dumps({"model": MODEL_SECTION}))
    return path


@pytest.fixture(scope="session")
def trained(training_set, config_file, fresh_registry):
    """One real training run through the operator: its XCom result."""
    from integrity_risk.operators.tf_train import TFTrainOperator

    # A URL under the storage root, as the DAG's training_set task hands it on.
    op = TFTrainOperator(
        task_id="train", training_set=training_set.as_uri(), risk_type=RISK, config=str(config_file), run_name="pytest"
    )
    return op.execute(context={})


@pytest.fixture(scope="session")
def client(fresh_registry):
    from integrity_risk.tracking import configure

    configure()
    import mlflow

    return mlflow.MlflowClient()
