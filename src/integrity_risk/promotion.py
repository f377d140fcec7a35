"""Moving the ``champion`` alias (promotion and rollback) with an audit trail that is not lost.

MLflow keeps no history of alias moves, so every move writes its own record, twice:

1. an append-only log under the storage root, ``<root>/audit/entries/``: one object per
   entry, named by its time and a random suffix, never rewritten, so concurrent writers on
   any machines cannot tear or interleave each other's entries; on a ``file://`` root each
   is written under a hidden name, flushed to disk (``fsync``) and renamed into place before
   the next step runs;
2. a tag on the model version (``audit_<action>_<event id>``) so the registry itself
   says who promoted a version, when and why.

A move writes a ``started`` entry *before* touching the registry and one end entry
after, under one ``event_id``. The end entry states the outcome the registry actually
reached, read back from it after any error: ``completed`` (the alias points at the
version, even if a call reported an error: the entry then carries ``error`` and
``note``), ``failed`` (it does not; ``champion_in_place`` says which version does) or
``refused`` (the champion was not the one the move expected: a compare-and-set, so a
move never overwrites a change it did not see).

A crash in between leaves a ``started`` entry without an end, which ``unfinished_events``
lists and ``reconcile_unfinished`` settles from the registry; every move reconciles
its risk's unfinished events first. Moves (and reconciliations) of one risk take turns
on a lease, ``<root>/audit/locks/<risk>.lock``, created exclusively, so a reconciliation
never judges a move still running. A holder that died leaves its lease until it expires
(``_LEASE_S``); the next move then takes it over.

A rollback may only go back to a former champion according to this log, and never to a
control model (a version tagged ``label_control`` other than ``none`` by training).

MLflow is imported inside the functions: a DAG file may import this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integrity_risk import tracking
from integrity_risk.storage import as_storage_path, local_path, storage_root
from integrity_risk.tracking import CHAMPION_ALIAS, registered_model_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import ObjectStoragePath
    from mlflow import MlflowClient

PROMOTE = "promote"
ROLLBACK = "rollback"
# A promotion past failed automatic gates, by the two-person rule (dags/model_override.py).
OVERRIDE = "override"
ACTIONS = (PROMOTE, ROLLBACK, OVERRIDE)
STARTED, COMPLETED, FAILED, REFUSED, UNKNOWN = "started", "completed", "failed", "refused", "unknown"
# The statuses that end an event: a ``started`` entry without one of them is unfinished.
END_STATUSES = (COMPLETED, FAILED, REFUSED, UNKNOWN)
# Version tag set by training (integrity_risk.training.train): ``none``, or how a control run's labels were
# scrambled. A control model exists to prove the gates stop it; it is never a champion to go back to.
CONTROL_TAG = "label_control"
# Headline figures copied into the audit entry; the full metrics stay in the report.
_HEADLINE_KEYS = ("pr_auc", "recall_at_fpr", "threshold", "precision_at_threshold")
_POPULATION_HEADLINE = (
    "days_scored",
    "accounts",
    "candidate_flagged",
    "champion_flagged",
    "newly_flagged",
    "no_longer_flagged",
    "flip_rate",
    "alert_volume_ratio",
    "max_feature_psi",
)
# How long a move waits for another move of the same risk to finish. MLflow's REST client
# retries with backoff for a few minutes, so a slow but live move can hold the lock that long.
_LOCK_WAIT_S = 600.0
# A lease older than this belongs to a move that died (a live one ends within _LOCK_WAIT_S).
_LEASE_S = 1800.0
# ``expected`` default of ``move_champion``: the champion read when the move starts.
_READ_AT_START: Any = object()

log = logging.getLogger(__name__)


class PromotionError(RuntimeError):
    """A promotion or rollback that was refused or did not complete."""


class ChampionMovedError(PromotionError):
    """The champion was not the version the move expected; nothing was moved.

    :param model_name: the registered model.
    :param version: the version the move would have made champion.
    :param expected: the champion the move expected (None: none).
    :param actual: the champion found right before the move (None: none).
    """

    def __init__(self, model_name: str, version: int, expected: int | None, actual: int | None) -> None:
        self.model_name, self.version, self.expected, self.actual = model_name, version, expected, actual
        super().__init__(
            f"the champion of {model_name} is {_describe(actual)}, not {_describe(expected)} as "
            f"expected: it moved since that was read; version {version} was not made champion"
        )


def _describe(version: int | None) -> str:
    return "unset" if version is None else f"version {version}"


def audit_log_path() -> ObjectStoragePath:
    """``<storage root>/audit``: the promotions' audit log, shared by every worker."""
    return storage_root() / "audit"


