"""Throughput of the synthetic traffic generator: events per second, generating and writing parquet.

    python bench/bench_generator.py --days 3 --accounts 50000

Prints the world build time, then per day and in total the events generated, the seconds
spent generating and writing, and events per second and per minute, beside the
reference the project asks for (1 million events a minute on 2 cores) as a ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

TARGET_PER_MINUTE = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2026-03-01")
    parser.add_argument("--out", help="where to write the parquet (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)

    import pyarrow.parquet as pq

    from integrity_local.synthetic import WorldConfig, build_world, generate_day

    cfg = WorldConfig(seed=args.seed, start_ds=args.start, days=args.days, n_accounts=args.accounts)
    print(
        f"config: {args.accounts} accounts, {args.days} days, seed {args.seed}, "
        f"dirty_share {cfg.dirty_share}, drift {cfg.drift}; {os.cpu_count()} CPUs visible"
    )
    t0 = time.perf_counter()
    world = build_world(cfg)
    build_s = time.perf_counter() - t0
    print(f"world build (population, profiles, labels, truth): {build_s:.2f}s")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        events = gen_s = write_s = 0.0
        print(f"{'ds':<12}{'events':>10}{'generate s':>12}{'write s':>10}{'events/s':>12}")
        for ds in cfg.day_list():
            t0 = time.perf_counter()
            day = generate_day(cfg, ds, world)
            t1 = time.perf_counter()
            for table in ("user_events", "account_profiles", "enforcement_labels"):
                folder = out / "raw" / table / f"ds={ds}"
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(getattr(day, table), folder / "part-0.parquet")
            t2 = time.perf_counter()
            n = day.user_events.num_rows
            events += n
            gen_s += t1 - t0
            write_s += t2 - t1
            print(f"{ds:<12}{n:>10,}{t1 - t0:>12.2f}{t2 - t1:>10.2f}{n / (t2 - t0):>12,.0f}")

    total_s = build_s + gen_s + write_s
    rows = [
        ("generate only", events / gen_s),
        ("generate + write parquet", events / (gen_s + write_s)),
        ("end to end (incl. world build)", events / total_s),
    ]
    print(f"\n{int(events):,} events in {total_s:.1f}s")
    print(f"{'':<32}{'events/s':>12}{'events/min':>14}{'target/min':>12}{'ratio':>8}")
    for name, per_s in rows:
        print(
            f"{name:<32}{per_s:>12,.0f}{per_s * 60:>14,.0f}{TARGET_PER_MINUTE:>12,}{per_s * 60 / TARGET_PER_MINUTE:>7.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
