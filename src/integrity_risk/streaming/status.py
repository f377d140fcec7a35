"""Where the streaming job keeps its state under the storage root, and what it reports.

Per topic, under ``<root>/streaming/<topic>``:

- ``checkpoints/account_realtime_v2/``: the job's query, which serves every window set:
  ``spark/``, Spark's checkpoint (the offsets of each batch), and ``buckets/``, the bucket
  store's (:mod:`integrity_risk.streaming.buckets`: the buckets and the ids counted). A restarted job resumes from both;
  removing the folder starts the job afresh from the topic's start.
- ``<view>/windows/``: the windows pushed online, one file per batch.
- ``status/<view>.json``: the job's report on a window set, rewritten every few seconds:
  its heartbeat, the Kafka lag, the counts of malformed, dirty, late and duplicated messages, the newest
  event online, and each recent batch's freshness. Airflow's supervision reads it; it
  crosses machines through the storage root, like everything else between tasks.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import TYPE_CHECKING, Any

from integrity_risk.storage import storage_root

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from integrity_risk.streaming.windows import WindowSet

RECENT_BATCHES = 200
#: The job's one query.
QUERY = "account_realtime"
#: Its checkpoint's folder, versioned by layout: a job finding only an older layout's
#: checkpoint (Spark's state of buckets, before the bucket store took them) starts afresh.
CHECKPOINT = f"{QUERY}_v2"


def streaming_root(topic: str) -> ObjectStoragePath:
    from integrity_risk.values import check_identifier

    check_identifier(topic, "topic")
    return storage_root() / "streaming" / topic


def checkpoint_location(topic: str) -> str:
    """Spark's checkpoint of the job's query, as a URL Spark reads (``file://``, ``s3a://``...)."""
    return str(streaming_root(topic) / "checkpoints" / CHECKPOINT / "spark")


def buckets_folder(topic: str) -> ObjectStoragePath:
    """The bucket store's logs and snapshots: part of the checkpoint, removed with it."""
    return streaming_root(topic) / "checkpoints" / CHECKPOINT / "buckets"


def windows_log(topic: str, window: WindowSet) -> ObjectStoragePath:
    return streaming_root(topic) / window.view / "windows"


def status_path(topic: str, view: str) -> ObjectStoragePath:
    return streaming_root(topic) / "status" / f"{view}.json"


def read_status(topic: str, view: str) -> dict[str, Any] | None:
    """The job's last report on ``view`` of ``topic``, or None before its first."""
    path = status_path(topic, view)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


class StatusReporter:
    """Collects each query's progress (a Spark listener) and writes the status files."""

    def __init__(self, spark: SparkSession, topic: str) -> None:
        from pyspark.sql.streaming import StreamingQueryListener

        self.topic = topic
        #: query name -> its sink, which knows its views and when each batch's push ended
        self.sinks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._views: dict[str, dict[str, Any]] = {}
        reporter = self

        class Listener(StreamingQueryListener):
            def onQueryStarted(self, event: Any) -> None:
                pass

            def onQueryProgress(self, event: Any) -> None:
                reporter.record(json.loads(event.progress.json))

            def onQueryIdle(self, event: Any) -> None:
                pass

            def onQueryTerminated(self, event: Any) -> None:
                pass

        spark.streams.addListener(Listener())

    def _view(self, name: str) -> dict[str, Any]:
        if name not in self._views:
            previous = read_status(self.topic, name) or {}
            self._views[name] = {
                "view": name,
                "topic": self.topic,
                "messages": previous.get("messages", 0),
                "malformed": previous.get("malformed", 0),
                "dirty": previous.get("dirty", 0),
                "clock_ahead": previous.get("clock_ahead", 0),
                "late_dropped": previous.get("late_dropped", 0),
                "duplicates": previous.get("duplicates", 0),
                "newest_event_online": previous.get("newest_event_online"),
                "recent_batches": previous.get("recent_batches", []),
            }
        return self._views[name]

    def record(self, progress: dict[str, Any]) -> None:
        """One batch's progress, in the status of each view its query serves."""
        sink = self.sinks.get(progress.get("name") or "")
        if sink is None:
            return
        with self._lock:
            # Taken for every batch, an empty one too: the job runs for weeks, a batch a second.
            batch_id = progress.get("batchId")
            dropped = sink.dropped.pop(batch_id, (0, 0))
            pushes = {name: sink.pushed[name].pop(batch_id, (None, 0)) for name in sink.views}
            if not progress.get("numInputRows") and not progress.get("observedMetrics"):
                return
            for name in sink.views:
                self._record(name, progress, pushes[name], dropped)

    def _record(
        self, name: str, progress: dict[str, Any], push: tuple[float | None, int], dropped: tuple[int, int]
    ) -> None:
        """Counts added up, lag and event times kept."""
        quality = (progress.get("observedMetrics") or {}).get("quality") or {}
        source = (progress.get("sources") or [{}])[0]
        view = self._view(name)
        for field in ("messages", "malformed", "dirty", "clock_ahead"):
            view[field] = view.get(field, 0) + int(quality.get(field) or 0)
        view["late_dropped"] = view.get("late_dropped", 0) + dropped[0]
        view["duplicates"] = view.get("duplicates", 0) + dropped[1]
        view["offsets_behind"] = _as_int((source.get("metrics") or {}).get("maxOffsetsBehindLatest"))
        view["end_offsets"] = source.get("endOffset")
        view["input_rows_per_second"] = progress.get("inputRowsPerSecond")
        view["processed_rows_per_second"] = progress.get("processedRowsPerSecond")
        newest = quality.get("newest_event_micros")
        if newest is not None:
            view["newest_event_online"] = max(filter(None, [view["newest_event_online"], _iso(int(newest) / 1e6)]))
        quantiles = [int(q) / 1e6 for q in quality.get("event_micros_quantiles") or [] if q is not None]
        pushed_at, rows = push
        view["recent_batches"] = (
            view["recent_batches"]
            + [
                {
                    "batch_id": progress.get("batchId"),
                    "ended_at": progress.get("timestamp"),
                    "duration_ms": (progress.get("durationMs") or {}).get("triggerExecution"),
                    "durations_ms": progress.get("durationMs") or {},
                    "messages": int(quality.get("messages") or 0),
                    "windows_online": rows,
                    "pushed_at": _iso(pushed_at),
                    # the usable events' age when their batch's values were online:
                    # p99, p50 and p1 of the batch (from its events' time quantiles)
                    "freshness_s": [round(pushed_at - q, 3) for q in quantiles] if pushed_at else [],
                }
            ]
        )[-RECENT_BATCHES:]

    def heartbeat(self, queries: list[StreamingQuery]) -> None:
        """Write every view's status, with each query's state as of now."""
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._lock:
            for query in queries:
                error = query.exception()
                for name in self.sinks[query.name].views:
                    self._write(name, query, now, error)

    def _write(self, name: str, query: StreamingQuery, now: str, error: Any) -> None:
        view = self._view(name)
        view.update(
            heartbeat_at=now,
            query=query.name,
            query_id=query.id,
            run_id=query.runId,
            active=query.isActive,
            error=None if error is None else str(error)[:2000],
        )
        path = status_path(self.topic, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.parent / f".{path.name}.partial"
        partial.write_text(json.dumps(view, indent=1, default=str))
        partial.rename(path)


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(float(value))
    except (TypeError, ValueError):
        return None