def _location(path: str | os.PathLike | ObjectStoragePath | None) -> ObjectStoragePath:
    return audit_log_path() if path is None else as_storage_path(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def append_audit(entry: dict, path: str | os.PathLike | ObjectStoragePath | None = None) -> dict:
    """Append one entry, durably, before returning: an object of its own under ``<log>/entries``.

    Its name (the time in nanoseconds, then a random suffix) orders the log and is never
    reused, so nothing is ever overwritten and concurrent writers stay whole.

    :param entry: JSON-able dict (datetimes become ISO strings).
    :param path: the log's folder or URL; default ``audit_log_path()``.
    """
    _with_legacy_entries(path)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
    data = json.dumps(entry, default=_json_default, sort_keys=True).encode()
    location = _location(path)
    here = local_path(location)
    if here is None:  # an object store writes an object whole, once
        with (location / "entries" / name).open("wb") as out:
            out.write(data)
        return entry
    folder = here / "entries"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, folder / name)
    dir_fd = os.open(folder, os.O_RDONLY)  # the rename survives a crash too
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return entry


def legacy_audit_log() -> Path:
    """Where the log lived before the storage root: one JSON-lines file of this machine."""
    from integrity_risk.paths import local_dir

    return local_dir() / "audit" / "promotions.jsonl"


