"""IntegrityHiveServer2Hook: the Hive provider's HiveServer2 hook, plus what the pipelines ask of Hive.

The provider's hook runs statements; this one adds the project's vocabulary on top
(daily partitions, table schemas, HiveQL files of ``include/hql``, partition loads)
and two guarantees every caller gets:

- a failure names what ran and the server's message, or, when the server cannot be
  reached, its host, port and connection id (the transport's own error names none);
- secrets registered with :meth:`IntegrityHiveServer2Hook.mask_secrets` (the
  pseudonymization pads, sent as session variables) never reach a log line nor an
  error message, even when the server echoes the SQL after substitution.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from contextlib import closing, contextmanager, suppress
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

from integrity_risk.values import check_identifier, check_risk_type, check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import pyarrow as pa

DEFAULT_PORT = 10000  # pyhive's default when the connection has none
_PARTITION_VALUE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # a partition value other than ds, e.g. a risk type
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+(?:EXTERNAL\s+)?TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)\.(\w+)", re.IGNORECASE)


class HiveServer2Error(RuntimeError):
    """A statement failed on HiveServer2; the message names the statements and the server's text."""


class HiveServer2Unreachable(HiveServer2Error):
    """HiveServer2 could not be reached (refused, reset, closed mid-reply); the message names host and port."""


