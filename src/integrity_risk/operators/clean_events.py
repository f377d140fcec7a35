"""CleanEventsOperator: each raw day of events cleaned and deduplicated once, for every extract."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

from integrity_risk.operators.hive_extract import (
    CLEAN_EVENTS,
    RAW_EVENTS,
    WRITE_CONF,
    ExtractWindow,
    HiveExtractOperator,
)
from integrity_risk.values import check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence

    import jinja2
    from airflow.sdk import Context


class CleanEventsOperator(HiveExtractOperator):
    """Write ``clean.user_events`` for ``ds`` and for every raw day of its look-back still without it.

    With each cleaned day go its daily partials (``clean.account_day_counts`` and
    ``clean.account_day_values``), which the feature extracts' windows add up; a day
    counts as cleaned once the three tables have it (``CLEAN_TABLES``).

    The feature extracts of ``ds`` read the cleaned events of their whole look-back
    (``features/_events.hql``), so this step leaves none of those days missing: on a first
    run, or a backfill whose days run out of order, it cleans the earlier days too, in the
    same statement (one dynamic partition insert; each day is replaced whole or not at all).
    A day already cleaned is left as it is, except ``ds`` itself when neither ``skip_existing``
    nor ``reuse_existing`` keeps it (a retry, a cleared task, ``rewrite_shared_tables``). Each day is cleaned from
    its own raw partition and the one before (``clean/user_events.hql``), never from what
    another day's cleaning wrote, so the order the days are cleaned in changes nothing.

    Several DAGs share the table: run it in the shared-tables pool, as ``features.account_daily``.

    :param lookback_days: the longest window of the extracts that read the table, ``ds`` included.
    :param skip_existing: leave the partition ``ds`` as it is when it exists, on a first try. (templated)
    :param rewrite_window: clean every raw day of the look-back again, not only the missing ones
        (after upstream reloaded corrected raw days). ``True`` or ``"True"``. (templated)
    Other parameters: :class:`HiveExtractOperator`'s.
    """

    template_fields: Sequence[str] = (*HiveExtractOperator.template_fields, "rewrite_window")
    ui_color = "#e4ecf0"

    def __init__(
        self,
        *,
        hql: str = "clean/user_events.hql",
        table: str = CLEAN_EVENTS,
        ddl: str | None = "clean_tables.hql",
        required_partitions: Sequence[str] = (RAW_EVENTS,),
        rewrite_window: bool | str = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [])
        super().__init__(hql=hql, table=table, ddl=ddl, required_partitions=required_partitions, **kwargs)
        self.rewrite_window = rewrite_window

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render and validate ``ds``; the HQL is rendered in ``execute``, once the days to clean are known."""
        self._jinja_env = self._render_settings(context, jinja_env)

    def days_to_clean(self, keep_existing: bool) -> list[str]:
        """The raw days of ``ds``'s look-back without a cleaned partition, and ``ds`` unless it is kept."""
        window = ExtractWindow.for_ds(self.ds, self.lookback_days)
        have = self.cleaned_days()
        raw = set(self._hive(partial(self.hook.partition_days, RAW_EVENTS)))
        keep_ds = keep_existing and window.ds in have
        rewrite = str(self.rewrite_window) == "True"
        return [
            day
            for day in window.read_days()
            if (day == window.ds and not keep_ds) or (day != window.ds and day in raw and (rewrite or day not in have))
        ]

    def render_hql(self, days: Sequence[str]) -> str:
        env = getattr(self, "_jinja_env", None) or self.get_template_env()
        template = env.get_template(self.hql) if self.hql.endswith(tuple(self.template_ext)) else None
        days = sorted({parse_ds(day).isoformat() for day in days})
        previous = [(parse_ds(day) - dt.timedelta(days=1)).isoformat() for day in days]
        variables = {"days": days, "previous_days": previous}
        return template.render(**variables) if template else env.from_string(self.hql).render(**variables)

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.features.hql import split_statements

        table = check_table_name(self.table)
        ds = ExtractWindow.for_ds(self.ds, self.lookback_days).ds
        if self.ddl:
            ddl = self.ddl
            self._hive(lambda: self.hook.create_missing_tables(ddl))
        days = self.days_to_clean(keep_existing=self.keeps_existing(context))
        if ds not in days:
            self.log.info(
                "%s ds=%s exists: an earlier run cleaned it; left as it is (clear this task, or trigger "
                "without reuse_features or with rewrite_shared_tables, to clean it again)",
                table,
                ds,
            )
        else:
            self._check_upstream(ds, table)
        if not days:
            return {"table": table, "ds": ds, "days": {}, "skipped": True}
        statements = split_statements(self.render_hql(days))
        listed = ", ".join(f"'{day}'" for day in days)
        count = f"SELECT ds, count(*) FROM {table} WHERE ds IN ({listed}) GROUP BY ds"
        self.log.info("Cleaning the raw days %s into %s:\n%s", days, table, "\n".join(statements))
        rows = self._hive(lambda: self.hook.get_records([*statements, count], parameters=dict(WRITE_CONF)))
        written = {str(day): int(n) for day, n in rows}
        self.log.info("Wrote %s", ", ".join(f"ds={day}: {n} rows" for day, n in sorted(written.items())) or "no rows")
        return {"table": table, "ds": ds, "rows": written.get(ds, 0), "days": written}
