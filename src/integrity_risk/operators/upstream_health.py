"""UpstreamHealthOperator: is the day's upstream data whole and clean, before anything is extracted from it."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from integrity_risk.acceptance import Problem, failure_message, settle
from integrity_risk.config.health import UpstreamHealth, VolumeBound, load_upstream_health
from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

EVENTS, PROFILES = "raw.user_events", "raw.account_profiles"
GATE = "upstream health gate"


class UpstreamHealthError(AirflowFailException):
    """The upstream partitions of a day look broken; fails the task without retries (the data must be fixed)."""


class UpstreamHealthOperator(HiveServer2HookMixin, BaseOperator):
    """Judge the day's upstream partitions (``raw.*``) as data, not as behaviour, and fail the run when broken.

    An outage upstream (an event type's feed down, a half-loaded day, a load delivered
    twice, rows broken by a client release) must stop the day before features are built
    from it; attackers changing what they do must not, so every volume bound is
    generous, above all on the high side (an attack can surge one event type). Checks,
    each an aggregate query in Hive, bounds from ``include/tables/upstream.yaml``:

    - ``rows``: rows of ``raw.user_events`` and of ``raw.account_profiles`` (a snapshot of
      every account) at least ``min_rows`` and within ``rows`` of the median of the
      trailing ``trailing_days`` partitions that exist;
    - ``event_type_rows``: each event type with a trailing median of at least
      ``min_median`` rows, within ``event_type_rows`` of that median (a type missing
      today has 0 rows);
    - ``dirty_rate``: rows the extracts' cleaning stage drops, by its own definition
      (``include/hql/features/_clean.hql``);
    - ``duplicate_rate``: rows repeating an ``event_id`` of the partition;
    - ``out_of_day_rate``: ``event_time`` outside the partition's day;
    - ``null_rate``: NULLs of the key columns named in ``max_null_rate``;
    - the schema of both tables against ``include/hql/upstream_tables.hql`` (never accepted:
      every extract would fail on it).

    The trailing partitions of ``raw.*`` exist whatever the extracts did, so nothing waits for
    other runs. A failure raises :class:`UpstreamHealthError` naming each check, table,
    figure and bound, unless the platform team accepted that table's partition
    (:mod:`integrity_risk.acceptance`): then the gate logs the acceptance and what it overrides.

    :param ds: the day, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param config: the bounds (:class:`~integrity_risk.config.health.UpstreamHealth` or its dict);
        default ``include/tables/upstream.yaml``, read when the DAG is parsed.
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    """

    template_fields: Sequence[str] = ("ds",)
    ui_color = "#e4eef8"

    def __init__(
        self,
        *,
        ds: str = "{{ ds }}",
        config: UpstreamHealth | Mapping[str, Any] | None = None,
        hiveserver2_conn_id: str = "hiveserver2_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ds = ds
        # Validated here, so a DAG with bad bounds fails to parse rather than at run time.
        if config is None:
            self.config = load_upstream_health()
        else:
            self.config = config if isinstance(config, UpstreamHealth) else UpstreamHealth.model_validate(config)
        self.hiveserver2_conn_id = hiveserver2_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        import datetime as dt

        day = parse_ds(self.ds)
        schema = self._schema_problems()
        if schema:  # the other checks would query columns that are not there
            raise UpstreamHealthError(failure_message(GATE, f"ds={day.isoformat()}", schema))
        first = day - dt.timedelta(days=self.config.trailing_days)
        figures: dict[str, dict[str, Any]] = {}
        problems: dict[str, list[Problem]] = {}
        figures[EVENTS], problems[EVENTS] = self._user_events(day, first)
        figures[PROFILES], problems[PROFILES] = self._account_profiles(day, first)

        failed, accepted = [], []
        for table, found in problems.items():
            still_open, used = settle(table, day.isoformat(), found, gate=GATE, log=self.log)
            failed += [f"{table}: {p}" for p in still_open]
            accepted += [e["event_id"] for e in used]
        if failed:
            raise UpstreamHealthError(failure_message(GATE, f"ds={day.isoformat()}", failed))
        self.log.info("%s passed for ds=%s: %s", GATE, day.isoformat(), figures)
        return {"ds": day.isoformat(), **figures, "accepted": accepted}

    def _schema_problems(self) -> list[str]:
        from integrity_risk.features.hql import read_hql
        from integrity_risk.features.table_schema import ddl_schema, schema_problems

        ddl = read_hql("upstream_tables.hql")
        found = []
        for table in (EVENTS, PROFILES):
            expected = [*ddl_schema(table, ddl), ("ds", "string")]
            actual = self.hook.table_schema(table)
            found += [f"{table}: schema: {p}" for p in schema_problems(actual, expected, extra_allowed=True)]
        return found

    def _user_events(self, day: dt.date, first: dt.date) -> tuple[dict[str, Any], list[Problem]]:
        from integrity_risk.features.hql import clean_event_predicate

        bounds = self.config.user_events
        by_day = self.hook.rows_by(EVENTS, "event_type", first.isoformat(), day.isoformat())
        today = by_day.pop(day.isoformat(), {})
        trailing = [by_day[d] for d in sorted(by_day)]
        stats = self.hook.user_events_health(day.isoformat(), clean_event_predicate("e"), list(bounds.max_null_rate))
        rows = stats["rows"]
        problems = _volume("rows", f"{rows} rows", rows, [sum(t.values()) for t in trailing], bounds.rows)
        if rows < bounds.min_rows:
            problems.append(Problem("rows", f"{rows} rows, below the minimum {bounds.min_rows}"))
        types = sorted({t for counts in trailing for t in counts if t is not None})
        for event_type in types:
            count = today.get(event_type, 0)
            problems += _volume(
                "event_type_rows",
                f"event_type={event_type}: {count} rows",
                count,
                [t.get(event_type, 0) for t in trailing],
                bounds.event_type_rows,
            )
        if rows:
            for check, count, bound, what in (
                ("dirty_rate", stats["dirty"], bounds.max_dirty_rate, "dropped by the cleaning stage (_clean.hql)"),
                ("duplicate_rate", stats["duplicates"], bounds.max_duplicate_rate, "repeat an event_id"),
                ("out_of_day_rate", stats["out_of_day"], bounds.max_out_of_day_rate, f"have an event_time off {day}"),
            ):
                problems += _rate(check, f"{count} of {rows} rows ({{rate:.1%}}) {what}", count, rows, bound)
            problems += _null_problems(stats["nulls"], rows, bounds.max_null_rate)
        figures = {
            "rows": rows,
            "trailing_rows": [sum(t.values()) for t in trailing],
            "event_types": {str(k): v for k, v in sorted(today.items(), key=lambda kv: str(kv[0]))},
            **{k: stats[k] for k in ("dirty", "duplicates", "out_of_day", "nulls")},
        }
        return figures, problems

    def _account_profiles(self, day: dt.date, first: dt.date) -> tuple[dict[str, Any], list[Problem]]:
        bounds = self.config.account_profiles
        trailing = [p["rows"] for p in self.hook.partition_volumes(PROFILES, first.isoformat(), day.isoformat())]
        stats = self.hook.null_counts(PROFILES, day.isoformat(), list(bounds.max_null_rate))
        rows = stats["rows"]
        problems = _volume("rows", f"{rows} rows", rows, trailing, bounds.rows)
        if rows < bounds.min_rows:
            problems.append(Problem("rows", f"{rows} rows, below the minimum {bounds.min_rows}"))
        if rows:
            problems += _null_problems(stats["nulls"], rows, bounds.max_null_rate)
        return {"rows": rows, "trailing_rows": trailing, "nulls": stats["nulls"]}, problems


def _volume(check: str, what: str, value: float, past: list[float], bound: VolumeBound) -> list[Problem]:
    """``value`` against the median of ``past`` (no past, or a median below ``min_median``: not judged)."""
    if not past:
        return []
    median = statistics.median(past)
    if median <= 0 or median < bound.min_median:
        return []
    low, high = bound.min_ratio * median, bound.max_ratio * median
    if low <= value <= high:
        return []
    return [
        Problem(
            check,
            f"{what} is {value / median:.0%} of the median {median:g} of the {len(past)} trailing partitions; "
            f"allowed {bound.min_ratio:.0%}..{bound.max_ratio:.0%} ({low:g}..{high:g})",
        )
    ]


def _rate(check: str, template: str, count: int, rows: int, bound: float) -> list[Problem]:
    rate = count / rows
    if rate <= bound:
        return []
    return [Problem(check, template.format(rate=rate) + f"; allowed at most {bound:.1%}")]


def _null_problems(nulls: dict[str, int], rows: int, bounds: dict[str, float]) -> list[Problem]:
    return [
        problem
        for column, count in nulls.items()
        for problem in _rate(
            "null_rate", f"column {column}: NULL in {count} of {rows} rows ({{rate:.1%}})", count, rows, bounds[column]
        )
    ]
