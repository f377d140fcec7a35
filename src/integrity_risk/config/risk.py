"""A risk type's pipeline configuration: ``include/risks/<risk>.yaml``, validated.

A modeler adds a risk type with a YAML file, a HiveQL file and a Feast feature
view. Everything here is checked when the DAG file is parsed, so a mistake shows
up as one import error in the Airflow UI naming the file, the key and what was
expected, instead of a failure halfway through a run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from integrity_risk.config.base import StrictConfig as _Strict, describe_errors, load_yaml
from integrity_risk.config.model import ModelConfig
from integrity_risk.config.tables import TableQuality
from integrity_risk.paths import hql_dir, risks_dir
from integrity_risk.values import IDENTIFIER_PATTERN, RISK_TYPE_PATTERN as _NAME


class RiskConfigError(ValueError):
    """A risk YAML that does not validate; the message names file, key and expectation."""


class ExtractConfig(_Strict):
    """``extract:``: the risk table's HiveQL, its DDL and its quality gate's rules."""

    hql: str = Field(description="HiveQL template under include/hql/, e.g. features/fraud.hql")
    table: str = Field(pattern=r"^features\.[a-z][a-z0-9_]*$")
    min_rows: int = Field(default=1, ge=0, description="the fewest rows the quality gate lets through")
    ddl: str = Field(
        default="feature_tables.hql",
        description=(
            "HiveQL file under include/hql/ with the table's CREATE TABLE IF NOT EXISTS: run before each "
            "extract, and the schema the quality gate expects"
        ),
    )
    quality: TableQuality = Field(description="the quality gate's rules of this risk's table")
    shared_tables: list[str] = Field(
        default=[],
        description=(
            "shared tables the feature service reads besides features.account_daily (always written), "
            "e.g. features.account_realtime_5m: the run writes them for every risk unless written already"
        ),
    )

    @field_validator("shared_tables")
    @classmethod
    def _known_shared_tables(cls, value: list[str]) -> list[str]:
        from integrity_risk.config.tables import SHARED_EXTRACTS, shared_table_rules

        extra = sorted(set(SHARED_EXTRACTS) - {"features.account_daily"})
        for table in value:
            if table not in extra:
                raise ValueError(f"{table!r} is not a shared table this project writes; one of {extra}")
            shared_table_rules(table)  # its quality rules, in include/tables/shared.yaml
        if len(set(value)) != len(value):
            raise ValueError(f"names a table twice: {value}")
        return value

    @field_validator("hql", "ddl")
    @classmethod
    def _hql_exists(cls, value: str) -> str:
        if ".." in Path(value).parts or not (hql_dir() / value).is_file():
            raise ValueError(f"no HiveQL file include/hql/{value}")
        return value

    @model_validator(mode="after")
    def _table_declared_and_rules_name_its_columns(self) -> ExtractConfig:
        from integrity_risk.features.table_schema import ddl_schema

        ddl = (hql_dir() / self.ddl).read_text()
        try:
            ddl_schema(self.table, ddl)
        except ValueError:
            raise ValueError(
                f"include/hql/{self.ddl} has no CREATE TABLE IF NOT EXISTS {self.table} "
                "(... ) PARTITIONED BY (ds STRING)"
            ) from None
        unknown = self.quality.unknown_columns(self.table, ddl)
        if unknown:
            raise ValueError(
                f"quality names columns {unknown} that {self.table} does not have (include/hql/{self.ddl})"
            )
        return self


class LabelsConfig(_Strict):
    """``labels:``: when a label counts as matured, how many negatives to draw, and which
    other risks' positives are this risk's negatives.
    """

    maturity_days: int = Field(default=3, ge=0, le=60)
    negatives_per_positive: float = Field(default=3.0, ge=0)
    exclusive_of: list[str] = Field(
        default_factory=list,
        description=(
            "risk types whose enforcement never overlaps this one's: an account with a matured positive "
            "label of one of them, and none of this risk, is a negative of this risk's head (else unknown)"
        ),
    )


NUMERIC_TYPES = frozenset({"bigint", "int", "double", "float", "smallint", "tinyint"})


def _numeric_columns(table: str) -> list[str]:
    """The numeric columns of ``table`` as ``include/hql/feature_tables.hql`` declares it."""
    from integrity_risk.features.table_schema import ddl_schema

    ddl = (hql_dir() / "feature_tables.hql").read_text()
    return [name for name, kind in ddl_schema(f"features.{table}", ddl) if kind in NUMERIC_TYPES]


def default_sequence_columns() -> list[str]:
    """The day's own columns of ``features.account_daily`` (``_1d``, and ``_1h``: a day's busiest hour).

    A sequence of them is the account's behaviour day by day; a sequence of 7-day windows
    would repeat each day seven times.
    """
    return [c for c in _numeric_columns("account_daily") if c.endswith(("_1d", "_1h"))]


class SequenceConfig(_Strict):
    """``training_set.sequence:``: each example's last ``days`` days of daily features (0: none)."""

    days: int = Field(default=14, ge=0, le=90, description="days per sequence, the example's own day the newest")
    table: Literal["account_daily"] = "account_daily"
    columns: list[str] = Field(default_factory=default_sequence_columns, min_length=1)

    @model_validator(mode="after")
    def _columns_of_the_table(self) -> SequenceConfig:
        from integrity_risk.features.sequences import SequenceSpec

        numeric = set(_numeric_columns(self.table))
        unknown = [c for c in self.columns if c not in numeric]
        if unknown:
            raise ValueError(f"not numeric columns of features.{self.table}: {unknown}")
        if self.days:
            SequenceSpec(self.days, tuple(self.columns), self.table)  # the spec's own checks
        return self

    def spec(self):
        """The :class:`~integrity_risk.features.sequences.SequenceSpec`, or None when off."""
        from integrity_risk.features.sequences import SequenceSpec

        return SequenceSpec(self.days, tuple(self.columns), self.table) if self.days else None


