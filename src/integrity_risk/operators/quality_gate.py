"""QualityGateOperator: checks one partition of an extract's output before it is published."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from integrity_risk.acceptance import Problem, failure_message, settle
from integrity_risk.config.tables import NUMERIC_TYPES, TableQuality
from integrity_risk.features.table_schema import ddl_schema, schema_problems
from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.values import check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

GATE = "quality gate"


class QualityGateError(AirflowFailException):
    """A partition failed its checks; fails the task without retries (the data must be fixed)."""


class QualityGateOperator(HiveServer2HookMixin, BaseOperator):
    """Check one partition of an extract's output as data, and fail the run before it is published.

    A health gate: it judges whether the partition is well formed, never how much
    behaviour it holds (attackers change that, and a gate on it stops the pipeline exactly
    when they do; the drift report watches behaviour). Checks, computed in Hive (one
    aggregate query over the partition and the result schema), never by pulling rows:

    - schema: the table's columns and types equal those of its ``CREATE TABLE`` in ``ddl``
      (never accepted: every reader would fail on it);
    - ``min_rows``: at least ``min_rows`` rows;
    - ``key``: one row per key (the rules' ``key_columns``);
    - ``feature_ts``: ``feature_ts`` = ``ds`` + 1 day, or within ``ds`` for a table whose
      rules say ``feature_ts: within_day`` (the stream's windows);
    - ``null_rate`` and ``range`` per column (:class:`~integrity_risk.config.tables.ColumnRule`).
      Defaults: no NULLs, numeric columns >= 0, columns named ``*_ratio_*``/``*_share_*``
      in [0, 1]; the rules' ``columns`` override.

    A failure raises :class:`QualityGateError` naming the table, partition, check, column and
    the figure against its bound; it does not retry. A partition the platform team accepted
    (:mod:`integrity_risk.acceptance`) passes its accepted checks, and the gate logs the
    acceptance and what it overrides.

    A partition that passes updates the task's ``outlets`` (Assets) with ``{"ds", "rows"}``
    as the event's extra.

    :param table: the table, ``database.table``. (templated)
    :param rules: the table's rules (:class:`~integrity_risk.config.tables.TableQuality` or its
        dict): from the risk's YAML (``extract.quality``) or ``include/tables/shared.yaml``.
    :param ds: the partition to check, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param min_rows: the fewest rows a partition may have.
    :param ddl: HQL file under ``include/hql`` with the table's ``CREATE TABLE``.
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    """

    template_fields: Sequence[str] = ("table", "ds")
    ui_color = "#e8f4e4"

    def __init__(
        self,
        *,
        table: str,
        rules: TableQuality | Mapping[str, Any],
        ds: str = "{{ ds }}",
        min_rows: int = 1,
        ddl: str = "feature_tables.hql",
        hiveserver2_conn_id: str = "hiveserver2_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table = table
        # Validated here, so a DAG with bad rules fails to parse rather than at run time.
        self.rules = rules if isinstance(rules, TableQuality) else TableQuality.model_validate(rules)
        self.ds = ds
        self.min_rows = min_rows
        self.ddl = ddl
        self.hiveserver2_conn_id = hiveserver2_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.features.hql import read_hql

        table, day = check_table_name(self.table), parse_ds(self.ds)
        where = f"{table} partition ds={day.isoformat()}"
        expected = ddl_schema(table, read_hql(self.ddl))
        problems = schema_problems(self.hook.table_schema(table), [*expected, ("ds", "string")])
        if problems:  # the other checks would query columns that are not there
            raise QualityGateError(failure_message(GATE, where, [f"schema: {p}" for p in problems]))

        keys = tuple(self.rules.key_columns)
        rules = {name: self.rules.rule(name, dtype) for name, dtype in expected}
        stats = self._partition_stats(table, day, expected, keys)
        found = []
        if stats["rows"] < self.min_rows:
            found.append(Problem("min_rows", f"{stats['rows']} rows, below the minimum {self.min_rows}"))
        if stats["rows"]:
            found += self._row_problems(stats, expected, keys, rules, day, self.rules.feature_ts)
        still_open, accepted = settle(table, day.isoformat(), found, gate=GATE, log=self.log)
        if still_open:
            raise QualityGateError(failure_message(GATE, where, [str(p) for p in still_open]))
        self.log.info("quality gate passed for %s: %s rows", where, stats["rows"])
        # Consumers of the Asset (the online refresh) learn from the event which day it was.
        outlet_events = context.get("outlet_events")
        if outlet_events is not None:
            for asset in self.outlets:
                outlet_events[asset].extra = {"ds": day.isoformat(), "rows": stats["rows"]}
        return {
            "table": table,
            "ds": day.isoformat(),
            "rows": stats["rows"],
            "accepted": [e["event_id"] for e in accepted],
        }

    def _partition_stats(self, table, day, expected, keys) -> dict[str, Any]:
        selects = ["count(*)", f"count(DISTINCT {', '.join(keys)})"]
        for name, dtype in expected:
            selects.append(f"sum(CASE WHEN {name} IS NULL THEN 1 ELSE 0 END)")
            if dtype in NUMERIC_TYPES or dtype == "timestamp":
                selects += [f"min({name})", f"max({name})"]
            else:
                selects += ["NULL", "NULL"]
        row = self.hook.get_records(f"SELECT {', '.join(selects)} FROM {table} WHERE ds = '{day.isoformat()}'")[0]
        stats: dict[str, Any] = {"rows": row[0], "keys": row[1]}
        rest = row[2:]
        stats["columns"] = {name: rest[3 * i : 3 * i + 3] for i, (name, _) in enumerate(expected)}
        return stats

    def _row_problems(self, stats, expected, keys, rules, day, timing) -> list[Problem]:
        problems = []
        if stats["keys"] != stats["rows"]:
            problems.append(
                Problem("key", f"({', '.join(keys)}): {stats['rows']} rows but {stats['keys']} distinct keys")
            )
        for name, dtype in expected:
            nulls, low, high = stats["columns"][name]
            rule = rules[name]
            null_rate = nulls / stats["rows"]
            if null_rate > rule.max_null_rate:
                problems.append(
                    Problem(
                        "null_rate",
                        f"column {name}: NULL rate {null_rate:.1%} ({nulls} of {stats['rows']}) "
                        f"exceeds {rule.max_null_rate:.1%}",
                    )
                )
            if name == "feature_ts" and nulls < stats["rows"]:
                problems += _feature_ts_problems(low, high, day, within_day=timing == "within_day")
            if dtype not in NUMERIC_TYPES or nulls == stats["rows"]:
                continue
            if rule.min is not None and not _ge(low, rule.min):
                problems.append(Problem("range", f"column {name}: min {low} is below the bound {rule.min:g}"))
            if rule.max is not None and not _ge(rule.max, high):
                problems.append(Problem("range", f"column {name}: max {high} is above the bound {rule.max:g}"))
        return problems


def _feature_ts_problems(low: dt.datetime, high: dt.datetime, day: dt.date, *, within_day: bool) -> list[Problem]:
    """``feature_ts`` all ``day`` + 1 day 00:00, or all within ``day`` (``within_day``)."""
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    if within_day and not (start <= low and high < end):
        return [Problem("feature_ts", f"column feature_ts: values {low}..{high}, expected all within {day}")]
    if not within_day and (low, high) != (end, end):
        return [Problem("feature_ts", f"column feature_ts: values {low}..{high}, expected all {end}")]
    return []


def _ge(a: float, b: float) -> bool:
    # NaN compares false everywhere; a NaN feature must fail its range.
    return not (isinstance(a, float) and math.isnan(a)) and not (isinstance(b, float) and math.isnan(b)) and a >= b