class IntegrityHiveServer2Hook(HiveServer2Hook):
    """``HiveServer2Hook`` that knows the pipelines' tables: partitions by ``ds``, schemas,
    HiveQL files and partition loads; its errors name the server and never hold a secret.

    Every table, day and partition value is validated (:mod:`integrity_risk.values`)
    before it is placed into SQL text.

    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    :param schema: Hive database name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._secrets: set[str] = set()

    # --- secrets and errors ------------------------------------------------------

    def mask_secrets(self, *secrets: str) -> None:
        """Keep ``secrets`` out of every log (Airflow's masker) and out of this hook's errors.

        While any is registered, pyhive's own logger, which writes each statement of a
        session (its ``set name=value`` lines included), is held at WARNING: the masker
        is the second guard, not the only one.
        """
        from airflow.sdk.log import mask_secret

        for secret in secrets:
            if secret:
                mask_secret(secret)
                self._secrets.update({secret, secret.upper(), secret.lower()})

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _translated(self, sql: str | Iterable[str]) -> Iterator[None]:
        from pyhive.exc import Error as PyHiveError
        from thrift.transport.TTransport import TTransportException

        ran = sql if isinstance(sql, str) else ";\n".join(sql)
        try:
            with self._quiet_pyhive():
                yield
        except PyHiveError as err:
            # A server error can echo the SQL after substitution: the secrets go.
            raise HiveServer2Error(
                f"HiveServer2 failed running:\n{self.redact(ran)}\nServer message: {self.redact(_server_message(err))}"
            ) from None
        except (TTransportException, OSError) as err:
            # Refused, reset or closed mid-reply: the transport's error names no server.
            conn = self.get_connection(self.get_conn_id())
            running = ran.strip().splitlines()[0] if ran.strip() else "(nothing)"
            raise HiveServer2Unreachable(
                f"HiveServer2 at {conn.host}:{conn.port or DEFAULT_PORT} (connection {self.get_conn_id()}) "
                f"is unreachable: {type(err).__name__}: {self.redact(str(err))}; was running: {self.redact(running)}"
            ) from err

    @contextmanager
    def _quiet_pyhive(self) -> Iterator[None]:
        logger = logging.getLogger("pyhive.hive")
        previous = logger.level
        if self._secrets:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(previous)

    # --- the provider's calls, with the errors translated ------------------------

    def get_results(
        self,
        sql: str | list[str],
        schema: str = "default",
        fetch_size: int | None = None,
        hive_conf: Iterable | Mapping | None = None,
    ) -> dict[str, Any]:
        """Run ``sql`` in one session after ``hive_conf``'s ``set`` statements; the rows and header
        of its queries. Raises :class:`HiveServer2Error` naming what failed.

        The provider's ``get_results`` also sends the task's Airflow context first: eight
        ``set airflow.ctx.*=...`` statements, a round trip each. On the local Spark Thrift
        Server a ``SELECT 1`` took 273 ms a call with them and 113 ms without, and one run of
        the test suite sent some 11,000. Only the session variables a caller asks for (the
        pseudonymization pads, the write settings) are sent here, and they stay out of the
        lineage the statements report, as in the provider.
        """
        from airflow.providers.common.sql.hooks.lineage import send_sql_hook_lineage
        from pyhive.exc import ProgrammingError

        statements = [sql] if isinstance(sql, str) else list(sql)
        header: Any = None
        data: list[Any] = []
        with (
            self._translated(statements),
            closing(self.get_conn(schema)) as conn,
            closing(conn.cursor()) as cursor,
        ):
            cursor.arraysize = fetch_size or 1000
            for key, value in dict(hive_conf or {}).items():
                cursor.execute(f"set {key}={value}")
            for statement in statements:
                cursor.execute(statement)
                send_sql_hook_lineage(context=self, sql=statement, cur=cursor, default_schema=schema)
                lowered = statement.lower().strip()
                if not lowered.startswith(("select", "with", "show")):
                    continue
                if header is not None and cursor.description != header:
                    raise ValueError(f"the statements return different columns: {header!r}, {cursor.description!r}")
                header = cursor.description
                with suppress(ProgrammingError):  # a statement that returned no result set
                    data.extend(cursor.fetchall())
        return {"data": data, "header": header}

    def run(self, sql: str | Iterable[str], *args: Any, **kwargs: Any) -> Any:
        """The provider's ``run``; raises :class:`HiveServer2Error` naming what failed."""
        statements = [sql] if isinstance(sql, str) else list(sql)
        with self._translated(statements):
            return super().run(statements, *args, **kwargs)

    # --- HiveQL files --------------------------------------------------------------

    def run_hql_file(self, relative_path: str | Path) -> None:
        """Run every statement of a HiveQL file under ``include/hql`` (DDL, typically)."""
        from integrity_risk.features.hql import read_hql, split_statements

        self.run(split_statements(read_hql(relative_path)))

    def create_missing_tables(self, relative_path: str | Path) -> list[str]:
        """Run a DDL file of ``CREATE TABLE IF NOT EXISTS db.table`` statements for the tables
        missing only; the tables it created. Its other statements (``CREATE DATABASE IF NOT
        EXISTS``) run each time.

        The end state of :meth:`run_hql_file`, for one ``SHOW TABLES`` per database once the
        tables exist: every extract runs its file, and Spark's Thrift Server takes a metastore
        round trip (seconds, under load) for each ``CREATE ... IF NOT EXISTS`` of a table it has.
        """
        from integrity_risk.features.hql import read_hql, split_statements

        creates: dict[str, str] = {}
        others: list[str] = []
        for statement in split_statements(read_hql(relative_path)):
            if match := _CREATE_TABLE.match(statement):
                creates[f"{check_identifier(match[1])}.{check_identifier(match[2])}".lower()] = statement
            else:
                others.append(statement)
        databases = sorted({name.split(".", 1)[0] for name in creates})
        # Spark's SHOW TABLES rows: (database, table, is temporary).
        rows = self.get_records([*others, *(f"SHOW TABLES IN {db}" for db in databases)]) if databases else []
        existing = {f"{db}.{name}".lower() for db, name, *_ in rows}
        missing = [name for name in creates if name not in existing]
        if others and not databases:
            self.run(others)
        if missing:
            self.run([creates[name] for name in missing])
        return missing

    # --- partitions ---------------------------------------------------------------

    def partition_exists(self, table: str, ds: str, *, schema: str = "default") -> bool:
        """Whether ``table`` has the partition ``ds``."""
        table, day = check_table_name(table), parse_ds(ds).isoformat()
        return bool(self.get_records(f"SHOW PARTITIONS {table} PARTITION (ds='{day}')", schema=schema))

    def partition_days(self, table: str) -> list[str]:
        """The ``ds`` of every partition of ``table``, sorted (other partition keys ignored)."""
        rows = self.get_records(f"SHOW PARTITIONS {check_table_name(table)}")
        days = {
            part.split("=", 1)[1] for row in rows if row for part in str(row[0]).split("/") if part.startswith("ds=")
        }
        return sorted(days)

    def row_count(
        self,
        table: str,
        ds: str,
        *,
        after: Sequence[str] = (),
        hive_conf: Mapping[str, str] | None = None,
        schema: str = "default",
    ) -> int:
        """Rows in partition ``ds`` of ``table``, counted in the session that first runs ``after``.

        One session, so ``after`` (an ``INSERT OVERWRITE``, say) sees the ``hive_conf``
        session variables and the count sees what it wrote.
        """
        table, day = check_table_name(table), parse_ds(ds).isoformat()
        count = f"SELECT count(*) FROM {table} WHERE ds = '{day}'"
        return int(self.get_records([*after, count], parameters=dict(hive_conf or {}), schema=schema)[0][0])

    def partition_volumes(
        self, table: str, first: str, before: str, sum_columns: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Per partition with ``first <= ds < before``: ``{"ds", "rows", "volumes": {column: sum}}``, by day.

        :param sum_columns: columns summed per partition (as DOUBLE); plain identifiers.
        """
        table, first, before = check_table_name(table), parse_ds(first).isoformat(), parse_ds(before).isoformat()
        for column in sum_columns:
            check_identifier(column, "column")
        sums = "".join(f", sum(CAST({c} AS DOUBLE))" for c in sum_columns)
        rows = self.get_records(
            f"SELECT ds, count(*){sums} FROM {table} WHERE ds >= '{first}' AND ds < '{before}' GROUP BY ds ORDER BY ds"
        )
        return [{"ds": r[0], "rows": r[1], "volumes": dict(zip(sum_columns, r[2:], strict=False))} for r in rows]

    def rows_by(self, table: str, column: str, first: str, last: str) -> dict[str, dict[str | None, int]]:
        """Rows per partition and value of ``column``, ``first <= ds <= last``: ``{ds: {value: rows}}``.

        A NULL value is counted under ``None``; a day without a partition is absent.
        """
        table, column = check_table_name(table), check_identifier(column, "column")
        first, last = parse_ds(first).isoformat(), parse_ds(last).isoformat()
        rows = self.get_records(
            f"SELECT ds, {column}, count(*) FROM {table} WHERE ds >= '{first}' AND ds <= '{last}' GROUP BY ds, {column}"
        )
        out: dict[str, dict[str | None, int]] = {}
        for ds, value, count in rows:
            out.setdefault(str(ds), {})[value] = int(count)
        return out

    def drifted_days(self, table: str, risk_type: str, first: str, last: str) -> dict[str, bool]:
        """``{ds: whether any figure passed its bound}`` of ``risk_type``'s drift figures, ``first <= ds <= last``.

        A day without figures is absent. ``table`` has ``eval.feature_drift``'s columns.
        """
        table, risk = check_table_name(table), check_risk_type(risk_type)
        first, last = parse_ds(first).isoformat(), parse_ds(last).isoformat()
        rows = self.get_records(
            f"SELECT ds, max(coalesce(over_bound, 0)) FROM {table} "
            f"WHERE risk_type = '{risk}' AND ds >= '{first}' AND ds <= '{last}' GROUP BY ds"
        )
        return {str(ds): int(flag or 0) == 1 for ds, flag in rows}

    def null_counts(self, table: str, ds: str, columns: Sequence[str]) -> dict[str, Any]:
        """``{"rows": n, "nulls": {column: NULL rows}}`` of partition ``ds`` of ``table``."""
        table, day = check_table_name(table), parse_ds(ds).isoformat()
        for column in columns:
            check_identifier(column, "column")
        nulls = "".join(f", sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END)" for c in columns)
        row = self.get_records(f"SELECT count(*){nulls} FROM {table} WHERE ds = '{day}'")[0]
        return {"rows": int(row[0]), "nulls": {c: int(v or 0) for c, v in zip(columns, row[1:], strict=True)}}

    def user_events_health(self, ds: str, clean: str, null_columns: Sequence[str] = ()) -> dict[str, Any]:
        """What the upstream health gate judges of partition ``ds`` of ``raw.user_events``, in one scan.

        ``{"rows", "dirty" (rows failing ``clean``), "duplicates" (rows with a non-NULL
        event_id beyond the first of each id), "out_of_day" (event_time outside the day),
        "nulls": {column: NULL rows}}``.

        :param clean: SQL predicate over the alias ``e`` saying a row is usable: the cleaning
            stage's own (:func:`integrity_risk.features.hql.clean_event_predicate`), from the
            project's HiveQL, never from a user.
        :param null_columns: columns whose NULLs are counted.
        """
        day = parse_ds(ds)
        start, end = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
        for column in null_columns:
            check_identifier(column, "column")
        nulls = "".join(f", sum(CASE WHEN e.{c} IS NULL THEN 1 ELSE 0 END)" for c in null_columns)
        # CASE WHEN <clean> THEN 0 ELSE 1: a NULL verdict (a NULL event_type) counts as dirty.
        row = self.get_records(
            f"SELECT count(*), sum(CASE WHEN {clean} THEN 0 ELSE 1 END), "
            "count(e.event_id) - count(DISTINCT e.event_id), "
            f"sum(CASE WHEN e.event_time < TIMESTAMP '{start} 00:00:00' "
            f"OR e.event_time >= TIMESTAMP '{end} 00:00:00' THEN 1 ELSE 0 END)"
            f"{nulls} FROM raw.user_events e WHERE e.ds = '{start}'"
        )[0]
        counts = [int(v or 0) for v in row]
        return {
            "rows": counts[0],
            "dirty": counts[1],
            "duplicates": counts[2],
            "out_of_day": counts[3],
            "nulls": dict(zip(null_columns, counts[4:], strict=True)),
        }

    def load_partition(self, table: str, location: str, partition: Mapping[str, str]) -> None:
        """Replace one partition of ``table`` with the files at ``location``, a URL the server reads.

        ``LOAD DATA INPATH ... OVERWRITE`` (never ``LOCAL``: a worker's disk is not the
        server's) moves the files in and swaps the partition in one metastore operation, so
        a reader sees the old or the new partition, never a mix.

        :param location: a folder under the storage root (``file://``, ``hdfs://``, ``s3a://``...).
        :param partition: ``{key: value}``, e.g. ``{"risk_type": "fraud", "ds": "2026-03-02"}``;
            a ``ds`` must be a real day, other values lower_snake_case.
        """
        table = check_table_name(table)
        if not partition:
            raise ValueError(f"load_partition of {table} needs the partition's keys and values")
        for key, value in partition.items():
            check_identifier(key, "partition key")
            if key == "ds":
                parse_ds(value)
            elif not isinstance(value, str) or not _PARTITION_VALUE.match(value):
                raise ValueError(f"bad partition value {key}={value!r} for {table} (expected lower_snake_case)")
        if "://" not in location:
            raise ValueError(f"load_partition of {table} needs a URL the server can read, not {location!r}")
        if "'" in location:
            raise ValueError(f"refusing a location with a quote in it: {location}")
        spec = ", ".join(f"{key}='{value}'" for key, value in partition.items())
        self.run(f"LOAD DATA INPATH '{location}' OVERWRITE INTO TABLE {table} PARTITION ({spec})")

    def load_arrow_partition(self, table: str, data: pa.Table, partition: Mapping[str, str]) -> None:
        """Replace one partition of ``table`` with the rows of ``data``, written as one parquet file.

        The table must be ``STORED AS PARQUET`` with ``data``'s columns, in order.
        """
        with self.staged_partition(table, partition) as write:
            write(data)

    @contextmanager
    def staged_partition(self, table: str, partition: Mapping[str, str]) -> Iterator[Callable[[pa.Table], None]]:
        """``write(arrow_table)`` for each part of one partition of ``table``; the partition replaced on a clean exit.

        Each part is a parquet file staged under the storage root (:mod:`integrity_risk.storage`),
        which the server reads too (never a worker's own disk), and the parts are loaded in one
        ``load_partition``: a reader sees the old or the new partition, and a failure on the way
        leaves the old one. The staging folder is removed either way.
        """
        import pyarrow.parquet as pq

        from integrity_risk.storage import staging_dir

        staging = staging_dir("hive_load")
        parts = 0

        def write(data: pa.Table) -> None:
            nonlocal parts
            with (staging / f"part-{parts:05d}.parquet").open("wb") as out:
                pq.write_table(data, out)
            parts += 1

        try:
            yield write
            self.load_partition(table, str(staging), partition)
        finally:
            if staging.exists():  # the load moved the files out, or the folder itself
                staging.rmdir(recursive=True)

    # --- schemas ----------------------------------------------------------------------

    def table_schema(self, table: str) -> list[tuple[str, str]]:
        """Columns ``(name, type)`` of ``table`` on the server, partition columns last."""
        # The result header of an empty SELECT carries the types (DESCRIBE returns no
        # result set through HiveServer2Hook); names may come prefixed by the table.
        header = self.get_results(f"SELECT * FROM {check_table_name(table)} LIMIT 0")["header"]
        return [(name.split(".")[-1].lower(), dtype.lower().removesuffix("_type")) for name, dtype, *_ in header]


class HiveServer2HookMixin:
    """For operators and sensors that talk to HiveServer2: they hold only ``hiveserver2_conn_id``.

    The hook is built on first use, in ``execute`` or ``poke``, so a DAG file that only
    constructs the task never opens a connection.
    """

    hiveserver2_conn_id: str

    @cached_property
    def hook(self) -> IntegrityHiveServer2Hook:
        return IntegrityHiveServer2Hook(hiveserver2_conn_id=self.hiveserver2_conn_id)


def _server_message(err: Exception) -> str:
    """The server's error text from a pyhive exception (it wraps the Thrift response)."""
    resp = err.args[0] if err.args else None
    status = getattr(resp, "status", None)
    text = getattr(status, "errorMessage", None) or getattr(resp, "errorMessage", None)
    return str(text or err)
