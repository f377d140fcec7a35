"""Feast's SQLite and Redis online stores, loading a batch in one statement or one pipeline.

The profiles select them by class (``online_store.type`` in ``feature_repo/feature_store*.yaml``),
Feast's way of plugging in an online store. They keep Feast's tables, keys and values, so
Feast's own reads (``get_online_features``, the feature server) read what they write; the
tests read back through Feast. What they change, measured by ``bench/bench_feast.py``:

- **Writes by column.** ``online_write_arrow`` writes an Arrow batch of a view's rows,
  encoded a column at a time (``online_values``); ``ColumnarLocalComputeEngine`` calls it when
  it materializes. ``online_write_batch``, Feast's interface (``write_to_online_store``,
  ``push``, Spark's materialization on its executors), gets the same write from protos.
- **One statement or pipeline per batch.** Feast's SQLite store runs one upsert per cell;
  here a batch is one ``executemany``. Feast's Redis store hashes every field name per row;
  here once per view.
- **The newest row wins, and an equal event time overwrites**, on both stores: a re-run of
  an older day never rolls an account back, and a corrected extract of the same day replaces
  its values. Feast's SQLite store overwrites blindly; its Redis store skips an equal time.
- **SQLite reads** take an account's features in one range of the primary key, return
  the requested ones, and decode a timestamp once per account. No ``value_text`` copy is written: only Feast's text search reads it, which the
  project does not use (a store with vector or value_num columns falls back to Feast's write).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, compute_table_id, compute_versioned_name
from feast.infra.online_stores.redis import (
    RedisOnlineStore as FeastRedisOnlineStore,
    RedisOnlineStoreConfig as FeastRedisOnlineStoreConfig,
)
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore as FeastSqliteOnlineStore,
    SqliteOnlineStoreConfig as FeastSqliteOnlineStoreConfig,
    adapt_datetime_epoch,
)
from feast.protos.feast.types.Value_pb2 import Value
from feast.utils import to_naive_utc
from google.protobuf.timestamp_pb2 import Timestamp

from integrity_risk.features.online_values import entity_key_protos, serialized_values

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import pyarrow as pa
    from feast import Entity, FeatureView, RepoConfig
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey

    # One view row as Feast hands it to an online store.
    ProtoRow = tuple[EntityKey, dict[str, Value], datetime, datetime | None]

_REDIS_BATCH_KEYS = 5000  # accounts per pipeline: bounds the client's buffer


class SqliteOnlineStoreConfig(FeastSqliteOnlineStoreConfig):
    """Feast's SQLite settings; the type names ``SqliteOnlineStore`` below."""

    type: Literal["integrity_risk.features.online_stores.SqliteOnlineStore"] = (
        "integrity_risk.features.online_stores.SqliteOnlineStore"  # type: ignore[assignment]
    )


class RedisOnlineStoreConfig(FeastRedisOnlineStoreConfig):
    """Feast's Redis settings; the type names ``RedisOnlineStore`` below."""

    type: Literal["integrity_risk.features.online_stores.RedisOnlineStore"] = (
        "integrity_risk.features.online_stores.RedisOnlineStore"  # type: ignore[assignment]
    )


def _event_times(batch: pa.RecordBatch | pa.Table, column: str | None) -> list[datetime | None]:
    if not column or column not in batch.column_names:
        return [None] * batch.num_rows
    return batch.column(column).to_pylist()


def _arrow_cells(
    table: FeatureView, batch: pa.RecordBatch | pa.Table
) -> tuple[list[EntityKey], list[tuple[str, list[bytes]]], list[datetime], list[datetime | None]]:
    """A batch of ``table``'s rows as entity keys, (feature, serialized values) columns and times."""
    source = table.batch_source
    if source is None:
        raise ValueError(f"feature view {table.name} has no batch source to take its event times from")
    missing = [f.name for f in table.features if f.name not in batch.column_names]
    if missing:
        raise ValueError(f"materializing {table.name}: the batch has no column {missing}")
    join_keys = {entity.name: entity.dtype.to_value_type() for entity in table.entity_columns}
    keys = entity_key_protos(batch, join_keys)
    columns = [(f.name, serialized_values(batch.column(f.name), f.dtype.to_value_type())) for f in table.features]
    events = batch.column(source.timestamp_field).to_pylist()
    return keys, columns, events, _event_times(batch, source.created_timestamp_column)


