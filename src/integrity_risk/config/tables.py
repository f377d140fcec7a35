"""The quality gate's rules of each feature table, validated: data in YAML, not code.

A risk's own table has its rules in its YAML (``extract.quality`` of
``include/risks/<risk>.yaml``); the tables every risk writes (``features.account_daily``,
``features.labels``) have theirs in ``include/tables/shared.yaml``, a mapping of table
name to the same block. A column the rules do not name gets the default of its name and
type (:func:`default_rule`), so the rules list only what differs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from integrity_risk.config.base import StrictConfig, describe_errors, load_yaml
from integrity_risk.paths import hql_dir, include_dir
from integrity_risk.values import IDENTIFIER_PATTERN, check_table_name

_RATIO = re.compile(r"(^|_)(ratio|share)(_|$)")  # fail_ratio_1d, top_domain_share_7d; not *_shared_*
NUMERIC_TYPES = ("int", "bigint", "double", "float", "smallint", "tinyint")


class TableRulesError(ValueError):
    """A table-rules file that does not validate; the message names the file and the key."""


class ColumnRule(StrictConfig):
    """Bounds of one column in one partition.

    :param min: smallest allowed value (None: unbounded).
    :param max: largest allowed value (None: unbounded).
    :param max_null_rate: largest allowed share of NULLs, in [0, 1].
    """

    min: float | None = None
    max: float | None = None
    max_null_rate: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def default_rule(name: str, dtype: str) -> ColumnRule:
    """The rule a column gets from its name and type: counts >= 0, ratios and shares in [0, 1]."""
    if dtype not in NUMERIC_TYPES:
        return ColumnRule()
    if _RATIO.search(name):
        return ColumnRule(min=0, max=1)
    return ColumnRule(min=0)


class TableQuality(StrictConfig):
    """What the quality gate holds one table to, beside the defaults: the shape of the data, never its volume.

    (How much behaviour a day holds is the drift report's, not a gate's: attackers change it.)

    :param key_columns: columns that identify a row: one row per key in a partition.
    :param columns: ``{column: ColumnRule}`` for columns whose bounds differ from the default.
    :param feature_ts: ``day_end`` or ``within_day``: the ``feature_ts`` its rows must have.
    """

    key_columns: list[str] = Field(default=["account_pk"], min_length=1)
    columns: dict[str, ColumnRule] = {}
    feature_ts: Literal["day_end", "within_day"] = Field(
        default="day_end",
        description=(
            "when a row's values are known: day_end, ds + 1 day 00:00 for every row (a daily table); "
            "within_day, a time on ds (the stream's windows, at their newest event)"
        ),
    )

    @field_validator("key_columns")
    @classmethod
    def _identifiers(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not IDENTIFIER_PATTERN.match(c)]
        if bad:
            raise ValueError(f"not column names: {bad}")
        return value

    def unknown_columns(self, table: str, ddl_text: str) -> list[str]:
        """Columns named here that the table's ``CREATE TABLE`` in ``ddl_text`` lacks."""
        from integrity_risk.features.table_schema import ddl_schema

        known = {name for name, _ in ddl_schema(table, ddl_text)}
        named = [*self.key_columns, *self.columns]
        return sorted({c for c in named if c not in known})

    def rule(self, name: str, dtype: str) -> ColumnRule:
        """The rule of column ``name``: the one named here, else the default of its name and type."""
        return self.columns.get(name) or default_rule(name, dtype)


def shared_tables_file() -> Path:
    """``include/tables/shared.yaml``: the rules of the tables every risk writes."""
    return include_dir() / "tables" / "shared.yaml"


def load_table_rules(path: str | Path | None = None) -> dict[str, TableQuality]:
    """``{table: TableQuality}`` from a YAML mapping of table to rules; raises TableRulesError naming the file."""
    from integrity_risk.features.hql import read_hql

    path = Path(path or shared_tables_file())
    try:
        raw = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise TableRulesError(f"{path}: cannot read YAML: {err}") from err
    if not isinstance(raw, dict) or not raw:
        raise TableRulesError(f"{path}: expected a mapping of database.table to its rules")
    rules, ddl = {}, read_hql("feature_tables.hql")
    for table, block in raw.items():
        try:
            check_table_name(table)
            rules[table] = TableQuality.model_validate(block)
        except ValueError as err:
            problems = describe_errors(err) if isinstance(err, ValidationError) else str(err)
            raise TableRulesError(f"{path}: table {table!r}: {problems}") from None
        unknown = rules[table].unknown_columns(table, ddl)
        if unknown:
            raise TableRulesError(
                f"{path}: table {table!r}: columns {unknown} are not in its CREATE TABLE "
                "(include/hql/feature_tables.hql)"
            )
    return rules


@functools.lru_cache(maxsize=4)
def _shared_rules(versions: tuple[tuple[str, int], ...]) -> dict[str, TableQuality]:
    return load_table_rules(versions[0][0])


def shared_table_rules(table: str) -> TableQuality:
    """The rules of a table all risks share, from ``include/tables/shared.yaml``.

    Read once per version of the file (and of the DDL it is checked against): a DAG file
    asks for each shared table's rules, and the rules are frozen.
    """
    try:
        files = (shared_tables_file(), hql_dir() / "feature_tables.hql")
        rules = _shared_rules(tuple((str(f), f.stat().st_mtime_ns) for f in files))
    except OSError:
        rules = load_table_rules()  # names the file it cannot read
    if table not in rules:
        raise TableRulesError(f"{shared_tables_file()}: no rules for {table!r}; it has {sorted(rules)}")
    return rules[table]


GRAPH_TABLE = "features.graph_daily"


@dataclass(frozen=True)
class SharedExtract:
    """How the shared table is written: its HiveQL (under include/hql/) and look-back in days."""

    hql: str
    lookback_days: int = 7  # the 7-day windows' look-back (HiveExtractOperator's default)


# The tables a risk pipeline writes for every risk (once a day, by whichever run comes
# first): account_daily, which every risk reads, and those a risk's YAML names in
# extract.shared_tables. The streaming job's windows, recomputed in batch, read the day
# and the one before (a window may start before midnight).
SHARED_EXTRACTS = {
    "features.account_daily": SharedExtract("features/account_daily.hql"),
    # The account graph's features of the day (the DAG writes its edges and components first;
    # its look-back is the graph's window, include/tables/graph.yaml, not this default).
    GRAPH_TABLE: SharedExtract("features/graph_daily.hql"),
    "features.account_realtime_5m": SharedExtract("features/account_realtime_5m.hql", lookback_days=1),
    "features.account_realtime_1h": SharedExtract("features/account_realtime_1h.hql", lookback_days=1),
}
