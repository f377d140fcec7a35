"""The model_rollback DAG: light to parse, strict params, and a real run that moves the champion back."""

import subprocess
import sys
from pathlib import Path

import pytest

from integrity_risk.promotion import champion_version, promote, read_audit

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "model_rollback.py"


@pytest.fixture(scope="module")
def rollback_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["model_rollback"]


def test_parsing_the_dag_file_imports_nothing_heavy():
    code = (
        f"import runpy, sys; runpy.run_path({str(DAG_FILE)!r}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'pandas', 'tensorflow', 'keras'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"risk_type": "phishing", "version": 2, "reason": "x"}, "risk_type"),
        ({"risk_type": "fraud", "version": 0, "reason": "x"}, "version"),
        ({"risk_type": "fraud", "version": "two", "reason": "x"}, "version"),
        ({"risk_type": "fraud", "version": 2, "reason": "   "}, "reason"),
        ({"risk_type": "fraud", "version": 2}, "reason"),
    ],
)
def test_params_are_validated_by_their_schema(rollback_dag, conf, problem):
    from airflow.exceptions import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(rollback_dag))
    serialized.params.deep_merge({"risk_type": "fraud", "version": 2, "reason": "ok"}).validate()
    with pytest.raises(ParamValidationError, match=problem):
        serialized.params.deep_merge(conf).validate()


@pytest.fixture
def reviewers(tmp_path, monkeypatch):
    """Risk configs whose fake_engagement reviewers are ``names``; dag.test() triggers as "dag_test"."""
    import shutil

    from integrity_risk.paths import INCLUDE_DIR

    def make(*names):
        risks = tmp_path / "risks"
        shutil.copytree(INCLUDE_DIR / "risks", risks, dirs_exist_ok=True)
        path = risks / "fake_engagement.yaml"
        text = path.read_text()
        start = text.index("reviewers:")
        end = text.index("\n", start)
        path.write_text(text[:start] + f"reviewers: {list(names)}" + text[end:])
        monkeypatch.setenv("INTEGRITY_RISKS_DIR", str(risks))

    return make


def test_a_rollback_run_moves_the_champion_back_and_a_bad_version_fails_the_run(
    mlflow_registry, register_versions, airflow_db, rollback_dag, reviewers
):
    reviewers("dag_test")
    v1, v2 = register_versions("fake_engagement", [0.0, 1.0])
    promote("fake_engagement", v1, approved_by="alice", dag_run_id="r1")
    promote("fake_engagement", v2, approved_by="bob", dag_run_id="r2")
    run = rollback_dag.test(run_conf={"risk_type": "fake_engagement", "version": v1, "reason": "v2 over-flags"})
    assert str(run.state) == "success"
    assert champion_version("fake_engagement") == v1
    last = read_audit(risk_type="fake_engagement")[-1]
    assert (last["action"], last["status"], last["version"], last["previous_champion"]) == (
        "rollback",
        "completed",
        v1,
        v2,
    )
    assert last["reason"] == "v2 over-flags" and last["dag_run_id"] == run.run_id

    bad = rollback_dag.test(run_conf={"risk_type": "fake_engagement", "version": 999, "reason": "typo"})
    assert str(bad.state) == "failed"
    assert champion_version("fake_engagement") == v1
    assert read_audit(risk_type="fake_engagement")[-1]["event_id"] == last["event_id"]


def test_a_rollback_triggered_by_someone_not_a_reviewer_fails_before_anything_moves(
    mlflow_registry, register_versions, airflow_db, rollback_dag, reviewers
):
    reviewers("alice", "bob")
    v1, v2 = register_versions("fake_engagement", [0.0, 1.0])
    promote("fake_engagement", v2, approved_by="bob", dag_run_id="r3")
    entries = len(read_audit())

    run = rollback_dag.test(run_conf={"risk_type": "fake_engagement", "version": v1, "reason": "why not"})

    assert str(run.state) == "failed"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"authorize": "failed", "rollback": "upstream_failed"}
    assert champion_version("fake_engagement") == v2
    assert len(read_audit()) == entries


def test_only_a_listed_reviewer_passes_the_check():
    from integrity_risk.promotion import PromotionError, require_reviewer

    assert require_reviewer("fraud", "reviewer") == "reviewer"
    for user in ("modeler", None, ""):
        with pytest.raises(PromotionError, match="only its reviewers may \\(reviewer, reviewer2;"):
            require_reviewer("fraud", user)


def test_a_rollback_to_a_version_that_never_was_champion_fails_before_anything_moves(
    mlflow_registry, register_versions, airflow_db, rollback_dag, reviewers
):
    reviewers("dag_test")
    v1, v2, v3, v4 = register_versions("fake_engagement", [0.0, 1.0, 2.0, 3.0])
    mlflow_registry.set_model_version_tag("integrity_fake_engagement", str(v3), "label_control", "invert")
    promote("fake_engagement", v1, approved_by="alice", dag_run_id="r4")
    promote("fake_engagement", v3, approved_by="alice", dag_run_id="r5")  # a control model let through
    promote("fake_engagement", v2, approved_by="bob", dag_run_id="r6")
    entries = len(read_audit())

    for version in (v4, v3):  # gated out (never champion); an inverted-label control model
        run = rollback_dag.test(run_conf={"risk_type": "fake_engagement", "version": version, "reason": "why not"})

        assert str(run.state) == "failed"
        assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {
            "authorize": "success",
            "rollback": "failed",
        }
        assert champion_version("fake_engagement") == v2
        assert len(read_audit()) == entries
