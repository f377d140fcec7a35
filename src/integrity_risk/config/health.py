"""The health gates' shared settings, validated: the upstream tables' bounds and who may accept a day.

- ``include/tables/upstream.yaml``: the bounds of the upstream health gate
  (:class:`~integrity_risk.operators.upstream_health.UpstreamHealthOperator`) and the
  freshness deadline of the upstream partitions;
- ``include/platform.yaml``: the platform team, the Airflow users who may accept a
  partition a health gate blocked (the DAG ``accept_partition``).

A missing or invalid file raises :class:`HealthConfigError` naming the file and the key,
when the DAG file is parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from integrity_risk.config.base import StrictConfig, describe_errors, load_yaml
from integrity_risk.paths import include_dir
from integrity_risk.values import IDENTIFIER_PATTERN, check_table_name


class HealthConfigError(ValueError):
    """A health-gate settings file that does not validate; the message names the file and the key."""


class VolumeBound(StrictConfig):
    """Rows of a partition against the median of the trailing partitions: within [min_ratio, max_ratio] times it.

    :param min_ratio: lowest allowed share of the median.
    :param max_ratio: highest allowed multiple of the median.
    :param min_median: a median below this is too noisy to judge (a rare event type); 0 judges all.
    """

    min_ratio: float = Field(gt=0, lt=1)
    max_ratio: float = Field(gt=1)
    min_median: float = Field(default=0, ge=0)


def _null_rates(value: dict[str, float]) -> dict[str, float]:
    bad = [c for c in value if not IDENTIFIER_PATTERN.match(c)]
    if bad:
        raise ValueError(f"not column names: {bad}")
    out = [c for c, rate in value.items() if not 0 <= rate <= 1]
    if out:
        raise ValueError(f"rates must be in [0, 1]: {out}")
    return value


class PartitionHealth(StrictConfig):
    """Bounds every upstream partition has: a row floor, rows against the trailing days, NULL rates."""

    min_rows: int = Field(default=1, ge=0)
    rows: VolumeBound
    max_null_rate: dict[str, float] = {}

    @field_validator("max_null_rate")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        return _null_rates(value)


class UserEventsHealth(PartitionHealth):
    """Bounds of one partition of ``raw.user_events``."""

    event_type_rows: VolumeBound
    max_dirty_rate: float = Field(ge=0, le=1)
    max_duplicate_rate: float = Field(ge=0, le=1)
    max_out_of_day_rate: float = Field(ge=0, le=1)


class AccountProfilesHealth(PartitionHealth):
    """Bounds of one partition (a daily snapshot) of ``raw.account_profiles``."""


class UpstreamHealth(StrictConfig):
    """``include/tables/upstream.yaml``: the upstream health gate and the freshness deadline."""

    upstream_deadline_hours: float = Field(gt=0, le=72)
    trailing_days: int = Field(default=7, ge=1, le=60)
    partitions: list[str] = Field(min_length=1)
    user_events: UserEventsHealth
    account_profiles: AccountProfilesHealth

    @field_validator("partitions")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for table in value:
            check_table_name(table)
        return value

    @model_validator(mode="after")
    def _columns_exist(self) -> UpstreamHealth:
        from integrity_risk.features.hql import read_hql
        from integrity_risk.features.table_schema import ddl_schema

        ddl = read_hql("upstream_tables.hql")
        for table, rates in (
            ("raw.user_events", self.user_events.max_null_rate),
            ("raw.account_profiles", self.account_profiles.max_null_rate),
        ):
            known = {name for name, _ in ddl_schema(table, ddl)}
            unknown = sorted(set(rates) - known)
            if unknown:
                raise ValueError(f"max_null_rate names columns {unknown} that {table} lacks (upstream_tables.hql)")
        return self


class PlatformConfig(StrictConfig):
    """``include/platform.yaml``: the platform team's Airflow user names."""

    platform: list[str] = Field(min_length=1)

    @field_validator("platform")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        blank = [v for v in value if not v.strip()]
        if blank:
            raise ValueError("user names must not be blank")
        return value


def upstream_health_file() -> Path:
    return include_dir() / "tables" / "upstream.yaml"


def platform_file() -> Path:
    return include_dir() / "platform.yaml"


def _load(path: Path, model: type[StrictConfig]) -> Any:
    try:
        raw = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise HealthConfigError(f"{path}: cannot read YAML: {err}") from err
    if not isinstance(raw, dict):
        raise HealthConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise HealthConfigError(f"{path}: {describe_errors(err)}") from None
    except ValueError as err:
        raise HealthConfigError(f"{path}: {err}") from None


def load_upstream_health(path: str | Path | None = None) -> UpstreamHealth:
    """The upstream health gate's settings; raises HealthConfigError naming the file."""
    return _load(Path(path or upstream_health_file()), UpstreamHealth)


def platform_users(path: str | Path | None = None) -> list[str]:
    """The Airflow users of the platform team; raises HealthConfigError naming the file."""
    return _load(Path(path or platform_file()), PlatformConfig).platform
