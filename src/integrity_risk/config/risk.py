"""A risk type's pipeline configuration: ``include/risks/<risk>.yaml``, validated.

A modeler adds a risk type with a YAML file, a HiveQL file and a Feast feature
view. Everything here is checked when the DAG file is parsed, so a mistake shows
up as one import error in the Airflow UI naming the file, the key and what was
expected, instead of a failure halfway through a run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from integrity_risk.config.tables import TableQuality, describe_errors
from integrity_risk.paths import HQL_DIR, risks_dir
from integrity_risk.values import RISK_TYPE_PATTERN as _NAME

RISK_TYPES = ("abusive_account", "fake_engagement", "spam_redirect", "scraping", "fraud")


class RiskConfigError(ValueError):
    """A risk YAML that does not validate; the message names file, key and expectation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtractConfig(_Strict):
    hql: str = Field(description="HiveQL template under include/hql/, e.g. features/fraud.hql")
    table: str = Field(pattern=r"^features\.[a-z][a-z0-9_]*$")
    min_rows: int = Field(default=1, ge=0, description="absolute floor for the quality gate")
    max_row_ratio: float = Field(default=2.0, gt=1.0)
    min_row_ratio: float = Field(default=0.5, gt=0.0, lt=1.0)
    history_wait_hours: float = Field(default=6, gt=0, le=72, description=(
        "how long the gate waits for trailing days that have upstream data but no extract yet"))
    quality: TableQuality = Field(description="the quality gate's rules of this risk's table")

    @field_validator("hql")
    @classmethod
    def _hql_exists(cls, value: str) -> str:
        if ".." in Path(value).parts or not (HQL_DIR / value).is_file():
            raise ValueError(f"no HiveQL file include/hql/{value}")
        return value

    @model_validator(mode="after")
    def _rules_name_real_columns(self) -> ExtractConfig:
        from integrity_risk.features.hql import read_hql

        ddl = read_hql("feature_tables.hql")
        # A table declared elsewhere (by its own HQL) is checked by the gate's schema check.
        if f"EXISTS {self.table} (" in ddl:
            unknown = self.quality.unknown_columns(self.table, ddl)
            if unknown:
                raise ValueError(f"quality names columns {unknown} that {self.table} does not have "
                                 "(include/hql/feature_tables.hql)")
        return self


class LabelsConfig(_Strict):
    maturity_days: int = Field(default=3, ge=0, le=60)
    negatives_per_positive: float = Field(default=3.0, ge=0)


class TrainingSetConfig(_Strict):
    feature_service: str
    lookback_days: int = Field(default=21, ge=3, le=365)
    validation_days: int = Field(default=2, ge=1)
    test_days: int = Field(default=2, ge=1)


class ModelConfig(_Strict):
    tasks: list[str] = Field(min_length=1)
    hidden_units: list[int] = Field(default=[128, 64], min_length=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    batch_size: int = Field(default=256, ge=8)
    epochs: int = Field(default=20, ge=1)
    patience: int = Field(default=3, ge=1)
    focal_gamma: float = Field(default=2.0, ge=0)
    warm_start: Literal["champion"] | None = None

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(RISK_TYPES))
        if unknown:
            raise ValueError(f"unknown risk types {unknown}; expected some of {list(RISK_TYPES)}")
        return value


class GatesConfig(_Strict):
    max_pr_auc_drop: float = Field(default=0.0, ge=0,
                                   description="fails when the paired interval of the PR-AUC change lies below minus this")
    min_recall_at_fpr: float = Field(default=0.3, ge=0, le=1)
    max_slice_recall_drop: float = Field(default=0.15, ge=0, le=1)
    max_decision_flip_rate: float = Field(default=0.2, ge=0, le=1)


class EvaluationConfig(_Strict):
    operating_fpr: float = Field(default=0.01, gt=0, lt=0.5)
    n_bootstrap: int = Field(default=200, ge=20, le=5000)
    min_slice_size: int = Field(default=30, ge=1)
    gates: GatesConfig = GatesConfig()


class ApprovalConfig(_Strict):
    reviewers: list[str] = Field(min_length=1, description="Airflow user names allowed to answer")
    response_timeout_hours: float = Field(default=48, gt=0)


class RiskConfig(_Strict):
    risk_type: str
    owner: str
    description: str
    schedule: str | None = "@daily"
    start_date: dt.date
    catchup: bool = Field(default=False, description=(
        "on unpause, run every interval since start_date; off: only the latest, and older days by backfill"))
    max_active_runs: int = Field(default=1, ge=1, le=16)
    model_cycle_days: int = Field(default=7, ge=1, le=90,
                                  description="train and evaluate every N days; features are extracted daily")
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_seconds: int = Field(default=120, ge=1, le=3600, description="first retry delay; doubles each try")
    extract: ExtractConfig
    labels: LabelsConfig = LabelsConfig()
    training_set: TrainingSetConfig
    model: ModelConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    approval: ApprovalConfig

    @field_validator("risk_type")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lower_snake_case, 2-49 characters")
        return value

    @model_validator(mode="after")
    def _own_task_first(self) -> RiskConfig:
        if self.risk_type in RISK_TYPES and self.model.tasks[0] != self.risk_type:
            raise ValueError(f"model.tasks must start with the risk's own type {self.risk_type!r}")
        return self

    @property
    def dag_id(self) -> str:
        return f"integrity_{self.risk_type}"


def load_risk_config(path: str | Path) -> RiskConfig:
    """Parse and validate one risk YAML; raise RiskConfigError naming file and key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RiskConfigError(f"{path}: cannot read YAML: {err}") from err
    if not isinstance(raw, dict):
        raise RiskConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        cfg = RiskConfig.model_validate(raw)
    except ValidationError as err:
        problems = describe_errors(err)
        raise RiskConfigError(f"{path}: {problems}") from None
    if cfg.risk_type != path.stem:
        raise RiskConfigError(f"{path}: key 'risk_type' is {cfg.risk_type!r} but the file is named {path.stem!r}")
    return cfg


def risk_config(risk_type: str) -> RiskConfig:
    """The validated config of a risk type by name (file include/risks/<risk_type>.yaml)."""
    if not _NAME.match(risk_type):
        raise RiskConfigError(f"risk type {risk_type!r} is not a valid name (lower_snake_case)")
    return load_risk_config(risks_dir() / f"{risk_type}.yaml")


def all_risk_types() -> list[str]:
    return sorted(p.stem for p in risks_dir().glob("*.yaml"))
