"""Hyperparameters of the deep model: the ``model:`` section of a risk's YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "tasks": None,  # risk types with a head; defaults to the trained risk alone
    "hidden_units": [128, 64],
    "dropout": 0.1,
    "learning_rate": 1e-3,
    "batch_size": 512,
    "epochs": 10,
    "patience": 3,
    "focal_gamma": 2.0,
    # Focal loss alpha (weight of the positives); None means no class balancing.
    "focal_alpha": None,
    "shuffle_buffer": 50_000,
    "adapt_rows": 100_000,
    "embedding_dim": 8,
    "max_vocab": 1000,
    # Explicit count-like features to log1p; None lets the trainer pick non-negative skewed ones.
    "log_features": None,
    # "champion" (or an alias name) to start the shared tower from a registered model.
    "warm_start": None,
    "warm_start_model": None,
    "seed": 0,
    "baseline": True,
}


class ConfigError(ValueError):
    """The model configuration is missing or has a bad value."""


def load_model_config(path: str | Path, risk_type: str) -> dict[str, Any]:
    """Read the model section from a risk YAML (``model:``) or a JSON/YAML file that is the section.

    :param path: ``include/risks/<risk>.yaml`` or a file holding only the model section.
    :param risk_type: the risk whose model is trained; always one of the tasks.
    :return: the section with defaults filled in.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model config {path} does not exist")
    text = path.read_text()
    raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"model config {path} must be a mapping, got {type(raw).__name__}")
    section = raw.get("model", raw)
    return resolve_config(section, risk_type)


def resolve_config(section: dict[str, Any], risk_type: str) -> dict[str, Any]:
    """Fill defaults into a model section and check its values.

    :param section: the ``model:`` mapping.
    :param risk_type: the risk whose head drives early stopping; added to tasks if absent.
    """
    unknown = set(section) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown model config keys: {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **section}
    tasks = list(cfg["tasks"] or [risk_type])
    if risk_type not in tasks:
        tasks.insert(0, risk_type)
    cfg["tasks"] = tasks
    cfg["hidden_units"] = [int(u) for u in cfg["hidden_units"]]
    for key in ("batch_size", "epochs", "patience", "shuffle_buffer", "adapt_rows"):
        if int(cfg[key]) < (0 if key == "epochs" else 1):
            raise ConfigError(f"model config {key} must be positive, got {cfg[key]}")
        cfg[key] = int(cfg[key])
    if not 0.0 <= float(cfg["dropout"]) < 1.0:
        raise ConfigError(f"model config dropout must be in [0, 1), got {cfg['dropout']}")
    if float(cfg["learning_rate"]) <= 0:
        raise ConfigError(f"model config learning_rate must be positive, got {cfg['learning_rate']}")
    return cfg
