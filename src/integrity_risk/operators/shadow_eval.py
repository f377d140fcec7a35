"""ShadowEvalOperator: the candidate and the champion scored side by side on days neither trained on."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.hooks.hive import HiveServer2HookMixin
from integrity_risk.operators.feature_drift import DRIFT_TABLE
from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from airflow.sdk import Context

SCORES_TABLE = "eval.shadow_scores"


class ShadowEvalError(RuntimeError):
    """The evaluation could not run: no candidate, no data after the cutoff, bad input."""


def load_evaluation_frame(source: pd.DataFrame | str | Path | None) -> pd.DataFrame:
    """The evaluation rows: a DataFrame as given, or read from a parquet file (a path or a URL
    under the storage root).
    """
    import pandas as pd

    from integrity_risk.storage import as_storage_path

    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    if source is None or source == "":
        # What an upstream output that was never pushed renders to.
        raise ShadowEvalError("no evaluation data given (in a DAG, the training set's test_path output)")
    path = as_storage_path(source)
    if not path.exists():
        raise ShadowEvalError(f"evaluation data {source} does not exist (the training set's test split?)")
    with path.open("rb") as data:
        frame = pd.read_parquet(data)
    if "account_pk" not in frame.columns:
        raise ShadowEvalError(f"evaluation data {path} has no account_pk column")
    return frame.reset_index(drop=True)


def model_versions(model_name: str, client=None, candidate_version: int | None = None) -> dict[str, Any]:
    """``{"candidate": (version, tags), "champion": (version, tags) | None}``.

    The candidate is ``candidate_version`` when given (the version the run's train task
    registered: another registration may have moved the ``candidate`` alias since), else
    the alias. Versions are pinned here, once, so both the scores and the promotion refer
    to exactly the version that was evaluated, even if an alias moves while the run goes on.
    """
    from mlflow.exceptions import MlflowException

    from integrity_risk import tracking
    from integrity_risk.tracking import CANDIDATE_ALIAS, CHAMPION_ALIAS

    client = client or tracking.client()
    out: dict[str, Any] = {}
    if candidate_version is not None:
        try:
            mv = client.get_model_version(model_name, str(int(candidate_version)))
        except MlflowException as exc:
            raise ShadowEvalError(
                f"registered model {model_name!r} has no version {candidate_version} "
                f"(the version the train task registered): {exc}"
            ) from exc
        out[CANDIDATE_ALIAS] = (int(mv.version), dict(mv.tags or {}))
    for alias in (CANDIDATE_ALIAS, CHAMPION_ALIAS):
        if alias in out:
            continue
        try:
            mv = client.get_model_version_by_alias(model_name, alias)
            out[alias] = (int(mv.version), dict(mv.tags or {}))
        except MlflowException:
            out[alias] = None
    if out[CANDIDATE_ALIAS] is None:
        raise ShadowEvalError(f"registered model {model_name!r} has no version with alias {CANDIDATE_ALIAS!r}")
    return out


def after_cutoff(frame: pd.DataFrame, cutoff: str | None) -> pd.DataFrame:
    """Only rows after the candidate's ``training_cutoff``: traffic it did not train on."""
    import pandas as pd

    if not cutoff or "event_timestamp" not in frame.columns:
        return frame
    ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    cut = pd.Timestamp(cutoff)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    kept = frame[(ts > cut).to_numpy()]
    if kept.empty:
        raise ShadowEvalError(
            f"no evaluation rows after the candidate's training cutoff {cutoff} "
            f"(latest row at {ts.max()}): the candidate has seen all of them"
        )
    return kept.reset_index(drop=True)


def evaluation_cutoff(source, tags: dict[str, str]) -> str | None:
    """The time after which evaluation rows are unseen by the candidate.

    The ``training_cutoff`` version tag, except when the data is the test split of the
    candidate's own training set (its ``training_set`` tag): then the split itself proves
    the rows were held out, and the end of the validation split from ``manifest.json``
    is the cutoff (the tag may be the end of the whole set, test days included).
    """
    import json

    from integrity_risk.storage import as_storage_path

    cutoff = tags.get("training_cutoff") or None
    if isinstance(source, (str, Path)) and tags.get("training_set"):
        path = as_storage_path(source)
        manifest = path.parent / "manifest.json"
        if (
            path.name == "test.parquet"
            and str(path.parent) == str(as_storage_path(tags["training_set"]))
            and manifest.exists()
        ):
            validation = (json.loads(manifest.read_text()).get("time_range") or {}).get("validation")
            if validation:
                return validation[1]
    return cutoff


