"""GraphComponentsOperator: the connected components of a day's account graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.assets import table_asset
from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

EDGES = "graph.account_edges"
COMPONENTS = "graph.account_components"


class GraphComponentsOperator(HiveServer2HookMixin, BaseOperator):
    """Write ``graph.account_components`` for ``ds``: the components of the day's edges
    (``graph.account_edges``, written by ``graph/account_edges.hql``) whose node is not a hub
    (the edges extract's ``hub``),
    computed at the engine (:func:`integrity_risk.graph.components.connected_components`).

    The partition is replaced whole (a dynamic partition insert) once the rounds converge;
    their tables (``graph.cc_<ds>_*``) are dropped, whatever happens.

    :param ds: the day, ``YYYY-MM-DD``; default ``{{ ds }}``. (templated)
    :param skip_existing: on a first try, leave an existing partition ``ds`` as it is (several
        DAGs write the graph, once a day between them). (templated)
    :param reuse_existing: leave an existing partition ``ds`` as it is on every try. (templated)
    :returns: ``{"ds", "rounds", "vertices", "components"}`` (``rounds`` None when left as it was).
    """

    template_fields: Sequence[str] = ("ds", "skip_existing", "reuse_existing")
    ui_color = "#ece4f0"

    def __init__(
        self,
        *,
        ds: str = "{{ ds }}",
        skip_existing: bool | str = False,
        reuse_existing: bool | str = False,
        hiveserver2_conn_id: str = "hiveserver2_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [table_asset(COMPONENTS)])
        super().__init__(**kwargs)
        self.ds = ds
        self.skip_existing = skip_existing
        self.reuse_existing = reuse_existing
        self.hiveserver2_conn_id = hiveserver2_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.graph.components import connected_components
        from integrity_risk.operators.hive_extract import keeps_existing

        day = parse_ds(self.ds)
        hook = self.hook
        hook.create_missing_tables("graph_tables.hql")
        if keeps_existing(context, self.skip_existing, self.reuse_existing) and hook.partition_exists(
            COMPONENTS, day.isoformat()
        ):
            self.log.info("%s ds=%s exists: an earlier run wrote it; left as it is", COMPONENTS, day)
            return {"ds": day.isoformat(), "rounds": None, "skipped": True}
        if not hook.partition_exists(EDGES, day.isoformat()):
            raise ValueError(f"{EDGES} has no partition ds={day}: run the edges extract of {day} first")
        work = f"graph.cc_{day:%Y%m%d}"
        edges, out = f"{work}_edges", f"{work}_out"
        try:
            hook.run(
                [
                    f"DROP TABLE IF EXISTS {edges}",
                    f"CREATE TABLE {edges} STORED AS PARQUET AS SELECT account_pk AS src, node AS dst "
                    f"FROM {EDGES} WHERE ds = '{day}' AND NOT hub",
                ]
            )
            rounds = connected_components(hook, edges, out, work=work)
            [(found,)] = hook.get_records(f"SELECT count(*) FROM {out}")
            if found:  # replaced whole or not at all, as the extracts' dynamic partition inserts
                hook.run(
                    f"INSERT OVERWRITE TABLE {COMPONENTS} PARTITION (ds) "
                    f"SELECT vertex, component, '{day}' AS ds FROM {out}"
                )
            else:  # a day without edges writes no partition: an earlier run's must not stay
                hook.run(f"ALTER TABLE {COMPONENTS} DROP IF EXISTS PARTITION (ds = '{day}')")
        finally:
            hook.run([f"DROP TABLE IF EXISTS {edges}", f"DROP TABLE IF EXISTS {out}"])
        [(vertices, components)] = hook.get_records(
            f"SELECT count(*), count(DISTINCT component) FROM {COMPONENTS} WHERE ds = '{day}'"
        )
        self.log.info(
            "%s ds=%s: %d vertices in %d components, %d rounds", COMPONENTS, day, vertices, components, rounds
        )
        return {"ds": day.isoformat(), "rounds": rounds, "vertices": vertices, "components": components}
