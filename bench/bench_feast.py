"""Feast materialization and online retrieval, beside plain SQLite (or Redis) as the reference.

    python bench/bench_feast.py [--accounts 20000] [--repeats 200] [--online sqlite|redis]

On a private warehouse and Feast folder (under <local>/bench_feast), it writes one
day of ``account_daily`` and ``fraud_daily`` for ``--accounts`` accounts, then prints:

- materialization: rows per second of ``FeatureStore.materialize`` for that day
  (offline read + conversion + SQLite write, through the profile's compute engine and
  online store: ``feast_engine`` and ``online_stores``), of the store's
  ``online_write_batch`` of the same rows as Feast's protos (conversion done beforehand),
  and of a plain ``sqlite3.executemany`` of the same (key, feature, value, ts) rows into
  a table with the same primary key in the same SQLite file (Feast's own layout, a row per
  account and feature, which the project's store no longer keeps): the reference;
- online retrieval p50 / p99 for 1 and 100 accounts: ``fetch_online_features``
  (service ``fraud_v1``: two views and an on-demand view, read by ``online_reader``) and a plain
  ``SELECT ... WHERE entity_key IN (...)`` of the accounts' cells in that reference table.

With ``--online redis`` the online store is a ``redis-server`` the benchmark starts on a free
loopback port (profile ``local_redis``, as the deployment's Redis): the references are then a
pipelined ``HSET`` of the same field values (batches of 1,000 accounts) and a pipelined
``HGETALL`` of as many of Feast's own keys, and it prints Redis's memory per account (the
growth of ``used_memory`` over the materialization, divided by the accounts).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DS = "2026-03-01"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def write_day(warehouse: Path, accounts: list[str]) -> int:
    """One ``ds`` partition of account_daily and fraud_daily with random values; returns rows written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n = len(accounts)
    ts = pa.array(
        [datetime.combine(date.fromisoformat(DS) + timedelta(days=1), datetime.min.time(), UTC)] * n,
        pa.timestamp("us", tz="UTC"),
    )
    ints = lambda: pa.array(rng.integers(0, 50, n), pa.int64())
    floats = lambda: pa.array(rng.random(n), pa.float64())
    tables = {
        "account_daily": {
            "has_profile": pa.array(np.ones(n, "int32")),
            "account_age_days": floats(),
            "phone_verified": pa.array(rng.integers(0, 2, n).astype("int32")),
            "is_business": pa.array(rng.integers(0, 2, n).astype("int32")),
            "country": pa.array(rng.choice(["US", "BR", "IN", "DE"], n)),
            **{
                c: ints()
                for c in (
                    "events_1d",
                    "events_7d",
                    "max_events_1h",
                    "active_hours_1d",
                    "distinct_event_types_1d",
                    "distinct_devices_1d",
                    "distinct_ips_1d",
                    "device_shared_accounts_1d",
                    "ip_shared_accounts_1d",
                )
            },
            **{c: floats() for c in ("fail_ratio_1d", "country_mismatch_ratio_1d", "automation_ua_ratio_1d")},
        },
        "fraud_daily": {
            **{
                c: ints()
                for c in ("payment_attempts_1d", "payment_attempts_7d", "max_payments_1h", "payment_devices_7d")
            },
            **{
                c: floats()
                for c in (
                    "payment_fail_ratio_1d",
                    "payment_fail_ratio_7d",
                    "payment_amount_sum_1d",
                    "payment_amount_max_1d",
                    "payment_amount_sum_7d",
                    "payment_country_mismatch_ratio_7d",
                )
            },
        },
    }
    for table, columns in tables.items():
        part = warehouse / "features.db" / table / f"ds={DS}"
        part.mkdir(parents=True)
        data = {"account_pk": pa.array(accounts), "feature_ts": ts, **columns}
        pq.write_table(pa.table(data), part / "part-00000.snappy.parquet")
    return 2 * n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=200, help="online lookups per batch size")
    parser.add_argument("--online", choices=("sqlite", "redis"), default="sqlite", help="the online store")
    args = parser.parse_args()
    if args.online == "redis":
        with redis_server() as url:
            main_redis(args, url)
        return

    from integrity_risk.paths import local_dir

    root = local_dir() / "bench_feast"
    shutil.rmtree(root, ignore_errors=True)
    os.environ["INTEGRITY_FEATURE_WAREHOUSE"] = str(root / "warehouse")
    os.environ["INTEGRITY_FEAST_DIR"] = str(root / "feast")
    os.environ["INTEGRITY_FEAST_PROFILE"] = "local"

    import logging

    logging.getLogger("feast").setLevel(logging.WARNING)
    from integrity_risk.features import feast_store

    accounts = [f"{i:064x}" for i in range(args.accounts)]
    rows = write_day(root / "warehouse", accounts)
    feast_store.apply_repo()
    store = feast_store.feature_store()
    end = datetime.combine(date.fromisoformat(DS) + timedelta(days=1), datetime.min.time(), UTC)

    t0 = time.perf_counter()
    feast_store.materialize_window(store, ["account_daily", "fraud_daily"], end - timedelta(days=1), end)
    materialize_s = time.perf_counter() - t0

    # Feast's own write alone: the same rows, converted to protos beforehand.
    write_batches = {}
    for view in ("account_daily", "fraud_daily"):
        fv = store.get_feature_view(view)
        write_batches[view] = (fv, _protos(fv, root, view))
    t0 = time.perf_counter()
    for fv, data in write_batches.values():
        store._get_provider().online_write_batch(store.config, fv, data, progress=None)
    feast_write_s = time.perf_counter() - t0

    # Reference: plain executemany of the same (key, feature, value, ts) rows.
    db = sqlite3.connect(store.config.online_store.path)
    db.execute(
        "CREATE TABLE bench_plain (entity_key BLOB, feature_name TEXT, value BLOB, event_ts TIMESTAMP, "
        "PRIMARY KEY (entity_key, feature_name))"
    )
    keys = dict(_entity_keys(store, accounts))
    plain = [
        (keys[ek.entity_values[0].string_val], name, val.SerializeToString(), ts)
        for _, data in write_batches.values()
        for ek, values, ts, _ in data
        for name, val in values.items()
    ]
    t0 = time.perf_counter()
    with db:
        db.executemany("INSERT OR REPLACE INTO bench_plain VALUES (?, ?, ?, ?)", plain)
    plain_s = time.perf_counter() - t0

    print(f"materialization of {rows} rows ({args.accounts} accounts x 2 views, {len(plain)} values)")
    print(f"  {'feast materialize':28s} {rows / materialize_s:12,.0f} rows/s  ({materialize_s:.2f} s)")
    print(f"  {'online_write_batch (protos)':28s} {rows / feast_write_s:12,.0f} rows/s  ({feast_write_s:.2f} s)")
    print(f"  {'plain sqlite executemany':28s} {rows / plain_s:12,.0f} rows/s  ({plain_s:.2f} s)  reference")
    print(
        f"  ratio materialize / reference: {plain_s / materialize_s:.3f} (throughput), "
        f"online_write_batch / reference: {plain_s / feast_write_s:.3f}"
    )

    def plain_select(pks: list[str]) -> None:
        blobs = [keys[pk] for pk in pks]
        marks = ",".join("?" * len(blobs))
        db.execute(
            f"SELECT entity_key, feature_name, value, event_ts FROM bench_plain WHERE entity_key IN ({marks})", blobs
        ).fetchall()

    compare_reads(store, accounts, args.repeats, "plain SELECT", plain_select)
    db.close()
    shutil.rmtree(root, ignore_errors=True)


