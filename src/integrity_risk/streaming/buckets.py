"""The streaming job's window state: each account's minute buckets, added up into windows.

Spark's state holds the buckets still open to events (the watermark's reach) and, in update
mode, gives each batch the buckets that gained events, whole. The windows need an hour of
buckets, so the job's sink keeps those in a :class:`BucketStore`: an in-process DuckDB
table, which adds a window's buckets up for the accounts a batch touched.

The store survives a restart through the storage root, beside Spark's checkpoint:

- ``log/batch_id=<n>.parquet``: batch ``n``'s buckets, written before they are applied;
- ``snapshot/before_batch_id=<n>.parquet``: the whole store as batch ``n`` found it, every
  :data:`SNAPSHOT_EVERY` batches (the logs before it are then removed).

A job resuming at batch ``n`` (Spark's next, or the one it runs again after a crash) loads
the newest snapshot at or before ``n`` and the logs after it, applying each exactly as the
batch did, so batch ``n`` sees the store it saw the first time. Buckets older than any
window a new event can still reach are dropped (:meth:`BucketStore.evict`), measured from
the newest event of the batches before the last, as Spark drops late events.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from integrity_risk.streaming.windows import ADDITIVE_COUNTERS, BUCKET, DISTINCT_SETS, WATERMARK, WindowSet

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 50
_BUCKET_MICROS = int(BUCKET.total_seconds()) * 1_000_000
_NAME = re.compile(r"(?:before_)?batch_id=(\d+)\.parquet")
_BASIS = "integrity_eviction_basis"


def _batch_files(folder: ObjectStoragePath) -> dict[int, ObjectStoragePath]:
    if not folder.exists():
        return {}
    found = {}
    for path in folder.iterdir():
        if match := _NAME.fullmatch(path.name):
            found[int(match.group(1))] = path
    return found


def _read(path: ObjectStoragePath) -> pa.Table:
    import pyarrow.parquet as pq

    with path.open("rb") as f:
        return pq.read_table(f)


def write_whole(table: pa.Table, path: ObjectStoragePath) -> None:
    """Whole or not at all: written beside, then renamed."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{path.name}.partial"
    with partial.open("wb") as out:
        pq.write_table(table, out)
    partial.rename(path)


