"""Schema drift upstream: a column of raw.user_events dropped or retyped by its owners
fails the extract before any write, naming the table and the column; a column they
added changes nothing.

(Dirty rows of every kind the generator injects are in tests/extract: the features
of a dirty day equal those of the clean day.)
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest
import writers
from stores import DAY, SPAM_REDIRECT_DAILY, partition

from integrity_local.synthetic import load_world

if TYPE_CHECKING:
    from collections.abc import Iterator

UPSTREAM = "raw.user_events"


@contextlib.contextmanager
def drifted_upstream(hive, world, edit) -> Iterator[None]:
    """``raw.user_events`` replaced by a table whose columns are ``edit(columns)``, holding
    the world's files; the real table is put back afterwards, whatever happened."""
    from integrity_local.upstream import load_partition
    from integrity_risk.features.hql import read_hql
    from integrity_risk.features.table_schema import ddl_schema

    columns = edit(ddl_schema(UPSTREAM, read_hql("upstream_tables.hql")))
    hive.run(f"ALTER TABLE {UPSTREAM} RENAME TO raw.user_events_kept")
    try:
        hive.run(
            f"CREATE TABLE {UPSTREAM} ({', '.join(f'{n} {t}' for n, t in columns)}) "
            "PARTITIONED BY (ds STRING) STORED AS PARQUET"
        )
        for day in sorted((world / "raw" / "user_events").glob("ds=*")):
            load_partition(hive, UPSTREAM, day.name.removeprefix("ds="), day)
        yield
    finally:
        hive.run([f"DROP TABLE IF EXISTS {UPSTREAM}", f"ALTER TABLE raw.user_events_kept RENAME TO {UPSTREAM}"])


@pytest.fixture(scope="module")
def written(hive, worlds):
    load_world(hive, worlds["old"])
    table, hql = SPAM_REDIRECT_DAILY
    writers.extract(table, hql, DAY)
    return partition(hive, table, DAY)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda cols: [(n, t) for n, t in cols if n != "url"], "column url: missing (expected string)"),
        (
            lambda cols: [(n, "string" if n == "amount" else t) for n, t in cols],
            "column amount: type string, expected double",
        ),
    ],
    ids=["dropped", "retyped"],
)
def test_a_dropped_or_retyped_upstream_column_fails_the_extract_naming_it_and_writes_nothing(
    hive, worlds, written, edit, problem
):
    from integrity_risk.operators.hive_extract import CLEAN_EVENTS, UpstreamSchemaDrift

    table, hql = SPAM_REDIRECT_DAILY
    cleaned = partition(hive, CLEAN_EVENTS, DAY)
    # The cleaning stage is the one that reads raw.user_events: it stops there, before the extracts.
    with drifted_upstream(hive, worlds["new"], edit), pytest.raises(UpstreamSchemaDrift) as drift:
        writers.extract(table, hql, DAY)
    message = str(drift.value)
    assert UPSTREAM in message and problem in message
    assert f"nothing was written to {CLEAN_EVENTS} for ds={DAY}" in message
    assert partition(hive, CLEAN_EVENTS, DAY) == cleaned and partition(hive, table, DAY) == written


def test_a_column_added_upstream_changes_nothing(hive, worlds, written):
    table, hql = SPAM_REDIRECT_DAILY
    with drifted_upstream(hive, worlds["old"], lambda cols: [*cols, ("referrer", "string")]):
        rows = writers.extract(table, hql, DAY)["rows"]
    assert rows == len(written) and partition(hive, table, DAY) == written