def import_legacy_audit(legacy: Path, path: str | os.PathLike | ObjectStoragePath | None = None) -> int:
    """Copy the entries of a former ``promotions.jsonl`` into the log, before every newer entry.

    Each line becomes the object ``<line number>-legacy-<hash of the line>.json``, whose name
    sorts before any entry written since (those start with the time in nanoseconds); one
    already there is kept, so importing twice adds nothing. The file is renamed
    ``promotions.jsonl.imported`` afterwards. A line that is not JSON (a crash mid-write)
    stops the import with its line number, and nothing is renamed.

    :returns: the entries written.
    """
    import hashlib

    lines = [line for line in legacy.read_text().splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except ValueError as bad:
            raise ValueError(f"{legacy}: line {number} is not a JSON audit entry ({bad}); fix or remove it") from None
    folder = _location(path) / "entries"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, line in enumerate(lines, start=1):
        name = f"{number:020d}-legacy-{hashlib.sha256(line.encode()).hexdigest()[:12]}.json"
        target = folder / name
        if target.exists():
            continue
        with target.open("wb") as out:
            out.write(line.encode())
        written += 1
    with contextlib.suppress(FileNotFoundError):  # another process importing at once renamed it first
        legacy.rename(legacy.with_name(legacy.name + ".imported"))
    if written:
        log.info("Imported %d audit entries of %s into %s", written, legacy, folder)
    return written


def _with_legacy_entries(path: str | os.PathLike | ObjectStoragePath | None) -> None:
    # A deployment upgraded from the single-file log keeps its history: the default log
    # takes that file's entries in the first time it is read or written.
    if path is None and legacy_audit_log().is_file():
        import_legacy_audit(legacy_audit_log())


def read_audit(
    path: str | os.PathLike | ObjectStoragePath | None = None, *, risk_type: str | None = None
) -> list[dict]:
    """All audit entries, oldest first, optionally of one risk type."""
    _with_legacy_entries(path)
    folder = _location(path) / "entries"
    if not folder.exists():
        return []
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json") and not p.name.startswith("."))
    entries = [json.loads((folder / name).read_text()) for name in names]
    return [e for e in entries if risk_type is None or e.get("risk_type") == risk_type]


def unfinished_events(path: Path | None = None, *, risk_type: str | None = None) -> list[dict]:
    """``started`` entries with no end entry (``END_STATUSES``): a move that crashed midway.

    :param risk_type: only the events of this risk type; default all.
    """
    entries = read_audit(path, risk_type=risk_type)
    ended = {e["event_id"] for e in entries if e.get("status") in END_STATUSES}
    return [e for e in entries if e.get("status") == STARTED and e["event_id"] not in ended]


@contextlib.contextmanager
def _moves_of(risk_type: str, audit_path: str | os.PathLike | ObjectStoragePath | None) -> Iterator[None]:
    """Hold the lease under which moves and reconciliations of ``risk_type``'s champion take turns.

    Without it a reconciliation could take a move that another process is in the middle
    of for a crashed one. The lease is an object created exclusively (``xb``: only one
    creator succeeds, on any machine); it names its holder and is removed by it at the end.
    One older than ``_LEASE_S`` is a dead holder's and is taken over; a live holder keeping
    it past ``_LOCK_WAIT_S`` gets the waiting move refused.
    """
    lock = _location(audit_path) / "locks" / f"{risk_type}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            with lock.open("xb") as out:
                holder = {"token": token, "holder": f"{socket.gethostname()}:{os.getpid()}", "since": time.time()}
                out.write(json.dumps(holder).encode())
            break
        except FileExistsError:
            held = _lease(lock)
            if held is not None and time.time() - float(held.get("since", time.time())) > _LEASE_S:
                log.warning("Taking over the lease %s of %s: older than %.0f s", lock, held.get("holder"), _LEASE_S)
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            if time.monotonic() > deadline:
                raise PromotionError(
                    f"another move of the champion of {risk_type} has been running for over "
                    f"{_LOCK_WAIT_S:.0f} s (lease {lock}, held by {held and held.get('holder')}); try again later"
                ) from None
            time.sleep(0.5)
    try:
        yield
    finally:
        held = _lease(lock)
        if held is not None and held.get("token") == token:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def _lease(lock: ObjectStoragePath) -> dict | None:
    """The lease's holder, or None when it is gone or still being written."""
    try:
        return json.loads(lock.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _client(client: MlflowClient | None) -> MlflowClient:
    return client if client is not None else tracking.client()


def champion_version(risk_type: str, *, client: MlflowClient | None = None) -> int | None:
    """The version the ``champion`` alias points at, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    client = _client(client)
    try:
        return int(client.get_model_version_by_alias(registered_model_name(risk_type), CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def _read_champion(client: MlflowClient, name: str) -> int | None:
    """The champion's version, None when there is none; a registry error raises.

    Unlike ``champion_version``, an unreachable registry is not taken for "no champion":
    a compare-and-set or a reconciliation must not decide on a guess.
    """
    from mlflow.exceptions import MlflowException

    try:
        return int(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)
    except MlflowException as err:
        # no such alias (INVALID_PARAMETER_VALUE in MLflow's stores) or no such model
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _require_version(client: MlflowClient, name: str, version: int):
    """Refuse a version that does not exist, listing the ones that do; return its ``ModelVersion``."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
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
    for key in ("operating_fpr", "labeled_rows", "positives", "report_path", "evaluation_run_id"):
        if key in metrics:
            out[key] = metrics[key]
    if "gates" in metrics:
        out["gates"] = metrics["gates"]
    if metrics.get("population"):  # what the approval changed, on every account of the evaluation days
        out["population"] = {k: metrics["population"].get(k) for k in _POPULATION_HEADLINE}
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _jsonable(entry: dict) -> dict:
    """The entry as read back from the log (datetimes as ISO strings)."""
    return json.loads(json.dumps(entry, default=_json_default))


def _end(
    entry: dict,
    status: str,
    audit_path: Path | None,
    *,
    error: BaseException | str | None = None,
    note: str | None = None,
    **fields: Any,
) -> dict:
    """Append the entry that ends ``entry``'s event with ``status``; return it as read back.

    :param error: what went wrong, if anything (an exception or its text).
    :param note: how the outcome came about, if it needs saying.
    :param fields: more fields, None included: ``champion_in_place: null`` means no champion.
    """
    end = {**entry, "status": status, **fields}
    if error is not None:
        end["error"] = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if note is not None:
        end["note"] = note
    end["recorded_at"] = _now()
    append_audit(end, audit_path)
    return _jsonable(end)


def _tag_version(client: MlflowClient, name: str, entry: dict) -> None:
    """The version tags of a move that reached the alias: ``audit_<action>_<event>`` and ``last_<action>``."""
    tag = json.dumps(
        {
            k: entry.get(k)
            for k in ("event_id", "actor", "decided_at", "dag_run_id", "reason", "previous_champion", "overridden")
        }
        | {"approvals": entry.get("approvals") or [], "metrics": entry.get("metrics") or {}},
        default=_json_default,
        sort_keys=True,
    )
    version, action = str(entry["version"]), entry["action"]
    client.set_model_version_tag(name, version, f"audit_{action}_{entry['event_id']}", tag[:7900])
    client.set_model_version_tag(name, version, f"last_{action}", entry["event_id"])


def _after_creation(entry: dict, model_version) -> bool:
    """Whether ``entry`` was recorded after ``model_version`` was created.

    Version numbers restart when a registered model is deleted and created again while the
    log stays: an entry older than the version is about another model that had its number.
    An entry or version without a time is given the benefit of the doubt.
    """
    created = getattr(model_version, "creation_timestamp", None)
    recorded = entry.get("recorded_at")
    if not created or not recorded:
        return True
    try:
        at = dt.datetime.fromisoformat(str(recorded))
    except ValueError:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.timestamp() * 1000 >= int(created)


def _reconcile(risk_type: str, client: MlflowClient, audit_path: Path | None) -> list[dict]:
    """Settle ``risk_type``'s unfinished events; the caller holds ``_moves_of(risk_type)``.

    The outcome of a crashed move is read where it can still be seen:

    - no later event of the risk: the registry now. The alias on the version: ``completed``
      (and the version tags are written, best effort, since the crash may have come before
      them); elsewhere: ``failed``.
    - a later event: the champion that event found when it started (its
      ``previous_champion``) is the one the crashed move left, whatever happened since, so
      it decides ``completed`` or ``failed`` the same way. A later event without that field
      (a hand-written line) leaves the outcome ``unknown``.

    Each end entry has ``reconciled: true``, ``champion_in_place`` (the champion the move
    left, as established) and a ``note`` saying how it was established.
    """
    entries = read_audit(audit_path, risk_type=risk_type)
    ended = {e["event_id"] for e in entries if e.get("status") in END_STATUSES}
    settled = []
    for i, start in enumerate(entries):
        if start.get("status") != STARTED or start["event_id"] in ended:
            continue
        entry = {k: v for k, v in start.items() if k not in ("status", "recorded_at")}
        name = start.get("model_name") or registered_model_name(risk_type)
        version = start.get("version")
        later = next(
            (e for e in entries[i + 1 :] if e.get("status") == STARTED and e["event_id"] != start["event_id"]), None
        )
        if later is None:
            in_place = _read_champion(client, name)
            how = "read from the registry, no later move of this risk being logged"
        elif "previous_champion" in later:
            in_place = later["previous_champion"]
            how = f"the champion event {later['event_id']} found when it started"
        else:
            settled.append(
                _end(
                    entry,
                    UNKNOWN,
                    audit_path,
                    reconciled=True,
                    note=f"reconciled: event {later['event_id']} came later but does not say which "
                    "champion it found; this move's outcome cannot be established",
                )
            )
            continue
        reached = in_place == version
        note = (
            f"reconciled: this move was interrupted; the champion it left is {_describe(in_place)} ({how}): "
            f"{'it reached the alias' if reached else 'it did not take effect'}"
        )
        if reached and later is None:
            try:
                _tag_version(client, name, start)
            except Exception as exc:  # the audit file is the record; the tags only mirror it
                note += f"; writing the version tags failed ({type(exc).__name__}: {exc})"
        end = _end(
            entry, COMPLETED if reached else FAILED, audit_path, reconciled=True, champion_in_place=in_place, note=note
        )
        log.warning(
            "audit event %s (%s of %s version %s) was unfinished: recorded as %s; %s",
            end["event_id"],
            end.get("action"),
            name,
            version,
            end["status"],
            note,
        )
        settled.append(end)
    return settled


def reconcile_unfinished(
    risk_type: str | None = None, client: MlflowClient | None = None, audit_path: Path | None = None
) -> list[dict]:
    """Append, for every unfinished event, an end entry with the outcome the registry shows.

    Each risk is settled under its move lock, so a move still running is never taken for
    a crashed one. See ``_reconcile`` for how an outcome is established. Every
    ``move_champion`` does this for its risk first; call it directly to settle the log
    without moving anything (e.g. after a worker was killed).

    :param risk_type: only this risk's events; default every risk with unfinished events.
    :param client: an ``MlflowClient``; default one on ``tracking_uri()``.
    :param audit_path: the audit log's folder or URL; default ``audit_log_path()``.
    :return: the end entries appended, oldest event first (empty when nothing was unfinished).
    """
    risks = sorted({e["risk_type"] for e in unfinished_events(audit_path, risk_type=risk_type) if e.get("risk_type")})
    settled: list[dict] = []
    if not risks:
        return settled
    mlflow = _client(client)
    for risk in risks:
        with _moves_of(risk, audit_path):
            settled += _reconcile(risk, mlflow, audit_path)
    return settled


def _former_champions(client: MlflowClient, name: str, risk_type: str, audit_path: Path | None) -> dict[int, Any]:
    """``{version: ModelVersion}`` of the versions the audit shows as champion once, control models included.

    A version was champion when a ``completed`` entry of the risk moved the alias to it
    or names it as the ``previous_champion`` it replaced. Versions since deleted, and
    entries older than the version (another model with that number), do not count.
    """
    from mlflow.exceptions import MlflowException

    latest: dict[int, dict] = {}
    for entry in read_audit(audit_path, risk_type=risk_type):
        if entry.get("status") != COMPLETED:
            continue
        for version in (entry.get("version"), entry.get("previous_champion")):
            if version is not None:
                latest[int(version)] = entry
    found = {}
    for version, entry in sorted(latest.items()):
        try:
            model_version = client.get_model_version(name, str(version))
        except MlflowException:
            continue
        if _after_creation(entry, model_version):
            found[version] = model_version
    return found


def _control_label(model_version) -> str | None:
    """The ``label_control`` tag of a control model (``invert``, ``permute``), None for a real one."""
    value = str((getattr(model_version, "tags", None) or {}).get(CONTROL_TAG, "none") or "none")
    return None if value.strip().lower() == "none" else value


def rollback_targets(
    risk_type: str, *, client: MlflowClient | None = None, audit_path: Path | None = None
) -> list[int]:
    """The versions ``risk_type``'s champion may be rolled back to.

    Former champions according to the audit (see ``_former_champions``), minus control
    models and the current champion.

    :param client: an ``MlflowClient``; default one on ``tracking_uri()``.
    :param audit_path: the audit log's folder or URL; default ``audit_log_path()``.
    """
    client = _client(client)
    name = registered_model_name(risk_type)
    current = _read_champion(client, name)
    return [
        v
        for v, mv in _former_champions(client, name, risk_type, audit_path).items()
        if v != current and _control_label(mv) is None
    ]


def _require_rollback_target(
    client: MlflowClient, name: str, risk_type: str, model_version, current: int | None, audit_path: Path | None
) -> None:
    """Refuse a rollback to anything but a former champion that is no control model."""
    version = int(model_version.version)
    formers = _former_champions(client, name, risk_type, audit_path)
    allowed = [v for v, mv in formers.items() if v != current and _control_label(mv) is None]
    listing = (
        f"versions that may be rolled back to: {allowed}"
        if allowed
        else "no version may be rolled back to (no other former champion in the audit)"
    )
    control = _control_label(model_version)
    if control is not None:
        raise PromotionError(
            f"{name} version {version} is a control model ({CONTROL_TAG}={control}), trained to "
            f"prove the gates stop it: never rolled back to; {listing}"
        )
    if version == current:
        raise PromotionError(f"{name} version {version} is already the champion: nothing to roll back; {listing}")
    if version not in formers:
        raise PromotionError(
            f"{name} version {version} was never champion according to the audit "
            f"({_location(audit_path)}): a rollback only goes back to a former "
            f"champion; {listing}"
        )


def _completed_of_run(
    risk_type: str, dag_run_id: str | None, action: str, model_version, audit_path: Path | None
) -> dict | None:
    """The latest ``completed`` entry of this run, action and version, if any (an Airflow retry's earlier try)."""
    if not dag_run_id:
        return None
    version = int(model_version.version)
    done = [
        e
        for e in read_audit(audit_path, risk_type=risk_type)
        if e.get("status") == COMPLETED
        and e.get("dag_run_id") == dag_run_id
        and e.get("action") == action
        and e.get("version") == version
        and _after_creation(e, model_version)
    ]
    return done[-1] if done else None


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
    approvals: list[dict] | None = None,
    overridden: list[dict] | None = None,
    figures: dict | None = None,
    expected: int | None = _READ_AT_START,
    client: MlflowClient | None = None,
    audit_path: Path | None = None,
) -> dict:
    """Point ``champion`` at ``version`` if it still is ``expected``, with ``started`` and end audit entries.

    In order, under the risk's move lock:

    1. unfinished events of the risk are reconciled first (``_reconcile``), so
       ``previous_champion`` and the checks below read a settled log;
    2. a retry: when this ``dag_run_id`` already completed the same action on this version
       and the champion still is it, that earlier ``completed`` entry is returned and
       nothing is written (a new event would name ``version`` its own previous champion);
    3. a rollback must go to a former champion that is no control model (refused before
       any entry is written);
    4. ``started`` is written; the champion is read again right before the move and, if it
       is not ``expected``, the move is ``refused`` (``ChampionMovedError``);
    5. the alias moves, *then* the version gets its tags, so a refused alias move leaves
       no ``last_<action>`` tag;
    6. after an error from step 5 on, the alias is read back and the end entry says what
       was reached: ``completed`` (with ``error`` and ``note``) if it points at ``version``,
       else ``failed`` with ``champion_in_place``. If even that read fails, no end entry is
       written: the event stays unfinished until a reconciliation settles it.

    :param risk_type: the risk whose registered model ``integrity_<risk>`` is changed.
    :param version: the model version that becomes champion.
    :param action: ``promote``, ``rollback`` or ``override``.
    :param actor: who decided: the approving reviewers, or whoever triggered the rollback.
    :param dag_run_id: the Airflow run that made the move.
    :param reason: why (required for a rollback and an override).
    :param decided_at: when the decision was made (the approval time); default now.
    :param metrics: shadow-eval metrics; their headline figures go into the entry.
    :param approvals: each reviewer's decision (``reviews.Decision.as_dict()``), in order.
    :param overridden: an override's failed gates: ``[{gate, figure, bound, message}]``.
    :param figures: headline figures kept earlier (an override's, from the gates' verdict);
        they replace ``headline(metrics)``.
    :param expected: the champion the decision was made against (None: no champion);
        default the champion read when the move starts.
    :param client: an ``MlflowClient``; default one on ``tracking_uri()``.
    :param audit_path: the audit log's folder or URL; default ``audit_log_path()``.
    :return: the ``completed`` entry.
    :raises ChampionMovedError: the champion was not ``expected``; nothing moved.
    :raises PromotionError: refused, or the alias did not reach ``version``.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    if isinstance(version, bool) or int(version) < 1:
        raise PromotionError(f"model version must be a positive integer, got {version!r}")
    if action in (ROLLBACK, OVERRIDE) and not (reason and reason.strip()):
        raise PromotionError(f"a {action} needs a non-empty reason")
    if action == OVERRIDE and not overridden:
        raise PromotionError("an override must name the failed gates it overrides")
    if not (actor and str(actor).strip()):
        raise PromotionError(f"a {action} needs the name of who decided it")
    version = int(version)
    client = _client(client)
    name = registered_model_name(risk_type)
    model_version = _require_version(client, name, version)
    with _moves_of(risk_type, audit_path):
        _reconcile(risk_type, client, audit_path)
        current = _read_champion(client, name)
        earlier = _completed_of_run(risk_type, dag_run_id, action, model_version, audit_path)
        if earlier is not None and current == version:
            log.info(
                "%s of %s version %s was already completed by run %s (audit event %s): not moved again",
                action,
                name,
                version,
                dag_run_id,
                earlier["event_id"],
            )
            return earlier
        if action == ROLLBACK:
            _require_rollback_target(client, name, risk_type, model_version, current, audit_path)
        expected = current if expected is _READ_AT_START else (None if expected is None else int(expected))
        return _move(
            client,
            name,
            risk_type,
            version,
            action=action,
            actor=actor,
            dag_run_id=dag_run_id,
            reason=reason,
            decided_at=decided_at,
            metrics=metrics,
            approvals=approvals,
            overridden=overridden,
            figures=figures,
            previous=current,
            expected=expected,
            audit_path=audit_path,
        )


def _move(
    client: MlflowClient,
    name: str,
    risk_type: str,
    version: int,
    *,
    action: str,
    actor: str,
    dag_run_id: str | None,
    reason: str | None,
    decided_at: dt.datetime | str | None,
    metrics: dict | None,
    approvals: list[dict] | None,
    overridden: list[dict] | None,
    figures: dict | None,
    previous: int | None,
    expected: int | None,
    audit_path: Path | None,
) -> dict:
    """Steps 4 to 6 of ``move_champion``, under its lock."""
    now = _now()
    entry = {
        "event_id": uuid.uuid4().hex,
        "action": action,
        "risk_type": risk_type,
        "model_name": name,
        "version": version,
        "previous_champion": previous,
        "actor": str(actor),
        "decided_at": decided_at or now,
        "dag_run_id": dag_run_id,
        "reason": reason,
        "approvals": approvals or [],
        "metrics": figures if figures is not None else headline(metrics),
    }
    if overridden:
        entry["overridden"] = overridden
    append_audit({**entry, "status": STARTED, "recorded_at": now}, audit_path)
    try:
        in_place = _read_champion(client, name)
    except Exception as exc:
        _end(
            entry,
            FAILED,
            audit_path,
            error=exc,
            note="the champion could not be read again right before the move; this move did not touch the alias",
        )
        raise PromotionError(f"{action} of {name} version {version} failed before the move: {exc}") from exc
    if in_place != expected:
        err = ChampionMovedError(name, version, expected, in_place)
        _end(entry, REFUSED, audit_path, error=str(err), champion_in_place=in_place, expected_champion=expected)
        raise err
    problems = []
    try:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    except Exception as exc:
        try:
            in_place = _read_champion(client, name)
        except Exception as read_exc:
            log.error(
                "%s of %s version %s: the alias move raised %r and reading it back raised %r; audit event %s "
                "stays unfinished until reconciled",
                action,
                name,
                version,
                exc,
                read_exc,
                entry["event_id"],
            )
            raise PromotionError(
                f"{action} of {name} version {version}: the alias move raised {exc!r} and the "
                f"champion could not be read back ({read_exc!r}): outcome unknown; audit event "
                f"{entry['event_id']} stays unfinished until reconcile_unfinished settles it"
            ) from exc
        if in_place != version:
            _end(entry, FAILED, audit_path, error=exc, champion_in_place=in_place)
            raise PromotionError(
                f"{action} of {name} version {version} failed: {exc}; the champion is still {_describe(in_place)}"
            ) from exc
        problems.append(("the registry reported an error but the alias did move", exc))
    try:
        _tag_version(client, name, entry)
    except Exception as exc:  # the alias moved: the move is done; the audit file keeps what the tags would
        problems.append(("the alias moved, then writing the version tags failed", exc))
    if problems:
        log.warning(
            "%s of %s version %s completed with errors: %s",
            action,
            name,
            version,
            "; ".join(f"{what}: {exc!r}" for what, exc in problems),
        )
    return _end(
        entry,
        COMPLETED,
        audit_path,
        champion_in_place=version,
        error="; ".join(f"{type(exc).__name__}: {exc}" for _, exc in problems) or None,
        note="; ".join(what for what, _ in problems) or None,
    )


def promote(
    risk_type: str, version: int, *, approved_by: str, approved_at: dt.datetime | str | None = None, **move: Any
) -> dict:
    """Make the approved candidate ``version`` the champion; see ``move_champion``.

    :param approved_by: the reviewer who approved it (the audit's ``actor``).
    :param approved_at: when they answered (the audit's ``decided_at``).
    :param move: ``move_champion``'s other keywords: ``dag_run_id`` (required), ``reason``,
        ``approvals``, ``metrics``, ``expected`` (the champion the candidate was evaluated against;
        default the champion when the promotion starts), ``client``, ``audit_path``.
    """
    return move_champion(risk_type, version, action=PROMOTE, actor=approved_by, decided_at=approved_at, **move)


def rollback(risk_type: str, version: int, *, reason: str, requested_by: str, **move: Any) -> dict:
    """Move the champion back to a former champion ``version``, with a reason; see ``move_champion``.

    Refused, before any audit entry, for a version that was never champion according to
    the audit, a control model, or the current champion; the message lists ``rollback_targets``.

    :param move: ``move_champion``'s ``dag_run_id`` (required), ``client`` and ``audit_path``.
    """
    return move_champion(risk_type, version, action=ROLLBACK, actor=requested_by, reason=reason, **move)


def require_reviewer(risk_type: str, user: str | None) -> str:
    """Return ``user`` if it is one of the risk's reviewers, else raise ``PromotionError``.

    The same people who may approve a promotion may roll one back: the ``approval.reviewers``
    of ``include/risks/<risk_type>.yaml``.

    :param user: the Airflow user who triggered the run (``dag_run.triggering_user_name``).
    """
    from integrity_risk.config.risk import risk_config

    reviewers = risk_config(risk_type).approval.reviewers
    if not user or user not in reviewers:
        raise PromotionError(
            f"{user or 'an unknown user'!s} may not move the champion of {risk_type}: only its "
            f"reviewers may ({', '.join(reviewers)}; approval.reviewers of {risk_type}.yaml)"
        )
    return user
