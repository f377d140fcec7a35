"""Connected components of an edge table, at the engine: rounds of large-star then
small-star in Spark SQL through HiveServer2 (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014), each round written as a table (its checkpoint: the next reads it, not
the lineage of every round before). The rounds grow with the logarithm of the number of
vertices, not with the graph's diameter as label propagation's do.

GraphFrames would do this too; it has no release for the pinned Spark (4.2) that ``mvn``
finds on Maven Central here, and the Thrift Server runs SQL only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from integrity_risk.values import check_table_name

if TYPE_CHECKING:
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

log = logging.getLogger(__name__)

#: Far more than any graph needs (about 2 log2 n: 40 for a million vertices); reaching it is an error.
MAX_ROUNDS = 64


class ComponentsDidNotConverge(RuntimeError):
    """The rounds ran out before an edge table stopped changing."""


def _statements(template: str, **tables: str) -> list[str]:
    from integrity_risk.features.hql import render_hql, split_statements

    return split_statements(render_hql(f"graph/{template}.hql", **tables))


def connected_components(
    hook: IntegrityHiveServer2Hook,
    edges: str,
    out: str,
    *,
    work: str,
    max_rounds: int = MAX_ROUNDS,
) -> int:
    """Write ``out`` (``vertex``, ``component``): every vertex of ``edges`` (``src``, ``dst``,
    both STRING; undirected, duplicates allowed) and its component, named by its smallest
    vertex. A vertex only in self-loops is its own component. The number of rounds it took.

    :param work: a table name prefix for the rounds' tables (``<work>_r<n>``), dropped at the end.
    :raises ComponentsDidNotConverge: still changing after ``max_rounds``.
    """
    edges, out, work = (check_table_name(name) for name in (edges, out, work))
    current = f"{work}_r0"
    hook.run(
        [
            f"DROP TABLE IF EXISTS {current}",
            f"CREATE TABLE {current} STORED AS PARQUET AS "
            f"SELECT DISTINCT src AS u, dst AS v FROM {edges} WHERE src <> dst "
            f"UNION SELECT dst AS u, src AS v FROM {edges} WHERE src <> dst",
        ]
    )
    made = [current]
    try:
        for round_ in range(1, max_rounds + 1):
            after = f"{work}_r{round_}"
            made.append(after)
            # One session a round: the round's table, then how many edges it changed.
            [(changed,)] = hook.get_records(
                [
                    *_statements("star_round", edges=current, out=after),
                    *_statements("changed_edges", before=current, after=after),
                ]
            )
            log.info("components of %s, round %d: %d edges changed", edges, round_, changed)
            hook.run(f"DROP TABLE IF EXISTS {current}")
            made.remove(current)
            current = after
            if not changed:
                break
        else:
            raise ComponentsDidNotConverge(f"the components of {edges} still changed after {max_rounds} rounds")
        # Converged: each component is a star around its smallest vertex. The self-loops'
        # vertices, in no edge of a round, are their own components.
        hook.run(
            [
                f"DROP TABLE IF EXISTS {out}",
                f"CREATE TABLE {out} STORED AS PARQUET AS "
                f"SELECT u AS vertex, least(u, min(v)) AS component FROM {current} GROUP BY u "
                f"UNION SELECT src AS vertex, src AS component FROM {edges} e "
                f"WHERE src = dst AND NOT EXISTS (SELECT 1 FROM {current} c WHERE c.u = e.src)",
            ]
        )
        return round_
    finally:
        for table in made:
            hook.run(f"DROP TABLE IF EXISTS {table}")
