"""The project's command line: ``python -m integrity_local.cli demo`` runs the main job.

The demo runs on the embedded default: a local HiveServer2, the synthetic upstream
world, a local Airflow and the risk pipelines. It prints each step as it goes and
ends by saying where the report is and how to approve.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from integrity_risk.config.risk import all_risk_types

    risk_types = all_risk_types()  # one per include/risks/*.yaml
    parser = argparse.ArgumentParser(prog="python -m integrity_local.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="run the main job on the embedded default, up to the approval request")
    run.add_argument("--risk", default="fraud", choices=risk_types, help="the risk type to run (default fraud)")
    run.add_argument("--all", action="store_true", help="run every risk type")
    run.add_argument("--start", default=None,
                     help="first day of synthetic traffic (YYYY-MM-DD); default: the world ends yesterday")
    run.add_argument("--days", type=int, default=14, help="days of traffic; the last one trains")
    run.add_argument("--accounts", type=int, default=10000)
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--hs2-port", type=int, default=10000, help="HiveServer2 port on loopback")
    run.add_argument("--airflow-port", type=int, default=8080)
    approve = sub.add_parser("approve", help="answer a promotion approval as the reviewer")
    approve.add_argument("risk", choices=risk_types)
    approve.add_argument("run_id")
    approve.add_argument("--reject", action="store_true")
    approve.add_argument("--airflow-port", type=int, default=8080)
    args = parser.parse_args(argv)

    import logging

    from integrity_local import demo

    # pyhive logs every statement at INFO; the demo prints its own progress.
    logging.getLogger("pyhive").setLevel(logging.WARNING)
    logging.getLogger("airflow.task.hooks").setLevel(logging.WARNING)

    if args.command == "approve":
        return demo.answer(args.risk, args.run_id, "Reject" if args.reject else "Approve", args.airflow_port)
    return demo.run_demo(risks=risk_types if args.all else [args.risk], start=args.start, days=args.days,
                         accounts=args.accounts, seed=args.seed, hs2_port=args.hs2_port,
                         airflow_port=args.airflow_port)


if __name__ == "__main__":
    sys.exit(main())
