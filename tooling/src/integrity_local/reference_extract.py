"""The feature extracts as they were before the cleaning stage: each re-cleans its raw look-back.

The feature templates as they were then (``reference_hql/features/<table>.hql``: every
window aggregated from the events themselves, no daily partials), with
``reference_hql/features/_events.hql`` in place of today's look-back: dirty rows dropped
and ``event_id`` duplicates removed over the window and a day before it, from
``raw.user_events``. What the extracts are checked against
(tests/extract/test_clean_events.py) and timed beside (bench/bench_extract.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

REFERENCE_HQL_DIR = Path(__file__).parent / "reference_hql"


def render(template: str, ds: str, *, lookback_days: int = 7, pseudonymize: Callable[[str], str] | None = None) -> str:
    """``template`` (e.g. ``features/fraud.hql``) for ``ds`` with the reference look-back.

    :param pseudonymize: the ``pseudonymize`` macro; default the extracts' own (Hive session variables).
    """
    import jinja2

    from integrity_risk.operators.hive_extract import ExtractWindow, _with_extract_macros
    from integrity_risk.paths import hql_dir

    env = _with_extract_macros(jinja2.Environment(undefined=jinja2.StrictUndefined))
    env.loader = jinja2.FileSystemLoader([str(REFERENCE_HQL_DIR), str(hql_dir())])  # the reference first
    if pseudonymize is not None:
        env.globals["pseudonymize"] = pseudonymize
    sql = env.get_template(template).render(**ExtractWindow.for_ds(ds, lookback_days).template_vars())
    if "clean.user_events" in sql:
        raise RuntimeError(f"{template} rendered with today's look-back, not the reference's")
    return sql
