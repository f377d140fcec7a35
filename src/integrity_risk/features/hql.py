"""Reading HiveQL files from include/hql and running them through HiveServer2Hook."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from integrity_risk.paths import hql_dir

if TYPE_CHECKING:
    from pathlib import Path

_LINE_COMMENT = re.compile(r"--[^\n]*")


def split_statements(text: str) -> list[str]:
    """Split a HiveQL script into statements; `--` comments are dropped.

    HiveServer2 runs one statement per call. Our scripts keep `;` and `--`
    out of string literals, which is what lets this stay a simple split.
    """
    without_comments = _LINE_COMMENT.sub("", text)
    return [stmt.strip() for stmt in without_comments.split(";") if stmt.strip()]


def read_hql(relative_path: str | Path) -> str:
    return (hql_dir() / relative_path).read_text()


def clean_event_predicate(alias: str) -> str:
    """The cleaning stage's test of a usable ``raw.user_events`` row, as SQL over ``alias``.

    Rendered from ``include/hql/features/_clean.hql``, the macro the extracts filter with,
    so the health gate's dirty rows are exactly the rows the extracts drop.

    :param alias: the table alias of ``raw.user_events`` in the query; an identifier.
    """
    import jinja2

    from integrity_risk.values import check_identifier

    check_identifier(alias, "table alias")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(hql_dir())), undefined=jinja2.StrictUndefined)
    template = env.from_string('{% from "features/_clean.hql" import clean_event %}{{ clean_event(alias) }}')
    return template.render(alias=alias).strip()


def render_hql(relative_path: str, **variables: object) -> str:
    """Render a template under ``include/hql`` with the extracts' macros (``pseudonymize``,
    ``ds_literal``) outside an Airflow task, e.g. in the streaming job; undefined names raise.

    :param relative_path: the template, e.g. ``streaming/account_buckets.hql``.
    :param variables: the template's variables.
    """
    import jinja2

    from integrity_risk.operators.hive_extract import _with_extract_macros

    env = _with_extract_macros(jinja2.Environment(undefined=jinja2.StrictUndefined))
    return env.get_template(str(relative_path)).render(**variables)