class BucketStore:
    """The buckets of the last hour or so (the longest window set's reach), by account.

    :param folder: where the logs and snapshots live.
    :param windows: the window sets served; the longest decides how long a bucket is kept.
    """

    def __init__(self, folder: ObjectStoragePath, windows: list[WindowSet]) -> None:
        import duckdb

        self.folder = folder
        self.keep_micros = max(w.length_micros for w in windows)
        self.db: duckdb.DuckDBPyConnection = duckdb.connect()
        self.resumed_at: int | None = None
        self._last_snapshot: int | None = None
        self._created = False  # the table comes with the first buckets, in their types
        #: The newest event before the last batch's buckets: what the next eviction measures from.
        self._basis: int | None = None

    # -- what each batch does, in this order (and again, from the logs, on resuming) --

    def apply(self, changed: pa.Table, batch_id: int) -> None:
        """Batch ``batch_id``'s buckets, whole (Spark's update mode gives each changed bucket whole)."""
        if self.resumed_at is None:
            self.resume(batch_id)
        self.evict()
        if self._last_snapshot is None or batch_id - self._last_snapshot >= SNAPSHOT_EVERY:
            self.snapshot(batch_id)
        if changed.num_rows:
            write_whole(changed, self.folder / "log" / f"batch_id={batch_id:012d}.parquet")
        self._step(changed)

    def _step(self, changed: pa.Table | None) -> None:
        self._basis = self.newest()
        self._upsert(changed)

    def newest(self) -> int | None:
        """The newest event time in the store, in microseconds."""
        if not self._created:
            return None
        return self.db.sql("SELECT max(last_event_micros) FROM buckets").fetchall()[0][0]

    def _upsert(self, changed: pa.Table | None) -> None:
        if changed is None or not changed.num_rows:
            return
        self.db.register("changed", changed)
        try:
            if not self._created:
                self.db.execute("CREATE TABLE buckets AS SELECT * FROM changed")
                self._created = True
                return
            self.db.execute(
                "DELETE FROM buckets USING changed c "
                "WHERE buckets.account_pk = c.account_pk AND buckets.bucket_micros = c.bucket_micros"
            )
            self.db.execute("INSERT INTO buckets BY NAME SELECT * FROM changed")
        finally:
            self.db.unregister("changed")

    def evict(self) -> None:
        """Drop the buckets no window of a coming event can hold.

        Spark drops, in batch ``n``, the events older than the watermark batch ``n - 1``
        ran with: the newest event of the batches before ``n - 1``, less the watermark's
        delay. A window of such an event reaches back its length from there. The store's
        newest event before the last batch's buckets is no newer than Spark's.
        """
        if self._basis is None or not self._created:
            return
        reach = self._basis - int(WATERMARK.total_seconds()) * 1_000_000
        horizon = reach // _BUCKET_MICROS * _BUCKET_MICROS - self.keep_micros
        self.db.execute("DELETE FROM buckets WHERE bucket_micros < ?", [horizon])

    def snapshot(self, batch_id: int) -> None:
        """The store as batch ``batch_id`` finds it; the logs and snapshots before it go."""
        self._last_snapshot = batch_id
        if not self._created:
            return
        table = self.db.sql("SELECT * FROM buckets").to_arrow_table()
        table = table.replace_schema_metadata({_BASIS: str(self._basis)})
        write_whole(table, self.folder / "snapshot" / f"before_batch_id={batch_id:012d}.parquet")
        for kind in ("log", "snapshot"):
            for earlier, path in _batch_files(self.folder / kind).items():
                if earlier < batch_id:
                    path.unlink()

    def resume(self, batch_id: int) -> None:
        """The store batch ``batch_id`` found when it first ran: the newest snapshot at or
        before it, then each batch since as it ran, from its log (none: no buckets).
        Later logs, of a batch that did not finish, are that batch's and are written again.
        """
        snapshots = {n: p for n, p in _batch_files(self.folder / "snapshot").items() if n <= batch_id}
        start = max(snapshots, default=0)
        if snapshots:
            table = _read(snapshots[start])
            basis = (table.schema.metadata or {}).get(_BASIS.encode(), b"None").decode()
            self._basis = None if basis == "None" else int(basis)
            self._upsert(table.replace_schema_metadata(None))
            self._last_snapshot = start
        logs = {n: p for n, p in _batch_files(self.folder / "log").items() if start <= n < batch_id}
        for n in range(start, batch_id):
            self.evict()
            self._step(_read(logs[n]) if n in logs else None)
        self.resumed_at = batch_id
        log.info(
            "bucket store resumed at batch %d: snapshot %s, %d logs", batch_id, start if snapshots else None, len(logs)
        )

    # -- the windows --

    def windows_of(self, changed: pa.Table, window: WindowSet) -> pa.Table:
        """The windows of ``window`` that hold a changed bucket and whose last slide has
        events: each is the value online of its account as of its newest event (the
        window ending at the first boundary after it), and a window a late event changed
        again. Columns: ``account_pk``, ``window_start``, ``window_end``, the set's
        counters and ``feature_ts`` (the window's newest event).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        slide, length = window.slide_micros, window.length_micros
        suffix = window.name
        counters = [f"CAST(sum(b.{c}) AS BIGINT) AS {c}_{suffix}" for c in ADDITIVE_COUNTERS]
        counters.append(f"CAST(coalesce(sum(b.payment_amount_sum), 0) AS DOUBLE) AS payment_amount_sum_{suffix}")
        counters += [
            f"CAST(len(list_distinct(flatten(list(b.{bucket_set})))) AS BIGINT) AS {name}_{suffix}"
            for name, bucket_set in DISTINCT_SETS.items()
        ]
        sql = f"""
            WITH candidates AS (  -- the windows that hold a changed bucket
              SELECT DISTINCT account_pk, (bucket_micros // {slide} + 1 + r.k) * {slide} AS window_end
              FROM changed CROSS JOIN range({length // slide}) AS r(k)
            ), last_slides AS (  -- the slides of the touched accounts that have events
              SELECT DISTINCT account_pk, (bucket_micros // {slide} + 1) * {slide} AS window_end
              FROM buckets SEMI JOIN changed USING (account_pk)
            ), ends AS (
              SELECT account_pk, window_end FROM candidates SEMI JOIN last_slides USING (account_pk, window_end)
            )
            SELECT e.account_pk, e.window_end - {length} AS window_start, e.window_end,
                   {", ".join(counters)},
                   max(b.last_event_micros) AS feature_ts
            FROM ends e JOIN buckets b
              ON b.account_pk = e.account_pk AND b.bucket_micros >= e.window_end - {length}
             AND b.bucket_micros < e.window_end
            GROUP BY e.account_pk, e.window_end
        """
        self.db.register("changed", changed)
        try:
            table = self.db.sql(sql).to_arrow_table()
        finally:
            self.db.unregister("changed")
        utc = pa.timestamp("us", tz="UTC")
        for name in ("window_start", "window_end", "feature_ts"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pc.cast(table[name], pa.int64()).cast(utc))
        return table
