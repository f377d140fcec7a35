"""TrailingPartitionsSensor: waits until the trailing days a step reads (the training window) are extracted."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.values import check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class TrailingPartitionsSensor(HiveServer2HookMixin, BaseSensorOperator):
    """Wait until every trailing day of ``ds`` that has upstream data has a partition of ``table``.

    A day with an ``upstream`` partition but no ``table`` partition is a day whose extract
    has not run yet (a backfill of the history still going, a failed day). The training
    set joins the trailing days; built while the history is being backfilled, it would
    hold the few days done so far. This sensor holds it back until the window is complete, in ``reschedule`` mode (no worker nor
    pool slot between pokes), and after ``timeout`` fails naming the days still missing.
    A day without upstream data is not waited for: nothing will ever extract it.

    :param table: the table whose trailing partitions are read, ``database.table``. (templated)
    :param upstream: table whose partitions say which days have data (e.g. ``raw.user_events``).
    :param ds: the run's day, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param trailing_days: days before ``ds`` that are read.
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    :param timeout: how long to wait.
    :param poke_interval: how often to look again; default 60 s.
    :param mode: ``reschedule`` (default) or ``poke``.
    """

    template_fields: Sequence[str] = ("table", "ds")
    ui_color = "#e8f0f4"

    def __init__(
        self,
        *,
        table: str,
        upstream: str,
        ds: str = "{{ ds }}",
        trailing_days: int = 7,
        hiveserver2_conn_id: str = "hiveserver2_default",
        timeout: dt.timedelta | float = dt.timedelta(hours=6),
        poke_interval: dt.timedelta | float = 60,
        mode: str = "reschedule",
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, poke_interval=poke_interval, mode=mode, **kwargs)
        if not isinstance(trailing_days, int) or trailing_days < 1:
            raise ValueError(f"trailing_days must be a positive int, got {trailing_days!r}")
        self.table = table
        self.upstream = check_table_name(upstream)
        self.ds = ds
        self.trailing_days = trailing_days
        self.hiveserver2_conn_id = hiveserver2_conn_id
        self.pending: list[str] = []  # the days missing at the last poke, for the timeout's message

    def missing_days(self) -> list[str]:
        """Trailing days of ``ds`` with an ``upstream`` partition but none of ``table``."""
        table, day = check_table_name(self.table), parse_ds(self.ds)
        first, before = (day - dt.timedelta(days=self.trailing_days)).isoformat(), day.isoformat()
        have = set(self.hook.partition_days(table))
        return [d for d in self.hook.partition_days(self.upstream) if first <= d < before and d not in have]

    def poke(self, context: Context) -> bool:
        self.pending = self.missing_days()
        if self.pending:
            self.log.info(
                "waiting for the trailing partitions %s of %s before the step of ds=%s reads them "
                "(%s has them; their extracts have not run yet)",
                self.pending,
                self.table,
                self.ds,
                self.upstream,
            )
        return not self.pending

    def execute(self, context: Context) -> Any:
        try:
            return super().execute(context)
        except AirflowSensorTimeout as err:
            # The base class's message says only that time ran out: name what is missing.
            raise AirflowSensorTimeout(
                f"the {self.trailing_days} days before ds={self.ds} are incomplete: partitions of {self.table} "
                f"{self.pending} are still missing after {dt.timedelta(seconds=self.timeout)} although "
                f"{self.upstream} has them; extract (backfill) those days. ({err})"
            ) from err
