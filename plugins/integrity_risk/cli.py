"""The project's command line: ``python -m integrity_risk.cli demo`` runs the main job.

The demo runs on the embedded default: a local HiveServer2, the synthetic upstream
world, and the risk pipelines. It prints each step as it goes and ends by saying
where things are.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from integrity_risk.paths import local_dir

DEMO_START = "2026-03-01"


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def _hive_hook():
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    return HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")


def start_local_hiveserver2(port: int):
    from integrity_risk.local_hive import LocalHiveServer

    server = LocalHiveServer(port=port)
    _step(f"starting the local HiveServer2 (Spark Thrift Server) on {server.host}:{port}")
    seconds = server.start()
    print(f"    answers at {server.uri} after {seconds:.1f}s (log: {server.log_file})")
    os.environ["AIRFLOW_CONN_HIVESERVER2_DEFAULT"] = server.uri
    return server


def load_synthetic_world(start: str, days: int, accounts: int, seed: int) -> None:
    from integrity_risk.synthetic import WorldConfig, load_world, write_world

    out_dir = local_dir() / "synthetic" / f"seed{seed}-{start}-{days}d-{accounts}"
    cfg = WorldConfig(seed=seed, start_ds=start, days=days, n_accounts=accounts)
    _step(f"generating {days} days of synthetic traffic for {accounts} accounts (seed {seed}) into {out_dir}")
    began = time.monotonic()
    files = write_world(cfg, out_dir)
    print(f"    {files}  ({time.monotonic() - began:.1f}s)")
    _step("creating the upstream tables and loading the partitions through HiveServer2")
    began = time.monotonic()
    load_world(_hive_hook(), out_dir)
    print(f"    loaded in {time.monotonic() - began:.1f}s")


def show_upstream_partitions() -> None:
    from integrity_risk.upstream import UPSTREAM_TABLES

    _step("upstream tables, queried back through HiveServer2")
    hook = _hive_hook()
    for table in UPSTREAM_TABLES:
        rows = hook.get_records(f"SELECT ds, count(*) FROM {table} GROUP BY ds ORDER BY ds")
        summary = ", ".join(f"{ds}: {n}" for ds, n in rows)
        print(f"    {table}: {len(rows)} partitions ({summary})")


def demo(args: argparse.Namespace) -> int:
    start_local_hiveserver2(args.port)
    load_synthetic_world(args.start, args.days, args.accounts, args.seed)
    show_upstream_partitions()
    print(f"\nDone. Local state is in {local_dir()}; stop HiveServer2 with "
          f"`scripts/env.sh`-sourced `python -m integrity_risk.local_hive stop --port {args.port}`.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrity_risk.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="run the main job on the embedded default")
    run.add_argument("--port", type=int, default=10000, help="HiveServer2 port on loopback")
    run.add_argument("--start", default=DEMO_START, help="first day of synthetic traffic (YYYY-MM-DD)")
    run.add_argument("--days", type=int, default=14)
    run.add_argument("--accounts", type=int, default=4000)
    run.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
