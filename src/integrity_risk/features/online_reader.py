"""A feature service's online values, read straight from Feast's online store.

``FeatureStore.get_online_features`` answers 100 accounts of ``fraud_v1`` in tens of
milliseconds, most of it Python around the store: it turns every value into a response
proto, back into Python twice (once for the on-demand view, once for the frame) and
through Arrow for the pandas transformation. ``ServiceReader`` resolves a service once
(its views, their features and types, the on-demand views' UDFs), then per request reads
each view from the online store and decodes its values a column at a time, by the
feature's declared type (``online_values.frame_column``), then runs each on-demand view's
pandas UDF on them. The project's stores (``online_stores``) hand over the serialized
values (``online_read_cells``); any other Feast online store is read through its
``online_read``, the interface every one implements. It answers what
``get_online_features(...).to_df()`` answers, column for column
(``tests/features/test_materialize.py`` holds it to that, on SQLite and Redis). A service it cannot read
this way (a python-mode or aggregating on-demand view, one written to the online store, a
view keyed by anything but ``account_pk``) reports it in ``unsupported`` and the caller
falls back to Feast's path.

A view a stream writes (a push source) is read within its TTL, as the training set's
point-in-time join reads it: an older row is null. Feast's online read serves the newest
row whatever its age; for the daily views, refreshed each day, that is what it serves here too.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from feast import FeatureService, FeatureStore, FeatureView, OnDemandFeatureView

JOIN_KEY = "account_pk"


def _fresh(written: dt.datetime | None, now: dt.datetime, max_age: dt.timedelta) -> bool:
    """Whether a row written with event time ``written`` (naive: UTC) is at most ``max_age`` old."""
    if written is None:
        return False
    if written.tzinfo is None:
        written = written.replace(tzinfo=dt.UTC)
    return now - written <= max_age


class ServiceReader:
    """Reads one feature service of one store; build it once, call ``read`` per request."""

    def __init__(self, store: FeatureStore, service: FeatureService) -> None:
        from feast.errors import FeatureViewNotFoundException
        from feast.infra.provider import get_provider

        from integrity_risk.features.feast_store import service_feature_refs

        self.service = service
        self.config = store.config
        self.online_store = get_provider(store.config).online_store
        self.columns = [JOIN_KEY, *service_feature_refs(service)]
        self.views: list[tuple[FeatureView, list[str]]] = []
        # Per streamed view, how old a row may be (its TTL).
        self.max_age: dict[str, dt.timedelta] = {}
        # Per view, each feature's declared type: how its serialized values decode.
        self.value_types: dict[str, dict[str, Any]] = {}
        self.on_demand: list[OnDemandFeatureView] = []
        self.unsupported: list[str] = []
        for projection in service.feature_view_projections:
            try:
                view = store.get_feature_view(projection.name).with_projection(projection)
            except FeatureViewNotFoundException:
                self._add_on_demand(store.get_on_demand_feature_view(projection.name).with_projection(projection))
                continue
            if list(view.join_keys) != [JOIN_KEY]:
                self.unsupported.append(f"view {view.name} is keyed by {list(view.join_keys)}")
            self.views.append((view, [f.name for f in projection.features]))
            self.value_types[view.name] = {f.name: f.dtype.to_value_type() for f in view.features}
            if view.stream_source is not None and view.ttl:
                self.max_age[view.name] = view.ttl
        read = {view.projection.name_to_use() for view, _ in self.views}
        for odfv in self.on_demand:
            missing = sorted(set(odfv.source_feature_view_projections) - read)
            if missing:
                self.unsupported.append(f"on-demand view {odfv.name} reads {missing}, not in the service")

    def _add_on_demand(self, odfv: OnDemandFeatureView) -> None:
        if (
            odfv.mode != "pandas"
            or odfv.feature_transformation is None
            or odfv.aggregations
            or odfv.write_to_online_store
            or odfv.source_request_sources
        ):
            self.unsupported.append(f"on-demand view {odfv.name} (mode {odfv.mode})")
        self.on_demand.append(odfv)

    def read(self, account_pks: Sequence[str]) -> pd.DataFrame:
        """One row per account in the given order: ``account_pk``, then the service's features."""
        import pandas as pd
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        from integrity_risk.features.online_values import frame_column, python_value

        keys = [EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=pk)]) for pk in account_pks]
        read_cells = getattr(self.online_store, "online_read_cells", None)
        version = self.config.entity_key_serialization_version
        key_bins = [serialize_entity_key(key, entity_key_serialization_version=version) for key in keys]
        columns: dict[str, Any] = {JOIN_KEY: list(account_pks)}
        now = dt.datetime.now(dt.UTC)
        # The project's stores hand over the serialized values of every view at once, decoded
        # here a column at a time; another store is read view by view through online_read.
        all_cells = read_cells(self.config, self.views, key_bins) if read_cells else None
        for n, (view, features) in enumerate(self.views):
            prefix = view.projection.name_to_use()
            max_age = self.max_age.get(view.name)
            if all_cells is not None:
                times, by_feature = all_cells[n]
                stale = set() if max_age is None else {i for i, t in enumerate(times) if not _fresh(t, now, max_age)}
                for feature in features:
                    column = by_feature[feature]
                    if stale:
                        column = [None if i in stale else cell for i, cell in enumerate(column)]
                    columns[f"{prefix}__{feature}"] = frame_column(column, self.value_types[view.name][feature])
                continue
            # A copy: Feast's Redis store appends its timestamp field to the list it is given.
            rows = self.online_store.online_read(
                config=self.config, table=view, entity_keys=keys, requested_features=list(features)
            )
            found = [
                values or {} if max_age is None or _fresh(written, now, max_age) else {} for written, values in rows
            ]
            for feature in features:
                columns[f"{prefix}__{feature}"] = [python_value(values.get(feature)) for values in found]
        # One frame of the views' columns (pandas costs per call, not per row: bench/bench_feast.py);
        # the on-demand views read their inputs from it.
        frame = pd.DataFrame(columns)
        derived = [self._transform(odfv, frame) for odfv in self.on_demand]
        if derived:
            frame = pd.concat([frame, *derived], axis=1)
        return frame[self.columns]

    @staticmethod
    def _transform(odfv: OnDemandFeatureView, frame: pd.DataFrame) -> pd.DataFrame:
        """The on-demand view's UDF on its sources' columns, under both names as Feast gives them."""
        long_names, short_names = [], []
        for source in odfv.source_feature_view_projections.values():
            for feature in source.features:
                long_names.append(f"{source.name_to_use()}__{feature.name}")
                short_names.append(feature.name)
        inputs = frame[[JOIN_KEY, *long_names, *long_names]].set_axis([JOIN_KEY, *long_names, *short_names], axis=1)
        out = odfv.feature_transformation.transform(inputs)  # type: ignore[union-attr]
        prefix = odfv.projection.name_to_use()
        names = [f.name for f in odfv.projection.features]
        return out[names].set_axis([f"{prefix}__{name}" for name in names], axis=1).set_index(frame.index)
