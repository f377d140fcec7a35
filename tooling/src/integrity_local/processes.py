"""The local services' processes: each started in a session of its own and known by its pid file."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def running_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` while that process runs; None when there is none, or it exited."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    # A process this one started and that has exited stays a zombie until reaped.
    try:
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            os.waitpid(pid, os.WNOHANG)
            return None
    except (OSError, IndexError, ChildProcessError):
        pass
    return pid


def stop_group(pid_file: Path, timeout: float = 30.0) -> None:
    """Stop the process of ``pid_file`` and its session: SIGTERM, then SIGKILL after ``timeout`` s."""
    pid = running_pid(pid_file)
    if pid is None:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(pid_file) is not None:
        time.sleep(0.5)
    if running_pid(pid_file) is not None:
        os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
