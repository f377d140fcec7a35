"""The streaming job's window state: each account's minute buckets, added up into windows.

Spark hands each micro-batch its events, one row each, with the counters' parts
(``streaming/account_events.hql``) and holds no state. The job's sink keeps the state in a
:class:`BucketStore`, an in-process DuckDB database:

- ``buckets``: per account and minute of event time (its *bucket*), the counters' parts
  added up: sums, the exact amount, the sets of IPs and devices, the newest event;
- ``seen``: the ids of the events counted within the watermark, for their duplicates.

A batch's events that are late (older than the newest event of the batches before the last
one, less :data:`~integrity_risk.streaming.windows.WATERMARK`, as Spark's own watermark
drops them: a batch's slack for the partitions a batch read less far than the others) or
duplicates (an id counted already, or twice in the batch) are dropped and counted; the
others are added into their buckets.
A duplicate has its first copy's time, so an id whose event the watermark has passed can
be forgotten: a copy of it would be late.

The store survives a restart through the storage root, beside Spark's checkpoint:

- ``log/batch_id=<n>.parquet``: batch ``n``'s events, written before they are applied;
- ``snapshot/before_batch_id=<n>.parquet`` (buckets) and ``snapshot/seen/`` (ids): the
  store as batch ``n`` found it, every :data:`SNAPSHOT_EVERY` batches (the logs before it
  are then removed).

A job resuming at batch ``n`` (Spark's next, or the one it runs again after a crash) loads
the newest snapshot at or before ``n`` and the logs after it, applying each exactly as the
batch did, so batch ``n`` sees the store it saw the first time and drops and adds the same
events. Buckets older than any window a new event can still reach are dropped
(:meth:`BucketStore.evict`).
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
_WATERMARK_MICROS = int(WATERMARK.total_seconds()) * 1_000_000
_NAME = re.compile(r"(?:before_)?batch_id=(\d+)\.parquet")
_BASIS = "integrity_late_basis"
#: The counters an event adds to (each 0 or 1), as the streaming SQL names them; ``events`` is the count.
_EVENT_PARTS = tuple(c for c in ADDITIVE_COUNTERS if c != "events")
_BUCKETS_DDL = (
    "CREATE TABLE buckets (account_pk VARCHAR, bucket_micros BIGINT, "
    + ", ".join(f"{c} BIGINT" for c in ADDITIVE_COUNTERS)
    + ", payment_amount_sum DECIMAL(38, 6), "
    + ", ".join(f"{s} VARCHAR[]" for s in DISTINCT_SETS.values())
    + ", last_event_micros BIGINT)"
)
#: Where each distinct set's values come from in an event.
_SET_SOURCES = {"ips": "ip_pk", "devices": "device_pk"}


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
        self.db.execute(_BUCKETS_DDL)
        self.db.execute("CREATE TABLE seen (id_hi BIGINT, id_lo BIGINT, event_micros BIGINT)")
        self.resumed_at: int | None = None
        self._last_snapshot: int | None = None
        #: What the last batch dropped: events later than the watermark, and duplicates.
        self.late = 0
        self.duplicates = 0
        #: The newest event before the last batch's: what the next batch's lateness is measured from.
        self._basis: int | None = None

    # -- what each batch does, in this order (and again, from the logs, on resuming) --

    def apply(self, events: pa.Table, batch_id: int) -> pa.Table:
        """Batch ``batch_id``'s events into their buckets; the buckets they changed, whole."""
        if self.resumed_at is None:
            self.resume(batch_id)
        if self._last_snapshot is None or batch_id - self._last_snapshot >= SNAPSHOT_EVERY:
            self.snapshot(batch_id)
        if events.num_rows:
            write_whole(events, self.folder / "log" / f"batch_id={batch_id:012d}.parquet")
        return self._step(events)

    def close(self) -> None:
        """Release the database (what survives is under the storage root already)."""
        self.db.close()

    def newest(self) -> int | None:
        """The newest event time in the store, in microseconds."""
        return self.db.sql("SELECT max(last_event_micros) FROM buckets").fetchall()[0][0]

    def _step(self, events: pa.Table | None) -> pa.Table:
        """Drop the late events and the duplicates, add the rest into their buckets."""
        floor = None if self._basis is None else self._basis - _WATERMARK_MICROS
        self._basis = self.newest()
        self.evict(floor)
        if events is None or not events.num_rows:
            self.late = self.duplicates = 0
            return self.db.sql("SELECT * FROM buckets LIMIT 0").to_arrow_table()
        self.db.register("events", events)
        try:
            self.db.execute(
                # One copy of each id not counted before: the first in time (of identical copies, any).
                "CREATE OR REPLACE TEMP TABLE accepted AS "
                "SELECT e.* FROM events e ANTI JOIN seen s USING (id_hi, id_lo) "
                "WHERE (CAST(? AS BIGINT) IS NULL OR e.event_micros >= ?) "
                "QUALIFY row_number() OVER (PARTITION BY e.id_hi, e.id_lo ORDER BY e.event_micros, e.account_pk) = 1",
                [floor, floor],
            )
            on_time = (
                events.num_rows
                if floor is None
                else self.db.execute("SELECT count(*) FROM events WHERE event_micros >= ?", [floor]).fetchall()[0][0]
            )
        finally:
            self.db.unregister("events")
        accepted = self.db.sql("SELECT count(*) FROM accepted").fetchall()[0][0]
        self.late, self.duplicates = events.num_rows - on_time, on_time - accepted
        self.db.execute("INSERT INTO seen SELECT id_hi, id_lo, event_micros FROM accepted")
        parts = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _EVENT_PARTS)
        sets = ", ".join(
            f"coalesce(list({source}) FILTER (WHERE {source} IS NOT NULL), []) AS {name}"
            for name, source in _SET_SOURCES.items()
        )
        sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in ADDITIVE_COUNTERS)
        unions = ", ".join(f"list_distinct(flatten(list({s}))) AS {s}" for s in DISTINCT_SETS.values())
        self.db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE touched AS
            WITH added AS (
              SELECT account_pk, event_micros // {_BUCKET_MICROS} * {_BUCKET_MICROS} AS bucket_micros,
                     count(*) AS events, {parts}, sum(payment_amount) AS payment_amount_sum, {sets},
                     max(event_micros) AS last_event_micros
              FROM accepted GROUP BY 1, 2
            )
            SELECT account_pk, bucket_micros, {sums},
                   CAST(sum(payment_amount_sum) AS DECIMAL(38, 6)) AS payment_amount_sum, {unions},
                   max(last_event_micros) AS last_event_micros
            FROM (
              SELECT * FROM buckets SEMI JOIN added USING (account_pk, bucket_micros)
              UNION ALL BY NAME SELECT * FROM added
            ) GROUP BY account_pk, bucket_micros
            """
        )
        self.db.execute(
            "DELETE FROM buckets USING touched c "
            "WHERE buckets.account_pk = c.account_pk AND buckets.bucket_micros = c.bucket_micros"
        )
        self.db.execute("INSERT INTO buckets BY NAME SELECT * FROM touched")
        return self.db.sql("SELECT * FROM touched").to_arrow_table()

    def evict(self, floor: int | None) -> None:
        """Forget what no coming event can reach: events older than ``floor`` (where this
        batch's lateness starts; it only moves on) are late, so their ids go, and so do the
        buckets that no window of an event at ``floor`` or later holds.
        """
        if floor is None:
            return
        horizon = floor // _BUCKET_MICROS * _BUCKET_MICROS - self.keep_micros
        self.db.execute("DELETE FROM buckets WHERE bucket_micros < ?", [horizon])
        self.db.execute("DELETE FROM seen WHERE event_micros < ?", [floor])

    def snapshot(self, batch_id: int) -> None:
        """The store as batch ``batch_id`` finds it; the logs and snapshots before it go."""
        self._last_snapshot = batch_id
        name = f"before_batch_id={batch_id:012d}.parquet"
        # The ids first: the buckets' file says the snapshot is whole.
        write_whole(self.db.sql("SELECT * FROM seen").to_arrow_table(), self.folder / "snapshot" / "seen" / name)
        buckets = self.db.sql("SELECT * FROM buckets").to_arrow_table()
        write_whole(buckets.replace_schema_metadata({_BASIS: str(self._basis)}), self.folder / "snapshot" / name)
        for kind in ("log", "snapshot", "snapshot/seen"):
            for earlier, path in _batch_files(self.folder / kind).items():
                if earlier < batch_id:
                    path.unlink()

    def resume(self, batch_id: int) -> None:
        """The store batch ``batch_id`` found when it first ran: the newest snapshot at or
        before it, then each batch since as it ran, from its log (none: no events).
        Later logs, of a batch that did not finish, are that batch's and are written again.
        """
        snapshots = {n: p for n, p in _batch_files(self.folder / "snapshot").items() if n <= batch_id}
        start = max(snapshots, default=0)
        if snapshots:
            seen = self.folder / "snapshot" / "seen" / snapshots[start].name
            for table, saved in (("buckets", _read(snapshots[start])), ("seen", _read(seen))):
                if table == "buckets":
                    basis = (saved.schema.metadata or {}).get(_BASIS.encode(), b"None").decode()
                    self._basis = None if basis == "None" else int(basis)
                self.db.register("saved", saved.replace_schema_metadata(None))
                try:
                    self.db.execute(f"INSERT INTO {table} BY NAME SELECT * FROM saved")
                finally:
                    self.db.unregister("saved")
            self._last_snapshot = start
        logs = {n: p for n, p in _batch_files(self.folder / "log").items() if start <= n < batch_id}
        for n in range(start, batch_id):
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
