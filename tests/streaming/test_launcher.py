"""The streaming job's launcher: a job outlives the process that started it."""

from __future__ import annotations

import subprocess
import sys
import time


def test_a_detached_process_imports_feast_after_its_starter_that_imported_feast_has_exited(tmp_path):
    # Feast's import points PROMETHEUS_MULTIPROC_DIR at a folder of its own process and removes
    # it at exit: the CLI that applies the repo then starts the job did so, and the job died.
    starter = (
        "import sys, feast\n"
        "from pathlib import Path\n"
        "from integrity_risk.streaming.launcher import start_detached\n"
        "command = [sys.executable, '-c', 'import time; time.sleep(2); import feast; print(\"imported feast\")']\n"
        f"print(start_detached(command, Path({str(tmp_path)!r})))\n"
    )
    subprocess.run([sys.executable, "-c", starter], check=True, capture_output=True, timeout=120)
    log = tmp_path / "job.log"
    deadline = time.monotonic() + 120
    while "imported feast" not in log.read_text() and "Error" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(1)
    assert "imported feast" in log.read_text(), log.read_text()[-2000:]


def test_the_jars_may_be_globs_as_the_image_names_them_and_a_glob_matching_nothing_is_refused(tmp_path, monkeypatch):
    import pytest

    from integrity_risk.streaming.launcher import JARS_ENV, MASTER_ENV, expand_jars, job_command

    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / name).write_text("")
    assert expand_jars(f"{tmp_path}/*.jar, /opt/extra.jar") == [
        str(tmp_path / "a.jar"),
        str(tmp_path / "b.jar"),
        "/opt/extra.jar",
    ]
    with pytest.raises(ValueError, match=r"no jar matches .*/missing/\*\.jar"):
        expand_jars(f"{tmp_path}/missing/*.jar")
    # What the streaming worker's environment sets reaches the job's command line.
    monkeypatch.setenv(JARS_ENV, f"{tmp_path}/*.jar")
    monkeypatch.setenv(MASTER_ENV, "spark://spark-master:7077")
    command = job_command(topic="user_events")
    assert f"--jars={tmp_path}/*.jar" in command and "--master=spark://spark-master:7077" in command
