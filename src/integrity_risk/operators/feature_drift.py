"""FeatureDriftOperator: the day's behaviour drift, kept per day in Hive, told to the platform team; never a gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.hooks.hive import HiveServer2HookMixin

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd
    from airflow.sdk import Context

    from integrity_risk.evaluation.drift import Champion, ServiceFeatures

DRIFT_TABLE = "eval.feature_drift"  # DDL: include/hql/feature_drift.hql


class FeatureDriftOperator(HiveServer2HookMixin, BaseOperator):
    """Measure how far day ``ds`` drifted from the champion's training window; write, notify, return it.

    Computes the figures of :mod:`integrity_risk.evaluation.drift` (PSI of every feature of the
    feature service, the feature tables' row counts and volumes against their trailing days,
    the champion's score distribution and flag rate), replaces partition ``(risk_type, ds)`` of
    ``drift_table`` with them, and, when one passes its bound, calls the ``notifiers``.

    Drift never fails the task: a drifted day is a successful run whose result says so (the
    DAG's ``model_cycle`` may train on it). Only a real error fails it: HiveServer2 or MLflow
    unreachable, the day's partitions unreadable. A notifier that fails is logged, not raised:
    the figures are in the table and the task's result either way.

    :param risk_type: the risk whose day is measured (the drift table's partition).
    :param feature_service: the Feast feature service the risk's model reads, e.g. ``fraud_v1``.
    :param bounds: the risk YAML's ``drift`` bounds: ``max_psi``, ``max_flag_rate_ratio``,
        ``min_volume_ratio``, ``max_volume_ratio`` (other keys are ignored).
    :param reference_days: trailing days compared with when there is no champion, and for volumes.
    :param volume_columns: ``{table: [column, ...]}`` whose daily sums are drift figures.
    :param operating_fpr: the FPR production runs at (the champion's threshold, when its
        promotion did not record one).
    :param notifiers: ``[{"class": import path, "kwargs": {...}}]`` of Airflow notifiers, built
        and rendered with the task's context (plus ``drift`` and ``drift_message``) on a drifted day.
    :param ds: the day, ``YYYY-MM-DD``. (templated)
    :param model_name: registered model; default ``integrity_<risk>``.
    :param profile: Feast profile the feature tables are read with (default from the environment).
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    :param drift_table: the table of daily drift figures.
    :return (XCom, multiple_outputs): ``drifted``, ``features_over_bound``, ``over_bound``,
        ``max_psi``, ``flag_rate``, ``flag_rate_ratio``, ``reference``, ``champion_version``,
        ``message``, ``notified``, and the day's keys (``risk_type``, ``ds``, ``accounts``, ``table``).
    """

    template_fields: Sequence[str] = ("ds",)
    ui_color = "#e4ecf7"

    def __init__(
        self,
        *,
        risk_type: str,
        feature_service: str,
        bounds: Mapping[str, Any] | None = None,
        reference_days: int = 14,
        volume_columns: Mapping[str, Sequence[str]] | None = None,
        operating_fpr: float = 0.01,
        notifiers: Sequence[Mapping[str, Any]] = (),
        ds: str = "{{ ds }}",
        model_name: str | None = None,
        profile: str | None = None,
        hiveserver2_conn_id: str = "hiveserver2_default",
        drift_table: str = DRIFT_TABLE,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)  # each key its own XCom: drifted, max_psi, message, ...
        super().__init__(**kwargs)
        self.risk_type = risk_type
        self.feature_service = feature_service
        self.bounds = dict(bounds or {})
        self.reference_days = reference_days
        self.volume_columns = {t: list(c) for t, c in (volume_columns or {}).items()}
        self.operating_fpr = operating_fpr
        self.notifiers = [dict(n) for n in notifiers]
        self.ds = ds
        self.model_name = model_name
        self.profile = profile
        self.hiveserver2_conn_id = hiveserver2_conn_id
        self.drift_table = drift_table

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.evaluation import drift as d
        from integrity_risk.tracking import configure, registered_model_name
        from integrity_risk.values import parse_ds

        self.ds = parse_ds(self.ds).isoformat()
        configure()
        bounds = d.DriftBounds(**{k: v for k, v in self.bounds.items() if k in d.DriftBounds.__dataclass_fields__})
        champion = d.find_champion(self.model_name or registered_model_name(self.risk_type), self.operating_fpr)
        service = d.service_features(self.feature_service, self.profile)
        day = d.day_features(service, [self.ds], self.profile, self.hiveserver2_conn_id)
        reference, source = self._reference(service, champion)
        self.log.info("Drift of %s on %s: %d accounts against %s", self.risk_type, self.ds, len(day), source)

        rows = d.feature_psi(reference, day, service.names, d.feature_noise(reference, service.names))
        if len(reference) > d.MAX_REFERENCE_ROWS:  # the PSIs saw it whole; the champion scores a sample
            reference = reference.sample(d.MAX_REFERENCE_ROWS, random_state=0).reset_index(drop=True)
        rows += self._volumes(service)
        rows += self._scores(champion, reference, day)
        d.judge(rows, bounds)
        version = champion.version if champion else None
        self._write(d.drift_frame(rows, reference=source, champion_version=version, run_id=str(context["run_id"])))
        summary = d.summarize(
            rows,
            psi_bound=bounds.max_psi,
            risk_type=self.risk_type,
            ds=self.ds,
            accounts=len(day),
            reference=source,
            champion_version=version,
            table=self.drift_table,
        )
        summary["notified"] = self._notify(context, summary) if summary["drifted"] else []
        self.log.info("%s", summary["message"])
        return summary

    def _reference(self, service: ServiceFeatures, champion: Champion | None):
        """The population of the champion's training window, else of the trailing days; and which it was."""
        from integrity_risk.evaluation import drift as d

        why = "no champion"
        if champion and champion.window:
            window = list(champion.window)
            frame = d.day_features(service, window, self.profile, self.hiveserver2_conn_id)
            if not frame.empty:
                return frame, (
                    f"champion v{champion.version}: its training window {window[0]}..{window[-1]} "
                    f"({len(frame)} account-days)"
                )
            why = f"champion v{champion.version}'s training window {window[0]}..{window[-1]} has no partitions left"
        elif champion:
            why = f"champion v{champion.version} logged no training window"
        days = d.trailing_days(self.ds, self.reference_days)
        frame = d.day_features(service, days, self.profile, self.hiveserver2_conn_id)
        return frame, f"trailing {self.reference_days} days {days[0]}..{days[-1]} of the feature tables ({why})"

    def _volumes(self, service: ServiceFeatures) -> list[dict]:
        import datetime as dt

        from integrity_risk.evaluation import drift as d
        from integrity_risk.values import parse_ds

        first = d.trailing_days(self.ds, self.reference_days)[0]
        after = (parse_ds(self.ds) + dt.timedelta(days=1)).isoformat()
        rows = []
        for table in sorted(service.tables):
            history = self.hook.partition_volumes(table, first, after, self.volume_columns.get(table, ()))
            rows += d.volume_figures(history, self.ds, table)
        return rows

    def _scores(self, champion: Champion | None, reference: pd.DataFrame, day: pd.DataFrame) -> list[dict]:
        """The champion's score figures; none (logged) when there is no champion or it cannot score the day."""
        from integrity_risk.evaluation import drift as d
        from integrity_risk.training.data import TrainingSetError

        if champion is None or day.empty:
            return []
        try:
            threshold = champion.threshold
            if threshold is None:
                threshold = d.threshold_on_test_split(champion, self.risk_type, self.operating_fpr, self._score)
            return d.score_figures(
                self._score(champion.model_uri, reference), self._score(champion.model_uri, day), threshold
            )
        except TrainingSetError as err:  # the service changed since the champion trained: it lacks an input
            self.log.warning("Champion v%s cannot score the day, no score figures: %s", champion.version, err)
            return []

    def _score(self, model_uri: str, frame: pd.DataFrame):
        from integrity_risk.training.scoring import score, with_sequences

        column = f"score_{self.risk_type}"
        frame = with_sequences(model_uri, frame, self.profile, self.hiveserver2_conn_id)
        return score(model_uri, frame)[column].to_numpy(dtype=float)

    def _write(self, frame: pd.DataFrame) -> None:
        """Replace partition (risk_type, ds) of the drift table: a re-run replaces its own rows."""
        import pyarrow as pa

        from integrity_risk.evaluation.drift import DRIFT_SCHEMA

        types = {"string": pa.string(), "double": pa.float64(), "int": pa.int32(), "bigint": pa.int64()}
        schema = pa.schema([(name, types[hive]) for name, hive in DRIFT_SCHEMA])
        self.hook.create_missing_tables("feature_drift.hql")
        data = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        self.hook.load_arrow_partition(self.drift_table, data, {"risk_type": self.risk_type, "ds": self.ds})

    def _notify(self, context: Context, summary: dict[str, Any]) -> list[str]:
        """Call each notifier with the task's context and the drift in it; the names of those that sent.

        Called here, not attached as ``on_success_callback``: a task callback fires on the task's
        state, and a drifted day is as successful as a calm one, so a callback would notify every
        day. Calling the notifiers with the context (as Airflow calls a callback) keeps them
        ordinary ``BaseNotifier`` objects, Slack's and SMTP's included, whose templated
        arguments read ``{{ drift_message }}``. Built afresh each time: rendering is in place.
        """
        from integrity_risk.notifiers import build_notifier

        notify_context: Any = {**context, "drift": summary, "drift_message": summary["message"]}
        sent = []
        for spec in self.notifiers:
            path = spec["class"]
            try:
                build_notifier(path, spec.get("kwargs"))(notify_context)
                sent.append(path)
            except Exception:  # a mail server down must not stop the features; the figures are kept
                self.log.exception("Notifier %s failed; the drift figures are in %s", path, self.drift_table)
        return sent