class TrainingSetConfig(_Strict):
    """``training_set:``: the feature service and the days of each split."""

    feature_service: str
    lookback_days: int = Field(default=21, ge=3, le=365)
    validation_days: int = Field(default=2, ge=1)
    test_days: int = Field(default=2, ge=1)
    sequence: SequenceConfig = Field(default_factory=SequenceConfig)


class GatesConfig(_Strict):
    """``evaluation.gates:``: the automatic gates a candidate must pass before a reviewer is asked."""

    max_pr_auc_drop: float = Field(
        default=0.0, ge=0, description="fails when the paired interval of the PR-AUC change lies below minus this"
    )
    min_recall_at_fpr: float = Field(default=0.3, ge=0, le=1)
    max_slice_recall_drop: float = Field(default=0.15, ge=0, le=1)
    max_decision_flip_rate: float = Field(default=0.2, ge=0, le=1)
    min_labelled_positives: int | None = Field(
        default=None,
        ge=1,
        description="labelled positives below which a labelled gate reports NOT ENOUGH EVIDENCE instead of passing",
    )
    max_alert_volume_change: float | None = Field(
        default=None,
        gt=1,
        description="fails when the candidate flags more than this many times the champion's accounts, or fewer "
        "than its inverse, on the evaluation days' whole population",
    )
    max_feature_psi: float | None = Field(
        default=None,
        gt=0,
        description="fails when an input feature's PSI between the candidate's training window and the run's day "
        "exceeds this",
    )


class EvaluationConfig(_Strict):
    """``evaluation:``: the operating point, the bootstrap and the slices of the shadow evaluation."""

    operating_fpr: float = Field(default=0.01, gt=0, lt=0.5)
    n_bootstrap: int = Field(default=200, ge=20, le=5000)
    min_slice_size: int = Field(default=30, ge=1)
    population_days: int = Field(
        default=3, ge=1, le=14, description="the most days after the training cutoff, up to the run's, scored whole"
    )
    population_batch_accounts: int = Field(
        default=250_000, ge=1000, description="the most accounts read and scored at once (memory)"
    )
    gates: GatesConfig = GatesConfig()


class NotifierConfig(_Strict):
    """One entry of ``drift.notify``: an Airflow notifier by import path, and its keyword arguments."""

    class_: str = Field(
        alias="class",
        description="import path of a BaseNotifier subclass, e.g. integrity_risk.notifiers.log.LogNotifier",
    )
    kwargs: dict[str, Any] = Field(
        default={}, description="its arguments; templated ones may use {{ drift_message }} and {{ drift }}"
    )

    @model_validator(mode="after")
    def _importable(self) -> NotifierConfig:
        from integrity_risk.notifiers import check_notifier_kwargs

        check_notifier_kwargs(self.class_, self.kwargs)
        return self


DEFAULT_NOTIFIER = "integrity_risk.notifiers.log.LogNotifier"


