"""Reviewed acceptance of a partition a health gate blocked, audited like a promotion.

A health gate (the upstream health gate, a feature table's quality gate) blocks a day
whose data look broken. Some such days are right, and the platform team knows it (a
launch, a holiday, a migration). One of them (``include/platform.yaml``) triggers the DAG
``accept_partition`` with the table, the day, optionally the one check to accept, and a
reason; it appends an entry to the audit log of promotions
(``<storage root>/audit``, :func:`integrity_risk.promotion.append_audit`):
who, why, which partition, which check, when.

The gates consult that log: a failed check of an accepted ``(table, ds)`` passes, and the
gate logs the acceptance and the check and figure it overrides. Only that partition:
the next day is judged afresh. A schema that differs from the contract is never
accepted (every query after it would fail), so it is no check one can name here.

Nothing here imports Airflow or MLflow: a DAG file may import this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrity_risk.values import check_table_name, parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

ACCEPT = "accept_partition"
#: The upstream health gate's checks (``operators/upstream_health.py``).
UPSTREAM_CHECKS = ("rows", "event_type_rows", "dirty_rate", "duplicate_rate", "out_of_day_rate", "null_rate")
#: A feature table's quality gate's checks (``operators/quality_gate.py``), schema excepted.
FEATURE_CHECKS = ("min_rows", "key", "feature_ts", "null_rate", "range")
ACCEPTABLE_CHECKS = tuple(sorted({*UPSTREAM_CHECKS, *FEATURE_CHECKS}))
#: The upstream tables the upstream health gate judges.
UPSTREAM_GATED = ("raw.user_events", "raw.account_profiles")


class AcceptanceError(RuntimeError):
    """An acceptance that is refused: not a platform user, no reason, a table no gate judges."""


@dataclass(frozen=True)
class Problem:
    """One failed check of a gate: its name (what an acceptance names) and what was found against which bound."""

    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


def require_platform(user: str | None) -> str:
    """Return ``user`` if it is one of the platform team (``include/platform.yaml``), else raise AcceptanceError.

    :param user: the Airflow user who triggered the run (``dag_run.triggering_user_name``).
    """
    from integrity_risk.config.health import platform_file, platform_users

    platform = platform_users()
    if not user or user not in platform:
        raise AcceptanceError(
            f"{user or 'an unknown user'!s} may not accept a partition a health gate blocked: only the "
            f"platform team may ({', '.join(platform)}; platform of {platform_file()})"
        )
    return user


def gated_tables() -> list[str]:
    """The tables a health gate judges: the upstream ones, the shared feature table and each risk's table."""
    from integrity_risk.config.risk import all_risk_types, risk_config

    return sorted(
        {*UPSTREAM_GATED, "features.account_daily", *(risk_config(r).extract.table for r in all_risk_types())}
    )


def accept_partition(
    table: str,
    ds: str,
    *,
    reason: str,
    actor: str,
    check: str | None = None,
    dag_run_id: str | None = None,
    audit_path: Path | None = None,
) -> dict:
    """Record that ``actor`` accepts partition ``ds`` of ``table`` (its failed ``check``, or all); return the entry.

    The caller has established who ``actor`` is (:func:`require_platform`).

    :param check: the one check accepted (one of ``ACCEPTABLE_CHECKS``); None accepts any.
    :param audit_path: the audit log's folder or URL; default the promotions' audit log.
    """
    from integrity_risk.promotion import append_audit

    table, day = check_table_name(table), parse_ds(ds).isoformat()
    if not isinstance(reason, str) or not reason.strip():
        raise AcceptanceError(f"accepting {table} ds={day} needs a reason: it goes into the audit")
    if check is not None and check not in ACCEPTABLE_CHECKS:
        raise AcceptanceError(f"no health check {check!r} can be accepted; the checks are {list(ACCEPTABLE_CHECKS)}")
    gated = gated_tables()
    if table not in gated:
        raise AcceptanceError(f"no health gate judges {table}; the gated tables are {gated}")
    entry = {
        "action": ACCEPT,
        "event_id": uuid.uuid4().hex,
        "status": "completed",
        "table": table,
        "ds": day,
        "check": check,
        "actor": actor,
        "reason": reason.strip(),
        "dag_run_id": dag_run_id,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    return append_audit(entry, audit_path)


def acceptances(table: str, ds: str, audit_path: Path | None = None) -> list[dict]:
    """The acceptances of partition ``ds`` of ``table`` in the audit log, oldest first."""
    from integrity_risk.promotion import read_audit

    return [
        e
        for e in read_audit(audit_path)
        if e.get("action") == ACCEPT
        and e.get("table") == table
        and e.get("ds") == ds
        and e.get("status") == "completed"
    ]


def settle(
    table: str,
    ds: str,
    problems: Sequence[Problem],
    *,
    gate: str,
    log: logging.Logger | Any,
    audit_path: Path | None = None,
) -> tuple[list[Problem], list[dict]]:
    """Split a gate's failed checks of ``(table, ds)`` into those still open and the acceptances that cover the rest.

    Each acceptance used is logged (a warning) with who accepted what, when, why, and the
    check and figure it overrides.

    :param gate: how the log names the gate, e.g. ``"quality gate"``.
    :return: (the problems no acceptance covers, the acceptances used).
    """
    if not problems:
        return [], []
    entries = acceptances(table, ds, audit_path)
    covered = {e.get("check") for e in entries}
    open_problems = [p for p in problems if None not in covered and p.check not in covered]
    used = [e for e in entries if e.get("check") is None or e.get("check") in {p.check for p in problems}]
    for entry in used:
        overridden = [str(p) for p in problems if entry.get("check") in (None, p.check)]
        log.warning(
            "%s of %s partition ds=%s: failed checks pass by acceptance: %s accepted %s at %s (audit event %s), "
            "reason: %s; overridden:\n- %s",
            gate,
            table,
            ds,
            entry.get("actor"),
            f"check {entry['check']}" if entry.get("check") else "every check",
            entry.get("recorded_at"),
            entry.get("event_id"),
            entry.get("reason"),
            "\n- ".join(overridden),
        )
    return open_problems, used


def failure_message(gate: str, where: str, problems: Sequence[str]) -> str:
    """The message of a gate's failure: the gate, the partition, one line per failed check, and the way out."""
    return (
        f"{gate} failed for {where}:\n- "
        + "\n- ".join(problems)
        + f"\n(a day the platform team knows is right can be accepted with the DAG {ACCEPT})"
    )
