"""TrainingSetOperator: builds a risk type's training set for the run's day.

The work (Hive and Feast reads, negatives, splits, manifest) is
``integrity_risk.features.training_set.build_training_set``; this module is its Airflow step.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.assets import training_set_asset
from integrity_risk.features.sequences import SequenceSpec
from integrity_risk.features.training_set import TrainingSetParams

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context


class TrainingSetOperator(BaseOperator):
    """Build a risk type's training set for the run's day (see ``build_training_set``).

    :param risk_type: the risk type, e.g. ``fraud``.
    :param tasks: risk types with a label column, ``risk_type`` first (the model's heads).
    :param feature_service: Feast feature service the model reads, e.g. ``fraud_v1``. (templated)
    :param ds: the day, ``YYYY-MM-DD`` (templated; default ``{{ ds }}``).
    :param options: the fields of ``TrainingSetParams`` (lookback, splits, negatives per
        positive, label maturity, seed), from the risk YAML; checked when the DAG is parsed.
    :param sequence: the risk YAML's ``training_set.sequence`` as a dict (days, columns, table),
        or None: each example's last days of daily features (``integrity_risk.features.sequences``).
    :param profile: Feast profile (default: env ``INTEGRITY_FEAST_PROFILE``). (templated)
    :return (XCom): the manifest with ``path`` (the folder) and ``train_path``,
        ``validation_path``, ``test_path``; each key is an XCom of its own
        (``multiple_outputs``), so a DAG passes ``training_set.output["path"]`` downstream.
    """

    template_fields = ("feature_service", "ds", "profile")
    ui_color = "#e8f7d5"

    def __init__(
        self,
        *,
        risk_type: str,
        tasks: Sequence[str],
        feature_service: str,
        ds: str = "{{ ds }}",
        options: Mapping[str, Any] | None = None,
        sequence: Mapping[str, Any] | None = None,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [training_set_asset(risk_type)])
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.risk_type = risk_type
        self.tasks = list(tasks)
        self.feature_service = feature_service
        self.ds = ds
        # Checked now, so a bad setting is a DAG import error rather than a failed run.
        self.options = asdict(TrainingSetParams(**(options or {})))
        self.sequence = SequenceSpec.from_dict(dict(sequence) if sequence else None)
        self.profile = profile

    def execute(self, context: Context) -> dict:
        from integrity_risk.features.training_set import build_training_set

        manifest = build_training_set(
            risk_type=self.risk_type,
            tasks=self.tasks,
            feature_service=self.feature_service,
            ds=self.ds,
            **self.options,
            sequence=self.sequence.to_dict() if self.sequence else None,
            profile=self.profile,
        )
        self.log.info(
            "Training set %s: rows %s, positives %s", manifest["path"], manifest["rows"], manifest["positives"]
        )
        return manifest
