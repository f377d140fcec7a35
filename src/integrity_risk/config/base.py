"""What every config section shares: strict parsing, and errors that name the key."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

# libyaml's parser where PyYAML was built with it (its wheels are): every parse of a DAG
# file reads the risk and table YAMLs, and every task parses its DAG file before it runs.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``text`` as ``yaml.safe_load`` reads it: plain values only; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_SAFE_LOADER)


class StrictConfig(BaseModel):
    """A config section: unknown keys are errors (a misspelt setting must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_errors(err: ValidationError, prefix: str = "") -> str:
    """One line per problem of a pydantic error, naming the key and what was expected."""
    problems = []
    for error in err.errors():
        key = ".".join([prefix] * bool(prefix) + [str(part) for part in error["loc"]]) or "(top level)"
        if error["type"] == "missing":
            problems.append(f"key {key!r} is missing")
        elif error["type"] == "extra_forbidden":
            problems.append(f"key {key!r} is not a known setting")
        else:
            problems.append(f"key {key!r}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(problems)
