"""Hyperparameters of the deep model: the ``model:`` section of a risk's YAML.

:class:`ModelConfig` is the only place a trainer setting and its default are declared.
The DAG validates the section when its file is parsed and hands the trainer the
validated JSON (``TFTrainOperator(model_config=...)``); the trainer validates what it
reads with the same model, so a setting the trainer knows is one the YAML accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from integrity_risk.config.base import StrictConfig, describe_errors, load_yaml
from integrity_risk.values import RISK_TYPE_PATTERN


class ConfigError(ValueError):
    """The model configuration is missing or has a bad value."""


class ModelConfig(StrictConfig):
    """The ``model:`` section: every setting the trainer reads, with its default."""

    tasks: list[str] = Field(min_length=1, description="risk types with a head; the first is the trained risk's own")
    hidden_units: list[int] = Field(default=[128, 64], min_length=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    batch_size: int = Field(default=256, ge=8)
    epochs: int = Field(default=20, ge=1)
    patience: int = Field(default=3, ge=1, description="epochs without a better validation PR-AUC of the own head")
    focal_gamma: float = Field(default=2.0, ge=0)
    focal_alpha: float | None = Field(
        default=None, gt=0, lt=1, description="focal loss weight of the positives; null: no class balancing"
    )
    shuffle_buffer: int = Field(default=50_000, ge=1, description="rows shuffled together while streaming")
    adapt_rows: int = Field(default=100_000, ge=1, description="rows read to fit normalization and vocabularies")
    embedding_dim: int = Field(default=8, ge=1, description="largest embedding size of a categorical feature")
    max_vocab: int = Field(default=1000, ge=1, description="most frequent values kept per categorical feature")
    log_features: list[str] | None = Field(
        default=None, description="count-like features to log1p; null: the trainer picks non-negative skewed ones"
    )
    warm_start: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description='"champion" (or another alias) to start the shared tower from that registered version',
    )
    warm_start_model: str | None = Field(
        default=None, description="registered model to warm start from; default the one being trained"
    )
    sequence_filters: int = Field(default=32, ge=1, description="channels of each temporal convolution")
    sequence_layers: int = Field(
        default=2, ge=1, le=6, description="causal 1-D convolutions over the days (dilations 1, 2, 4, ...)"
    )
    unlabelled: Literal["negative", "pu"] = Field(
        default="negative",
        description=(
            '"pu": the sampled accounts nobody labelled are unlabelled, not negatives, in the own head\'s '
            "loss (non-negative positive-unlabelled risk, Kiryo et al. 2017); needs pu_prior"
        ),
    )
    pu_prior: float | None = Field(
        default=None, gt=0, lt=0.5, description="the share of the risk's positives among the unlabelled accounts"
    )
    seed: int = Field(default=0, ge=0)
    baseline: bool = Field(default=True, description="also train and log a LightGBM baseline on the same set")

    @model_validator(mode="after")
    def _pu_needs_its_prior(self) -> ModelConfig:
        if self.unlabelled == "pu" and self.pu_prior is None:
            raise ValueError('unlabelled: "pu" needs pu_prior, the share of positives among the unlabelled accounts')
        return self

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not RISK_TYPE_PATTERN.match(t)]
        if bad:
            raise ValueError(f"risk type names must be lower_snake_case, got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"a risk type is listed twice: {value}")
        return value


def load_model_config(path: str | Path, risk_type: str) -> dict[str, Any]:
    """Read the model section from a risk YAML (``model:``) or a JSON/YAML file that is the section.

    :param path: ``include/risks/<risk>.yaml``, the JSON the DAG hands the trainer, or a file
        holding only the model section.
    :param risk_type: the risk whose model is trained; always one of the tasks.
    :return: the validated section, defaults filled in, as plain JSON values.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model config {path} does not exist")
    text = path.read_text()
    try:
        raw = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"model config {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {err}") from None
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"model config {path} must be a mapping, got {type(raw).__name__}")
    section = raw.get("model", raw)
    if not isinstance(section, dict):
        raise ConfigError(f"model config {path}: key 'model' must be a mapping, got {type(section).__name__}")
    try:
        return resolve_config(section, risk_type)
    except ConfigError as err:
        raise ConfigError(f"model config {path}: {err}") from None


def resolve_config(section: dict[str, Any], risk_type: str) -> dict[str, Any]:
    """Validate a model section with :class:`ModelConfig`; the trained risk is always a task.

    :param section: the ``model:`` mapping.
    :param risk_type: the risk whose head drives early stopping; put first in tasks if absent
        (a section without tasks trains that risk's head alone).
    :raises ConfigError: naming each bad key and what was expected.
    """
    tasks = section.get("tasks") or [risk_type]
    if isinstance(tasks, list) and risk_type not in tasks:  # anything else: the model names the problem
        tasks = [risk_type, *tasks]
    try:
        return ModelConfig.model_validate({**section, "tasks": tasks}).model_dump(mode="json")
    except ValidationError as err:
        raise ConfigError(describe_errors(err, "model")) from None