class SqliteOnlineStore(FeastSqliteOnlineStore):
    """Feast's SQLite online store; a batch is one ``executemany``, the newest row wins."""

    def _feast_writes(self, config: RepoConfig) -> bool:
        online = config.online_store
        return bool(online.vector_enabled or online.enable_openai_compatible_store)

    @staticmethod
    def _epoch(memo: dict[Any, Any], ts: datetime | None) -> int | None:
        """Feast's stored form of a time (its ``adapt_datetime_epoch`` of naive UTC), once per time."""
        if ts is None:
            return None
        hit = memo.get(ts)
        if hit is None:
            hit = memo[ts] = adapt_datetime_epoch(to_naive_utc(ts))
        return hit

    def _upsert(self, config: RepoConfig, table: FeatureView, cells: Iterable[tuple]) -> None:
        name = compute_table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        conn = self._get_conn(config)
        with conn:
            conn.executemany(
                f'INSERT INTO "{name}" (entity_key, feature_name, value, event_ts, created_ts) '
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entity_key, feature_name) DO UPDATE SET "
                "value = excluded.value, value_text = NULL, event_ts = excluded.event_ts, "
                f'created_ts = excluded.created_ts WHERE excluded.event_ts >= "{name}".event_ts',
                cells,
            )

    def online_write_arrow(self, config: RepoConfig, table: FeatureView, batch: pa.RecordBatch | pa.Table) -> None:
        """Write a batch of ``table``'s rows (its join keys, features and timestamp columns)."""
        if self._feast_writes(config):
            self.online_write_batch(config, table, _proto_rows(config, table, batch), progress=None)
            return
        keys, columns, events, created = _arrow_cells(table, batch)
        version = config.entity_key_serialization_version
        key_bins = [serialize_entity_key(key, entity_key_serialization_version=version) for key in keys]
        memo: dict[Any, Any] = {}
        event_epochs = [self._epoch(memo, ts) for ts in events]
        created_epochs = [self._epoch(memo, ts) for ts in created]
        self._upsert(
            config,
            table,
            (
                cell
                for feature, values in columns
                for cell in zip(
                    key_bins, repeat(feature, len(key_bins)), values, event_epochs, created_epochs, strict=True
                )
            ),
        )

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: Sequence[ProtoRow],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if self._feast_writes(config):
            super().online_write_batch(config, table, list(data), progress)
            return
        version = config.entity_key_serialization_version
        memo: dict[Any, Any] = {}
        cells: list[tuple[bytes, str, bytes, int | None, int | None]] = []
        for key, values, event_ts, created_ts in data:
            key_bin = serialize_entity_key(key, entity_key_serialization_version=version)
            event, created = self._epoch(memo, event_ts), self._epoch(memo, created_ts)
            cells.extend(
                (key_bin, feature, value.SerializeToString(), event, created) for feature, value in values.items()
            )
        self._upsert(config, table, cells)
        if progress:
            progress(len(data))

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        """Feast's tables, stored in primary-key order (``WITHOUT ROWID``), without Feast's extra index.

        An account's features then sit together on disk: a read of 100 accounts took half the
        time, the file half the space. Feast's second index on ``entity_key`` repeats the
        primary key's first column and only slowed the writes. A table Feast created before
        stays as it is.
        """
        conn = self._get_conn(config)
        versioning = config.registry.enable_online_feature_view_versioning
        names = [compute_table_id(config.project, table, versioning) for table in tables_to_keep]
        own_layout = not self._feast_writes(config)
        if own_layout:
            for name in names:
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" (entity_key BLOB, feature_name TEXT, value BLOB, '
                    "value_text TEXT, vector_value BLOB, event_ts timestamp, created_ts timestamp, "
                    "PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID"
                )
        super().update(config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial)
        if own_layout:
            with conn:
                for name in names:
                    conn.execute(f'DROP INDEX IF EXISTS "{name}_ek"')

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKey],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, Value] | None]]:
        version = config.entity_key_serialization_version
        key_bins = [serialize_entity_key(key, entity_key_serialization_version=version) for key in entity_keys]
        name = compute_table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        # "event_ts + 0" has no declared type: sqlite3 leaves it an integer instead of
        # converting every cell's time (Feast's connection parses declared types). The
        # features are picked here, not in SQL: one range of the primary key per account
        # reads faster than a lookup per (account, feature).
        rows = self._get_conn(config).execute(
            f'SELECT entity_key, feature_name, value, event_ts + 0 FROM "{name}" '
            f"WHERE entity_key IN ({','.join('?' * len(key_bins))})",
            key_bins,
        )
        wanted = set(requested_features) if requested_features else None
        found: dict[bytes, list] = {}
        for key_bin, feature, value, epoch in rows:
            if wanted is not None and feature not in wanted:
                continue
            hit = found.get(key_bin)
            if hit is None:
                hit = found[key_bin] = [epoch, {}]
            elif epoch > hit[0]:
                hit[0] = epoch
            hit[1][feature] = Value.FromString(value)
        out: list[tuple[datetime | None, dict[str, Value] | None]] = []
        for key_bin in key_bins:
            hit = found.get(key_bin)
            # As Feast's store: the stored epoch read back in local time, then labelled UTC.
            out.append((datetime.fromtimestamp(hit[0]).replace(tzinfo=UTC), hit[1]) if hit else (None, None))
        return out


