"""QualityGateOperator: checks one partition of an extract's output before it is published."""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, timezone
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

from integrity_risk.operators.hive_extract import check_table_name, parse_ds
from integrity_risk.features.table_schema import ddl_schema, schema_problems, table_schema

if TYPE_CHECKING:
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook
    from airflow.sdk import Context


class QualityGateError(AirflowFailException):
    """A partition failed its checks; fails the task without retries (the data must be fixed)."""


@dataclass(frozen=True)
class ColumnRule:
    """Bounds of one column in one partition.

    :param min: smallest allowed value (None: unbounded).
    :param max: largest allowed value (None: unbounded).
    :param max_null_rate: largest allowed share of NULLs, in [0, 1].
    """

    min: float | None = None
    max: float | None = None
    max_null_rate: float = 0.0


# Profile columns are NULL for accounts seen in events but missing from the profile
# snapshot (and country also where the profile has none): allowed, within reason.
TABLE_RULES: dict[str, dict[str, ColumnRule]] = {
    "features.account_daily": {
        "account_age_days": ColumnRule(min=0, max_null_rate=0.5),
        "phone_verified": ColumnRule(min=0, max=1, max_null_rate=0.5),
        "is_business": ColumnRule(min=0, max=1, max_null_rate=0.5),
        "country": ColumnRule(max_null_rate=0.5),
        "has_profile": ColumnRule(min=0, max=1),
    },
    "features.labels": {"label": ColumnRule(min=0, max=1)},
}
#: Key columns per table: each partition holds one row per key.
TABLE_KEYS: dict[str, tuple[str, ...]] = {"features.labels": ("account_pk", "risk_type")}
#: Columns whose partition sum is held to the trailing days like the row count: a day
#: with far fewer events keeps most accounts (rows) but not their activity.
TABLE_VOLUME_COLUMNS: dict[str, tuple[str, ...]] = {
    "features.account_daily": ("events_1d",),
    "features.abusive_account_daily": ("logins_1d",),
    "features.fake_engagement_daily": ("engagements_1d",),
    "features.spam_redirect_daily": ("url_events_1d",),
    "features.scraping_daily": ("requests_1d",),
    "features.fraud_daily": ("payment_attempts_1d",),
}

_RATIO = re.compile(r"(^|_)(ratio|share)(_|$)")  # fail_ratio_1d, top_domain_share_7d; not *_shared_*
_NUMERIC = ("int", "bigint", "double", "float", "smallint", "tinyint")


def default_rule(name: str, dtype: str) -> ColumnRule:
    """The rule a column gets from its name and type: counts >= 0, ratios and shares in [0, 1]."""
    if dtype not in _NUMERIC:
        return ColumnRule()
    if _RATIO.search(name):
        return ColumnRule(min=0, max=1)
    return ColumnRule(min=0)


