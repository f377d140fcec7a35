"""``TFTrainOperator``: runs the TensorFlow trainer as its own process and reports what it registered.

The Airflow worker never imports TensorFlow: the operator starts
``python -m integrity_risk.training.train ...`` (see ``src/integrity_risk/training/train.py``), streams its output
into the task log line by line, and returns the trainer's result as the XCom.
The DAG factory puts the task on Celery queue ``gpu``; nothing here assumes a GPU.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.paths import risks_dir

# What src/integrity_risk/training/registry.py reads in the trainer to tag the version (the worker does not import `training`).
TASK_INSTANCE_ENV = "INTEGRITY_TASK_INSTANCE"
TRY_NUMBER_ENV = "INTEGRITY_TRY_NUMBER"

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context


class TFTrainOperator(BaseOperator):
    """Train, evaluate and register a risk type's multi-task model in a subprocess.

    :param training_set: training-set folder (docs/contracts.md, "Training set"); in a DAG,
        ``training_set.output["path"]``. (templated)
    :param risk_type: the risk whose model is trained and registered. (templated)
    :param model_config: the ``model:`` section as validated JSON values (what the DAG factory
        passes: ``ModelConfig.model_dump(mode="json")``); the trainer reads it from a file in
        the task's temporary folder and validates it with the same model. Not with ``config``.
    :param config: risk YAML with a ``model:`` section, or a JSON/YAML file that is the
        section; default (neither given) ``include/risks/<risk_type>.yaml``. (templated)
    :param registered_model: registered model name; default ``integrity_<risk_type>``. (templated)
    :param run_name: MLflow run name; default ``<dag_id>__<run_id>`` of the task's run. (templated)
    :param python: interpreter that runs the trainer; default this worker's own.
    :param env: extra environment for the trainer (e.g. ``MLFLOW_TRACKING_URI``,
        ``CUDA_VISIBLE_DEVICES``); added to the worker's environment.
    :param error_lines: how many of the trainer's last lines go into the failure message.
    :param label_control: ``none``, or a control run on ``permute``d or ``invert``ed labels
        (``--label-control``), to check that the evaluation gates stop a bad candidate. (templated)
    :return (XCom): ``{"model_name", "version", "run_id", "model_uri", "metrics"}``.
    """

    template_fields: Sequence[str] = (
        "training_set",
        "risk_type",
        "config",
        "registered_model",
        "run_name",
        "label_control",
    )
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        training_set: str,
        risk_type: str,
        model_config: Mapping[str, Any] | None = None,
        config: str | None = None,
        registered_model: str | None = None,
        run_name: str | None = None,
        python: str | None = None,
        env: dict[str, str] | None = None,
        error_lines: int = 25,
        label_control: str | None = None,
        **kwargs: Any,
    ) -> None:
        if model_config is not None and config is not None:
            raise ValueError("give the trainer model_config or config, not both")
        super().__init__(**kwargs)
        # A JSON round trip: what the trainer will read, and an early error for a value JSON cannot hold.
        self.model_config = json.loads(json.dumps(dict(model_config))) if model_config is not None else None
        self.training_set = training_set
        self.risk_type = risk_type
        self.config = config
        self.registered_model = registered_model
        self.run_name = run_name
        self.python = python
        self.env = env
        self.error_lines = error_lines
        self.label_control = label_control
        self._process: subprocess.Popen | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.exceptions import AirflowException

        with tempfile.TemporaryDirectory(prefix="tf_train_") as tmp:
            result_file = Path(tmp) / "result.json"
            command = self.command(result_file, context)
            self.log.info("starting trainer: %s", " ".join(command))
            returncode, tail = self._run(command, context)
            if returncode != 0:
                raise AirflowException(
                    f"trainer for {self.risk_type} failed with exit status {returncode}:\n" + "\n".join(tail)
                )
            if not result_file.is_file():
                raise AirflowException(f"trainer for {self.risk_type} exited 0 without a result:\n" + "\n".join(tail))
            result = json.loads(result_file.read_text())
        self.log.info("registered %s version %s (run %s)", result["model_name"], result["version"], result["run_id"])
        return result

    def command(self, result_file: Path, context: Context | None = None) -> list[str]:
        """The trainer's command line.

        :param result_file: where the trainer writes its result JSON; ``model_config`` goes beside it.
        :param context: the task context, for the default run name.
        """
        if self.model_config is not None:
            config = result_file.parent / "model_config.json"
            config.write_text(json.dumps({"model": self.model_config}))
        else:
            config = Path(self.config or risks_dir() / f"{self.risk_type}.yaml")
        command = [
            self.python or sys.executable,
            "-m",
            "integrity_risk.training.train",
            "--training-set",
            str(self.training_set),
            "--risk-type",
            self.risk_type,
            "--config",
            str(config),
            "--result-file",
            str(result_file),
        ]
        if self.registered_model:
            command += ["--registered-model", self.registered_model]
        if self.label_control and self.label_control != "none":
            command += ["--label-control", self.label_control]
        run_name = self.run_name or _default_run_name(context)
        if run_name:
            command += ["--run-name", run_name]
        return command

    def trainer_env(self, context: Context | None = None) -> dict[str, str]:
        """The trainer's environment: the worker's, the task instance and try, then ``env``.

        The trainer tags the model version with the task instance (``dag/task/run``) and try,
        so that a retry can delete a version that a killed try registered but never made the
        candidate (``src/integrity_risk/training/registry.py``). They come from this task's context only: a value
        inherited from the worker's environment would name another task.
        """
        env = {k: v for k, v in os.environ.items() if k not in (TASK_INSTANCE_ENV, TRY_NUMBER_ENV)}
        ti, dag_run = (context or {}).get("ti"), (context or {}).get("dag_run")
        if ti is not None and dag_run is not None:
            env[TASK_INSTANCE_ENV] = f"{ti.dag_id}/{ti.task_id}/{dag_run.run_id}"
            env[TRY_NUMBER_ENV] = str(ti.try_number)
        env.update(self.env or {})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _run(self, command: list[str], context: Context | None = None) -> tuple[int, list[str]]:
        """Run the trainer, logging each line as it comes; return its exit status and last lines."""
        env = self.trainer_env(context)
        tail: deque[str] = deque(maxlen=self.error_lines)
        self._process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group, so on_kill reaches its children
        )
        for raw in self._process.stdout or ():  # stdout is a pipe (PIPE above)
            line = raw.rstrip("\n")
            self.log.info("%s", line)
            tail.append(line)
        returncode = self._process.wait()
        errors = [line for line in tail if line.startswith("ERROR")]
        # The ERROR lines first: they say what failed; the tail shows where.
        return returncode, errors + [line for line in tail if line not in errors]

    def on_kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        self.log.info("stopping trainer (pid %s)", process.pid)
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _default_run_name(context: Context | None) -> str | None:
    if not context:
        return None
    dag_run = context.get("dag_run")
    ti = context.get("ti")
    if dag_run is None or ti is None:
        return None
    return f"{ti.dag_id}__{dag_run.run_id}"
