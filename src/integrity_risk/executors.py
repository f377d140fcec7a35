"""A LocalExecutor whose task processes start with the tasks' libraries loaded (:mod:`integrity_risk.preload`)."""

from __future__ import annotations

import multiprocessing

from airflow.executors.local_executor import LocalExecutor

from integrity_risk.preload import import_task_modules


class PreloadedLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor, with the tasks' libraries imported before its workers are forked."""

    def start(self) -> None:
        # Under the spawn start method a worker imports from scratch: nothing to share.
        if multiprocessing.get_start_method() == "fork":
            import_task_modules()
        super().start()
