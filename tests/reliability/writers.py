"""The writes the reliability tests interrupt: each function is one task try's ``execute``.

A test runs one in a child process (``faults.spawn``) to SIGKILL it, then calls the
same function in its own process for the retry, as Airflow runs the same ``execute``
again on the next try.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def clean(ds: str, conn_id: str = "hiveserver2_default") -> dict[str, Any]:
    """``CleanEventsOperator`` for ``ds``, every raw day of its look-back cleaned again (the tests reload them)."""
    from integrity_risk.operators.clean_events import CleanEventsOperator

    op = CleanEventsOperator(task_id="clean_events", ds=ds, rewrite_window=True, hiveserver2_conn_id=conn_id)
    context = {"ds": ds, "params": {}}
    op.render_template_fields(context)
    return op.execute(context)


def extract(table: str, hql: str, ds: str, conn_id: str = "hiveserver2_default") -> dict[str, Any]:
    """``HiveExtractOperator`` for ``ds``, rendered and executed as the task runner does; a feature
    table's extract cleans the raw events of its look-back first, as the DAG's clean_events task."""
    from integrity_risk.operators.hive_extract import HiveExtractOperator

    if hql.startswith("features/"):
        clean(ds, conn_id)

    op = HiveExtractOperator(
        task_id=f"hive_extract_{table.split('.')[1]}", hql=hql, table=table, ds=ds, hiveserver2_conn_id=conn_id
    )
    context = {"ds": ds, "params": {}}
    op.render_template_fields(context)
    return op.execute(context)


def materialize(start: str, end: str, chunk_hours: float = 24.0, risk_type: str = "fraud") -> dict[str, Any]:
    """``FeastMaterializeOperator`` over the data interval ``[start, end]`` (ISO times, UTC)."""
    from integrity_risk.operators.feast_materialize import FeastMaterializeOperator

    op = FeastMaterializeOperator(
        task_id="feast_materialize",
        risk_type=risk_type,
        feature_service=f"{risk_type}_v1",
        chunk=timedelta(hours=chunk_hours),
    )
    return op.execute(
        {"data_interval_start": datetime.fromisoformat(start), "data_interval_end": datetime.fromisoformat(end)}
    )


def register(model_name: str, experiment: str, pause_before_alias: str | None = None) -> dict[str, Any]:
    """Log and register a small Keras model in a run of its own, as the trainer's last step does.

    The task instance and try come from the environment, as ``TFTrainOperator`` sets them
    for its trainer. ``pause_before_alias``: a file to write, after which the process blocks
    where ``candidate`` would move, for the test to kill it there (see the test's comment).
    """
    import mlflow

    from integrity_risk.tracking import configure
    from integrity_risk.training.registry import log_and_register

    if pause_before_alias:

        def blocked(*args, **kwargs):
            Path(pause_before_alias).write_text("version registered; candidate not moved yet")
            time.sleep(600)

        mlflow.MlflowClient.set_registered_model_alias = blocked
    configure(experiment)
    with mlflow.start_run():
        return log_and_register(small_model(), model_name, {"risk_type": "reliability"})


def small_model():
    """A Keras model small enough to log in a second; what it predicts does not matter here."""
    import keras

    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])


def registry_updates(
    path: str, entities: int, store: str = "integrity_risk.features.feast_registry.AtomicFileRegistryStore"
) -> None:
    """Rewrite a Feast file registry of ``entities`` entities through ``store``, forever."""
    from feast.infra.registry.registry import get_registry_store_class_from_type
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
    from feast.repo_config import RegistryConfig

    registry = RegistryProto()
    for i in range(entities):
        registry.entities.add().spec.name = f"entity_{i:06d}"
    store_class = get_registry_store_class_from_type(store)
    writer = store_class(RegistryConfig(path=path, registry_store_type=store), Path(path).parent)
    while True:
        writer.update_registry_proto(registry)
