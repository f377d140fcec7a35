"""HiveExtractOperator: one day of a pseudonymized feature table, written idempotently."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator

from integrity_risk.assets import table_asset
from integrity_risk.features.pseudonymize import CONN_ID as PSEUDONYMIZATION_CONN_ID
from integrity_risk.hooks.hive import HiveServer2Error, HiveServer2HookMixin
from integrity_risk.values import check_identifier, check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import jinja2
    from airflow.sdk import Context

T = TypeVar("T")
DEFAULT_UPSTREAM = ("raw.user_events", "raw.account_profiles")
RAW_EVENTS = "raw.user_events"
# The cleaning stage's table (clean/user_events.hql): the feature templates read their
# look-back from it, so every raw day of the window must have its partition first.
CLEAN_EVENTS = "clean.user_events"
# What the cleaning stage writes for each raw day, in one task: the events and their
# daily partials, which the windows of the feature templates add up.
CLEAN_TABLES = (CLEAN_EVENTS, "clean.account_day_counts", "clean.account_day_values")
DEDUP_MARGIN_DAYS = 1  # how far before the window event_id duplicates are looked for
UPSTREAM_DDL = "upstream_tables.hql"  # the upstream owners' DDL, the extracts' contract
# Session settings of every write: a dynamic partition insert replaces only the
# partitions it produces, and commits them from a staging folder.
WRITE_CONF = {
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "hive.exec.dynamic.partition": "true",
    "hive.exec.dynamic.partition.mode": "nonstrict",
}


class ExtractError(RuntimeError):
    """An extract could not write its partition; the previous partition is unchanged."""


class UpstreamSchemaDrift(ExtractError):
    """An upstream table lost a column or changed a column's type."""


class UpstreamPartitionMissing(ExtractError):
    """A required upstream partition does not exist (yet)."""


@dataclass(frozen=True)
class ExtractWindow:
    """The day an extract covers and the look-back it reads, as SQL literals.

    :param day: the day ``ds``.
    :param lookback_days: days in the longest window, ``ds`` included (7: ``ds-6 .. ds``).
    """

    day: dt.date
    lookback_days: int = 7

    @classmethod
    def for_ds(cls, ds: str, lookback_days: int = 7) -> ExtractWindow:
        if not isinstance(lookback_days, int) or not 1 <= lookback_days <= 366:
            raise ValueError(f"lookback_days must be an int in 1..366, got {lookback_days!r}")
        return cls(parse_ds(ds), lookback_days)

    @property
    def ds(self) -> str:
        return self.day.isoformat()

    def read_days(self) -> list[str]:
        """The raw days the window's events can lie in: from a day before the look-back to ``ds``."""
        first = self.day - dt.timedelta(days=self.lookback_days - 1 + DEDUP_MARGIN_DAYS)
        return [(first + dt.timedelta(days=n)).isoformat() for n in range((self.day - first).days + 1)]

    def template_vars(self) -> dict[str, str | int]:
        """Variables for the HQL templates; every one is derived from the validated day."""
        start = dt.datetime.combine(self.day, dt.time())
        end = start + dt.timedelta(days=1)
        lookback = start - dt.timedelta(days=self.lookback_days - 1)
        # A client retry lands within a day of its first copy; deduplicating from a day
        # before the window keeps a retry of an earlier event out of it.
        dedup = lookback - dt.timedelta(days=DEDUP_MARGIN_DAYS)
        return {
            "ds": self.ds,
            "window_start": f"{start:%Y-%m-%d %H:%M:%S}",  # ds 00:00 UTC
            "window_end": f"{end:%Y-%m-%d %H:%M:%S}",  # ds + 1 day 00:00 UTC
            "feature_ts": f"{end:%Y-%m-%d %H:%M:%S}",  # when the row's values are known
            "lookback_start": f"{lookback:%Y-%m-%d %H:%M:%S}",
            "lookback_start_ds": lookback.date().isoformat(),
            "lookback_days": self.lookback_days,
            "dedup_start": f"{dedup:%Y-%m-%d %H:%M:%S}",
            "dedup_start_ds": dedup.date().isoformat(),
        }


def _check_sql_vars(sql_vars: Mapping[str, Any] | None) -> dict[str, int | float]:
    # Numbers only: they are pasted into SQL text, so nothing else may pass.
    checked: dict[str, int | float] = {}
    for name, value in (sql_vars or {}).items():
        check_identifier(name, "sql_vars name")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"sql_vars[{name!r}] must be a finite number, got {value!r}")
        checked[name] = value
    return checked