class ShadowEvalOperator(HiveServer2HookMixin, BaseOperator):
    """Score the days after the training cutoff with champion and candidate; metrics, Hive scores, report.

    :param risk_type: the risk type judged (its ``label_<risk>`` and ``score_<risk>`` columns).
    :param candidate_version: the model version to evaluate (templated; in the DAG, the train
        task's ``version`` output); default the version the ``candidate`` alias points at.
    :param evaluation_data: parquet file of evaluation rows; in a DAG, the training set's
        test split, ``training_set.output["test_path"]``. (templated)
    :param ds: the run's day: partition of the scores table (templated).
    :param model_name: registered model; default ``integrity_<risk>``.
    :param operating_fpr: false-positive rate production runs at.
    :param n_bootstrap: bootstrap resamples for the intervals.
    :param min_slice_size: labeled rows below which a slice is marked "too small".
    :param min_slice_positives: positives below which a slice is marked "too small".
    :param report_dir: folder or URL for report.html and summary.md; default
        ``<storage root>/reports/<risk>/<run_id>`` (templated).
    :param hiveserver2_conn_id: Airflow connection of HiveServer2.
    :param scores_table: the table of side-by-side scores.
    :param attribution_rows: rows sampled for integrated gradients (0: none).
    :param drift_days: days of the risk's feature PSI (``eval.feature_drift``, up to ``ds``)
        drawn as the report's heat map (0: none).
    :param max_psi: the YAML's ``drift.max_psi``, marked on the heat map.
    :param drift_table: the table of daily drift figures.
    :param feature_service: the Feast feature service the models read, e.g. ``fraud_v1``: with it,
        every account of the evaluation days is scored by both models (``metrics["population"]``,
        :mod:`integrity_risk.evaluation.population`) and those scores are the scores table's
        partition; without it, only the labelled evaluation rows are scored and written.
    :param population_days: the most evaluation days (after the training cutoff, up to ``ds``) scored whole.
        With a feature service, the labelled metrics are judged on every account of the days whose
        labels matured since the cutoff too (``population.MaturedLabels``), not on the test split.
    :param maturity_days: the risk's ``labels.maturity_days``: the labels the metrics trust.
    :param exclusive_of: the risk's ``labels.exclusive_of``: those risks' matured positives are
        negatives, as in the training set.
    :param population_batch_accounts: the most accounts read and scored at once.
    :param population_sample: flipped accounts shown to the reviewer, each way, with their attributions.
    :param profile: Feast profile the feature tables are read with (default from the environment).
    :return (XCom): the metrics dict, with ``candidate_version``, ``champion_version``,
        ``model_name``, ``run_id``, ``report_path`` and ``summary_path``.
    """

    template_fields = ("candidate_version", "evaluation_data", "ds", "report_dir")
    ui_color = "#fde7c8"

    def __init__(
        self,
        *,
        risk_type: str,
        evaluation_data: str,
        candidate_version: int | str | None = None,
        ds: str = "{{ ds }}",
        model_name: str | None = None,
        operating_fpr: float = 0.01,
        n_bootstrap: int = 200,
        min_slice_size: int = 30,
        min_slice_positives: int = 10,
        report_dir: str | None = None,
        hiveserver2_conn_id: str = "hiveserver2_default",
        scores_table: str = SCORES_TABLE,
        attribution_rows: int = 256,
        drift_days: int = 30,
        max_psi: float | None = None,
        drift_table: str = DRIFT_TABLE,
        feature_service: str | None = None,
        population_days: int = 3,
        population_batch_accounts: int = 250_000,
        population_sample: int = 5,
        maturity_days: int = 3,
        exclusive_of: Sequence[str] = (),
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.risk_type = risk_type
        self.candidate_version = candidate_version
        self.evaluation_data = evaluation_data
        self.ds = ds
        self.model_name = model_name
        self.operating_fpr = operating_fpr
        self.n_bootstrap = n_bootstrap
        self.min_slice_size = min_slice_size
        self.min_slice_positives = min_slice_positives
        self.report_dir = report_dir
        self.hiveserver2_conn_id = hiveserver2_conn_id
        self.scores_table = scores_table
        self.attribution_rows = attribution_rows
        self.drift_days = drift_days
        self.max_psi = max_psi
        self.drift_table = drift_table
        self.feature_service = feature_service
        self.population_days = population_days
        self.population_batch_accounts = population_batch_accounts
        self.population_sample = population_sample
        self.maturity_days = maturity_days
        self.exclusive_of = list(exclusive_of)
        self.profile = profile

    def execute(self, context: Context) -> dict:
        import tempfile

        from integrity_risk.evaluation.report import report_dir, write_report
        from integrity_risk.evaluation.shadow import evaluate
        from integrity_risk.storage import as_storage_path, publish_dir
        from integrity_risk.tracking import configure, registered_model_name

        configure()
        name = self.model_name or registered_model_name(self.risk_type)
        run_id = str(context["run_id"])
        candidate = None if self.candidate_version in (None, "") else int(self.candidate_version)
        versions = model_versions(name, candidate_version=candidate)
        cand_version, cand_tags = versions["candidate"]
        champ_version = versions["champion"][0] if versions["champion"] else None
        source = self.evaluation_data
        cutoff = evaluation_cutoff(source, cand_tags)
        frame = after_cutoff(load_evaluation_frame(source), cutoff)
        self.log.info(
            "Evaluating %s v%s against champion %s on %d rows of %s",
            name,
            cand_version,
            champ_version or "(none yet)",
            len(frame),
            source,
        )
        cand = self._score(f"models:/{name}/{cand_version}", frame)
        champ = self._score(f"models:/{name}/{champ_version}", frame) if champ_version else None
        judged: dict[str, Any] = dict(
            operating_fpr=self.operating_fpr,
            n_bootstrap=self.n_bootstrap,
            min_slice_size=self.min_slice_size,
            min_slice_positives=self.min_slice_positives,
        )
        metrics = evaluate(frame, self.risk_type, cand, champ, **judged)
        curves = (frame[f"label_{self.risk_type}"], cand, champ)  # the report's curves
        scoring = labels = None
        if self.feature_service:
            scoring = self._population_scoring(self.feature_service, name, cand_version, versions["champion"])
            labels = self._matured_labels(cutoff)
            metrics, curves = self._judged_on_population(scoring, labels, metrics, curves, judged)
        metrics.update(
            model_name=name,
            candidate_version=cand_version,
            champion_version=champ_version,
            run_id=run_id,
            ds=self.ds,
            evaluation_data=str(source),
            training_cutoff=cand_tags.get("training_cutoff"),
            evaluation_cutoff=cutoff,
            scores_table=self.scores_table,
        )
        if scoring is not None:
            metrics["population"] = self._population(
                scoring, labels, name, cand_version, versions["champion"], metrics, run_id
            )
        else:
            self._write_scores([self._scores_frame(frame, metrics, cand, champ, run_id)])
        attributions, note = self._attributions(f"models:/{name}/{cand_version}", frame)
        # Written here, published under the storage root: auto_gates, the approval and the API
        # server's report page read it from there, on other machines.
        dest = as_storage_path(self.report_dir) if self.report_dir else report_dir(self.risk_type, run_id)
        with tempfile.TemporaryDirectory(prefix="report_") as tmp:
            write_report(
                metrics,
                out_dir=Path(tmp),
                labels=curves[0],
                candidate_scores=curves[1],
                champion_scores=curves[2],
                attributions=attributions,
                attribution_note=note,
                drift_psi=self._drift_psi(),
                max_psi=self.max_psi,
            )
            publish_dir(Path(tmp), dest)
        metrics.update(report_path=str(dest / "report.html"), summary_path=str(dest / "summary.md"))
        self.log.info("Report: %s", metrics["report_path"])
        return metrics

    def _write_scores(self, parts) -> None:
        """Replace partition (risk_type, ds) of the scores table with the frames ``parts``."""
        with self._scores_partition() as write:
            for scores in parts:
                write(scores)

    @contextlib.contextmanager
    def _scores_partition(self):
        """``write(frame)`` for each part of partition (risk_type, ds) of the scores table, replaced on a clean exit
        (``IntegrityHiveServer2Hook.staged_partition``: staged under the storage root, loaded at once).
        """
        import pyarrow as pa

        schema = pa.schema(
            [
                ("account_pk", pa.string()),
                ("event_timestamp", pa.timestamp("us", tz="UTC")),
                ("label", pa.float64()),
                ("candidate_version", pa.int32()),
                ("candidate_score", pa.float64()),
                ("candidate_flagged", pa.int32()),
                ("champion_version", pa.int32()),
                ("champion_score", pa.float64()),
                ("champion_flagged", pa.int32()),
                ("run_id", pa.string()),
            ]
        )
        self.hook.create_missing_tables("shadow_scores.hql")
        partition = {"risk_type": self.risk_type, "ds": parse_ds(self.ds).isoformat()}
        written: list[int] = []

        def write(scores: pd.DataFrame) -> None:
            stage(pa.Table.from_pandas(scores[schema.names], schema=schema, preserve_index=False))
            written.append(len(scores))

        with self.hook.staged_partition(self.scores_table, partition) as stage:
            yield write
            if not written:  # an empty partition still replaces the last run's rows
                stage(schema.empty_table())

    def _population_scoring(
        self, service_name: str, name: str, cand_version: int, champion: tuple[int, dict[str, str]] | None
    ):
        """Both models over the feature service's tables, one account range at a time (thresholds set later)."""
        from integrity_risk.evaluation import drift as d, population as p

        champ_version = champion[0] if champion else None
        cand_uri = f"models:/{name}/{cand_version}"
        champ_uri = f"models:/{name}/{champ_version}" if champ_version else None
        service = d.service_features(service_name, self.profile)
        read, count = p.hive_readers(service, self.profile, self.hiveserver2_conn_id)
        return p.PopulationScoring(
            risk_type=self.risk_type,
            service=service,
            candidate=lambda frame: self._score(cand_uri, frame),
            champion=(lambda frame: self._score(champ_uri, frame)) if champ_uri else None,
            thresholds=(None, None),
            read=read,
            count=count,
            batch_accounts=self.population_batch_accounts,
            sample_size=self.population_sample,
        )

    def _judged_on_population(self, scoring, labels, split: dict, curves: tuple, judged: dict[str, Any]):
        """``(metrics, curves)`` of every account of the days whose labels matured since the cutoff;
        the test split's, saying why, when no such day has features or both classes.
        """
        from integrity_risk.evaluation.shadow import evaluate
        from integrity_risk.evaluation.slices import SLICE_SOURCES

        rows = None
        if labels is not None:
            rows = scoring.labelled(labels, keep=[c for sources in SLICE_SOURCES.values() for c in sources])
        try:
            if labels is None:
                raise ValueError(f"features.labels has no partition ds={self.ds}")
            if rows is None:
                raise ValueError(f"no account has features on the labelled days {labels.days}")
            cand = rows["candidate_score"].to_numpy()
            champ = rows["champion_score"].to_numpy() if scoring.champion is not None else None
            metrics = evaluate(rows, self.risk_type, cand, champ, **judged)
        except ValueError as err:
            split["labelled_source"] = f"the training set's test split: the population has no labelled days ({err})"
            self.log.warning("Labelled metrics on %s", split["labelled_source"])
            return split, curves
        metrics["test_split"] = {k: split[k] for k in ("rows", "labeled_rows", "positives", "overall")}
        metrics["labelled_source"] = labels.note
        self.log.info("Labelled metrics on %s: %d rows, %d positive", labels.note, len(rows), metrics["positives"])
        return metrics, (rows[f"label_{self.risk_type}"], cand, champ)

    def _matured_labels(self, cutoff: str | None):
        """The risk's labels matured since the cutoff (``population.MaturedLabels``); None without a labels partition."""
        from integrity_risk.evaluation.population import matured_labels
        from integrity_risk.features.training_set import TrainingSetError, read_labels

        try:
            labels = read_labels(parse_ds(self.ds).isoformat(), self.profile)
        except TrainingSetError as err:  # no label is known: every account's label is unknown, none is negative
            self.log.warning("%s", err)
            return None
        return matured_labels(labels, self.risk_type, cutoff, self.ds, self.maturity_days, self.exclusive_of)

    def _population(
        self,
        scoring,
        labels,
        name: str,
        cand_version: int,
        champion: tuple[int, dict[str, str]] | None,
        metrics: dict,
        run_id: str,
    ) -> dict:
        """Score every account of the evaluation days with both models; write them (labelled where ``labels``
        know the account); what approval changes.
        """
        from integrity_risk import tracking
        from integrity_risk.evaluation import drift as d, population as p

        overall = metrics["overall"]
        champ_version, champ_tags = champion or (None, {})
        cand_uri = f"models:/{name}/{cand_version}"
        champ_uri = f"models:/{name}/{champ_version}" if champ_version else None
        # Production flags at the threshold its promotion recorded; a candidate at its own on the labelled days.
        champ_threshold = None
        if champ_version:
            audited, _ = d.audited_threshold(champ_tags)
            champ_threshold = audited if audited is not None else overall["champion"]["threshold"]
        scoring.thresholds = (overall["candidate"]["threshold"], champ_threshold)
        read, count = scoring.read, scoring.count
        days = p.evaluation_days(self.ds, metrics.get("evaluation_cutoff"), self.population_days)
        client = tracking.client()
        run = client.get_model_version(name, str(cand_version)).run_id
        manifest = d.logged_manifest(client, run) if run else {}
        window = d.training_window(manifest)
        reference = p.reference_sample(read, count, window)
        self.log.info(
            "Scoring every account of %s with v%s and champion %s (training window %s)",
            ", ".join(days),
            cand_version,
            champ_version or "(none)",
            f"{window[0]}..{window[-1]}" if window else "unknown",
        )
        try:
            with self._scores_partition() as write:
                figures = scoring.run(
                    days,
                    reference,
                    sink=lambda day, frame: write(self._population_scores(frame, cand_version, champ_version, run_id)),
                    labels=labels,
                )
        except ValueError as err:  # no accounts, or features the models cannot read: the partition is as it was
            raise ShadowEvalError(f"population scoring of {', '.join(days)} failed: {err}") from err
        for key, model_uri in (("newly_flagged_sample", cand_uri), ("no_longer_flagged_sample", champ_uri)):
            figures[key] = self._explained(figures[key], model_uri, scoring.day_sample)
        figures["days_scored"] = days
        figures["training_window"] = [window[0], window[-1]] if window else None
        self.log.info(
            "Population: %d accounts, candidate flags %d, champion %s; newly flagged %s, no longer %s",
            figures["accounts"],
            figures["candidate_flagged"],
            figures["champion_flagged"] if champ_version else "-",
            figures["newly_flagged"] if champ_version else "-",
            figures["no_longer_flagged"] if champ_version else "-",
        )
        return figures

    def _population_scores(self, frame, cand_version: int, champ_version: int | None, run_id: str):
        """The scores table's rows of one scored range: population rows at their ``feature_ts``, label NaN where unknown."""
        import numpy as np
        import pandas as pd

        n = len(frame)
        has_champion = champ_version is not None
        return pd.DataFrame(
            {
                "account_pk": frame["account_pk"].astype(str),
                "event_timestamp": pd.to_datetime(frame["feature_ts"], utc=True),
                "label": frame["label"].to_numpy(dtype=float) if "label" in frame else np.full(n, np.nan),
                "candidate_version": np.int32(cand_version),
                "candidate_score": frame["candidate_score"].to_numpy(dtype=float),
                "candidate_flagged": frame["candidate_flagged"].to_numpy().astype("int32"),
                "champion_version": pd.array([champ_version] * n, dtype="Int32"),
                "champion_score": frame["champion_score"].to_numpy(dtype=float) if has_champion else np.full(n, np.nan),
                "champion_flagged": pd.array(
                    frame["champion_flagged"].to_numpy().astype("int32") if has_champion else [None] * n, dtype="Int32"
                ),
                "run_id": run_id,
            }
        )

    def _explained(self, rows, model_uri: str | None, baseline) -> list[dict]:
        """The sampled flipped accounts as the report lists them, with ``model_uri``'s top attributions."""
        import pandas as pd

        if rows is None or rows.empty or model_uri is None:
            return []
        tops: list = [None] * len(rows)
        note = None
        if self.attribution_rows:
            from integrity_risk.evaluation.attributions import load_keras_model, top_attributions

            model, note = load_keras_model(model_uri)
            if model is not None:
                try:
                    from integrity_risk.training.scoring import with_sequences

                    def inputs(frame):
                        return with_sequences(model_uri, frame, self.profile, self.hiveserver2_conn_id)

                    explained = inputs(rows)
                    tops = top_attributions(
                        model, explained, inputs(baseline) if baseline is not None else explained, output=self.risk_type
                    )
                except Exception as exc:  # an aid to the reviewer, not a gate
                    self.log.warning("Attributions of the flipped accounts failed: %s", exc)
                    note = f"{type(exc).__name__}: {exc}"
        out = []
        for (_, row), top in zip(rows.iterrows(), tops, strict=True):
            out.append(
                {
                    "account_pk": str(row["account_pk"]),
                    "ds": (pd.Timestamp(row["feature_ts"]) - pd.Timedelta(days=1)).date().isoformat(),
                    "candidate_score": float(row["candidate_score"]),
                    "champion_score": float(row["champion_score"]) if "champion_score" in row else None,
                    "top_attributions": top,
                    "attribution_model": model_uri,
                    **({"attribution_note": note} if top is None and note else {}),
                }
            )
        return out

    def _drift_psi(self) -> pd.DataFrame | None:
        """The risk's feature PSI of the last ``drift_days`` days up to ``ds`` (``ds``, ``name``, ``value``, ``over_bound``)."""
        import datetime as dt

        import pandas as pd

        from integrity_risk.values import check_risk_type, check_table_name, parse_ds

        if not self.drift_days:
            return None
        day = parse_ds(self.ds)
        first = (day - dt.timedelta(days=self.drift_days - 1)).isoformat()
        self.hook.create_missing_tables("feature_drift.hql")  # a first run finds the table, empty
        table, risk = check_table_name(self.drift_table), check_risk_type(self.risk_type)
        rows = self.hook.get_records(
            f"SELECT ds, name, value, over_bound FROM {table} WHERE risk_type = '{risk}' "
            f"AND kind = 'feature_psi' AND ds >= '{first}' AND ds <= '{day.isoformat()}'"
        )
        return pd.DataFrame(rows, columns=["ds", "name", "value", "over_bound"])

    def _score(self, model_uri: str, frame: pd.DataFrame):
        from integrity_risk.training.scoring import score, with_sequences

        column = f"score_{self.risk_type}"
        scores = score(model_uri, with_sequences(model_uri, frame, self.profile, self.hiveserver2_conn_id))
        if column not in scores.columns:
            raise ShadowEvalError(f"{model_uri} has no {column} output; it returns {list(scores.columns)}")
        return scores[column].to_numpy(dtype=float)

    def _scores_frame(self, frame, metrics, cand, champ, run_id):
        import numpy as np
        import pandas as pd

        overall = metrics["overall"]
        t_cand = overall["candidate"]["threshold"]
        t_champ = overall["champion"]["threshold"] if overall["champion"] else None
        n = len(frame)
        ts = frame["event_timestamp"] if "event_timestamp" in frame.columns else pd.Series([pd.NaT] * n)
        return pd.DataFrame(
            {
                "account_pk": frame["account_pk"].astype(str),
                "event_timestamp": pd.to_datetime(ts, utc=True),
                "label": frame[f"label_{self.risk_type}"].astype(float),
                "candidate_version": np.int32(metrics["candidate_version"]),
                "candidate_score": cand,
                "candidate_flagged": (cand >= (np.inf if t_cand is None else t_cand)).astype("int32"),
                "champion_version": pd.array([metrics["champion_version"]] * n, dtype="Int32"),
                "champion_score": champ if champ is not None else np.full(n, np.nan),
                "champion_flagged": pd.array(
                    [None] * n
                    if champ is None
                    else (champ >= (np.inf if t_champ is None else t_champ)).astype("int32"),
                    dtype="Int32",
                ),
                "run_id": run_id,
            }
        )

    def _attributions(self, model_uri: str, frame):
        """Integrated gradients of the candidate, or why there are none (the run does not fail on it)."""
        if not self.attribution_rows:
            return None, "not computed (attribution_rows=0)"
        from integrity_risk.evaluation.attributions import integrated_gradients, load_keras_model

        model, why = load_keras_model(model_uri)
        if model is None:
            return None, why
        try:
            return integrated_gradients(model, frame, output=self.risk_type, max_rows=self.attribution_rows), None
        except Exception as exc:  # attributions are an aid to the reviewer, not a gate
            self.log.warning("Integrated gradients failed: %s", exc)
            return None, f"integrated gradients failed: {type(exc).__name__}: {exc}"
