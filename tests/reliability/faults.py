"""Tools to cause and watch faults: a TCP proxy that cuts a service off, a watcher of the
HiveServer2 log, a reader that samples state while a write runs, and writer processes to SIGKILL.

None of them reaches into production code: faults happen on the wire, in another
process or in another connection, as they would in a deployment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to a service; ``close()`` makes the service unreachable.

    The service keeps running and keeps what it stored: only the path to it is cut,
    which is what a network partition or a dead load balancer looks like to a client.
    The port stays the same across ``close()`` and ``open()``, so a connection string
    written before the outage works again after it.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port: int | None = None
        self.cut = threading.Event()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut_on: bytes | None = None
        self._cut_after = 0
        self._seen = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self, cut_on: bytes | None = None, cut_after: int = 0) -> TcpProxy:
        """Start forwarding.

        :param cut_on: bytes a client sends (e.g. ``b"INSERT OVERWRITE"``) that make the
            proxy close, dropping every connection, before they reach the service.
        :param cut_after: let this many chunks holding ``cut_on`` through before cutting.
        """
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._cut_on, self._cut_after, self._seen = cut_on, cut_after, 0
        self.cut = threading.Event()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        """Stop listening (connecting is refused) and drop the open connections."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        for sock in ([listener] if listener else []) + list(sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept() or recv()
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # closed meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while data := source.recv(65536):
                if from_client and self._cut_on:
                    window = tail + data  # the marker may straddle two reads
                    tail = window[-len(self._cut_on) :]
                    if self._cut_on in window:
                        self._seen += 1
                        if self._seen > self._cut_after:
                            self.cut.set()  # before the client can see the cut
                            self.close()
                            return
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def wait_listening(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerLog:
    """Reads what a server wrote to its log since :meth:`mark`, to wait for what it is doing."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.mark()

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def wait_for(self, pattern: str, timeout: float = 300.0) -> re.Match:
        """The first match of ``pattern`` (``.`` matches newlines) written after the mark, waiting for it."""
        regex = re.compile(pattern, re.DOTALL)
        deadline = time.monotonic() + timeout
        while True:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                found = regex.search(log.read().decode("utf-8", "replace"))
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pattern!r} did not appear in {self.path} within {timeout:.0f}s")
            time.sleep(0.05)


class Sampler:
    """Calls ``read()`` in a thread, again and again, while a write runs; keeps every answer.

    An exception is an answer too (kept as ``("error", message)``): a reader that fails
    during a write has seen something it should not have.
    """

    def __init__(self, read: Callable[[], Any], pause: float = 0.0):
        self.read = read
        self.pause = pause
        self.samples: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.read())
            except Exception as err:
                self.samples.append(("error", f"{type(err).__name__}: {err}"[:500]))
            self._stop.wait(self.pause)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def spawn(call: str, log: Path, **kwargs: Any) -> subprocess.Popen:
    """Run ``writers.<call>(**kwargs)`` in a new Python process: the task try that will be killed.

    A fresh interpreter, as an Airflow worker runs each task try; its output goes to ``log``.
    (Tests use the ``spawn`` fixture, which also kills what a failed test left running.)
    """
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import writers; "
        f"writers.{call}(**json.loads(sys.argv[1]))"
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(kwargs)],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def sigkill(child: subprocess.Popen) -> None:
    """SIGKILL ``child`` (no handler runs, nothing is cleaned up) and check it died of it."""
    if child.poll() is not None:
        raise AssertionError(f"the writer already exited (status {child.returncode}) before it could be killed")
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, child: subprocess.Popen | None = None, pause: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something true; fail early if ``child`` exits first."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if child is not None and child.poll() is not None:
            raise AssertionError(f"the writer exited (status {child.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f}s")
        time.sleep(pause)
    return result
