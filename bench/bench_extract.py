"""The day's extracts through HiveServer2, beside DuckDB running the pre-cleaning full-window SQL.

    INTEGRITY_LOCAL_DIR=.local/bench python bench/bench_extract.py \
        [--days 30] [--accounts 20000] [--risk fraud] [--port 10160] [--repeats 2] [--threads 2] \
        [--lookbacks 7,28]

On a private state folder (``<local>/bench_extract``) it writes a synthetic world
(``write_world``), starts its own HiveServer2 (``LocalHiveServer`` on ``--port``, a
fresh metastore) and loads the world into ``raw.*`` (``load_world``). For the last day
``ds`` it then times what a day costs the pipeline, as the task runner runs it
(rendered, then executed with a random pseudonymization key given as the Airflow connection):

- ``clean_events``: ``CleanEventsOperator`` cleaning the raw day ``ds`` (the days before it
  are cleaned first, untimed, as the runs of those days would have);
- the six feature tables (``HiveExtractOperator`` of ``features/*.hql``), the two real-time
  tables (``features/account_realtime_*.hql``, the streaming job's windows in batch) and ``labels``,
  at each look-back of ``--lookbacks`` (days in the longest window; the templates' 7-day
  columns then span that many days).

Beside each stage's time it prints the classes Spark compiled for it (the server log's
"Code generated in" lines): a run whose classes the code-generation cache still holds
compiles none.

The single-node reference is DuckDB on the same parquet files running ``account_daily``
and ``--risk``'s table as the extracts were before the cleaning stage
(``integrity_local.reference_extract``: each re-cleans and deduplicates its raw look-back),
at look-back 7, with a few mechanical rewrites from Spark SQL to DuckDB (listed in
``DUCKDB_REWRITES``) and the same keyed HMAC-SHA256 written with DuckDB's
``sha256``/``unhex``, written to a parquet file with ``COPY``. DuckDB gets ``--threads``
threads (default 2, as the Thrift Server's ``local[2]``). Both tables are compared with the
Hive ones row by row (joined on ``account_pk``; doubles to a relative 1e-9), so the
reference is known to do the same work. The server is stopped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import statistics
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

PORT = 10160
REALTIME_TABLES = ("account_realtime_5m", "account_realtime_1h")
_INSERT = re.compile(r"INSERT\s+OVERWRITE\s+TABLE\s+\S+\s+PARTITION\s*\(\s*ds\s*\)", re.IGNORECASE)
# Spark SQL -> DuckDB, applied to the rendered template. Each keeps the meaning:
# size(collect_set(x)) and count(DISTINCT x) both count the distinct non-NULL values;
# RLIKE and regexp_matches both look for the pattern anywhere in the string.
DUCKDB_REWRITES = (
    (re.compile(r"size\(\s*collect_set\("), "count(DISTINCT ("),
    (re.compile(r"(\S+)\s+RLIKE\s+('(?:[^']|'')*')", re.IGNORECASE), r"regexp_matches(\1, \2)"),
)
DUCKDB_MACROS = (
    # Spark's unix_timestamp(ts): whole seconds since the epoch.
    "CREATE MACRO unix_timestamp(t) AS CAST(floor(epoch(t)) AS BIGINT)",
    # Only parse_url(url, 'HOST') is used (the spam domain); the host of an absolute URL.
    "CREATE MACRO parse_url(u, part) AS "
    "nullif(regexp_extract(u, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^:/?#]+)', 1), '')",
)


def duckdb_sql(hql_path: str, ds: str, ipad: str, opad: str, out_file: Path) -> str:
    """The pre-cleaning extract ``hql_path`` for ``ds`` as one DuckDB ``COPY (...) TO out_file`` statement.

    :param hql_path: template under ``include/hql``, e.g. ``features/fraud.hql``.
    :param ds: the day.
    :param ipad: the key padded and xor-ed with ipad (hex), as the Hive session gets it.
    :param opad: the key padded and xor-ed with opad (hex).
    :param out_file: parquet file the result is written to.
    """
    from integrity_local import reference_extract

    def pseudonymize(expr: str) -> str:
        # The same HMAC-SHA256 as integrity_risk.features.pseudonymize.sql_hmac; `||` joins blobs.
        inner = f"sha256(unhex('{ipad}') || encode({expr}))"
        return f"sha256(unhex('{opad}') || unhex({inner}))"

    sql = reference_extract.render(hql_path, ds, pseudonymize=pseudonymize)
    sql, n = _INSERT.subn("", sql)
    if n != 1:
        raise ValueError(f"{hql_path}: expected one INSERT OVERWRITE ... PARTITION (ds), found {n}")
    for pattern, replacement in DUCKDB_REWRITES:
        sql = pattern.sub(replacement, sql)
    return f"COPY (\n{sql}\n) TO '{out_file}' (FORMAT parquet)"


def duckdb_connection(world_dir: Path, threads: int):
    """A DuckDB connection with ``raw.user_events`` and ``raw.account_profiles`` over the world's files."""
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA raw")
    for table in ("user_events", "account_profiles"):
        glob = world_dir / "raw" / table / "ds=*" / "*.parquet"
        con.execute(
            f"CREATE VIEW raw.{table} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
            "hive_types = {'ds': VARCHAR})"
        )
    for macro in DUCKDB_MACROS:
        con.execute(macro)
    return con


