"""Moving the ``champion`` alias (promotion and rollback) with an audit trail that is not lost.

MLflow keeps no history of alias moves, so every move writes its own record, twice:

1. an append-only JSON-lines file, ``<local>/audit/promotions.jsonl``, each line
   flushed to disk (``fsync``) before the next step runs;
2. a tag on the model version (``audit_<action>_<event id>``) so the registry itself
   says who promoted a version, when and why.

A move writes a ``started`` entry *before* touching the registry and a ``completed``
(or ``failed``) entry after, under one ``event_id``: a crash in between leaves a
``started`` entry without an end, which ``unfinished_events`` lists.

MLflow is imported inside the functions: a DAG file may import this module.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integrity_risk.paths import local_dir
from integrity_risk.tracking import CHAMPION_ALIAS, registered_model_name, tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient

PROMOTE = "promote"
ROLLBACK = "rollback"
# Headline figures copied into the audit entry; the full metrics stay in the report.
_HEADLINE_KEYS = ("pr_auc", "recall_at_fpr", "threshold", "precision_at_threshold")


class PromotionError(RuntimeError):
    """A promotion or rollback that was refused or did not complete."""


def audit_log_path() -> Path:
    """``<local>/audit/promotions.jsonl``."""
    return local_dir() / "audit" / "promotions.jsonl"


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def append_audit(entry: dict, path: Path | None = None) -> dict:
    """Append one entry as a line and force it to disk before returning.

    ``O_APPEND`` plus an exclusive lock keeps concurrent writers' lines whole; ``fsync``
    of the file (and of the folder when the file is new) makes the line survive a crash.

    :param entry: JSON-able dict (datetimes become ISO strings).
    :param path: the log file; default ``audit_log_path()``.
    """
    path = Path(path or audit_log_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    is_new = not path.exists()
    line = (json.dumps(entry, default=_json_default, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    if is_new:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return entry


def read_audit(path: Path | None = None, *, risk_type: str | None = None) -> list[dict]:
    """All audit entries, oldest first, optionally of one risk type."""
    path = Path(path or audit_log_path())
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in entries if risk_type is None or e.get("risk_type") == risk_type]


def unfinished_events(path: Path | None = None) -> list[dict]:
    """``started`` entries with no ``completed``/``failed`` entry: a move that crashed midway."""
    entries = read_audit(path)
    ended = {e["event_id"] for e in entries if e.get("status") in ("completed", "failed")}
    return [e for e in entries if e.get("status") == "started" and e["event_id"] not in ended]


def _client(client: MlflowClient | None) -> MlflowClient:
    if client is not None:
        return client
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri())


def champion_version(risk_type: str, *, client: MlflowClient | None = None) -> int | None:
    """The version the ``champion`` alias points at, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    client = _client(client)
    try:
        return int(client.get_model_version_by_alias(registered_model_name(risk_type), CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def _require_version(client: MlflowClient, name: str, version: int) -> None:
    """Refuse a version that does not exist, listing the ones that do."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, str(version))
        return
    except MlflowException:
        pass
    try:
        existing = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        existing = []
    if not existing:
        raise PromotionError(f"registered model {name!r} has no versions; nothing to move the champion to")
    raise PromotionError(f"registered model {name!r} has no version {version}; existing versions: {existing}")


def headline(metrics: dict | None) -> dict:
    """The figures an audit entry keeps from shadow_eval's metrics."""
    if not metrics:
        return {}
    overall = metrics.get("overall", {})
    out = {f"candidate_{k}": (overall.get("candidate") or {}).get(k) for k in _HEADLINE_KEYS}
    if overall.get("champion"):
        out.update({f"champion_{k}": overall["champion"].get(k) for k in _HEADLINE_KEYS})
    for key in ("pr_auc_delta", "flip_rate", "psi"):
        if key in overall:
            out[key] = overall[key]
    for key in ("operating_fpr", "labeled_rows", "positives", "report_path"):
        if key in metrics:
            out[key] = metrics[key]
    if "gates" in metrics:
        out["gates"] = metrics["gates"]
    return out


def move_champion(
    risk_type: str,
    version: int,
    *,
    action: str,
    actor: str,
    dag_run_id: str | None,
    reason: str | None = None,
    decided_at: dt.datetime | str | None = None,
    metrics: dict | None = None,
    client: MlflowClient | None = None,
    audit_path: Path | None = None,
) -> dict:
    """Point ``champion`` at ``version`` with ``started``/``completed`` audit entries around the move.

    :param risk_type: the risk whose registered model ``integrity_<risk>`` is changed.
    :param version: the model version that becomes champion.
    :param action: ``promote`` or ``rollback``.
    :param actor: who decided: the approving reviewer, or whoever triggered the rollback.
    :param dag_run_id: the Airflow run that made the move.
    :param reason: why (required for a rollback).
    :param decided_at: when the decision was made (the approval time); default now.
    :param metrics: shadow-eval metrics; their headline figures go into the entry.
    :param client: an ``MlflowClient``; default one on ``tracking_uri()``.
    :param audit_path: the JSON-lines log; default ``audit_log_path()``.
    :return: the ``completed`` entry.
    """
    if action not in (PROMOTE, ROLLBACK):
        raise ValueError(f"action must be {PROMOTE!r} or {ROLLBACK!r}, got {action!r}")
    if isinstance(version, bool) or int(version) < 1:
        raise PromotionError(f"model version must be a positive integer, got {version!r}")
    if action == ROLLBACK and not (reason and reason.strip()):
        raise PromotionError("a rollback needs a non-empty reason")
    if not (actor and str(actor).strip()):
        raise PromotionError(f"a {action} needs the name of who decided it")
    version = int(version)
    client = _client(client)
    name = registered_model_name(risk_type)
    _require_version(client, name, version)
    now = dt.datetime.now(dt.timezone.utc)
    entry = {
        "event_id": uuid.uuid4().hex,
        "action": action,
        "risk_type": risk_type,
        "model_name": name,
        "version": version,
        "previous_champion": champion_version(risk_type, client=client),
        "actor": str(actor),
        "decided_at": decided_at or now,
        "dag_run_id": dag_run_id,
        "reason": reason,
        "metrics": headline(metrics),
    }
    append_audit({**entry, "status": "started", "recorded_at": now}, audit_path)
    try:
        tag = json.dumps({k: entry[k] for k in ("event_id", "actor", "decided_at", "dag_run_id", "reason",
                                                 "previous_champion")} | {"metrics": entry["metrics"]},
                         default=_json_default, sort_keys=True)
        client.set_model_version_tag(name, str(version), f"audit_{action}_{entry['event_id']}", tag[:7900])
        client.set_model_version_tag(name, str(version), f"last_{action}", entry["event_id"])
        client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    except Exception as exc:
        append_audit({**entry, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                      "recorded_at": dt.datetime.now(dt.timezone.utc)}, audit_path)
        raise PromotionError(f"{action} of {name} version {version} failed: {exc}") from exc
    done = {**entry, "status": "completed", "recorded_at": dt.datetime.now(dt.timezone.utc)}
    append_audit(done, audit_path)
    return json.loads(json.dumps(done, default=_json_default))


def promote(risk_type: str, version: int, *, approved_by: str, dag_run_id: str | None,
            approved_at: dt.datetime | str | None = None, metrics: dict | None = None,
            client: MlflowClient | None = None, audit_path: Path | None = None) -> dict:
    """Make the approved candidate ``version`` the champion; see ``move_champion``."""
    return move_champion(risk_type, version, action=PROMOTE, actor=approved_by, dag_run_id=dag_run_id,
                         decided_at=approved_at, metrics=metrics, client=client, audit_path=audit_path)


def rollback(risk_type: str, version: int, *, reason: str, requested_by: str, dag_run_id: str | None,
             client: MlflowClient | None = None, audit_path: Path | None = None) -> dict:
    """Move the champion back to an earlier ``version``, with a reason; see ``move_champion``."""
    return move_champion(risk_type, version, action=ROLLBACK, actor=requested_by, dag_run_id=dag_run_id,
                         reason=reason, client=client, audit_path=audit_path)


def require_reviewer(risk_type: str, user: str | None) -> str:
    """Return ``user`` if it is one of the risk's reviewers, else raise ``PromotionError``.

    The same people who may approve a promotion may roll one back: the ``approval.reviewers``
    of ``include/risks/<risk_type>.yaml``.

    :param user: the Airflow user who triggered the run (``dag_run.triggering_user_name``).
    """
    from integrity_risk.risk_config import risk_config

    reviewers = risk_config(risk_type).approval.reviewers
    if not user or user not in reviewers:
        raise PromotionError(f"{user or 'an unknown user'!s} may not move the champion of {risk_type}: only its "
                             f"reviewers may ({', '.join(reviewers)}; approval.reviewers of {risk_type}.yaml)")
    return user


def approver_from_hitl(response: dict | None) -> tuple[str, str | None]:
    """Who approved and when, from the return value (XCom) of an ``ApprovalOperator``.

    Airflow 3.3's ``HITLOperator.execute_complete`` returns ``{"chosen_options": [...],
    "params_input": {...}, "responded_at": datetime, "responded_by_user": {"id", "name"}}``.
    Anything but an explicit "Approve" is refused, so no path promotes without a reviewer.

    :return: (approver name, responded_at as ISO string or None).
    """
    if not response:
        raise PromotionError("no approval response found: refusing to promote without a reviewer's answer")
    chosen = list(response.get("chosen_options") or [])
    if chosen != ["Approve"]:
        raise PromotionError(f"the reviewer's answer was {chosen!r}, not ['Approve']: not promoting")
    user = response.get("responded_by_user") or {}
    name = user.get("name") or user.get("id")
    if not name:
        raise PromotionError("the approval has no responding user: not promoting")
    at = response.get("responded_at")
    return str(name), (at.isoformat() if isinstance(at, (dt.datetime, dt.date)) else at)
