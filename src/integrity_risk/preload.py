"""The libraries the tasks import, loaded once in the process their task processes fork from.

Airflow runs each task in a process forked from a worker: the LocalExecutor's workers are
forked from the scheduler, Celery's pool processes from the Celery worker, and each task
process from one of those (the task SDK's supervisor). The project's operators import
Feast, MLflow, pandas and the Hive hook inside ``execute``, so every task process paid for
them again: about 10 s a task on two cores, most of a materialization or a drift task.
Imported before the fork, they are shared by every task process.

Two ways in, one per executor:

- ``AIRFLOW__CORE__EXECUTOR=integrity_risk.executors.PreloadedLocalExecutor`` (the embedded default);
- ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=integrity_risk.celery_config.CELERY_CONFIG`` (the topology).

Nothing changes for the tasks: they import what they need as before, and find it loaded.
"""

from __future__ import annotations

import importlib
import logging
import time

log = logging.getLogger(__name__)

# Libraries the operators import in execute(). Not TensorFlow: it starts thread pools when
# imported, which a forked child cannot use, and only the training task needs it.
TASK_MODULES = (
    "pandas",
    "pyarrow.parquet",
    "feast",
    "mlflow",
    "sklearn.metrics",
    "airflow.providers.apache.hive.hooks.hive",
    # The project's Feast plug-ins, and with them Feast's stores and local engine.
    "integrity_risk.features.online_stores",
    "integrity_risk.features.feast_engine",
)


def import_task_modules() -> None:
    """Import :data:`TASK_MODULES`; one this deployment lacks is logged and left to its tasks."""
    began = time.monotonic()
    for name in TASK_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as e:
            # Its tasks fail on it themselves, naming it.
            log.warning("Not preloading %s: %s", name, e)
    log.info("Imported the tasks' libraries in %.1f s, for the task processes to share", time.monotonic() - began)
