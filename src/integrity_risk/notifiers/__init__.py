"""Notifiers of the integrity pipelines: Airflow ``BaseNotifier`` subclasses, and loading those a YAML names.

A risk YAML's ``drift.notify`` lists notifiers by import path with their keyword arguments
(``integrity_risk.notifiers.log.LogNotifier``, Slack's or SMTP's from their providers at
scale). :func:`notifier_class` checks a path when the DAG file is parsed; :func:`build_notifier`
makes the object the drift task calls. Each is rendered with the task's context, so its
templated arguments can use ``{{ drift_message }}`` and ``{{ drift }}`` (the drift summary).
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import BaseNotifier


def notifier_class(path: str) -> type[BaseNotifier]:
    """The notifier class at ``module.Class``; raises ValueError saying what is wrong with the path."""
    from airflow.sdk import BaseNotifier

    module_name, _, class_name = path.rpartition(".")
    if not module_name or not class_name.isidentifier():
        raise ValueError(f"{path!r} is not an import path of the form package.module.Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"cannot import {module_name!r} for notifier {path!r} (is its provider installed?): {err}"
        ) from None
    cls = getattr(module, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, BaseNotifier)):
        raise ValueError(f"{path!r} is not an Airflow notifier (a subclass of airflow.sdk.BaseNotifier)")
    return cls


def check_notifier_kwargs(path: str, kwargs: Mapping[str, Any]) -> None:
    """Raise ValueError when ``kwargs`` do not fit the constructor of the notifier at ``path``."""
    cls = notifier_class(path)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as err:
        raise ValueError(f"arguments {sorted(kwargs)} do not fit {path}: {err}") from None


def build_notifier(path: str, kwargs: Mapping[str, Any] | None = None) -> BaseNotifier:
    """An instance of the notifier at ``path`` with ``kwargs``."""
    return notifier_class(path)(**dict(kwargs or {}))
