"""UpstreamPartitionsSensor: waits until the day's upstream partitions exist, up to their deadline."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.values import check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class UpstreamPartitionsSensor(HiveServer2HookMixin, BaseSensorOperator):
    """Wait until every table of ``tables`` has its partition ``ds``: freshness, the first health gate.

    Other teams load ``raw.*``; a day's partition that is late is waited for, in
    ``reschedule`` mode (no worker nor pool slot between pokes), and one still missing
    at the deadline (``timeout``, ``upstream_deadline_hours`` of
    ``include/tables/upstream.yaml``) fails the run naming the partitions missing, so the
    platform team learns that a feed is late rather than finding a day silently absent.

    A day that can never arrive ends at once instead of holding a slot for hours: one before
    ``not_before`` (the DAG's first day: a backfill whose ``from_date`` is a typo) fails before
    any query, and one whose deadline (its data interval's end plus ``timeout``) passed long
    ago, as in a backfill of old days that upstream never loaded, fails at its first poke.

    :param tables: the upstream tables, ``database.table``.
    :param ds: the day, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    :param timeout: the deadline, from the first poke.
    :param poke_interval: how often to look again; default 60 s.
    :param not_before: the first day this pipeline processes (the DAG's start date), ``YYYY-MM-DD``.
    :param mode: ``reschedule`` (default) or ``poke``.
    """

    template_fields: Sequence[str] = ("ds",)
    ui_color = "#e8f0f4"

    def __init__(
        self,
        *,
        tables: Sequence[str],
        ds: str = "{{ ds }}",
        hiveserver2_conn_id: str = "hiveserver2_default",
        timeout: dt.timedelta | float = dt.timedelta(hours=6),
        poke_interval: dt.timedelta | float = 60,
        mode: str = "reschedule",
        not_before: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, poke_interval=poke_interval, mode=mode, **kwargs)
        if not tables:
            raise ValueError("UpstreamPartitionsSensor needs at least one table")
        self.tables = [check_table_name(t) for t in tables]
        self.ds = ds
        self.hiveserver2_conn_id = hiveserver2_conn_id
        self.not_before = parse_ds(not_before).isoformat() if not_before else None
        self.pending: list[str] = []  # the partitions missing at the last poke, for the timeout's message

    def missing_partitions(self) -> list[str]:
        """``<table> ds=<day>`` of every table whose partition ``ds`` does not exist."""
        day = parse_ds(self.ds).isoformat()
        return [f"{t} ds={day}" for t in self.tables if not self.hook.partition_exists(t, day)]

    def poke(self, context: Context) -> bool:
        self.pending = self.missing_partitions()
        if self.pending:
            end = context.get("data_interval_end")
            deadline = end + dt.timedelta(seconds=self.timeout) if end else None
            if deadline and dt.datetime.now(dt.UTC) > deadline:
                raise AirflowFailException(
                    f"upstream partitions {self.pending} are missing and their deadline {deadline:%Y-%m-%d %H:%M} UTC "
                    f"(the day's end plus upstream_deadline_hours of include/tables/upstream.yaml) has passed: "
                    f"nothing was extracted for ds={self.ds}. A backfill of days upstream never loaded?"
                )
            self.log.info("waiting for the upstream partitions %s", self.pending)
        return not self.pending

    def execute(self, context: Context) -> Any:
        day = parse_ds(self.ds).isoformat()
        if self.not_before and day < self.not_before:
            raise AirflowFailException(
                f"ds={day} is before {self.not_before}, the first day of this DAG (its start_date): this pipeline "
                f"has nothing to extract for it, and nothing was queried. A backfill whose from_date is a typo?"
            )
        try:
            return super().execute(context)
        except AirflowSensorTimeout as err:
            # The base class's message says only that time ran out: name what is missing.
            raise AirflowSensorTimeout(
                f"upstream partitions {self.pending} still missing after the deadline of "
                f"{dt.timedelta(seconds=self.timeout)} (upstream_deadline_hours of include/tables/upstream.yaml): "
                f"nothing was extracted for ds={self.ds}; their owners must load them. ({err})"
            ) from err
