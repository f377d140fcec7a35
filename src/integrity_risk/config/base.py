"""What every config section shares: strict parsing, and errors that name the key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


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
