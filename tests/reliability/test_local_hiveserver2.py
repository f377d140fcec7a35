"""The embedded HiveServer2 stays answerable under concurrent sessions.

Spark 4's distribution lacks a Hive LLAP class that Hive's function registry needs
(include/hive_compat/LlapSigner.java says why that matters). Without it, the first
session close that builds a Hive client fails, and every later one waits forever:
the hang seen in the five-risk load (bench/bench_load.py).
"""

from __future__ import annotations

import threading
import time

from stores import records

FUNCTION_REGISTRY = "org.apache.hadoop.hive.ql.exec.FunctionRegistry"


def test_the_local_server_can_initialize_hives_function_registry(hive_hook):
    # Class.forName runs the registry's static initializer in the server's JVM, as the
    # first Hive client build does; without the compat classes it fails naming LlapSigner.
    rows = records(hive_hook, f"SELECT reflect('java.lang.Class', 'forName', '{FUNCTION_REGISTRY}')")
    assert rows == [(f"class {FUNCTION_REGISTRY}",)]


def test_sessions_opened_and_closed_from_many_threads_all_return(hive_hook):
    records(hive_hook, "CREATE DATABASE IF NOT EXISTS reliability_sessions")
    records(hive_hook, "CREATE TABLE IF NOT EXISTS reliability_sessions.t (a INT) PARTITIONED BY (ds STRING)")
    statements = ["SHOW PARTITIONS reliability_sessions.t", "SELECT 1", "SHOW DATABASES"]

    finished: list[int] = []

    def sessions(worker: int) -> None:
        for i in range(5):
            records(hive_hook, statements[(worker + i) % len(statements)])
        finished.append(worker)

    # Daemon threads: a call that never returns must fail this test, not hang the session.
    workers = [threading.Thread(target=sessions, args=(w,), daemon=True) for w in range(8)]
    deadline = time.monotonic() + 180
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    assert sorted(finished) == list(range(8)), f"workers {sorted(set(range(8)) - set(finished))} never returned"