class DriftConfig(_Strict):
    """``drift:``: when the day's behaviour counts as drifted, and whom that is told. Never blocks a run."""

    max_psi: float = Field(default=0.25, gt=0, description="a feature's or the champion score's PSI above this")
    noise_multiplier: float = Field(
        default=2.0,
        ge=1.0,
        description="a feature drifts only above this multiple of its normal day-to-day PSI in the reference",
    )
    max_flag_rate_ratio: float = Field(
        default=2.0,
        gt=1.0,
        description="the champion's flag rate above this multiple of the reference's, or below its inverse",
    )
    min_volume_ratio: float = Field(
        default=0.5, gt=0, lt=1, description="a row count or volume below this share of its trailing median"
    )
    max_volume_ratio: float = Field(
        default=2.0, gt=1, description="a row count or volume above this multiple of its trailing median"
    )
    reference_days: int = Field(
        default=14, ge=1, le=90, description="trailing days compared with when there is no champion, and for volumes"
    )
    volume_columns: dict[str, list[str]] = Field(
        default={}, description="per feature table, columns whose daily sum is a drift figure"
    )
    notify: list[NotifierConfig] = Field(
        default_factory=lambda: [NotifierConfig.model_validate({"class": DEFAULT_NOTIFIER})],
        description="notifiers called when a figure passes its bound",
    )
    retrain_delay_days: int | None = Field(
        default=None,
        ge=0,
        le=90,
        description=(
            "model_cycle on_drift trains this many days after a drifted day, once labels of the new behaviour "
            "reached the train split; null: labels.maturity_days + validation_days + test_days + 1"
        ),
    )

    @field_validator("volume_columns")
    @classmethod
    def _identifiers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [c for columns in value.values() for c in columns if not IDENTIFIER_PATTERN.match(c)]
        if bad:
            raise ValueError(f"not column names: {bad}")
        return value


class ApprovalConfig(_Strict):
    """``approval:``: who may approve a promotion, how many of them must, and how long a request waits."""

    reviewers: list[str] = Field(min_length=1, description="Airflow user names allowed to answer")
    required_approvals: int = Field(
        default=1,
        ge=1,
        le=5,
        description=(
            "approvals from distinct reviewers a promotion needs; any reject stops it. An override of "
            "failed gates needs at least two people (the requester and another reviewer) whatever this says"
        ),
    )
    response_timeout_hours: float = Field(default=48, gt=0)

    @model_validator(mode="after")
    def _enough_reviewers(self) -> ApprovalConfig:
        if len(set(self.reviewers)) != len(self.reviewers):
            raise ValueError(f"reviewers are listed twice: {self.reviewers}")
        if self.required_approvals > len(self.reviewers):
            raise ValueError(
                f"required_approvals {self.required_approvals} needs at least as many distinct reviewers, "
                f"got {len(self.reviewers)}: {self.reviewers}"
            )
        return self