class RedisOnlineStore(FeastRedisOnlineStore):
    """Feast's Redis online store; field names hashed once per view, an equal event time overwrites."""

    def online_write_arrow(self, config: RepoConfig, table: FeatureView, batch: pa.RecordBatch | pa.Table) -> None:
        """Write a batch of ``table``'s rows (its join keys, features and timestamp columns)."""
        keys, columns, events, _ = _arrow_cells(table, batch)
        names = [feature for feature, _ in columns]
        self._write_hashes(
            config, table, keys, names, list(zip(*(values for _, values in columns), strict=True)), events
        )

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: Sequence[ProtoRow],
        progress: Callable[[int], Any] | None,
    ) -> None:
        names = [f.name for f in table.features]
        rows = [
            tuple(values[name].SerializeToString() if name in values else None for name in names)
            for _, values, _, _ in data
        ]
        self._write_hashes(config, table, [key for key, _, _, _ in data], names, rows, [ts for _, _, ts, _ in data])
        if progress:
            progress(len(data))

    def _write_hashes(
        self,
        config: RepoConfig,
        table: FeatureView,
        keys: Sequence[EntityKey],
        names: Sequence[str],
        rows: Sequence[tuple[bytes | None, ...]],
        events: Sequence[datetime],
    ) -> None:
        online = config.online_store
        client = self._get_client(online)
        project = config.project.encode()
        version = config.entity_key_serialization_version
        view = compute_versioned_name(table, config.registry.enable_online_feature_view_versioning)
        ts_field = f"_ts:{view}".encode()
        fields = [_mmh3(f"{view}:{name}") for name in names]
        stamps: dict[datetime, tuple[int, bytes]] = {}
        for start in range(0, len(keys), _REDIS_BATCH_KEYS):
            chunk = range(start, min(start + _REDIS_BATCH_KEYS, len(keys)))
            key_bins = [
                serialize_entity_key(keys[i], entity_key_serialization_version=version) + project for i in chunk
            ]
            newest: dict[bytes, int] = {}
            if not online.skip_dedup:
                for key_bin, stored in zip(key_bins, _stored_times(client, key_bins, ts_field), strict=True):
                    if stored:
                        newest[key_bin] = _nanos(Timestamp.FromString(stored))
            writes: list[tuple[bytes, list[bytes]]] = []
            for i, key_bin in zip(chunk, key_bins, strict=True):
                stamp = stamps.get(events[i])
                if stamp is None:
                    proto = Timestamp()
                    proto.FromDatetime(events[i] if events[i].tzinfo else events[i].replace(tzinfo=UTC))
                    stamp = stamps[events[i]] = (_nanos(proto), proto.SerializeToString())
                if stamp[0] < newest.get(key_bin, 0):
                    continue  # an older row than the stored one, or than one earlier in this batch
                newest[key_bin] = stamp[0]
                pairs = [
                    part
                    for field, value in zip(fields, rows[i], strict=True)
                    if value is not None
                    for part in (field, value)
                ]
                writes.append((key_bin, [*pairs, ts_field, stamp[1]]))
            _write(client, writes, online.key_ttl_seconds or 0)


def _stored_times(client: Any, key_bins: list[bytes], ts_field: bytes) -> list:
    with client.pipeline(transaction=False) as pipe:
        for key_bin in key_bins:
            pipe.hget(key_bin, ts_field)
        return pipe.execute()


def _write(client: Any, writes: list[tuple[bytes, list[bytes]]], ttl: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        for key_bin, parts in writes:
            pipe.hset(key_bin, items=parts)
            if ttl:
                pipe.expire(name=key_bin, time=ttl)
        pipe.execute()


def _nanos(stamp: Timestamp) -> int:
    return stamp.seconds * 1_000_000_000 + stamp.nanos


def _proto_rows(config: RepoConfig, table: FeatureView, batch: pa.RecordBatch | pa.Table) -> list[ProtoRow]:
    keys, columns, events, created = _arrow_cells(table, batch)
    return [
        (key, {feature: Value.FromString(values[i]) for feature, values in columns}, events[i], created[i])
        for i, key in enumerate(keys)
    ]
