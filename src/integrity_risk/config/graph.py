"""``include/tables/graph.yaml``: how the account graph is built, validated."""

from __future__ import annotations

import functools

from pydantic import Field, ValidationError, field_validator

from integrity_risk.config.base import StrictConfig, describe_errors, load_yaml
from integrity_risk.paths import include_dir


class GraphSettings(StrictConfig):
    """:param window_days: days of use that make an edge, ``ds`` included.
    :param hub_max_accounts: a device or IP used by more accounts is a hub: counted per
        account (``hub_nodes``), never an edge.
    :param label_risk_types: risk types whose confirmed labels make ``component_labelled_share``.
    :param label_maturity_days: a label counts when at least this old at ``feature_ts``.
    """

    window_days: int = Field(default=14, ge=1, le=90)
    hub_max_accounts: int = Field(default=50, ge=2)
    label_risk_types: list[str] = Field(default=["abusive_account", "fake_engagement"], min_length=1)
    label_maturity_days: int = Field(default=7, ge=0, le=90)

    @field_validator("label_risk_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from integrity_risk.config.risk import all_risk_types

        unknown = sorted(set(value) - set(all_risk_types()))
        if unknown:
            raise ValueError(f"no risk YAML for {unknown}")
        return value


@functools.cache
def graph_settings() -> GraphSettings:
    path = include_dir() / "tables" / "graph.yaml"
    try:
        return GraphSettings.model_validate(load_yaml(path.read_text()) or {})
    except ValidationError as err:
        raise ValueError(f"{path}: {describe_errors(err)}") from None