class RiskConfig(_Strict):
    """One risk type's pipeline: ``include/risks/<risk>.yaml``, validated."""

    risk_type: str
    owner: str
    description: str
    schedule: str | None = "@daily"
    start_date: dt.date
    history_start: dt.date | None = Field(
        default=None,
        description=(
            "the first day any run may process, backfills included (default start_date): a backfill "
            "from before it is refused, and its runs end at once"
        ),
    )
    end_date: dt.date | None = Field(
        default=None,
        description=(
            "the last day the schedule runs (a retired risk type, or a world that ends): the scheduler "
            "creates no run for a later day, even when a catch-up or a clock past midnight would"
        ),
    )
    catchup: bool = Field(
        default=False,
        description=(
            "on unpause, run every interval since start_date; off: only the latest, and older days by backfill"
        ),
    )
    max_active_runs: int = Field(default=1, ge=1, le=16)
    model_cycle_days: int = Field(
        default=7, ge=1, le=90, description="train and evaluate every N days; features are extracted daily"
    )
    model_cycle: Literal["fixed", "on_drift"] = Field(
        default="fixed",
        description="fixed: train every model_cycle_days; on_drift: also on a day whose drift passed a bound",
    )
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_seconds: int = Field(default=120, ge=1, le=3600, description="first retry delay; doubles each try")
    extract: ExtractConfig
    labels: LabelsConfig = LabelsConfig()
    training_set: TrainingSetConfig
    model: ModelConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    drift: DriftConfig = DriftConfig()
    approval: ApprovalConfig

    @field_validator("risk_type")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lower_snake_case, 2-49 characters")
        return value

    @model_validator(mode="after")
    def _own_task_first(self) -> RiskConfig:
        if self.model.tasks[0] != self.risk_type:
            raise ValueError(f"model.tasks must start with the risk's own type {self.risk_type!r}")
        return self

    @model_validator(mode="after")
    def _exclusive_risks_are_others(self) -> RiskConfig:
        if self.risk_type in self.labels.exclusive_of:
            raise ValueError(f"labels.exclusive_of: {self.risk_type!r} cannot exclude itself")
        return self

    @model_validator(mode="after")
    def _drift_volumes_name_feature_columns(self) -> RiskConfig:
        from integrity_risk.features.table_schema import ddl_schema

        ddls = {"features.account_daily": "feature_tables.hql", self.extract.table: self.extract.ddl}
        for table, columns in self.drift.volume_columns.items():
            if table not in ddls:
                raise ValueError(f"drift.volume_columns: {table!r} is not one of this risk's tables {sorted(ddls)}")
            known = {name for name, _ in ddl_schema(table, (hql_dir() / ddls[table]).read_text())}
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise ValueError(f"drift.volume_columns: {table} has no columns {unknown} (include/hql/{ddls[table]})")
        return self

    @property
    def first_day(self) -> dt.date:
        """The first day a run may process: ``history_start``, else ``start_date``."""
        return self.history_start or self.start_date

    @model_validator(mode="after")
    def _dates_in_order(self) -> RiskConfig:
        if self.history_start and self.history_start > self.start_date:
            raise ValueError(f"history_start {self.history_start} is after start_date {self.start_date}")
        if self.end_date and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    @property
    def drift_retrain_delay_days(self) -> int:
        """Days after a drifted day that ``model_cycle: on_drift`` trains.

        By default the first day whose training set holds the drifted day's rows in its train
        split: a label must mature (``maturity_days``) and the newest days go to test and
        validation. Earlier, a candidate has no labels of the new behaviour to learn from.
        """
        if self.drift.retrain_delay_days is not None:
            return self.drift.retrain_delay_days
        ts = self.training_set
        return self.labels.maturity_days + ts.validation_days + ts.test_days + 1

    @property
    def dag_id(self) -> str:
        return f"integrity_{self.risk_type}"

    @property
    def promotion_dag_id(self) -> str:
        """The DAG that asks the reviewers about each evaluated candidate (``promotion_dag``)."""
        return f"{self.dag_id}_promotion"


def load_risk_config(path: str | Path) -> RiskConfig:
    """Parse and validate one risk YAML; raise RiskConfigError naming file and key."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RiskConfigError(f"{path}: cannot read YAML: {err}") from err
    if not isinstance(raw, dict):
        raise RiskConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        cfg = RiskConfig.model_validate(raw)
    except ValidationError as err:
        raise RiskConfigError(f"{path}: {describe_errors(err)}") from None
    if cfg.risk_type != path.stem:
        raise RiskConfigError(f"{path}: key 'risk_type' is {cfg.risk_type!r} but the file is named {path.stem!r}")
    # A risk type exists when its YAML does: a head without one has no labels to learn from.
    known = sorted(set(all_risk_types()) | {cfg.risk_type})
    for key, names in (("model.tasks", cfg.model.tasks), ("labels.exclusive_of", cfg.labels.exclusive_of)):
        unknown = [t for t in names if t not in known]
        if unknown:
            raise RiskConfigError(
                f"{path}: key '{key}': unknown risk types {unknown}; expected some of {known} "
                f"(a risk type is a YAML in {risks_dir()})"
            )
    return cfg


def risk_config(risk_type: str) -> RiskConfig:
    """The validated config of a risk type by name (file include/risks/<risk_type>.yaml)."""
    if not _NAME.match(risk_type):
        raise RiskConfigError(f"risk type {risk_type!r} is not a valid name (lower_snake_case)")
    return load_risk_config(risks_dir() / f"{risk_type}.yaml")


def all_risk_types() -> list[str]:
    """The risk types: one per YAML in the risks folder (``include/risks``, env ``INTEGRITY_RISKS_DIR``).

    Nothing else lists them: a modeler adds a risk type with its YAML, its HiveQL and its
    feature view. A file whose name is not a valid risk type is left out here, and refused
    by name when its DAG loads it.
    """
    return sorted(p.stem for p in risks_dir().glob("*.yaml") if _NAME.match(p.stem))