def compare_reads(store, accounts: list[str], repeats: int, reference: str, plain: Callable[[list[str]], None]) -> None:
    """p50/p99 of ``fetch_online_features("fraud")`` for 1 and 100 random accounts, beside Feast's own
    ``get_online_features(...).to_df()`` of the same service and ``plain`` of them."""
    import random

    from integrity_risk.features.feast_store import get_feature_service
    from integrity_risk.features.online import fetch_online_features

    service = get_feature_service(store, "fraud_v1")

    def ours(pks: list[str]) -> None:
        fetch_online_features("fraud", pks, store=store)

    def feast_path(pks: list[str]) -> None:
        store.get_online_features(
            features=service, entity_rows=[{"account_pk": pk} for pk in pks], full_feature_names=True
        ).to_df()

    rnd = random.Random(0)
    print(
        f"online retrieval ({repeats} lookups each; fetch_online_features('fraud'), Feast's get_online_features, {reference})"
    )
    for batch in (1, 100):
        ours_ms, feast_ms, plain_ms = [], [], []
        for _ in range(repeats):
            pks = rnd.sample(accounts, batch)
            for read, times in ((ours, ours_ms), (feast_path, feast_ms), (plain, plain_ms)):
                t0 = time.perf_counter()
                read(pks)
                times.append((time.perf_counter() - t0) * 1000)
        o50, o99 = percentile(ours_ms, 50), percentile(ours_ms, 99)
        f50, f99 = percentile(feast_ms, 50), percentile(feast_ms, 99)
        p50, p99 = percentile(plain_ms, 50), percentile(plain_ms, 99)
        print(
            f"  {batch:3d} account(s): ours p50 {o50:7.2f} ms  p99 {o99:7.2f} ms | "
            f"feast p50 {f50:7.2f} ms  p99 {f99:7.2f} ms | "
            f"plain p50 {p50:6.2f} ms  p99 {p99:6.2f} ms | ours / plain p50 {o50 / p50:5.1f}x  p99 {o99 / p99:5.1f}x"
        )


