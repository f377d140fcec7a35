"""QualityGateOperator: checks one partition of an extract's output before it is published."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from integrity_risk.config.tables import NUMERIC_TYPES, TableQuality
from integrity_risk.features.table_schema import ddl_schema, schema_problems
from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.values import check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context


class QualityGateError(AirflowFailException):
    """A partition failed its checks; fails the task without retries (the data must be fixed)."""


class QualityGateOperator(HiveServer2HookMixin, BaseOperator):
    """Check one partition of an extract's output and fail the run before it is published.

    Checks, computed in Hive (one aggregate query over the partition, one over the row
    counts of the trailing days, and the result schema), never by pulling rows:

    - schema: the table's columns and types equal those of its ``CREATE TABLE`` in ``ddl``;
    - rows: at least ``min_row_ratio`` and at most ``max_row_ratio`` times the median
      of the trailing ``trailing_days`` partitions that exist; with no history, at
      least ``min_rows``. The same bounds hold for the sum of each ``volume_columns``;
    - keys: one row per key (the rules' ``key_columns``), and ``feature_ts`` = ``ds`` + 1 day;
    - per column: NULL rate and value range (:class:`~integrity_risk.config.tables.ColumnRule`).
      Defaults: no NULLs, numeric columns >= 0, columns named ``*_ratio_*``/``*_share_*``
      in [0, 1]; the rules' ``columns`` override.

    A failure raises :class:`QualityGateError` naming the table, partition, column and
    the figure against its bound; it does not retry.

    The gate compares with the trailing partitions that exist. That they are complete
    (no day with upstream data still waiting for its extract) is the job of the
    :class:`~integrity_risk.sensors.history.TrailingPartitionsSensor` the DAG runs before it.

    A partition that passes updates the task's ``outlets`` (Assets) with ``{"ds", "rows"}``
    as the event's extra.

    :param table: the table, ``database.table``. (templated)
    :param rules: the table's rules (:class:`~integrity_risk.config.tables.TableQuality` or its
        dict): from the risk's YAML (``extract.quality``) or ``include/tables/shared.yaml``.
    :param ds: the partition to check, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param trailing_days: days before ``ds`` whose row counts form the baseline.
    :param min_row_ratio: lower bound of rows (and volumes) relative to the baseline median.
    :param max_row_ratio: upper bound of rows (and volumes) relative to the baseline median.
    :param min_rows: lower bound of rows when no trailing partition exists.
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
        trailing_days: int = 7,
        min_row_ratio: float = 0.5,
        max_row_ratio: float = 2.0,
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
        self.trailing_days = trailing_days
        self.min_row_ratio = min_row_ratio
        self.max_row_ratio = max_row_ratio
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
            raise QualityGateError(f"quality gate failed for {where}:\n- " + "\n- ".join(problems))

        volumes, keys = tuple(self.rules.volume_columns), tuple(self.rules.key_columns)
        rules = {name: self.rules.rule(name, dtype) for name, dtype in expected}
        first = day - dt.timedelta(days=self.trailing_days)
        history = self.hook.partition_volumes(table, first.isoformat(), day.isoformat(), volumes)
        stats = self._partition_stats(table, day, expected, keys, volumes)

        problems = self._volume_problems(stats, history, volumes)
        if stats["rows"]:
            problems += self._row_problems(stats, expected, keys, rules, day)
        if problems:
            raise QualityGateError(f"quality gate failed for {where}:\n- " + "\n- ".join(problems))
        self.log.info(
            "quality gate passed for %s: %s rows, trailing row counts %s",
            where,
            stats["rows"],
            [h["rows"] for h in history],
        )
        # Consumers of the Asset (the online refresh) learn from the event which day it was.
        outlet_events = context.get("outlet_events")
        if outlet_events is not None:
            for asset in self.outlets:
                outlet_events[asset].extra = {"ds": day.isoformat(), "rows": stats["rows"]}
        return {
            "table": table,
            "ds": day.isoformat(),
            "rows": stats["rows"],
            "trailing_rows": [h["rows"] for h in history],
        }

    def _partition_stats(self, table, day, expected, keys, volumes) -> dict[str, Any]:
        selects = ["count(*)", f"count(DISTINCT {', '.join(keys)})"]
        selects += [f"sum(CAST({c} AS DOUBLE))" for c in volumes]
        for name, dtype in expected:
            selects.append(f"sum(CASE WHEN {name} IS NULL THEN 1 ELSE 0 END)")
            if dtype in NUMERIC_TYPES or dtype == "timestamp":
                selects += [f"min({name})", f"max({name})"]
            else:
                selects += ["NULL", "NULL"]
        row = self.hook.get_records(f"SELECT {', '.join(selects)} FROM {table} WHERE ds = '{day.isoformat()}'")[0]
        stats: dict[str, Any] = {"rows": row[0], "keys": row[1]}
        stats["volumes"] = dict(zip(volumes, row[2 : 2 + len(volumes)], strict=False))
        rest = row[2 + len(volumes) :]
        stats["columns"] = {name: rest[3 * i : 3 * i + 3] for i, (name, _) in enumerate(expected)}
        return stats

    def _volume_problems(self, stats, history, volumes) -> list[str]:
        if not history:
            if stats["rows"] < self.min_rows:
                return [f"rows: {stats['rows']} is below the minimum {self.min_rows} (no trailing partitions)"]
            return []
        figures = [("rows", stats["rows"], [h["rows"] for h in history])]
        figures += [(f"sum({c})", stats["volumes"][c] or 0, [h["volumes"][c] or 0 for h in history]) for c in volumes]
        problems = []
        for what, value, past in figures:
            median = statistics.median(past)
            low, high = self.min_row_ratio * median, self.max_row_ratio * median
            if not low <= value <= high:
                problems.append(
                    f"{what}: {value:g} is {value / median:.0%} of the median {median:g} of the "
                    f"{len(past)} trailing partitions; allowed {self.min_row_ratio:.0%}..{self.max_row_ratio:.0%} "
                    f"({low:g}..{high:g})"
                    if median
                    else f"{what}: {value:g}, but the trailing partitions' median is 0"
                )
        return problems

    def _row_problems(self, stats, expected, keys, rules, day) -> list[str]:
        problems = []
        if stats["keys"] != stats["rows"]:
            problems.append(f"key ({', '.join(keys)}): {stats['rows']} rows but {stats['keys']} distinct keys")
        feature_ts = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
        for name, dtype in expected:
            nulls, low, high = stats["columns"][name]
            rule = rules[name]
            null_rate = nulls / stats["rows"]
            if null_rate > rule.max_null_rate:
                problems.append(
                    f"column {name}: NULL rate {null_rate:.1%} ({nulls} of {stats['rows']}) "
                    f"exceeds {rule.max_null_rate:.1%}"
                )
            if name == "feature_ts" and (low, high) != (feature_ts, feature_ts) and nulls < stats["rows"]:
                problems.append(f"column feature_ts: values {low}..{high}, expected all {feature_ts}")
            if dtype not in NUMERIC_TYPES or nulls == stats["rows"]:
                continue
            if rule.min is not None and not _ge(low, rule.min):
                problems.append(f"column {name}: min {low} is below the bound {rule.min:g}")
            if rule.max is not None and not _ge(rule.max, high):
                problems.append(f"column {name}: max {high} is above the bound {rule.max:g}")
        return problems


def _ge(a: float, b: float) -> bool:
    # NaN compares false everywhere; a NaN feature must fail its range.
    return not (isinstance(a, float) and math.isnan(a)) and not (isinstance(b, float) and math.isnan(b)) and a >= b
