"""Load benchmark: all five risk DAGs backfilled at once on the embedded default.

Starts its own HiveServer2 and Airflow (state under ``<local>/bench-load``), loads a synthetic
world of ``--days`` days ending yesterday, and backfills every risk DAG over all but the
last day at once, with the YAML's pools and ``max_active_runs``; each risk trains on the
last backfilled day, so five trainings contend for the one-slot ``gpu`` pool. Prints the
wall time, the run states, the peak slots used per pool (sampled, and from the task
records), the scheduler's health (``integrity_local.load_check``) and whether any partition
was overwritten twice at once. Exits 1 when a pool was exceeded, two trainings overlapped
or a partition was.

    python bench/bench_load.py [--days 30] [--accounts 2500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def short_world(first: dt.date, model_day_index: int):
    """The YAML edits of a short world: sooner labels, quick training, approvals that time out."""
    from integrity_local.deployment import small_world_yaml

    def edit(risk: str, text: str) -> str:
        return (
            small_world_yaml(text)
            .replace("start_date: 2026-03-01", f"start_date: {first}\nmodel_cycle_days: {model_day_index + 1}")
            .replace("epochs: 15", "epochs: 3")
            .replace("response_timeout_hours: 48", "response_timeout_hours: 0.01")
        )

    return edit


def nested_partitions(warehouse: Path) -> list[str]:
    """Partition folders holding another partition folder: two overwrites of one partition
    that overlapped (file readers such as Feast's offline store then read rows twice)."""
    return sorted(str(inner.relative_to(warehouse)) for inner in warehouse.glob("features.db/*/ds=*/ds=*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="days of the world; the last is left to the scheduler")
    parser.add_argument("--accounts", type=int, default=2500)
    parser.add_argument("--hs2-port", type=int, default=10140)
    parser.add_argument("--airflow-port", type=int, default=18380)
    args = parser.parse_args()
    # Its own state (metastore, Feast, MLflow, Airflow home) apart from the demo's.
    base = Path(os.environ.get("INTEGRITY_LOCAL_DIR", ROOT / ".local"))
    os.environ["INTEGRITY_LOCAL_DIR"] = str(base / "bench-load")

    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

    from integrity_local.demo import demo_connections, demo_world
    from integrity_local.deployment import api, local_deployment
    from integrity_local.hiveserver2 import LocalHiveServer
    from integrity_local.load_check import run_load
    from integrity_local.synthetic import load_world, write_world
    from integrity_risk.config.risk import RISK_TYPES
    from integrity_risk.paths import local_dir

    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=args.days)
    last = first + dt.timedelta(days=args.days - 1)
    server = LocalHiveServer(port=args.hs2_port, state_dir=local_dir() / "hiveserver2" / str(args.hs2_port))
    server.stop()
    # From nothing: what an earlier run registered, materialized or trained must not count.
    for state in (
        server.state_dir,
        local_dir() / "feast",
        local_dir() / "mlflow-bench-load",
        local_dir() / "training_sets",
        local_dir() / "reports",
    ):
        shutil.rmtree(state, ignore_errors=True)
    server = LocalHiveServer(port=args.hs2_port, state_dir=local_dir() / "hiveserver2" / str(args.hs2_port))
    print(f"HiveServer2 up in {server.start():.0f}s")
    try:
        demo_connections(server.uri)
        world = local_dir() / "load-world"
        write_world(demo_world(first.isoformat(), args.days, args.accounts, seed=23), world)
        load_world(HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default"), world)
        risks = local_dir() / "bench-risks"
        risks.mkdir(parents=True, exist_ok=True)
        dag_ids = [f"integrity_{risk}" for risk in RISK_TYPES]
        with local_deployment(
            "bench-load", args.airflow_port, server, risks, short_world(first, args.days - 2)
        ) as airflow:
            report = run_load(
                api(airflow, "admin"),
                dag_ids,
                first,
                last - dt.timedelta(days=1),
                followers=tuple(f"{d}_online_features" for d in dag_ids),
                timeout=6 * 3600,
            )
        nested = nested_partitions(server.warehouse_dir)
    finally:
        server.stop()
    print(f"{len(dag_ids)} risk DAGs x {args.days - 1} backfilled days, {args.accounts} accounts:")
    print("\n".join("  " + line for line in report.lines()))
    trained = report.task_states[("train", "success")]
    print(f"  trainings that succeeded: {trained} of {len(dag_ids)}")
    exceeded = [
        pool
        for pool, slots in report.pool_slots.items()
        if max(report.peak_overlap.get(pool, 0), report.peak_running.get(pool, 0)) > slots
    ]
    print(f"  partitions written twice at once (nested): {len(nested)} {nested[:5]}")
    if exceeded:
        print(f"POOLS EXCEEDED: {exceeded}")
    return 1 if exceeded or nested else 0


if __name__ == "__main__":
    raise SystemExit(main())
