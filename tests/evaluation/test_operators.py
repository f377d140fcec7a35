"""The stage operators against the real services: HiveServer2, an MLflow registry and Keras models.

The lead's end-to-end test runs them under a real scheduler; here each operator's
``execute`` runs with the few context keys it reads, and gets the upstream results as
the DAG hands them over (``shadow_eval.output`` and the like, resolved before ``execute``).
"""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from airflow.sdk.exceptions import AirflowFailException  # noqa: E402

from integrity_risk.operators.auto_gates import AutoGatesOperator  # noqa: E402
from integrity_risk.operators.promote import PromoteOperator  # noqa: E402
from integrity_risk.operators.shadow_eval import ShadowEvalError, ShadowEvalOperator  # noqa: E402
from integrity_risk.promotion import champion_version, promote, read_audit  # noqa: E402
from integrity_risk.storage import as_storage_path  # noqa: E402

RISK = "abusive_account"
CUTOFF = "2026-03-18T00:00:00+00:00"


def _keras_model(weights):
    """sigmoid(w . [signal, noise] + b): weights decide whether the model sees the signal."""
    inputs = {n: keras.Input(shape=(1,), name=n) for n in ("account_daily__signal", "account_daily__noise")}
    dense = keras.layers.Dense(1, activation="sigmoid", name=RISK)
    out = dense(keras.layers.Concatenate()(list(inputs.values())))
    model = keras.Model(inputs=inputs, outputs={RISK: out})
    dense.set_weights([np.array(weights[:2], "float32").reshape(2, 1), np.array([weights[2]], "float32")])
    return model


def _register(model):
    import mlflow

    from integrity_risk.training.registry import log_and_register

    with mlflow.start_run():
        return int(
            log_and_register(model, f"integrity_{RISK}", {"risk_type": RISK, "training_cutoff": CUTOFF})["version"]
        )


@pytest.fixture(scope="module")
def evaluation_parquet(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 1500
    y = (rng.random(n) < 0.2).astype(float)
    frame = pd.DataFrame(
        {
            "account_pk": [f"{i:064x}" for i in range(n)],
            # the first 100 rows are before the cutoff: the candidate trained on them
            "event_timestamp": pd.to_datetime("2026-03-19", utc=True)
            - pd.to_timedelta(np.where(np.arange(n) < 100, 3, 0), unit="D")
            + pd.to_timedelta(rng.integers(0, 86400, n), unit="s"),
            "account_daily__signal": rng.normal(size=n) + 2.5 * y,
            "account_daily__noise": rng.normal(size=n),
            "account_daily__country": rng.choice(["DE", "US", "LU"], size=n, p=[0.5, 0.48, 0.02]),
            "account_daily__account_age_days": rng.integers(0, 1500, size=n).astype(float),
            "account_daily__is_business": rng.integers(0, 2, size=n),
            f"label_{RISK}": np.where(rng.random(n) < 0.05, np.nan, y),
        }
    )
    path = tmp_path_factory.mktemp("eval") / "test.parquet"
    frame.to_parquet(path)
    return path


def _shadow_eval(path, tmp_path, **kwargs):
    op = ShadowEvalOperator(
        task_id="shadow_eval",
        risk_type=RISK,
        evaluation_data=str(path),
        ds="2026-03-20",
        n_bootstrap=30,
        min_slice_size=50,
        operating_fpr=0.05,
        **kwargs,
    )
    return op.execute({"run_id": "manual__2026-03-20"})


def test_shadow_eval_pipeline_scores_gates_and_promotes(mlflow_registry, hive_hook, evaluation_parquet, tmp_path):
    # first model: no champion yet, evaluated alone
    v1 = _register(_keras_model([2.0, 0.0, -2.0]))
    alone = _shadow_eval(evaluation_parquet, tmp_path)
    assert alone["has_champion"] is False and alone["champion_version"] is None
    assert alone["rows"] == 1400  # rows before the training cutoff were dropped
    promote(RISK, v1, approved_by="reviewer", dag_run_id="bootstrap")

    # a candidate that learned nothing (as from shuffled labels) against the champion
    v2 = _register(_keras_model([0.0, 2.0, -2.0]))
    metrics = _shadow_eval(evaluation_parquet, tmp_path)
    json.dumps(metrics, allow_nan=False)
    assert (metrics["candidate_version"], metrics["champion_version"]) == (v2, v1)
    assert metrics["overall"]["candidate"]["pr_auc"] < metrics["overall"]["champion"]["pr_auc"] - 0.3

    rows = hive_hook.get_records(
        "SELECT count(*), count(champion_score), sum(candidate_flagged), max(candidate_version), "
        "min(event_timestamp) > CAST('2026-03-18' AS TIMESTAMP) FROM eval.shadow_scores "
        f"WHERE risk_type = '{RISK}' AND ds = '2026-03-20'"
    )
    assert rows[0][:2] == (1400, 1400) and rows[0][3] == v2 and rows[0][4] is True
    _shadow_eval(evaluation_parquet, tmp_path)  # a re-run replaces its partition
    assert hive_hook.get_first(f"SELECT count(*) FROM eval.shadow_scores WHERE risk_type = '{RISK}'")[0] == 1400

    html = as_storage_path(metrics["report_path"]).read_text()  # published under the storage root
    assert html.count('<img class="plot"') == 4  # PR, histograms, slices, attributions

    gates = AutoGatesOperator(
        task_id="auto_gates",
        metrics=metrics,
        gates={"max_pr_auc_drop": 0.02, "min_recall_at_fpr": 0.3, "max_decision_flip_rate": 0.25},
    )
    with pytest.raises(AirflowFailException, match=r"max_pr_auc_drop FAILED: PR-AUC change .* bound >= "):
        gates.execute({})
    assert "**FAIL** max_pr_auc_drop" in as_storage_path(metrics["summary_path"]).read_text()
    # The verdict is tagged on the candidate's version before the task fails: what an override names.
    verdict = json.loads(mlflow_registry.get_model_version(f"integrity_{RISK}", str(v2)).tags["auto_gates"])
    assert verdict["passed"] is False and verdict["champion_version"] == v1
    assert "max_pr_auc_drop" in [g["gate"] for g in verdict["failed"]]

    # were it approved anyway, promotion takes the evaluated version and records the reviewer
    at = dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC)
    approval = {
        "chosen_options": ["Approve"],
        "params_input": {"reason": "the figures hold up"},
        "responded_at": at,
        "responded_by_user": {"id": "3", "name": "reviewer"},
    }
    entry = PromoteOperator(task_id="promote", risk_type=RISK, approvals=[approval], metrics=metrics).execute(
        {"run_id": "manual__2026-03-20"}
    )
    assert champion_version(RISK) == v2
    assert entry["actor"] == "reviewer" and entry["decided_at"] == at.isoformat()
    assert entry["reason"] == "the figures hold up" and entry["approvals"][0]["user"] == "reviewer"
    last = read_audit(risk_type=RISK)[-1]
    assert last["status"] == "completed" and last["version"] == v2 and last["previous_champion"] == v1
    assert last["metrics"]["report_path"] == metrics["report_path"]


