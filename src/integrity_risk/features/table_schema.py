"""Table schemas: as a DDL file declares them, and how two differ.

What HiveServer2 reports is :meth:`integrity_risk.hooks.hive.IntegrityHiveServer2Hook.table_schema`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Schema = Sequence[tuple[str, str]]

_CREATE = re.compile(
    r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+([\w.]+)\s*\((.*?)\)\s*PARTITIONED\s+BY", re.IGNORECASE | re.DOTALL
)


def ddl_schema(table: str, ddl_text: str) -> list[tuple[str, str]]:
    """Columns ``(name, type)`` of ``table`` as declared in a DDL file (partition column excluded).

    :param table: ``database.table``.
    :param ddl_text: HiveQL holding ``CREATE TABLE IF NOT EXISTS <table> (...) PARTITIONED BY``.
    """
    from integrity_risk.features.hql import split_statements

    for statement in split_statements(ddl_text):
        match = _CREATE.search(statement)
        if match and match.group(1).lower() == table.lower():
            columns = [line.strip().rstrip(",").split() for line in match.group(2).split(",")]
            return [(parts[0].lower(), parts[1].lower()) for parts in columns if parts]
    raise ValueError(f"no CREATE TABLE for {table} in the DDL")


def schema_problems(actual: Schema, expected: Schema, *, extra_allowed: bool = False) -> list[str]:
    """What keeps ``actual`` from matching ``expected``, one line per column; empty when it matches.

    :param extra_allowed: columns ``expected`` lacks are fine and the order is not checked
        (an upstream table that grew a column still serves a reader of the columns it had).
    """
    have, want = dict(actual), dict(expected)
    problems = [f"column {n}: missing (expected {t})" for n, t in expected if n not in have]
    problems += [f"column {n}: type {have[n]}, expected {t}" for n, t in expected if n in have and have[n] != t]
    if extra_allowed:
        return problems
    problems += [f"column {n}: unexpected ({t})" for n, t in actual if n not in want]
    if not problems and list(actual) != list(expected):
        problems.append(f"columns in order {[n for n, _ in actual]}, expected {[n for n, _ in expected]}")
    return problems
