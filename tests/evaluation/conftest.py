"""A real MLflow registry (SQLite) with a tiny pyfunc model registered as a few versions.

The alias and audit logic does not depend on the model's flavour, so a two-line
python model stands in for the trained Keras model here.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def mlflow_registry(tmp_path_factory):
    """Point MLflow at a fresh SQLite registry for the session; yields an ``MlflowClient``."""
    import mlflow
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("evaluation_tests")
    yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    # MLflow's process-wide URIs back to following the environment, for the modules after these.
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)  # set_registry_uri exported it for subprocesses
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture(scope="session")
def register_versions(mlflow_registry):
    """``register_versions(risk_type, shifts) -> [version, ...]``: one tiny pyfunc version per shift."""
    return _register_versions


def _register_versions(risk_type: str, shifts: list[float]) -> list[int]:
    """Register one tiny pyfunc version per shift under ``integrity_<risk_type>``; returns versions."""
    import mlflow
    import numpy as np
    import pandas as pd

    class Model(mlflow.pyfunc.PythonModel):
        def __init__(self, shift):
            self.shift = shift

        def predict(self, context, model_input: pd.DataFrame, params=None):
            x = model_input.select_dtypes("number").sum(axis=1).to_numpy()
            return pd.DataFrame({f"score_{risk_type}": 1 / (1 + np.exp(-(x + self.shift)))})

    versions = []
    for shift in shifts:
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Model(shift), registered_model_name=f"integrity_{risk_type}"
            )
        versions.append(int(info.registered_model_version))
    return versions


@pytest.fixture
def warehouse(feature_days, monkeypatch):
    """The feature tables read as the local profile reads them (the warehouse's files, as Feast does):
    those of this session's server, which the module's ``feature_days`` fixture loaded.
    """
    monkeypatch.setenv("INTEGRITY_FEATURE_WAREHOUSE", str(feature_days.warehouse_dir))
    monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local")
    return feature_days.warehouse_dir
