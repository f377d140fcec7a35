"""A feature service's online values, read straight from Feast's online store.

``FeatureStore.get_online_features`` answers 100 accounts of ``fraud_v1`` in tens of
milliseconds, most of it Python around the store: it turns every value into a response
proto, back into Python twice (once for the on-demand view, once for the frame) and
through Arrow for the pandas transformation. ``ServiceReader`` resolves a service once
(its views, their features, the on-demand views' UDFs), then per request calls the online
store's own ``online_read`` for each view (the interface every Feast online store
implements), decodes the values once into columns and runs each on-demand view's pandas UDF
on them. It answers what ``get_online_features(...).to_df()`` answers, column for column
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
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

JOIN_KEY = "account_pk"
# Value kinds whose Python value is the proto field itself (Feast's own conversion does the rest).
_PLAIN_KINDS = frozenset({"int32_val", "int64_val", "double_val", "float_val", "string_val", "bool_val", "bytes_val"})


def python_value(value: ValueProto | None) -> Any:
    """The value as ``OnlineResponse.to_dict`` gives it: ``None`` when unset or null."""
    if value is None:
        return None
    kind = value.WhichOneof("val")
    if kind in _PLAIN_KINDS:
        return getattr(value, kind)
    if kind is None or kind == "null_val":
        return None
    # Imported here, off the common path: an import statement costs more than the rest of a
    # plain value's decoding, and a read decodes thousands.
    from feast.type_map import feast_value_type_to_python_type

    return feast_value_type_to_python_type(value)


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
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        keys = [EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=pk)]) for pk in account_pks]
        columns: dict[str, Any] = {JOIN_KEY: list(account_pks)}
        now = dt.datetime.now(dt.UTC)
        for view, features in self.views:
            # A copy: Feast's Redis store appends its timestamp field to the list it is given.
            rows = self.online_store.online_read(
                config=self.config, table=view, entity_keys=keys, requested_features=list(features)
            )
            prefix = view.projection.name_to_use()
            max_age = self.max_age.get(view.name)
            found = [
                values or {} if max_age is None or _fresh(written, now, max_age) else {} for written, values in rows
            ]
            for feature in features:
                columns[f"{prefix}__{feature}"] = [python_value(values.get(feature)) for values in found]
        for odfv in self.on_demand:
            columns.update(self._transform(odfv, columns))
        # One frame at the end: pandas costs per call, not per row (bench/bench_feast.py).
        return pd.DataFrame({name: columns[name] for name in self.columns})

    @staticmethod
    def _transform(odfv: OnDemandFeatureView, columns: dict[str, Any]) -> dict[str, Any]:
        """The on-demand view's UDF on its sources' columns, under both names as Feast gives them."""
        import pandas as pd

        inputs = {JOIN_KEY: columns[JOIN_KEY]}
        for source in odfv.source_feature_view_projections.values():
            for feature in source.features:
                column = columns[f"{source.name_to_use()}__{feature.name}"]
                inputs[f"{source.name_to_use()}__{feature.name}"] = column
                inputs[feature.name] = column
        out = odfv.feature_transformation.transform(pd.DataFrame(inputs))  # type: ignore[union-attr]
        prefix = odfv.projection.name_to_use()
        names = [f.name for f in odfv.projection.features]
        return {f"{prefix}__{name}": out[name].to_numpy() for name in names}
