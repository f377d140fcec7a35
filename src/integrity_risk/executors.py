"""A LocalExecutor whose task processes start with the libraries the tasks import already loaded.

Airflow's LocalExecutor forks its workers from the scheduler, and each worker forks a
process per task (the task SDK's supervisor). The project's operators import Feast, MLflow,
pandas and the Hive hook inside ``execute``, so every task process paid for them again:
about 10 s a task on two cores, most of a materialization or a drift task. Imported once in
the scheduler before the workers are forked, they are shared by every task process.

Select it with ``AIRFLOW__CORE__EXECUTOR=integrity_risk.executors.PreloadedLocalExecutor``
(the embedded default does). Nothing changes for the tasks: they import what they need as
before, and find it loaded.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import time

from airflow.executors.local_executor import LocalExecutor

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


class PreloadedLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor, with :data:`TASK_MODULES` imported before its workers are forked."""

    def start(self) -> None:
        # Under the spawn start method a worker imports from scratch: nothing to share.
        if multiprocessing.get_start_method() == "fork":
            began = time.monotonic()
            for name in TASK_MODULES:
                try:
                    importlib.import_module(name)
                except ImportError as e:
                    # A library this deployment lacks: its tasks fail on it themselves, by name.
                    log.warning("Not preloading %s: %s", name, e)
            log.info("Imported the tasks' libraries in %.1f s for the workers to share", time.monotonic() - began)
        super().start()
