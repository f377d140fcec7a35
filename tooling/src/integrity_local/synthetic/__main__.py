"""Writes (and loads) a synthetic world: ``python -m integrity_local.synthetic --start 2026-03-01 --days 7 --out DIR``."""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from integrity_local.synthetic import RISK_TYPES, WorldConfig, load_world, write_world

    parser = argparse.ArgumentParser(
        prog="python -m integrity_local.synthetic",
        description="Write (and optionally load) a synthetic upstream world.",
    )
    parser.add_argument("--start", default="2026-03-01", help="first ds, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=WorldConfig.n_accounts)
    parser.add_argument("--drift", type=float, default=WorldConfig.drift)
    parser.add_argument(
        "--cutover", default=None, metavar="DS", help="day from which the attack families adapt abruptly (drift)"
    )
    parser.add_argument(
        "--cutover-families",
        default=",".join(RISK_TYPES),
        help="comma-separated families that adapt at --cutover (default: all)",
    )
    parser.add_argument(
        "--outage",
        action="append",
        default=[],
        metavar="DS=KIND",
        help="an upstream outage of raw.user_events on DS: missing_event_type:<type>, half_loaded or "
        "duplicated_load (repeatable)",
    )
    parser.add_argument("--dirty-share", type=float, default=WorldConfig.dirty_share)
    parser.add_argument("--out", required=True, help="output folder (raw/ and truth/ go under it)")
    parser.add_argument(
        "--load", action="store_true", help="load the partitions into raw.* via the hiveserver2_default connection"
    )
    args = parser.parse_args(argv)
    outages = {}
    for item in args.outage:
        ds, sep, kind = item.partition("=")
        if not sep or not kind:
            parser.error(f"--outage takes DS=KIND, got {item!r}")
        outages[ds] = kind
    try:
        cfg = WorldConfig(
            seed=args.seed,
            start_ds=args.start,
            days=args.days,
            n_accounts=args.accounts,
            drift=args.drift,
            dirty_share=args.dirty_share,
            cutover_ds=args.cutover,
            cutover_families=tuple(f.strip() for f in args.cutover_families.split(",") if f.strip()),
            outages=outages,
        )
    except ValueError as err:
        parser.error(str(err))
    started = time.perf_counter()
    files = write_world(cfg, args.out)
    seconds = time.perf_counter() - started
    for table in ("user_events", "account_profiles", "enforcement_labels"):
        print(f"{table}: {files.rows(table)} rows in {len(files.days())} partitions")
    print(f"wrote {files.out_dir} in {seconds:.1f}s (ground truth: {files.ground_truth})")
    if args.load:
        from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

        loaded = load_world(HiveServer2Hook(hiveserver2_conn_id="hiveserver2_default"), args.out)
        print(f"loaded {len(loaded)} partitions into raw.* through HiveServer2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
