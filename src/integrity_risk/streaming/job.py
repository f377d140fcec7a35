"""The streaming job: Kafka's ``user_events`` to per-account sliding-window counters online.

Spark Structured Streaming, one query for every window set
(:data:`~integrity_risk.streaming.windows.WINDOW_SETS`), checkpointed under the storage root::

    message (JSON, upstream columns) -> parsed -> cleaned by the batch rules (features/_clean.hql)
      -> identifiers pseudonymized with the extracts' HMAC key (the state holds no raw id)
      -> each event's parts of the counters (features/_account_windows.hql); no state in Spark
      -> each micro-batch, in the job's bucket store (integrity_risk.streaming.buckets):
         late events and duplicates of an event_id dropped, the rest added into their
         account's minute, the changed minutes into each window set's windows; those that
         are an account's value now pushed to Feast (integrity_risk.streaming.sink)

A message that is not JSON of the upstream columns is counted as malformed and skipped; a
parsed row the cleaning stage would drop is counted as dirty and skipped; an event timed
ahead of the broker's clock is counted and skipped. Events later than the watermark are
dropped by the bucket store (counted as ``late_dropped``): batch counts them, the stream
does not; duplicates are counted as ``duplicates``. The counts, the
Kafka lag and each batch's freshness go to ``<root>/streaming/<topic>/status/<view>.json``
(:mod:`integrity_risk.streaming.status`), which Airflow reads to supervise the job.

    python -m integrity_risk.streaming.job [--master local[2]] [--jars a.jar,lib/*.jar] [--conn-id kafka_default]
        [--topic user_events] [--window-sets 5m,1h] [--trigger-seconds 1]

The Kafka client settings come from the Airflow connection (``bootstrap.servers`` and any
``security.*``/``sasl.*``/``ssl.*`` of its extra); the HMAC key from the connection
``integrity_pseudonymization`` (:func:`integrity_risk.features.pseudonymize.get_key`).
Spark's Kafka source must be on the classpath: ``--jars`` (or ``$INTEGRITY_STREAMING_JARS``),
or the image's Spark jars.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from integrity_risk.streaming import TOPIC, upstream_columns
from integrity_risk.streaming.launcher import JARS_ENV, MASTER_ENV, expand_jars
from integrity_risk.streaming.windows import WINDOW_SET_NAMES, WindowSet, window_set

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from integrity_risk.streaming.sink import FeastWindowSink

log = logging.getLogger(__name__)

#: Client settings of the connection the Kafka source passes on (as ``kafka.<name>``); the
#: producer's and the consumer group's own are not its business (Spark tracks the offsets).
_PASSED_ON = ("bootstrap.servers", "security.", "sasl.", "ssl.", "client.dns.lookup")
#: How far an event's time may be ahead of its message's time at the broker.
MAX_CLOCK_AHEAD = dt.timedelta(minutes=1)


def kafka_source_options(conn_id: str, topic: str) -> dict[str, str]:
    """The Kafka source's options from the Airflow connection ``conn_id``.

    :raises ValueError: the connection names no ``bootstrap.servers``.
    """
    from airflow.sdk import BaseHook

    extra = BaseHook.get_connection(conn_id).extra_dejson
    if not extra.get("bootstrap.servers"):
        raise ValueError(f"Airflow connection {conn_id!r} has no bootstrap.servers in its extra")
    options = {f"kafka.{k}": str(v) for k, v in extra.items() if k.startswith(_PASSED_ON)}
    options.update(subscribe=topic, startingOffsets="earliest", maxOffsetsPerTrigger="500000")
    return options


def spark_session(master: str, jars: list[str], key: bytes) -> SparkSession:
    """A Spark session for the job: UTC, the HMAC pads as SQL variables, redacted in plans and logs."""
    from pyspark.sql import SparkSession

    from integrity_risk.features.pseudonymize import (
        IPAD_VAR,
        OPAD_VAR,
        SERVER_REDACTION_CONF,
        SERVER_REDACTION_REGEX,
        hmac_pads,
    )

    builder = (
        SparkSession.builder.appName("integrity-risk-streaming")
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Every batch plans its query again; past Spark's 100 cached classes, it compiles them
        # again too (docker/spark-conf/spark-defaults.conf sets the same for the Thrift Server).
        .config("spark.sql.codegen.cache.maxEntries", "2000")
        .config(SERVER_REDACTION_CONF, SERVER_REDACTION_REGEX)
    )
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    ipad, opad = hmac_pads(key)
    spark.conf.set(IPAD_VAR, ipad)
    spark.conf.set(OPAD_VAR, opad)
    return spark


def upstream_schema() -> str:
    """``raw.user_events``'s columns as a Spark DDL schema (the partition left out)."""
    return ", ".join(f"{name} {kind}" for name, kind in upstream_columns())


