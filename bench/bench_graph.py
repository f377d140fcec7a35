"""The graph stage's connected components through HiveServer2, beside networkx on the same edges.

    INTEGRITY_LOCAL_DIR=.local/bench python bench/bench_graph.py [--accounts 10000,100000,1000000]
        [--port 10170] [--networkx-max 1000000] [--seed 5]

For each size, a synthetic graph of 14 days of use (what ``graph.account_edges`` holds
after the edges extract): each account uses two devices and three IPs of its own; one in
ten belongs to a ring of 5-40 accounts whose members share devices in a chain (member i
and i+1 share one: a ring's diameter grows with its size, as when a ring rotates devices
over days); one in a hundred IPs is a NAT of 60-200 accounts (a hub, left out as the
operator leaves it out). The edges are loaded as a partition of ``graph.account_edges``
and ``GraphComponentsOperator`` runs as a task does: the hubs' edges left out, the
large-star/small-star rounds, the partition written. Printed per size: accounts, edges,
seconds, rounds, vertices, components, and networkx's ``connected_components`` on the same
non-hub edges (seconds, and whether the components are the same) where the edges fit
(``--networkx-max`` accounts; 1M accounts took networkx 4.3 GB). A private HiveServer2 (``LocalHiveServer`` on ``--port``,
``local[2]``), stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time

HUB_MAX = 50


def synthetic_edges(accounts: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """(account, node, kind) of a 14-day graph: own devices and IPs, chained rings, NAT hubs."""
    rng = random.Random(seed)
    src, dst, kind = [], [], []

    def edge(account: str, node: str, k: str) -> None:
        src.append(account)
        dst.append(f"{k}:{node}")
        kind.append(k)

    names = [f"{n:012x}" for n in rng.sample(range(16**12), accounts)]
    for i, account in enumerate(names):
        for d in range(2):
            edge(account, f"d{i}-{d}", "device")
        for p in range(3):
            edge(account, f"i{i}-{p}", "ip")
    in_rings = rng.sample(names, accounts // 10)
    start = 0
    while start < len(in_rings):
        size = rng.randint(5, 40)
        ring = in_rings[start : start + size]
        for j in range(len(ring) - 1):
            shared = f"ring{start}-{j}"
            edge(ring[j], shared, "device")
            edge(ring[j + 1], shared, "device")
        start += size
    for hub in range(max(1, accounts // 1000)):
        for account in rng.sample(names, rng.randint(HUB_MAX + 10, HUB_MAX + 150)):
            edge(account, f"nat{hub}", "ip")
    return src, dst, kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", default="10000,100000,1000000")
    parser.add_argument("--port", type=int, default=10170)
    parser.add_argument("--networkx-max", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    import pyarrow as pa
    import pyarrow.compute as pc

    from integrity_local.hiveserver2 import LocalHiveServer
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook
    from integrity_risk.operators.graph_components import COMPONENTS, EDGES, GraphComponentsOperator
    from integrity_risk.paths import local_dir

    root = local_dir() / "bench_graph"
    server = LocalHiveServer(port=args.port, state_dir=root / "hiveserver2")
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
    server = LocalHiveServer(port=args.port, state_dir=root / "hiveserver2")
    rows = []
    try:
        print(f"HiveServer2 on {server.uri} started in {server.start():.1f} s", flush=True)
        os.environ["AIRFLOW_CONN_HIVESERVER2_DEFAULT"] = server.uri
        hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
        hook.create_missing_tables("graph_tables.hql")
        for n, accounts in enumerate(int(a) for a in args.accounts.split(",")):
            ds = f"2026-05-{n + 1:02d}"
            src, dst, kind = synthetic_edges(accounts, args.seed + n)
            table = pa.table({"account_pk": src, "node": dst, "kind": kind})
            counts = table.group_by("node").aggregate([("account_pk", "count")])
            sizes = dict(zip(counts["node"].to_pylist(), counts["account_pk_count"].to_pylist(), strict=True))
            table = table.append_column(
                "node_accounts", pa.array([sizes[v] for v in table["node"].to_pylist()], pa.int64())
            )
            # A full window: the hub bound unscaled (graph/account_edges.hql's hub column).
            table = table.append_column("window_days_seen", pa.array([14] * table.num_rows, pa.int32()))
            table = table.append_column("hub", pc.greater(table["node_accounts"], HUB_MAX))
            hook.load_arrow_partition(EDGES, table, {"ds": ds})
            operator = GraphComponentsOperator(task_id="components", ds=ds)
            began = time.perf_counter()
            result = operator.execute({})
            seconds = time.perf_counter() - began
            row = {
                "accounts": accounts,
                "edges": table.num_rows,
                "seconds": seconds,
                "rounds": result["rounds"],
                "vertices": result["vertices"],
                "components": result["components"],
                "networkx_s": None,
                "same": None,
            }
            if accounts <= args.networkx_max:
                import networkx as nx

                kept = table.filter(pc.invert(table["hub"]))
                began = time.perf_counter()
                graph = nx.Graph()
                graph.add_edges_from(zip(kept["account_pk"].to_pylist(), kept["node"].to_pylist(), strict=True))
                reference = {frozenset(c) for c in nx.connected_components(graph)}
                row["networkx_s"] = time.perf_counter() - began
                got: dict[str, set[str]] = {}
                for vertex, component in hook.get_records(
                    f"SELECT vertex, component FROM {COMPONENTS} WHERE ds = '{ds}'"
                ):
                    got.setdefault(component, set()).add(vertex)
                row["same"] = {frozenset(c) for c in got.values()} == reference
            rows.append(row)
            print(row, flush=True)
    finally:
        server.stop()
    print(f"\nconnected components through HiveServer2 (local[2]), {os.cpu_count()} cores")
    print(
        f"{'accounts':>10} {'edges':>10} {'seconds':>8} {'rounds':>6} {'vertices':>10} {'components':>10} {'networkx s':>10} {'ratio':>6} same"
    )
    for r in rows:
        nx_s = "-" if r["networkx_s"] is None else f"{r['networkx_s']:.1f}"
        ratio = "-" if r["networkx_s"] is None else f"{r['seconds'] / r['networkx_s']:.1f}"
        print(
            f"{r['accounts']:>10,} {r['edges']:>10,} {r['seconds']:>8.1f} {r['rounds']:>6} {r['vertices']:>10,} "
            f"{r['components']:>10,} {nx_s:>10} {ratio:>6} {r['same']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
