"""Feast's SQLite and Redis online stores, loading a batch in one statement or one pipeline.

The profiles select them by class (``online_store.type`` in ``feature_repo/feature_store*.yaml``),
Feast's way of plugging in an online store. Feast reads them through the same class
(``get_online_features`` and the feature server call its ``online_read``), so Feast's own reads
read what they write; the tests read back through Feast. What they change, measured by
``bench/bench_feast.py``:

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
- **SQLite keeps a row per account and view** (Feast: a row per account and feature), so a
  read of 100 accounts fetches 100 rows per view; Redis keeps Feast's hash per account.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache
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
from feast.protos.feast.types.Value_pb2 import RepeatedValue, Value
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
    # What online_read_cells returns: each account's event time (None: no row), and per
    # feature each account's serialized Value (None: no row, or no value stored).
    Cells = tuple[list[datetime | None], dict[str, list[bytes | None]]]

logger = logging.getLogger(__name__)
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
    """Feast's SQLite online store, one row per account and view; a batch is one ``executemany``.

    Feast's table holds a row per (account, feature): a read of 100 accounts of a service
    fetched some 2,700 rows, 7 ms on this project's 2-core machine before any decoding
    (``bench/bench_feast.py``). Here a view's table holds a row per account (``entity_key``
    its primary key, ``WITHOUT ROWID``): the event and write times as Feast stores them
    (epoch seconds), the feature names (``features``, comma-separated) and their values
    (``cells``: the serialized ``RepeatedValue`` of the values in that order, Feast's own
    message for a list of values). The names travel with the row, as in Feast's layout,
    so a row written before a view gained or lost a feature still reads right. A newer or
    equally new row replaces the whole row in one upsert.

    A change of this layout changes ``feast_store.ONLINE_LAYOUT``, so that the next apply
    runs ``update`` and moves the tables to it.

    A store with vector search or the OpenAI-compatible store keeps Feast's layout and
    Feast's code throughout: its searches read Feast's columns.
    """

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

    def _upsert(self, config: RepoConfig, table: FeatureView, rows: Iterable[tuple]) -> None:
        name = compute_table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        conn = self._get_conn(config)
        with conn:
            conn.executemany(
                f'INSERT INTO "{name}" (entity_key, event_ts, created_ts, features, cells) '
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entity_key) DO UPDATE SET "
                "event_ts = excluded.event_ts, created_ts = excluded.created_ts, "
                "features = excluded.features, cells = excluded.cells "
                f'WHERE excluded.event_ts >= "{name}".event_ts',
                rows,
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
        names = ",".join(feature for feature, _ in columns)
        cells = (_repeated_value(values) for values in zip(*(values for _, values in columns), strict=True))
        self._upsert(
            config,
            table,
            zip(
                key_bins,
                (self._epoch(memo, ts) for ts in events),
                (self._epoch(memo, ts) for ts in created),
                repeat(names, len(key_bins)),
                cells,
                strict=True,
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
        rows: list[tuple[bytes, int | None, int | None, str, bytes]] = []
        for key, values, event_ts, created_ts in data:
            rows.append(
                (
                    serialize_entity_key(key, entity_key_serialization_version=version),
                    self._epoch(memo, event_ts),
                    self._epoch(memo, created_ts),
                    ",".join(values),
                    RepeatedValue(val=values.values()).SerializeToString(),
                )
            )
        self._upsert(config, table, rows)
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
        """Each kept view's table in this store's layout; Feast's own for the stores it writes itself.

        A table of Feast's layout (a row per feature), which this store wrote before it kept a
        row per account, is dropped and created again: an online store is a copy of the
        offline tables, and the next materialization loads it again.
        """
        if self._feast_writes(config):
            super().update(config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial)
            return
        conn = self._get_conn(config)
        versioning = config.registry.enable_online_feature_view_versioning
        with conn:
            for table in tables_to_keep:
                name = compute_table_id(config.project, table, versioning)
                columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}
                if columns and "cells" not in columns:
                    logger.warning(
                        "online table %s has Feast's layout (a row per feature): dropped and created again "
                        "with a row per account; materialize the view again to load it",
                        name,
                    )
                    conn.execute(f'DROP TABLE "{name}"')
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" (entity_key BLOB PRIMARY KEY, event_ts INTEGER, '
                    "created_ts INTEGER, features TEXT NOT NULL, cells BLOB NOT NULL) WITHOUT ROWID"
                )
            for table in tables_to_delete:
                conn.execute(f'DROP TABLE IF EXISTS "{compute_table_id(config.project, table, versioning)}"')

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKey],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, Value] | None]]:
        if self._feast_writes(config):
            return super().online_read(config, table, entity_keys, requested_features)
        version = config.entity_key_serialization_version
        key_bins = [serialize_entity_key(key, entity_key_serialization_version=version) for key in entity_keys]
        features = requested_features or [f.name for f in table.features]
        times, columns = self._read_cells(config, table, features, key_bins)
        rows = zip(*(columns[feature] for feature in features), strict=True)
        return [
            (None, None)
            if written is None
            else (
                written,
                {
                    feature: Value.FromString(cell)
                    for feature, cell in zip(features, cells, strict=True)
                    if cell is not None
                },
            )
            for written, cells in zip(times, rows, strict=True)
        ]

    def online_read_cells(
        self, config: RepoConfig, views: Sequence[tuple[FeatureView, Sequence[str]]], key_bins: Sequence[bytes]
    ) -> list[Cells] | None:
        """Per view, each account's event time and each feature's serialized value, undecoded;
        None when the store keeps Feast's layout (read it with ``online_read``).

        :param views: the views and the features to read of each.
        :param key_bins: the accounts' entity keys, serialized (``serialize_entity_key``).
        """
        if self._feast_writes(config):
            return None
        return [self._read_cells(config, table, features, key_bins) for table, features in views]

    def _read_cells(
        self, config: RepoConfig, table: FeatureView, features: Sequence[str], key_bins: Sequence[bytes]
    ) -> Cells:
        name = compute_table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        rows = self._get_conn(config).execute(
            f'SELECT entity_key, event_ts + 0, features, cells FROM "{name}" '
            f"WHERE entity_key IN ({','.join('?' * len(key_bins))})",
            list(key_bins),
        )
        positions: dict[str, list[int | None] | None] = {}
        found: dict[bytes, tuple[int, list[Any]]] = {}
        for key_bin, epoch, names, blob in rows:
            if names not in positions:
                stored = names.split(",")
                # None: the row holds exactly the features asked for, in their order.
                positions[names] = (
                    None
                    if stored == list(features)
                    else [stored.index(feature) if feature in stored else None for feature in features]
                )
            at = positions[names]
            cells = _split_repeated(blob)
            found[key_bin] = (epoch, cells if at is None else [None if i is None else cells[i] for i in at])
        times: list[datetime | None] = []
        columns: list[list[bytes | None]] = [[] for _ in features]
        missing = [None] * len(features)
        for key_bin in key_bins:
            hit = found.get(key_bin)
            # As Feast's store: the stored epoch read back in local time, then labelled UTC.
            times.append(None if hit is None else datetime.fromtimestamp(hit[0]).replace(tzinfo=UTC))
            for column, cell in zip(columns, missing if hit is None else hit[1], strict=True):
                column.append(cell)
        return times, dict(zip(features, columns, strict=True))


def _repeated_value(values: Sequence[bytes]) -> bytes:
    """The serialized ``RepeatedValue`` of serialized ``Value``s: each one as field 1, length-delimited."""
    return b"".join(_FIELD_1 + _varint(len(value)) + value for value in values)


def _split_repeated(blob: bytes) -> list[bytes]:
    """The serialized ``Value``s of a serialized ``RepeatedValue`` (inverse of ``_repeated_value``)."""
    cells, i, end = [], 0, len(blob)
    while i < end:
        if blob[i] != 0x0A:
            raise ValueError(f"not a RepeatedValue of values: tag {blob[i]:#x} at byte {i}")
        length, shift, i = 0, 0, i + 1
        while True:
            byte = blob[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if byte < 0x80:
                break
            shift += 7
        cells.append(blob[i : i + length])
        i += length
    return cells


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_FIELD_1 = b"\n"  # tag of field 1, wire type 2 (length-delimited)
_SMALL_VARINTS = [bytes([n]) for n in range(0x80)]


class RedisOnlineStore(FeastRedisOnlineStore):
    """Feast's Redis online store; field names hashed once per view, an equal event time overwrites."""

    def online_read_cells(
        self, config: RepoConfig, views: Sequence[tuple[FeatureView, Sequence[str]]], key_bins: Sequence[bytes]
    ) -> list[Cells]:
        """Per view, each account's event time and each feature's serialized value, undecoded.

        Feast keeps every view of an account in one hash: one HMGET an account reads them all.

        :param views: the views and the features to read of each.
        :param key_bins: the accounts' entity keys, serialized (``serialize_entity_key``).
        """
        versioning = config.registry.enable_online_feature_view_versioning
        fields: list[str | bytes] = []
        spans: list[tuple[int, int]] = []  # per view, where its fields (then its _ts field) sit
        for table, features in views:
            start = len(fields)
            fields.extend(_hash_fields(compute_versioned_name(table, versioning), tuple(features)))
            spans.append((start, len(fields) - 1))
        project = config.project.encode()
        replies = self._read_hash_fields(config, [(key_bin + project, fields) for key_bin in key_bins])
        out: list[Any] = []
        for (_, features), (start, ts_at) in zip(views, spans, strict=True):
            stamps = [reply[ts_at] for reply in replies]
            times = [Timestamp.FromString(stamp).ToDatetime(tzinfo=UTC) if stamp else None for stamp in stamps]
            # No time stored: the account has no row of this view, whatever other fields the hash holds.
            columns = {
                feature: [reply[start + i] if stamp else None for reply, stamp in zip(replies, stamps, strict=True)]
                for i, feature in enumerate(features)
            }
            out.append((times, columns))
        return out

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
        *fields, ts_field = _hash_fields(view, tuple(names))
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


@lru_cache(maxsize=256)
def _hash_fields(view: str, features: tuple[str, ...]) -> list[bytes]:
    """A view's hash fields in Feast's Redis layout, for writes and reads alike: murmur3 of
    ``view:feature`` each, then the time field ``_ts:view``.
    """
    return [*(_mmh3(f"{view}:{name}") for name in features), f"_ts:{view}".encode()]


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
