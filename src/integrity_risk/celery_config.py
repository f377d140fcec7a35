"""Airflow's Celery configuration, with the worker loading the tasks' libraries before its pool forks.

``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=integrity_risk.celery_config.CELERY_CONFIG``. Every
process that builds the Celery app imports this module (the scheduler, ``celery inspect``),
so it only connects a handler: the import itself (:mod:`integrity_risk.preload`) happens in
a worker, once, before its pool processes are forked.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

# Airflow's own configuration object, not a copy: the provider recognizes it and keeps a team's
# settings over it, as when nothing is configured.
CELERY_CONFIG = DEFAULT_CELERY_CONFIG


@worker_init.connect
def _preload_task_modules(**_: Any) -> None:
    from integrity_risk.preload import import_task_modules

    import_task_modules()
