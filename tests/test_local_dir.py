"""The state folder named by INTEGRITY_LOCAL_DIR, relative or not, is one absolute folder."""

from __future__ import annotations

import os
import subprocess

from integrity_risk.paths import PROJECT_ROOT, local_dir


def test_the_readme_commands_make_a_relative_state_folder_absolute_from_where_they_ran(tmp_path):
    env = {**os.environ, "INTEGRITY_LOCAL_DIR": "state/demo", "INTEGRITY_TEST_LOCAL_DIR": "state/test"}
    out = subprocess.run(
        [
            "bash",
            "-c",
            f"source {PROJECT_ROOT}/scripts/env.sh >/dev/null && "
            'echo "$INTEGRITY_LOCAL_DIR" && echo "$INTEGRITY_TEST_LOCAL_DIR" && pwd',
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    # env.sh then works from the project root, where the relative paths would mean another folder.
    assert out == [str(tmp_path / "state/demo"), str(tmp_path / "state/test"), str(PROJECT_ROOT)]
    assert (tmp_path / "state/demo").is_dir()


def test_local_dir_is_absolute_when_the_variable_is_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INTEGRITY_LOCAL_DIR", "rel")
    assert local_dir() == tmp_path / "rel"


def test_the_local_hiveserver2_gets_an_absolute_warehouse_though_it_runs_inside_its_folder(tmp_path, monkeypatch):
    from integrity_local.hiveserver2 import LocalHiveServer

    monkeypatch.chdir(tmp_path)
    server = LocalHiveServer(port=10999, state_dir="hs2")
    assert f"spark.sql.warehouse.dir={tmp_path / 'hs2' / 'warehouse'}" in server.command()
