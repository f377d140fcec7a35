"""The Airflow Assets the pipelines publish and consume."""

from __future__ import annotations

from airflow.sdk import Asset

from integrity_risk.values import check_table_name


def table_asset(table: str) -> Asset:
    """The Airflow Asset of an output table: ``hive://warehouse/<database>/<table>``.

    ``warehouse`` is a logical host, the same in every environment, so a downstream
    DAG scheduled on the Asset does not depend on where HiveServer2 runs.

    :param table: ``database.table``.
    """
    database, name = check_table_name(table).split(".")
    return Asset(uri=f"hive://warehouse/{database}/{name}", name=table)