def test_promote_refuses_a_rejected_answer(mlflow_registry):
    reject = {
        "chosen_options": ["Reject"],
        "params_input": {"reason": "too many alerts"},
        "responded_by_user": {"id": "3", "name": "reviewer"},
    }
    op = PromoteOperator(task_id="promote", risk_type=RISK, approvals=[reject], metrics={"candidate_version": 1})
    with pytest.raises(Exception, match="not promoting"):
        op.execute({"run_id": "r"})


def test_gates_without_shadow_eval_metrics_fail_saying_so():
    op = AutoGatesOperator(task_id="auto_gates", gates={"max_pr_auc_drop": 0.02}, metrics=None)
    with pytest.raises(AirflowFailException, match="no shadow-eval metrics to judge.*got NoneType"):
        op.execute({})


def test_shadow_eval_without_a_candidate_says_so(mlflow_registry, tmp_path):
    op = ShadowEvalOperator(
        task_id="shadow_eval",
        risk_type="scraping",
        model_name="integrity_nothing_here",
        evaluation_data=str(tmp_path / "none.parquet"),
    )
    with pytest.raises(ShadowEvalError, match="no version with alias 'candidate'"):
        op.execute({"run_id": "r"})


def test_shadow_eval_scores_the_version_its_train_task_registered_not_a_later_candidate(
    mlflow_registry, hive_hook, evaluation_parquet, tmp_path
):
    trained = _register(_keras_model([2.0, 0.0, -2.0]))
    later = _register(_keras_model([0.0, 2.0, -2.0]))  # registered since: `candidate` now points at it
    metrics = _shadow_eval(evaluation_parquet, tmp_path, candidate_version=trained)
    assert later != trained and metrics["candidate_version"] == trained
    assert metrics["overall"]["candidate"]["pr_auc"] > 0.6  # the signal-seeing model, not the blind one
    with pytest.raises(ShadowEvalError, match="has no version 9999"):
        _shadow_eval(evaluation_parquet, tmp_path, candidate_version=9999)
