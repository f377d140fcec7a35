"""Helpers of the extract tests: run an operator as the task runner would, read a partition."""

from __future__ import annotations

TEST_KEY = "extract-tests-key-0123456789"
FEATURE_TABLES = (
    "account_daily",
    "abusive_account_daily",
    "fake_engagement_daily",
    "spam_redirect_daily",
    "scraping_daily",
    "fraud_daily",
)


def run_task(operator, ds: str, try_number: int = 1):
    """Render and execute an operator as the task runner would, with a minimal context."""
    from types import SimpleNamespace

    context = {"ds": ds, "params": {}, "ti": SimpleNamespace(try_number=try_number)}
    operator.render_template_fields(context)
    return operator.execute(context)


def clean(ds: str, **kwargs):
    """Clean the raw events of ``ds``'s look-back afresh (the tests reload raw days); returns the summary."""
    from integrity_risk.operators.clean_events import CleanEventsOperator

    return run_task(CleanEventsOperator(task_id="clean_events", ds=ds, rewrite_window=True, **kwargs), ds)


def extract(table: str, ds: str, *, cleaned: bool = False, **kwargs):
    """Run the extract of ``features.<table>`` (or ``labels``) for ``ds``; returns its summary.

    A feature table's extract cleans the raw events of its look-back first, unless ``cleaned``.
    """
    from integrity_risk.operators.hive_extract import HiveExtractOperator

    if table != "labels" and not cleaned:
        clean(ds, hiveserver2_conn_id=kwargs.get("hiveserver2_conn_id", "hiveserver2_default"))
    if table == "labels":
        kwargs.setdefault("required_partitions", ())
        hql = "labels.hql"
    elif table == "account_daily":
        hql = "features/account_daily.hql"
    else:
        hql = f"features/{table.removesuffix('_daily')}.hql"  # features/<risk>.hql
    op = HiveExtractOperator(task_id=f"extract_{table}", hql=hql, table=f"features.{table}", ds=ds, **kwargs)
    return run_task(op, ds)


def partition(hook, table: str, ds: str) -> list[tuple]:
    """All rows of one output partition, sorted, as plain tuples."""
    rows = hook.get_records(f"SELECT * FROM features.{table} WHERE ds = '{ds}'")
    return sorted((tuple(r) for r in rows), key=repr)
