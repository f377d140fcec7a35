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


def training_set_asset(risk_type: str) -> Asset:
    """The Asset of a risk type's training sets: ``integrity://training_sets/<risk>``.

    A logical URI, the same in every environment (the folder is not), so the
    training DAG can be scheduled on it anywhere.
    """
    return Asset(uri=f"integrity://training_sets/{risk_type}", name=f"training_set.{risk_type}")


def online_features_asset(risk_type: str) -> Asset:
    """The Asset a risk type's materialization produces: ``feast://integrity_risk/online/<risk>``."""
    return Asset(uri=f"feast://integrity_risk/online/{risk_type}", name=f"feast_online.{risk_type}")