class QualityGateOperator(BaseOperator):
    """
    Check one partition of an extract's output and fail the run before it is published.

    Checks, computed in Hive (one aggregate query over the partition, one over the row
    counts of the trailing days, and the result schema), never by pulling rows:

    - schema: the table's columns and types equal those of its ``CREATE TABLE`` in ``ddl``;
    - rows: at least ``min_row_ratio`` and at most ``max_row_ratio`` times the median
      of the trailing ``trailing_days`` partitions that exist; with no history, at
      least ``min_rows``. The same bounds hold for the sum of each ``volume_columns``;
    - keys: one row per key (``key_columns``), and ``feature_ts`` = ``ds`` + 1 day;
    - per column: NULL rate and value range (:class:`ColumnRule`). Defaults: no NULLs,
      numeric columns >= 0, columns named ``*_ratio_*``/``*_share_*`` in [0, 1];
      ``TABLE_RULES`` and ``column_rules`` override.

    A failure raises :class:`QualityGateError` naming the table, partition, column and
    the figure against its bound; it does not retry.

    With ``history_upstream`` set, the baseline must be complete first: while a trailing
    day has an upstream partition but no partition of ``table`` yet (its extract has not
    run: a backfill of the history still going, a failed day), the gate reschedules
    itself, holding no pool slot, and fails after ``history_wait`` naming those days.
    A scheduled run started while its history is being backfilled would otherwise be
    judged against the few days done so far.

    A partition that passes updates the task's ``outlets`` (Assets) with ``{"ds", "rows"}``
    as the event's extra.

    :param table: the table, ``database.table``. (templated)
    :param ds: the partition to check, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param trailing_days: days before ``ds`` whose row counts form the baseline.
    :param min_row_ratio: lower bound of rows (and volumes) relative to the baseline median.
    :param max_row_ratio: upper bound of rows (and volumes) relative to the baseline median.
    :param min_rows: lower bound of rows when no trailing partition exists.
    :param volume_columns: columns whose sum is checked like the row count
        (default: ``TABLE_VOLUME_COLUMNS`` of the table).
    :param key_columns: columns that identify a row (default ``account_pk``).
    :param column_rules: ``{column: ColumnRule}`` overriding the defaults.
    :param ddl: HQL file under ``include/hql`` with the table's ``CREATE TABLE``.
    :param history_upstream: upstream table whose partitions say which trailing days
        have data (e.g. ``raw.user_events``); ``None``: compare with whatever exists.
    :param history_wait: how long to wait for the trailing partitions.
    :param history_poke: how often to look again.
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    """

    template_fields: Sequence[str] = ("table", "ds")
    ui_color = "#e8f4e4"

    def __init__(
        self,
        *,
        table: str,
        ds: str = "{{ ds }}",
        trailing_days: int = 7,
        min_row_ratio: float = 0.5,
        max_row_ratio: float = 2.0,
        min_rows: int = 1,
        volume_columns: Sequence[str] | None = None,
        key_columns: Sequence[str] | None = None,
        column_rules: Mapping[str, ColumnRule] | None = None,
        ddl: str = "feature_tables.hql",
        history_upstream: str | None = None,
        history_wait: dt.timedelta = dt.timedelta(hours=6),
        history_poke: dt.timedelta = dt.timedelta(seconds=30),
        hiveserver2_conn_id: str = "hiveserver2_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.ds = ds
        self.trailing_days = trailing_days
        self.min_row_ratio = min_row_ratio
        self.max_row_ratio = max_row_ratio
        self.min_rows = min_rows
        self.volume_columns = volume_columns
        self.key_columns = key_columns
        self.column_rules = dict(column_rules or {})
        self.ddl = ddl
        self.history_upstream = check_table_name(history_upstream) if history_upstream else None
        self.history_wait = history_wait
        self.history_poke = history_poke
        self.hiveserver2_conn_id = hiveserver2_conn_id

    @cached_property
    def hook(self) -> HiveServer2Hook:
        from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

        return HiveServer2Hook(hiveserver2_conn_id=self.hiveserver2_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.features.hql import read_hql

        table, day = check_table_name(self.table), parse_ds(self.ds)
        where = f"{table} partition ds={day.isoformat()}"
        expected = ddl_schema(table, read_hql(self.ddl))
        problems = schema_problems(table_schema(self.hook, table), [*expected, ("ds", "string")])
        if problems:  # the other checks would query columns that are not there
            raise QualityGateError(f"quality gate failed for {where}:\n- " + "\n- ".join(problems))

        volumes = tuple(self.volume_columns if self.volume_columns is not None
                        else TABLE_VOLUME_COLUMNS.get(table, ()))
        keys = tuple(self.key_columns or TABLE_KEYS.get(table, ("account_pk",)))
        rules = {name: self._rule(table, name, dtype) for name, dtype in expected}
        # Before the partition's aggregate: a gate that reschedules must not rerun it at every poke.
        history = self._history(table, day, volumes)
        self._wait_for_history(context, where, day, history)
        stats = self._partition_stats(table, day, expected, keys, volumes)

        problems = self._volume_problems(stats, history, volumes)
        if stats["rows"]:
            problems += self._row_problems(stats, expected, keys, rules, day)
        if problems:
            raise QualityGateError(f"quality gate failed for {where}:\n- " + "\n- ".join(problems))
        self.log.info("quality gate passed for %s: %s rows, trailing row counts %s",
                      where, stats["rows"], [h["rows"] for h in history])
        # Consumers of the Asset (the online refresh) learn from the event which day it was.
        outlet_events = context.get("outlet_events")
        for asset in self.outlets if outlet_events is not None else ():
            outlet_events[asset].extra = {"ds": day.isoformat(), "rows": stats["rows"]}
        return {"table": table, "ds": day.isoformat(), "rows": stats["rows"],
                "trailing_rows": [h["rows"] for h in history]}

    def _rule(self, table: str, name: str, dtype: str) -> ColumnRule:
        if name in self.column_rules:
            return self.column_rules[name]
        return TABLE_RULES.get(table, {}).get(name) or default_rule(name, dtype)

    def _partition_stats(self, table, day, expected, keys, volumes) -> dict[str, Any]:
        selects = ["count(*)", f"count(DISTINCT {', '.join(keys)})"]
        selects += [f"sum(CAST({c} AS DOUBLE))" for c in volumes]
        for name, dtype in expected:
            selects.append(f"sum(CASE WHEN {name} IS NULL THEN 1 ELSE 0 END)")
            if dtype in _NUMERIC or dtype == "timestamp":
                selects += [f"min({name})", f"max({name})"]
            else:
                selects += ["NULL", "NULL"]
        row = self.hook.get_records(f"SELECT {', '.join(selects)} FROM {table} WHERE ds = '{day.isoformat()}'")[0]
        stats: dict[str, Any] = {"rows": row[0], "keys": row[1]}
        stats["volumes"] = dict(zip(volumes, row[2:2 + len(volumes)]))
        rest = row[2 + len(volumes):]
        stats["columns"] = {name: rest[3 * i:3 * i + 3] for i, (name, _) in enumerate(expected)}
        return stats

    def _history(self, table, day, volumes) -> list[dict[str, Any]]:
        first = (day - dt.timedelta(days=self.trailing_days)).isoformat()
        sums = "".join(f", sum(CAST({c} AS DOUBLE))" for c in volumes)
        rows = self.hook.get_records(
            f"SELECT ds, count(*){sums} FROM {table} WHERE ds >= '{first}' AND ds < '{day.isoformat()}' "
            f"GROUP BY ds ORDER BY ds")
        return [{"ds": r[0], "rows": r[1], "volumes": dict(zip(volumes, r[2:]))} for r in rows]

    def _wait_for_history(self, context: Context, where: str, day: dt.date, history: list[dict]) -> None:
        if not self.history_upstream:
            return
        first = day - dt.timedelta(days=self.trailing_days)
        rows = self.hook.get_records(f"SHOW PARTITIONS {self.history_upstream}")
        upstream = {r[0].split("=", 1)[1] for r in rows if r and "=" in r[0]}
        have = {h["ds"] for h in history}
        pending = sorted(d for d in upstream if first.isoformat() <= d < day.isoformat() and d not in have)
        if not pending:
            return
        now = timezone.utcnow()
        began = (context["ti"].get_first_reschedule_date(context) if context.get("task_reschedule_count")
                 else None) or now
        if now - began >= self.history_wait:
            raise QualityGateError(
                f"quality gate for {where} has no baseline: trailing partitions {pending} are still missing "
                f"after {now - began} although {self.history_upstream} has them; extract (backfill) those days")
        self.log.info("waiting for the trailing partitions %s before judging %s (%s so far)", pending, where,
                      now - began)
        raise AirflowRescheduleException(now + self.history_poke)

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
                    f"({low:g}..{high:g})" if median else
                    f"{what}: {value:g}, but the trailing partitions' median is 0")
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
                problems.append(f"column {name}: NULL rate {null_rate:.1%} ({nulls} of {stats['rows']}) "
                                f"exceeds {rule.max_null_rate:.1%}")
            if name == "feature_ts" and (low, high) != (feature_ts, feature_ts) and nulls < stats["rows"]:
                problems.append(f"column feature_ts: values {low}..{high}, expected all {feature_ts}")
            if dtype not in _NUMERIC or nulls == stats["rows"]:
                continue
            if rule.min is not None and not _ge(low, rule.min):
                problems.append(f"column {name}: min {low} is below the bound {rule.min}")
            if rule.max is not None and not _ge(rule.max, high):
                problems.append(f"column {name}: max {high} is above the bound {rule.max}")
        return problems


def _ge(a: float, b: float) -> bool:
    # NaN compares false everywhere; a NaN feature must fail its range.
    return not (isinstance(a, float) and math.isnan(a)) and not (isinstance(b, float) and math.isnan(b)) and a >= b