@contextlib.contextmanager
def redis_server():
    """A ``redis-server`` without persistence on a free loopback port; yields ``host:port``."""
    import socket
    import subprocess

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian package redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not listen on 127.0.0.1:{port}") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main_redis(args, url: str) -> None:
    """Materialization and online reads on Redis, beside pipelined HSET / HGETALL of the same data."""
    import random

    import redis

    from integrity_risk.paths import local_dir

    root = local_dir() / "bench_feast"
    shutil.rmtree(root, ignore_errors=True)
    os.environ["INTEGRITY_FEATURE_WAREHOUSE"] = str(root / "warehouse")
    os.environ["INTEGRITY_FEAST_DIR"] = str(root / "feast")
    os.environ["INTEGRITY_FEAST_PROFILE"] = "local_redis"
    os.environ["INTEGRITY_REDIS_URL"] = url

    import logging

    logging.getLogger("feast").setLevel(logging.WARNING)
    from integrity_risk.features import feast_store

    host, port = url.split(":")
    client = redis.Redis(host=host, port=int(port))
    accounts = [f"{i:064x}" for i in range(args.accounts)]
    rows = write_day(root / "warehouse", accounts)
    feast_store.apply_repo()
    store = feast_store.feature_store()
    end = datetime.combine(date.fromisoformat(DS) + timedelta(days=1), datetime.min.time(), UTC)

    before = client.info("memory")["used_memory"]
    t0 = time.perf_counter()
    feast_store.materialize_window(store, ["account_daily", "fraud_daily"], end - timedelta(days=1), end)
    materialize_s = time.perf_counter() - t0
    feast_bytes = client.info("memory")["used_memory"] - before
    feast_keys = client.keys("*")

    # Reference: the same field values, one hash per account, pipelined.
    fields: dict[int, dict[bytes, bytes]] = {}
    for view in ("account_daily", "fraud_daily"):
        fv = store.get_feature_view(view)
        for i, (_, values, ts, _) in enumerate(_protos(fv, root, view)):
            entry = fields.setdefault(i, {})
            entry.update({f"{view}:{name}".encode(): val.SerializeToString() for name, val in values.items()})
            entry[f"_ts:{view}".encode()] = str(ts.timestamp()).encode()
    t0 = time.perf_counter()
    items = list(fields.items())
    for start in range(0, len(items), 1000):
        pipe = client.pipeline(transaction=False)
        for i, mapping in items[start : start + 1000]:
            pipe.hset(f"bench:{i}", mapping=mapping)
        pipe.execute()
    plain_s = time.perf_counter() - t0
    values = sum(len(m) for m in fields.values())

    print(f"materialization into Redis of {rows} rows ({args.accounts} accounts x 2 views, {values} values)")
    print(f"  {'feast materialize':28s} {rows / materialize_s:12,.0f} rows/s  ({materialize_s:.2f} s)")
    print(f"  {'pipelined HSET':28s} {rows / plain_s:12,.0f} rows/s  ({plain_s:.2f} s)  reference")
    print(f"  ratio materialize / reference: {plain_s / materialize_s:.3f} (throughput)")
    print(
        f"  Redis memory for Feast's {len(feast_keys)} keys: {feast_bytes / 2**20:.1f} MiB, "
        f"{feast_bytes / args.accounts:,.0f} bytes per account (both views)"
    )

    rnd = random.Random(1)

    def pipelined_hgetall(pks: list[str]) -> None:
        pipe = client.pipeline(transaction=False)
        for key in rnd.sample(feast_keys, len(pks)):  # as many of Feast's own keys
            pipe.hgetall(key)
        pipe.execute()

    compare_reads(store, accounts, args.repeats, "pipelined HGETALL", pipelined_hgetall)
    shutil.rmtree(root, ignore_errors=True)


def _protos(fv, root: Path, view: str):
    """The view's rows as Feast writes them: (EntityKey, {feature: Value}, ts, created)."""
    import pyarrow.parquet as pq
    from feast.utils import _convert_arrow_to_proto

    table = pq.read_table(next((root / "warehouse" / "features.db" / view).rglob("*.parquet")))
    from feast.value_type import ValueType

    return _convert_arrow_to_proto(table, fv, {"account_pk": ValueType.STRING})


def _entity_keys(store, accounts):
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    version = store.config.entity_key_serialization_version
    for pk in accounts:
        key = EntityKey(join_keys=["account_pk"], entity_values=[Value(string_val=pk)])
        yield pk, serialize_entity_key(key, entity_key_serialization_version=version)


if __name__ == "__main__":
    main()