def keeps_existing(context: Context, skip_existing: bool | str, reuse_existing: bool | str) -> bool:
    """Whether a shared write leaves an existing partition as it is in this try (rendered values).

    A retry or a cleared task (try 2 on) writes again, that is what clearing asks for,
    unless the run asked to reuse the day's partitions.
    """
    first_try = getattr(context.get("ti"), "try_number", 1) <= 1
    return str(reuse_existing) == "True" or (str(skip_existing) == "True" and first_try)


def _with_extract_macros(env: jinja2.Environment) -> jinja2.Environment:
    import jinja2

    from integrity_risk.config.graph import graph_settings
    from integrity_risk.config.risk import all_risk_types
    from integrity_risk.features.pseudonymize import sql_hmac
    from integrity_risk.paths import hql_dir
    from integrity_risk.streaming.windows import WINDOW_SETS

    if "pseudonymize" not in env.globals:
        ours = jinja2.FileSystemLoader(str(hql_dir()))
        env.loader = jinja2.ChoiceLoader([ours, env.loader]) if env.loader else ours
        env.globals["pseudonymize"] = sql_hmac
        # The risk types with a YAML (lower_snake_case names, safe as SQL literals), for
        # labels.hql: a new risk's labels come in with its YAML, no HQL edit.
        env.globals["risk_types"] = all_risk_types
        # The streaming job's window sets, for the batch recomputation of its counters.
        env.globals["window_sets"] = {w.name: w for w in WINDOW_SETS}
        # The account graph's settings (include/tables/graph.yaml), for features/graph_daily.hql.
        env.globals["graph_settings"] = graph_settings
        # A lower_snake_case name as an SQL string literal, refused otherwise.
        env.filters["sql_string"] = lambda name: f"'{check_identifier(name, 'name')}'"
        # A list of days as SQL literals ('YYYY-MM-DD'); each is validated as a date first.
        env.filters["ds_literal"] = lambda day: f"'{parse_ds(day).isoformat()}'"
    return env