def usable_events(spark: SparkSession, kafka_options: dict[str, str]) -> DataFrame:
    """The topic's usable events, parsed and cleaned (duplicates are the bucket store's).

    Observed per batch (``quality`` in the query's progress): messages, malformed ones (not
    JSON of the upstream columns), dirty ones (dropped by the cleaning rules), those timed
    more than :data:`MAX_CLOCK_AHEAD` after their message (left to batch), and the
    quantiles of the usable events' times, for freshness.
    """
    from pyspark.sql import functions as F

    from integrity_risk.features.hql import clean_event_predicate

    raw = spark.readStream.format("kafka").options(**kafka_options).load()
    parsed = raw.select(
        F.from_json(F.col("value").cast("string"), upstream_schema()).alias("e"),
        F.col("timestamp").alias("published_at"),
    )
    e = F.col("e")
    malformed = e.isNull() | (
        e.event_id.isNull() & e.account_id.isNull() & e.event_type.isNull() & e.event_time.isNull()
    )
    usable = F.coalesce(F.expr(clean_event_predicate("e")), F.lit(False))
    # An event time ahead of the broker's clock (a client's clock off) would move the
    # watermark on and drop everyone's on-time events as late: counted, left to batch.
    ahead = usable & (
        F.unix_micros(e.event_time) > F.unix_micros(F.col("published_at")) + int(MAX_CLOCK_AHEAD.total_seconds() * 1e6)
    )
    flagged = parsed.select("e", malformed.alias("malformed"), (usable & ~ahead).alias("usable"), ahead.alias("ahead"))
    counted = F.col("usable")
    observed = flagged.observe(
        "quality",
        F.count(F.lit(1)).alias("messages"),
        F.sum(F.col("malformed").cast("long")).alias("malformed"),
        F.sum((~F.col("malformed") & ~counted & ~F.col("ahead")).cast("long")).alias("dirty"),
        F.sum(F.col("ahead").cast("long")).alias("clock_ahead"),
        F.percentile_approx(F.when(counted, F.unix_micros(e.event_time)), [0.01, 0.5, 0.99], 1000).alias(
            "event_micros_quantiles"
        ),
        F.max(F.when(counted, F.unix_micros(e.event_time))).alias("newest_event_micros"),
    )
    return observed.where("usable").select("e.*")


def account_events(spark: SparkSession, events: DataFrame) -> DataFrame:
    """Each of ``events`` as its counters' parts, by the shared SQL definition."""
    from integrity_risk.features.hql import render_hql

    events.createOrReplaceTempView("events")
    return spark.sql(render_hql("streaming/account_events.hql"))


def start_query(
    spark: SparkSession,
    kafka_options: dict[str, str],
    sink: FeastWindowSink,
    *,
    trigger_seconds: float,
) -> StreamingQuery:
    """Start the job's query, resuming from its checkpoint under the storage root."""
    from integrity_risk.streaming.status import QUERY, checkpoint_location

    events = account_events(spark, usable_events(spark, kafka_options))
    return (
        events.writeStream.queryName(QUERY)
        .outputMode("append")
        .foreachBatch(sink)
        .option("checkpointLocation", checkpoint_location(sink.topic))
        .trigger(processingTime=f"{trigger_seconds} seconds")
        .start()
    )


def check_registry(windows: list[WindowSet]) -> None:
    """Fail before Spark starts when Feast's registry lacks a window set's view or push source."""
    from integrity_risk.features.feast_store import feature_store

    store = feature_store()
    for window in windows:
        try:
            store.get_feature_view(window.view)
            store.get_data_source(window.push_source)
        except Exception as err:
            raise SystemExit(
                f"Feast's registry has no {window.view} or {window.push_source} ({type(err).__name__}): "
                "apply the repo first (python -m integrity_risk.features.feast_store apply)"
            ) from None


def main(argv: list[str] | None = None) -> int:
    from integrity_risk.features.pseudonymize import get_key
    from integrity_risk.streaming.sink import FeastWindowSink
    from integrity_risk.streaming.status import QUERY, StatusReporter

    parser = argparse.ArgumentParser(prog="python -m integrity_risk.streaming.job", description=__doc__)
    parser.add_argument("--master", default=os.environ.get(MASTER_ENV, "local[2]"))
    parser.add_argument("--jars", default=os.environ.get(JARS_ENV, ""), help="comma-separated paths or globs")
    parser.add_argument("--conn-id", default="kafka_default")
    parser.add_argument("--topic", default=TOPIC)
    parser.add_argument("--window-sets", default=",".join(WINDOW_SET_NAMES))
    parser.add_argument("--trigger-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    windows = [window_set(name) for name in args.window_sets.split(",") if name]
    check_registry(windows)
    options = kafka_source_options(args.conn_id, args.topic)
    spark = spark_session(args.master, expand_jars(args.jars), get_key())
    reporter = StatusReporter(spark, args.topic)
    sink = reporter.sinks[QUERY] = FeastWindowSink(windows, args.topic)
    queries = [start_query(spark, options, sink, trigger_seconds=args.trigger_seconds)]
    log.info("streaming %s into %s", args.topic, ", ".join(w.view for w in windows))

    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping the queries", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = None
    while not stopping.is_set() and failed is None:
        stopping.wait(2.0)
        reporter.heartbeat(queries)
        failed = next((q for q in queries if q.exception() is not None), None)
    # A SIGTERM to the job's process group reaches its JVM too, which may be gone already.
    try:
        for query in queries:
            query.stop()
        reporter.heartbeat(queries)
    except Exception as err:
        log.warning("the queries did not stop cleanly (%s); the checkpoints keep their last batch", err)
    sink.buckets.close()
    if failed is not None:
        log.error("query %s failed: %s", failed.name, failed.exception())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
