"""Each micro-batch of a window set: the windows that are an account's value online, to Feast.

A window is an account's value when it ends at the first boundary after the account's
newest event (``is_current_window`` in ``features/_account_windows.hql``). Such a row goes
to the online store through ``FeatureStore.push`` with ``feature_ts`` = that newest event's
time, and the store keeps the newest row per account (an equal time overwrites): a late
event that lands in an older window changes that window's row in the log but not the value
online, which has moved on.

The same rows are kept under ``<root>/streaming/<topic>/<view>/windows/batch_id=<n>.parquet``, the
record of what was served. A batch Spark runs again after a crash writes the same file and
pushes the same values, so a restart counts nothing twice.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from feast import FeatureStore
    from pyspark.sql import DataFrame

    from integrity_risk.streaming.windows import WindowSet

log = logging.getLogger(__name__)


def current_window_predicate(window: WindowSet, alias: str = "w") -> str:
    """SQL over ``alias``: the row is the window the account's value online covers."""
    import jinja2

    from integrity_risk.paths import hql_dir

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(hql_dir())), undefined=jinja2.StrictUndefined)
    template = env.from_string(
        '{% from "features/_account_windows.hql" import is_current_window %}{{ is_current_window(alias, slide) }}'
    )
    return template.render(alias=alias, slide=window.slide_micros).strip()


class FeastWindowSink:
    """``foreachBatch`` of a window set's query: log the current windows, then push them."""

    def __init__(self, window: WindowSet, topic: str) -> None:
        self.window = window
        self.topic = topic
        self.predicate = current_window_predicate(window)  # rendered once, not per batch
        self._store: FeatureStore | None = None
        #: batch id -> (wall time its push ended, rows pushed), read by the status reporter.
        self.pushed: dict[int, tuple[float, int]] = {}

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            from integrity_risk.features.feast_store import feature_store

            self._store = feature_store()
        return self._store

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as F

        current = (
            batch.alias("w")
            .where(self.predicate)
            .withColumnRenamed("last_event_time", "feature_ts")
            .withColumn("pushed_batch_id", F.lit(batch_id).cast("long"))
        )
        began = time.monotonic()
        table = current.toArrow()
        computed = time.monotonic()
        self.write_log(table, batch_id)
        logged = time.monotonic()
        if table.num_rows:
            from feast.data_source import PushMode

            frame = table.drop_columns(["pushed_batch_id"]).to_pandas()
            self.store.push(self.window.push_source, frame, to=PushMode.ONLINE)
        self.pushed[batch_id] = (time.time(), table.num_rows)
        log.info(
            "%s batch %d: %d windows online (windows %.2f s, log %.2f s, push %.2f s)",
            self.window.view,
            batch_id,
            table.num_rows,
            computed - began,
            logged - computed,
            time.monotonic() - logged,
        )

    def write_log(self, table: pa.Table, batch_id: int) -> None:
        import pyarrow.parquet as pq

        from integrity_risk.streaming.status import windows_log

        folder = windows_log(self.topic, self.window)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"batch_id={batch_id:012d}.parquet"
        partial = folder / f".batch_id={batch_id:012d}.parquet.partial"
        with partial.open("wb") as out:
            pq.write_table(table, out)
        partial.rename(final)