class HiveExtractOperator(HiveServer2HookMixin, BaseOperator):
    """Write one day (partition ``ds``) of a ``features.*`` table from a HiveQL template.

    The template (a path under ``include/hql``, e.g. ``features/fraud.hql``, or inline
    HiveQL) must ``INSERT OVERWRITE TABLE <table> PARTITION (ds) SELECT ..., '{{ ds }}' AS ds``,
    so a retry or a re-run replaces the day and never duplicates it. The partition is
    dynamic on purpose: Spark then writes to a staging folder and swaps the partition
    in on commit, so a query that fails, even halfway through its job, leaves the
    previous partition as it was (with a static ``PARTITION (ds='...')`` Spark deletes
    the old files before the job runs). A result with no rows writes no partition.

    Before writing, the operator creates the output tables (``ddl``) if needed and
    checks every table in ``required_partitions``: it must still have the columns and
    types of ``include/hql/upstream_tables.hql`` (a column it gained is fine) and the
    partition ``ds``. Otherwise it fails naming the table and the column or day, and
    writes nothing.

    Variables a template can use (all derived from the validated ``ds``, UTC):
    ``ds``, ``window_start`` (``ds`` 00:00), ``window_end`` and ``feature_ts``
    (``ds`` + 1 day 00:00), ``lookback_start`` and ``lookback_start_ds`` (first day of
    the ``lookback_days`` window), ``lookback_days`` itself, ``dedup_start`` and
    ``dedup_start_ds`` (a day before it: where duplicates are looked for), each ``sql_vars`` entry, and the macro
    ``{{ pseudonymize('e.account_id') }}``: HMAC-SHA256 of a raw identifier with the
    key of the ``pseudonymization_conn_id`` connection. The key reaches the server only
    as session variables and is masked in logs; the rendered SQL shown in the UI holds
    placeholders, never the key. ``risk_types()`` lists the risk types (one per risk YAML).

    :param hql: template path relative to ``include/hql`` (or the DAG's template
        search path) ending in ``.hql``/``.sql``, or HiveQL text. (templated)
    :param table: output table as ``database.table``, e.g. ``features.fraud_daily``. (templated)
    :param ds: the day to extract, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param required_partitions: upstream tables (declared in ``upstream_tables.hql``) whose
        schema is checked and whose ``ds`` partition must exist.
    :param lookback_days: length of the longest window in days, ``ds`` included.
    :param sql_vars: extra numeric template variables (e.g. ``{"maturity_days": 7}``).
    :param ddl: HQL file of ``CREATE ... IF NOT EXISTS`` statements, run first for the tables missing; None skips.
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    :param pseudonymization_conn_id: Airflow connection whose password is the HMAC key.
    :param schema: HiveServer2 database of the session.
    :param skip_existing: on a task's first try, leave the partition ``ds`` as it is when it
        exists already (a table that several DAGs write, once a day between them); a retry
        or a cleared task writes it again. ``True`` or ``"True"``. (templated)
    :param reuse_existing: leave the partition ``ds`` as it is when it exists, on every try:
        a re-run that trains again on the day's features (the DAG param ``reuse_features``).
        ``True`` or ``"True"``. (templated)
    """

    template_fields: Sequence[str] = ("hql", "table", "ds", "skip_existing", "reuse_existing")
    template_ext: Sequence[str] = (".hql", ".sql")
    template_fields_renderers = {"hql": "hql"}
    ui_color = "#f0e4ec"

    def __init__(
        self,
        *,
        hql: str,
        table: str,
        ds: str = "{{ ds }}",
        required_partitions: Sequence[str] = DEFAULT_UPSTREAM,
        lookback_days: int = 7,
        sql_vars: Mapping[str, int | float] | None = None,
        ddl: str | None = "feature_tables.hql",
        hiveserver2_conn_id: str = "hiveserver2_default",
        pseudonymization_conn_id: str = PSEUDONYMIZATION_CONN_ID,
        schema: str = "default",
        skip_existing: bool | str = False,
        reuse_existing: bool | str = False,
        **kwargs: Any,
    ) -> None:
        if "{{" not in table:
            kwargs.setdefault("outlets", [table_asset(table)])
        super().__init__(**kwargs)
        self.hql = hql
        self.table = table
        self.ds = ds
        self.required_partitions = tuple(required_partitions)
        self.lookback_days = lookback_days
        self.sql_vars = dict(sql_vars or {})
        self.ddl = ddl
        self.hiveserver2_conn_id = hiveserver2_conn_id
        self.pseudonymization_conn_id = pseudonymization_conn_id
        self.schema = schema
        self.skip_existing = skip_existing
        self.reuse_existing = reuse_existing

    def keeps_existing(self, context: Context) -> bool:
        """Whether an existing partition ``ds`` stays as it is in this try (rendered fields)."""
        return keeps_existing(context, self.skip_existing, self.reuse_existing)

    def get_template_env(self, dag=None) -> jinja2.Environment:
        """The DAG's Jinja environment plus ``include/hql`` and the ``pseudonymize`` macro."""
        return _with_extract_macros(super().get_template_env(dag))

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render ``ds`` first and validate it, then render the HQL with the window's variables."""
        jinja_env = self._render_settings(context, jinja_env)
        window = ExtractWindow.for_ds(self.ds, self.lookback_days)
        # The template's own ds is the validated one, whatever the run's context holds. The
        # rendered HQL replaces the template in self.hql, so the UI's "Rendered" tab shows it.
        sql_context: Any = {**context, **_check_sql_vars(self.sql_vars), **window.template_vars()}
        self.hql = self.render_template(self.hql, sql_context, jinja_env)

    def _render_settings(self, context: Context, jinja_env: jinja2.Environment | None) -> jinja2.Environment:
        """Render every templated field but the HQL, validate ``ds`` and the table; the environment used."""
        # Airflow's task runner passes the DAG's environment, not get_template_env()'s.
        jinja_env = _with_extract_macros(jinja_env) if jinja_env else self.get_template_env()
        for name in self.template_fields:
            if name != "hql":
                setattr(self, name, self.render_template(getattr(self, name), context, jinja_env))
        ExtractWindow.for_ds(self.ds, self.lookback_days)
        check_table_name(self.table)
        return jinja_env

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.features.hql import split_statements
        from integrity_risk.features.pseudonymize import IPAD_VAR, OPAD_VAR, get_key, hive_conf

        window = ExtractWindow.for_ds(self.ds, self.lookback_days)
        table = check_table_name(self.table)
        if "{{" in self.hql or self.hql.rstrip().endswith(tuple(self.template_ext)):
            raise ExtractError(f"the HQL for {table} was not rendered; call render_template_fields first")
        conf = {**WRITE_CONF, **hive_conf(get_key(self.pseudonymization_conn_id))}
        self.hook.mask_secrets(conf[IPAD_VAR], conf[OPAD_VAR])

        ddl = self.ddl
        if ddl:
            self._hive(lambda: self.hook.create_missing_tables(ddl))
        if self.keeps_existing(context) and self._hive(
            lambda: self.hook.partition_exists(table, window.ds, schema=self.schema)
        ):
            rows = self._hive(lambda: self.hook.row_count(table, window.ds, schema=self.schema))
            self.log.info(
                "%s ds=%s exists (%s rows): an earlier run wrote it; left as it is (clear this task, or "
                "trigger without reuse_features or with rewrite_shared_tables, to write it again)",
                table,
                window.ds,
                rows,
            )
            return {"table": table, "ds": window.ds, "rows": rows, "skipped": True}
        self._check_upstream(window.ds, table)
        if any(clean in self.hql for clean in CLEAN_TABLES):
            self._check_cleaned_window(window, table)
        rows = 0
        for statement in split_statements(self.hql):
            # One session per statement: its `set` variables, the statement, then the count.
            self.log.info("Running on HiveServer2 (key as session variables):\n%s", statement)
            rows = self._hive(
                partial(self.hook.row_count, table, window.ds, after=[statement], hive_conf=conf, schema=self.schema)
            )
        self.log.info("Wrote %s rows to %s partition ds=%s", rows, table, window.ds)
        return {"table": table, "ds": window.ds, "rows": rows}

    def _check_upstream(self, ds: str, table: str) -> None:
        from integrity_risk.features.hql import read_hql
        from integrity_risk.features.table_schema import ddl_schema, schema_problems

        upstream_ddl = read_hql(UPSTREAM_DDL)
        for upstream in self.required_partitions:
            check_table_name(upstream)
            # A retyped column can still read through an implicit cast, and a dropped one
            # fails only in the middle of the HQL: check the contract before anything runs.
            expected = [*ddl_schema(upstream, upstream_ddl), ("ds", "string")]
            problems = schema_problems(
                self._hive(partial(self.hook.table_schema, upstream)), expected, extra_allowed=True
            )
            if problems:
                raise UpstreamSchemaDrift(
                    f"upstream table {upstream} no longer has the schema of include/hql/{UPSTREAM_DDL}:\n- "
                    + "\n- ".join(problems)
                    + f"\nnothing was written to {table} for ds={ds}"
                )
            if not self._hive(partial(self.hook.partition_exists, upstream, ds, schema=self.schema)):
                raise UpstreamPartitionMissing(
                    f"upstream partition {upstream} ds={ds} does not exist; nothing was written to {table} for ds={ds}"
                )

    def _check_cleaned_window(self, window: ExtractWindow, table: str) -> None:
        """Every raw day of the look-back has its cleaned partition, or the window would be short."""
        have = self.cleaned_days()
        raw = set(self._hive(partial(self.hook.partition_days, RAW_EVENTS)))
        missing = [day for day in window.read_days() if day in raw and day not in have]
        if missing:
            raise ExtractError(
                f"{CLEAN_EVENTS} has no partition for {', '.join(missing)}, raw days of the look-back of ds={window.ds}: "
                f"run the clean_events task of ds={window.ds} first (it cleans every raw day of the look-back "
                f"still missing); nothing was written to {table} for ds={window.ds}"
            )

    def cleaned_days(self) -> set[str]:
        """The days the cleaning stage wrote whole: a partition in each of its tables."""
        days = [set(self._hive(partial(self.hook.partition_days, table))) for table in CLEAN_TABLES]
        return set.intersection(*days)

    def _hive(self, call: Callable[[], T]) -> T:
        """``call()`` on the hook; its failure, which names the statements or the server, as an ExtractError."""
        try:
            return call()
        except HiveServer2Error as err:
            # A write the server had received may still complete there after a cut; it
            # replaces the whole partition or nothing, and the retry rewrites it either way.
            raise ExtractError(str(err)) from err

    def on_kill(self) -> None:
        # Killing the task drops its session, but Spark's Thrift server notices only when
        # it answers: a statement's job runs to its end. It replaces the whole partition or
        # nothing (tests/reliability), and the retry rewrites the partition either way.
        self.log.info(
            "extract of %s ds=%s killed; a write the server runs still replaces the whole partition or nothing",
            self.table,
            self.ds,
        )
