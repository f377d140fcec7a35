"""The project's command line: ``python -m integrity_local.cli demo`` runs the main job.

The demo runs on the embedded default: a local HiveServer2, the synthetic upstream
world, a local Airflow and the risk pipelines. It prints each step as it goes and
ends by saying where the report is and how to approve.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# The demo prints its own steps. In its process the Hive provider's hook would log each
# statement it runs at INFO (the tables' DDL, every LOAD DATA), and pyhive each query.
QUIET_AIRFLOW_LOGGERS = "airflow.task.hooks=warning"
QUIET_STDLIB_LOGGERS = ("pyhive", "feast")  # feast: a registry refresh per online read
NAMESPACE_LEVELS = "AIRFLOW__LOGGING__NAMESPACE_LEVELS"


def quiet_library_logging() -> None:
    """Raise the level of the libraries' statement logs, in this process only.

    Airflow 3 logs through structlog, which filters by its own per-logger levels (the
    ``[logging] namespace_levels`` option) and ignores ``logging.getLogger(...).setLevel``.
    Airflow reads that option once, when it is first imported and configures logging: the
    option is set for that import only, and taken out of the environment again so that the
    Airflow services the demo starts (they inherit it) keep the statements in their task logs.
    A level the caller set for the same logger wins.
    """
    if "airflow" in sys.modules:
        raise RuntimeError(
            "quiet_library_logging() must run before airflow is imported: "
            "Airflow reads [logging] namespace_levels when it is first imported"
        )
    saved = os.environ.get(NAMESPACE_LEVELS)
    os.environ[NAMESPACE_LEVELS] = f"{QUIET_AIRFLOW_LOGGERS} {saved}" if saved else QUIET_AIRFLOW_LOGGERS
    try:
        import airflow  # noqa: F401  (configures logging, reading the option above)
    finally:
        if saved is None:
            os.environ.pop(NAMESPACE_LEVELS, None)
        else:
            os.environ[NAMESPACE_LEVELS] = saved
    # pyhive logs through the standard library, where the logger's own level applies.
    for name in QUIET_STDLIB_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    # First: reading the risk YAMLs validates their notifiers, which imports Airflow.
    quiet_library_logging()
    from integrity_risk.config.risk import all_risk_types

    risk_types = all_risk_types()  # one per include/risks/*.yaml
    parser = argparse.ArgumentParser(prog="python -m integrity_local.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="run the main job on the embedded default, up to the approval request")
    run.add_argument("--risk", default="fraud", choices=risk_types, help="the risk type to run (default fraud)")
    run.add_argument("--all", action="store_true", help="run every risk type")
    run.add_argument(
        "--start", default=None, help="first day of synthetic traffic (YYYY-MM-DD); default: the world ends yesterday"
    )
    run.add_argument("--days", type=int, default=14, help="days of traffic; the last one trains")
    run.add_argument("--accounts", type=int, default=10000)
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--hs2-port", type=int, default=10000, help="HiveServer2 port on loopback")
    run.add_argument("--airflow-port", type=int, default=8080)
    run.add_argument(
        "--streaming",
        action="store_true",
        help="then start Kafka and the streaming job, publish a card-testing burst live and show the score move",
    )
    approve = sub.add_parser("approve", help="answer a promotion approval as a reviewer, with a reason")
    approve.add_argument("risk", choices=risk_types)
    approve.add_argument("run_id", help="the run of integrity_<risk>_promotion that asks (the demo prints it)")
    approve.add_argument("--reason", required=True, help="why: goes into the audit record and the version's tags")
    approve.add_argument("--reject", action="store_true")
    approve.add_argument(
        "--as", dest="user", default="reviewer", help="the reviewer who answers (default reviewer; reviewer2 too)"
    )
    approve.add_argument("--airflow-port", type=int, default=8080)
    args = parser.parse_args(argv)

    from integrity_local import demo

    if args.command == "approve":
        option = "Reject" if args.reject else "Approve"
        return demo.answer(args.risk, args.run_id, option, args.reason, args.airflow_port, user=args.user)
    return demo.run_demo(
        risks=risk_types if args.all else [args.risk],
        start=args.start,
        days=args.days,
        accounts=args.accounts,
        seed=args.seed,
        hs2_port=args.hs2_port,
        airflow_port=args.airflow_port,
        streaming=args.streaming,
    )


if __name__ == "__main__":
    sys.exit(main())
