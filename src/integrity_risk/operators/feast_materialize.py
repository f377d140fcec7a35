"""FeastMaterializeOperator: load the run's data interval of a risk type's features online."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.assets import online_features_asset, table_asset

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


def days_of_asset_events(events) -> list[dt.date]:
    """The days named (extra ``ds``) by the asset events that triggered a run, sorted."""
    return sorted(
        {
            dt.date.fromisoformat(event.extra["ds"])
            for asset in events
            for event in events[asset]
            if (event.extra or {}).get("ds")
        }
    )


class FeastMaterializeOperator(BaseOperator):
    """Materialize exactly the run's data interval of a risk type's feature views.

    In a run triggered by asset events (the extract tables' quality gates), the
    window is instead the days the events name, from the first to the last.

    Calls ``FeatureStore.materialize(start - overlap, end)`` with the run's data
    interval (extract rows of day ``ds`` carry ``feature_ts`` = ``ds`` + 1 day, the
    interval's end), never ``materialize_incremental``, whose clock in the registry
    breaks backfills. A re-run is idempotent, and re-running an old day after later
    days leaves the newest values online (see ``feast_store.materialize_window``).
    Long windows are materialized in chunks. Run ``FeastApplyOperator`` before it.

    :param risk_type: the risk type, e.g. ``fraud``; names the default inlets and the outlet.
    :param feature_views: batch feature views to materialize. (templated)
    :param feature_service: or a feature service whose batch views to materialize,
        e.g. ``fraud_v1``; give exactly one of the two. (templated)
    :param overlap: also re-read this much before the interval, for late rows.
    :param chunk: longest window materialized in one call.
    :param profile: Feast profile (default: env ``INTEGRITY_FEAST_PROFILE``). (templated)
    :param extract_tables: the extract tables it consumes, as inlets (default
        ``features.account_daily`` and ``features.<risk>_daily``).
    """

    template_fields = ("feature_views", "feature_service", "profile")
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        risk_type: str,
        feature_views: Sequence[str] | None = None,
        feature_service: str | None = None,
        overlap: dt.timedelta = dt.timedelta(hours=6),
        chunk: dt.timedelta = dt.timedelta(days=7),
        profile: str | None = None,
        extract_tables: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        tables = extract_tables or ("features.account_daily", f"features.{risk_type}_daily")
        kwargs.setdefault("inlets", [table_asset(t) for t in tables])
        kwargs.setdefault("outlets", [online_features_asset(risk_type)])
        super().__init__(**kwargs)
        if bool(feature_views) == bool(feature_service):
            raise ValueError(f"{self.task_id}: give exactly one of feature_views or feature_service")
        self.risk_type = risk_type
        self.feature_views = list(feature_views) if feature_views else None
        self.feature_service = feature_service
        self.overlap = overlap
        self.chunk = chunk
        self.profile = profile

    def execute(self, context: Context) -> dict:
        from integrity_risk.features.feast_store import feature_store, materialize_window, resolve_feature_views

        start: dt.datetime | None
        end: dt.datetime | None
        days = days_of_asset_events(context.get("triggering_asset_events") or {})
        if days:
            start = dt.datetime.combine(days[0], dt.time(), tzinfo=dt.UTC)
            end = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        else:
            start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError(
                f"{self.task_id} needs a run with a data interval (a scheduled or backfill run) "
                "or triggering asset events whose extra names their ds"
            )
        store = feature_store(self.profile)
        views = resolve_feature_views(store, self.feature_views, self.feature_service)
        self.log.info("Materializing %s for [%s, %s] with %s overlap", views, start, end, self.overlap)
        windows = materialize_window(store, views, start, end, overlap=self.overlap, chunk=self.chunk)
        return {"risk_type": self.risk_type, "start": start.isoformat(), "end": end.isoformat(), "windows": windows}