def compare(con, hive_glob: str, duck_file: Path) -> tuple[int, int, int]:
    """Rows of each output and rows that differ (by ``account_pk``; doubles to 1e-9 relative)."""
    cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{hive_glob}')").fetchall()
    checks = []
    for name, kind, *_ in cols:
        if name == "account_pk":
            continue
        if kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
            # both set: beyond the tolerance; one or both NULL: unless both are
            checks.append(
                f"coalesce(NOT abs(h.{name} - d.{name}) <= 1e-9 * (1 + abs(h.{name})), "
                f"h.{name} IS DISTINCT FROM d.{name})"
            )
        elif kind.startswith("TIMESTAMP"):
            checks.append(f"epoch_us(h.{name}::TIMESTAMP) IS DISTINCT FROM epoch_us(d.{name}::TIMESTAMP)")
        else:
            checks.append(f"h.{name} IS DISTINCT FROM d.{name}")
    differ = " OR ".join(checks) or "false"
    hive_rows = con.execute(f"SELECT count(*) FROM read_parquet('{hive_glob}')").fetchone()[0]
    duck_rows = con.execute(f"SELECT count(*) FROM read_parquet('{duck_file}')").fetchone()[0]
    mismatched = con.execute(
        f"SELECT count(*) FROM read_parquet('{hive_glob}') h FULL JOIN read_parquet('{duck_file}') d "
        f"ON h.account_pk = d.account_pk WHERE h.account_pk IS NULL OR d.account_pk IS NULL OR {differ}"
    ).fetchone()[0]
    return hive_rows, duck_rows, mismatched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=9, help="days of synthetic traffic; the extracts run on the last")
    parser.add_argument(
        "--lookbacks", default="7,28", help="look-backs (days) the Hive extracts are timed at, comma-separated"
    )
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2026-03-01", help="first day of the world")
    parser.add_argument("--risk", default="fraud", help="the risk type whose extract runs beside account_daily")
    parser.add_argument("--port", type=int, default=PORT, help="port of the benchmark's own HiveServer2")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each extract (the first warms the JVM)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the Thrift Server runs local[2])")
    parser.add_argument("--keep", action="store_true", help="keep the state folder (world, warehouse) afterwards")
    args = parser.parse_args()
    # The operator and pyhive log every statement at INFO; the table at the end is the
    # output. Read when Airflow configures its logging, so before the first import.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

    from integrity_local.synthetic import RISK_TYPES, WorldConfig, write_world
    from integrity_risk.paths import local_dir

    if args.risk not in RISK_TYPES:
        parser.error(f"--risk must be one of {', '.join(RISK_TYPES)}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        args.lookbacks = [int(n) for n in args.lookbacks.split(",")]
    except ValueError:
        parser.error(f"--lookbacks must be comma-separated whole days, got {args.lookbacks!r}")
    root = local_dir() / "bench_extract"
    os.environ.setdefault("AIRFLOW_HOME", str(root / "airflow"))
    # A fresh random key for this run; the Airflow connection is how the operator reads it.
    os.environ["AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"] = json.dumps(
        {"conn_type": "generic", "password": secrets.token_hex(16)}
    )
    os.environ.pop("INTEGRITY_ALLOW_DEMO_KEY", None)

    from integrity_local.hiveserver2 import LocalHiveServer

    server = LocalHiveServer(port=args.port, state_dir=root / "hiveserver2")
    server.stop()  # one left by an interrupted run of this benchmark (same pid file)
    shutil.rmtree(root, ignore_errors=True)

    cfg = WorldConfig(seed=args.seed, start_ds=args.start, days=args.days, n_accounts=args.accounts)
    t0 = time.perf_counter()
    files = write_world(cfg, root / "world")
    print(f"world: {files} (written in {time.perf_counter() - t0:.1f} s)")

    server = LocalHiveServer(port=args.port, state_dir=root / "hiveserver2")
    try:
        run(args, files, server, root)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _timed(op, ds: str) -> tuple[float, dict]:
    context = {"ds": ds, "params": {}}
    t0 = time.perf_counter()
    op.render_template_fields(context)
    summary = op.execute(context)
    return time.perf_counter() - t0, summary


def _compiled(server) -> int:
    """Classes the Thrift Server has compiled so far: its log's "Code generated in" lines."""
    try:
        with open(server.log_file, errors="replace") as log:
            return sum("Code generated in" in line for line in log)
    except FileNotFoundError:
        return 0


def _template(table: str) -> str:
    if table == "labels":
        return "labels.hql"
    return "features/account_daily.hql" if table == "account_daily" else f"features/{table.removesuffix('_daily')}.hql"


def _lookback(table: str, lookback: int) -> int:
    """The look-back ``table`` is extracted at: the real-time tables read the day and the one before."""
    return 1 if table in REALTIME_TABLES else lookback


def run(args, files, server, root: Path) -> None:
    """Load the world, time the day's stages on Hive and the reference on DuckDB, print the tables."""
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    from integrity_local.synthetic import RISK_TYPES, load_world
    from integrity_risk.features.pseudonymize import get_key, hmac_pads
    from integrity_risk.operators.clean_events import CleanEventsOperator
    from integrity_risk.operators.hive_extract import ExtractWindow, HiveExtractOperator

    print(f"HiveServer2 on {server.uri} started in {server.start():.1f} s")
    os.environ["AIRFLOW_CONN_HIVESERVER2_DEFAULT"] = server.uri
    t0 = time.perf_counter()
    load_world(HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default"), files.out_dir)
    print(f"loaded into raw.* in {time.perf_counter() - t0:.1f} s")

    ds = files.days()[-1]
    day_events = sum(p.rows for p in files.partitions if p.table == "user_events" and p.ds == ds)
    # The days before ds cleaned, as their own runs would have; untimed.
    longest = max(args.lookbacks)
    previous = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    t0 = time.perf_counter()
    _timed(CleanEventsOperator(task_id="clean_history", ds=previous, lookback_days=longest), previous)
    print(f"cleaned the {longest} raw days before {ds} in {time.perf_counter() - t0:.1f} s")

    stages: dict[str, list[float]] = {"clean_events": []}
    # Classes each run made Spark compile: what its code-generation cache did not hold.
    compiled: dict[str, list[int]] = {"clean_events": []}
    for i in range(args.repeats):
        before = _compiled(server)
        seconds, summary = _timed(CleanEventsOperator(task_id=f"clean_{i}", ds=ds), ds)
        compiled["clean_events"].append(_compiled(server) - before)
        if list(summary["days"]) != [ds]:
            raise RuntimeError(f"clean_events of {ds} cleaned {list(summary['days'])}, not the day alone")
        stages["clean_events"].append(seconds)
    tables = ["account_daily", *(f"{risk}_daily" for risk in RISK_TYPES), *REALTIME_TABLES, "labels"]
    for lookback in args.lookbacks:
        for table in tables:
            days = _lookback(table, lookback)
            key = f"{table} @{days}"
            if key in stages:
                continue
            stages[key], compiled[key] = [], []
            for i in range(args.repeats):
                op = HiveExtractOperator(
                    task_id=f"extract_{table}_{lookback}_{i}",
                    hql=_template(table),
                    table=f"features.{table}",
                    ds=ds,
                    lookback_days=days,
                    **({"required_partitions": ("raw.enforcement_labels",)} if table == "labels" else {}),
                )
                before = _compiled(server)
                seconds, summary = _timed(op, ds)
                stages[key].append(seconds)
                compiled[key].append(_compiled(server) - before)
    # DuckDB's comparison is with the look-back 7 tables: written last.
    if args.lookbacks[-1] != 7:
        for table in ("account_daily", f"{args.risk}_daily"):
            _timed(
                HiveExtractOperator(
                    task_id=f"extract_{table}_7", hql=_template(table), table=f"features.{table}", ds=ds
                ),
                ds,
            )

    window = ExtractWindow.for_ds(ds)
    read_days = window.read_days()
    events = sum(p.rows for p in files.partitions if p.table == "user_events" and p.ds in read_days)
    ipad, opad = hmac_pads(get_key())
    con = duckdb_connection(files.out_dir, args.threads)
    check = con.execute(
        f"SELECT count(*) FROM raw.user_events WHERE ds BETWEEN '{read_days[0]}' AND '{ds}'"
    ).fetchone()[0]
    if check != events:
        raise RuntimeError(f"DuckDB sees {check} events in the window, the world wrote {events}")
    duck: dict[str, tuple[list[float], int, int, int]] = {}
    for table in ("account_daily", f"{args.risk}_daily"):
        duck_file = root / "duckdb" / f"{table}.parquet"
        duck_file.parent.mkdir(parents=True, exist_ok=True)
        sql = duckdb_sql(_template(table), ds, ipad, opad, duck_file)
        duck_s = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            con.execute(sql)
            duck_s.append(time.perf_counter() - t0)
        hive_glob = str(server.warehouse_dir / "features.db" / table / f"ds={ds}" / "*.parquet")
        hive_rows, duck_rows, mismatched = compare(con, hive_glob, duck_file)
        duck[table] = (duck_s, hive_rows, duck_rows, mismatched)

    med = {key: statistics.median(times) for key, times in stages.items()}
    print()
    print(
        f"ds={ds}: {day_events:,} raw.user_events rows that day, {args.accounts:,} accounts; "
        f"{args.repeats} run(s) of each, median (first run in brackets). Hive: the operators' execute on the "
        f"local Spark Thrift Server (local[2]); DuckDB {_duckdb_version()}: {args.threads} threads"
    )
    head = f"{'stage (look-back days)':34s} {'Hive s':>15s} {'classes compiled':>18s}"
    print(head)
    print("-" * len(head))
    for key, times in stages.items():
        classes = compiled[key]
        print(f"{key:34s} {med[key]:7.2f} ({times[0]:5.2f}) {statistics.median(classes):9.0f} ({classes[0]:5d})")
    print()
    totals = {lb: med["clean_events"] + sum(med[f"{t} @{_lookback(t, lb)}"] for t in tables) for lb in args.lookbacks}
    for lookback, total in totals.items():
        print(f"a day's clean_events + {len(tables)} tables at look-back {lookback}: {total:7.2f} s")
    if 7 in totals:
        for lookback, total in totals.items():
            if lookback != 7:
                print(f"look-back {lookback} / look-back 7: {total / totals[7]:.2f}x")
    duck_total = sum(statistics.median(d[0]) for d in duck.values())
    print()
    print(
        f"DuckDB, the pre-cleaning full-window SQL ({events:,} raw rows of {read_days[0]}..{ds}), "
        "beside Hive's look-back-7 extract of the same table:"
    )
    head = (
        f"{'table':22s} {'DuckDB s':>15s} {'Hive s':>8s} {'rows Hive':>10s} {'rows DuckDB':>11s} {'rows differ':>11s}"
    )
    print(head)
    print("-" * len(head))
    for table, (duck_s, hive_rows, duck_rows, mismatched) in duck.items():
        hive_s = med.get(f"{table} @7", float("nan"))
        print(
            f"{table:22s} {statistics.median(duck_s):7.2f} ({duck_s[0]:5.2f}) {hive_s:8.2f} "
            f"{hive_rows:10,} {duck_rows:11,} {mismatched:11,}"
        )
    if 7 in totals:
        print(
            f"a day's clean_events + {len(tables)} tables on Hive at look-back 7 / DuckDB's two tables: "
            f"{totals[7] / duck_total:.2f}x"
        )
    print(
        "rows differ: rows missing on one side or with a different value (account_pk is the same keyed "
        "HMAC-SHA256 on both)"
    )


def _duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


if __name__ == "__main__":
    main()
