"""LogNotifier: a notification written to the log, where the platform team's log alerts find it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

LOGGER_NAME = "integrity_risk.notifications"


class LogNotifier(BaseNotifier):
    """Write a templated message to the ``integrity_risk.notifications`` logger.

    The notifier every deployment has: no service to reach, and in the task's log beside the
    figures. Slack's or SMTP's notifiers carry the same message further (``drift.notify``).

    :param message: the text, rendered with the task's context (templated); default the drift
        summary's message ``{{ drift_message }}``.
    :param level: the log level's name, e.g. ``WARNING``.
    """

    template_fields = ("message",)

    def __init__(self, message: str = "{{ drift_message }}", level: str = "WARNING") -> None:
        super().__init__()
        self.message = message
        if not isinstance(logging.getLevelName(level.upper()), int):
            raise ValueError(f"unknown log level {level!r}")
        self.level = level.upper()

    def notify(self, context: Context) -> None:
        logging.getLogger(LOGGER_NAME).log(logging.getLevelName(self.level), "%s", self.message)
