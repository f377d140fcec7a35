"""The promotions' audit log under the storage root: whole and append-only under concurrent writers on
any machines, and one move of a risk's champion at a time, even across machines."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time

import pytest

from integrity_risk import promotion
from integrity_risk.promotion import PromotionError, append_audit, read_audit

WRITERS, ENTRIES = 4, 50


def _write(log: str, writer: int) -> None:
    for n in range(ENTRIES):
        append_audit({"writer": writer, "n": n, "risk_type": "fraud", "pad": "x" * 2000}, log)


def test_concurrent_writers_in_separate_processes_leave_every_entry_whole_and_in_order(tmp_path):
    log = (tmp_path / "root" / "audit").as_uri()  # a URL under the storage root, as the tasks use it
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_write, args=(log, w)) for w in range(WRITERS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=120)
        assert w.exitcode == 0
    entries = read_audit(log)
    assert len(entries) == WRITERS * ENTRIES and all(e["pad"] == "x" * 2000 for e in entries)
    for w in range(WRITERS):  # each writer's entries in the order it wrote them
        assert [e["n"] for e in entries if e["writer"] == w] == list(range(ENTRIES))
    # Nothing half-written is left behind under a hidden name.
    assert not [p for p in (tmp_path / "root" / "audit" / "entries").iterdir() if p.name.startswith(".")]


def test_a_second_move_of_the_same_risk_waits_for_the_lease_and_is_refused_naming_its_holder(tmp_path, monkeypatch):
    monkeypatch.setattr(promotion, "_LOCK_WAIT_S", 1.0)
    log = tmp_path / "audit"
    held, release = threading.Event(), threading.Event()

    def first_move():
        with promotion._moves_of("fraud", log):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=first_move)
    thread.start()
    assert held.wait(30)
    try:
        with pytest.raises(PromotionError, match=r"another move of the champion of fraud .* held by .*:\d+"):
            with promotion._moves_of("fraud", log):
                pass
        with promotion._moves_of("spam_redirect", log):  # another risk's moves do not wait
            pass
    finally:
        release.set()
        thread.join()
    with promotion._moves_of("fraud", log):  # released by its holder
        pass
    assert not (log / "locks" / "fraud.lock").exists()


def test_the_lease_of_a_holder_that_died_is_taken_over_once_it_expired(tmp_path, monkeypatch):
    monkeypatch.setattr(promotion, "_LOCK_WAIT_S", 1.0)
    log = tmp_path / "audit"
    (log / "locks").mkdir(parents=True)
    lease = log / "locks" / "fraud.lock"
    lease.write_text(json.dumps({"token": "dead", "holder": "worker-7:123", "since": time.time() - 60}))
    with pytest.raises(PromotionError, match="worker-7:123"):  # young: its holder may be alive
        with promotion._moves_of("fraud", log):
            pass
    lease.write_text(json.dumps({"token": "dead", "holder": "worker-7:123", "since": time.time() - 7200}))
    with promotion._moves_of("fraud", log):
        assert json.loads(lease.read_text())["token"] != "dead"
    assert not lease.exists()


def test_the_former_single_file_log_is_imported_once_before_the_newer_entries(tmp_path, monkeypatch):
    from integrity_risk.promotion import append_audit, legacy_audit_log, read_audit

    monkeypatch.setenv("INTEGRITY_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", (tmp_path / "root").as_uri())
    legacy = legacy_audit_log()
    legacy.parent.mkdir(parents=True)
    old = [{"risk_type": "fraud", "status": status, "version": 3} for status in ("started", "completed")]
    legacy.write_text("".join(json.dumps(e) + "\n" for e in old))

    append_audit({"risk_type": "fraud", "status": "started", "version": 4})
    entries = read_audit(risk_type="fraud")
    assert [(e["status"], e["version"]) for e in entries] == [("started", 3), ("completed", 3), ("started", 4)]
    assert not legacy.exists() and legacy.with_name("promotions.jsonl.imported").is_file()
    # Put back (a restore from a backup): nothing is imported twice.
    legacy.with_name("promotions.jsonl.imported").rename(legacy)
    assert len(read_audit(risk_type="fraud")) == 3


def test_a_former_log_with_a_torn_line_is_refused_naming_the_line_and_left_in_place(tmp_path):
    from integrity_risk.promotion import import_legacy_audit, read_audit

    legacy = tmp_path / "promotions.jsonl"
    legacy.write_text('{"risk_type": "fraud", "status": "started"}\n{"risk_type": "fra\n')
    log = (tmp_path / "root" / "audit").as_uri()
    with pytest.raises(ValueError, match="line 2"):
        import_legacy_audit(legacy, log)
    assert legacy.is_file() and read_audit(log) == []
