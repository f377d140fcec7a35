"""The streaming job's throughput and freshness, driven by the live generator at fixed rates.

    python bench/bench_streaming.py [--rates 2000,5000,10000,20000] [--seconds 60] [--accounts 4000]

For each rate, on a fresh topic of a local broker, with a private storage root and Feast repo
(under <local>/bench_streaming): the streaming job starts (both window sets, as deployed), the
live generator publishes the world's events retimed to the clock at that rate for
``--seconds`` (after ``--warmup-seconds`` at the same rate, drained: a job's first batches
compile its code), and the benchmark waits for the job to drain the topic. It prints, per rate:

- sent/s: what the publisher achieved (it shares the two cores with the job);
- read/s: the events sent, over the time from the first sent until the job had read them
  all (below the rate by the last batch's time even when the job keeps up);
- the lag, sampled every second while publishing: its maximum, and how fast it grew over
  the second half (events/s; about 0 when the job sustains the rate, the rate less the
  job's when it does not); then the lag when the publishing ended, and how long the job
  took after it to catch up;
- freshness p50 / p99: from an event's time to its window's value written online. Each
  batch reports the quantiles of its events' times and when its push ended
  (``<root>/streaming/<topic>/status``); an event's freshness is that end less its time,
  so a batch's p99 is its end less the p1 of its times. Printed: the message-weighted
  median of the batches' p50 and the weighted 99th percentile of their p99, over the
  batches of the steady part (after the first 10 s);
- the batches' median duration.

Goals on 2 cores (issue #21): 10,000 events/s sustained, p99 freshness 10 s or less.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import threading
import time

STEADY_AFTER_S = 10.0


def weighted_quantile(pairs: list[tuple[float, int]], q: float) -> float | None:
    """The ``q`` quantile of values weighted by counts (value, count)."""
    pairs = sorted(p for p in pairs if p[1] > 0)
    total = sum(count for _, count in pairs)
    if not total:
        return None
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= q * total:
            return value
    return pairs[-1][0]


def world_rows(accounts: int, needed: int) -> list[dict]:
    """At least ``needed`` events of the generator's world; copies of a day get new event ids."""
    from integrity_local.synthetic import WorldConfig, generate_day

    day = generate_day(WorldConfig(seed=21, start_ds="2026-03-02", days=1, n_accounts=accounts), "2026-03-02")
    base = [r for r in day.user_events.to_pylist() if r["event_time"] is not None]
    rows, copy = [], 0
    while len(rows) < needed:
        rows += [{**r, "event_id": f"{r['event_id']}-{copy}"} for r in base]
        copy += 1
    return rows[:needed]


def run_rate(rate: int, seconds: float, rows: list[dict], topic: str, warmup_s: float) -> dict:
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    from integrity_local.streaming_job import LocalStreamingJob
    from integrity_local.synthetic.live import LiveStream, publish
    from integrity_risk.hooks.streaming import StreamingJobHook
    from integrity_risk.streaming.status import read_status
    from integrity_risk.streaming.windows import WINDOW_SETS

    views = [w.view for w in WINDOW_SETS]
    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(topic, 4, 1)])
    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    job = LocalStreamingJob(topic=topic)
    job.start()
    hook = StreamingJobHook(topic=topic)
    try:
        # Ready: the first (empty) batches have run, so that the code is compiled before the clock starts.
        deadline = time.monotonic() + 180
        while not all((read_status(topic, v) or {}).get("heartbeat_at") for v in views):
            if time.monotonic() > deadline or job.running_pid() is None:
                raise RuntimeError(f"the job did not start; see {job.log_file}")
            time.sleep(1)
        # Warm-up at the rate, until drained: the first batches with events compile the plan's
        # code and warm the JVM (20-40 s); a long-running job pays that once a start.
        warm = int(rate * warmup_s)
        publish(producer, rows[:warm], LiveStream(), rate=rate, topic=topic, now=True)
        while any((h.lag or 0) for h in hook.health(views)):
            time.sleep(1)

        n = int(rate * seconds)
        sent: dict = {}
        sender = threading.Thread(
            target=lambda: sent.update(
                publish(producer, rows[warm : warm + n], LiveStream(), rate=rate, topic=topic, now=True)
            )
        )
        sender.start()
        # The lag every second while publishing: a job that keeps up holds it flat (about a
        # batch's events); one that does not lets it grow at the rate less its own.
        lags: list[tuple[float, int]] = []
        while sender.is_alive():
            lags.append((time.time(), max(h.lag or 0 for h in hook.health(views))))
            sender.join(timeout=1.0)
        ended = time.time()
        # The publisher encodes the events first (seconds, for 600,000): the clock starts with the first sent.
        started = ended - sent["seconds"]
        lag_at_end = max(h.lag or 0 for h in hook.health(views))
        drain_deadline = time.monotonic() + 600
        while any((h.lag or 0) for h in hook.health(views)) and time.monotonic() < drain_deadline:
            time.sleep(1)
        drained_s = time.time() - ended
        time.sleep(3)
        p50s, p99s, durations = [], [], []
        for view in views:
            for batch in (read_status(topic, view) or {}).get("recent_batches", []):
                pushed = batch.get("pushed_at")
                if not pushed or not batch.get("freshness_s") or not batch.get("messages"):
                    continue
                at = dt.datetime.fromisoformat(pushed).timestamp()
                if at < started + STEADY_AFTER_S:
                    continue
                p99, p50 = batch["freshness_s"][0], batch["freshness_s"][1]
                p50s.append((p50, batch["messages"]))
                p99s.append((p99, batch["messages"]))
                if batch.get("duration_ms"):
                    durations.append(batch["duration_ms"] / 1000)
        publishing_s = ended - started
        second_half = [(t, lag) for t, lag in lags if t >= started + publishing_s / 2]
        return {
            "rate": rate,
            "sent_per_s": sent.get("events_per_s", 0.0),
            # every event read by both queries, over the time from the first sent to the
            # last read: the rate the job sustains when the lag at the end is small
            "processed_per_s": n / (publishing_s + drained_s),
            "lag_at_end": lag_at_end,
            "lag_max": max((lag for t, lag in lags if t >= started), default=None),
            # how fast the lag grew over the second half of the publishing (events/s)
            "lag_growth_per_s": statistics.linear_regression(
                [t for t, _ in second_half], [lag for _, lag in second_half]
            ).slope
            if len(second_half) > 2
            else None,
            "drained_s": drained_s,
            "p50_s": weighted_quantile(p50s, 0.5),
            "p99_s": weighted_quantile(p99s, 0.99),
            "batch_median_s": statistics.median(durations) if durations else None,
        }
    finally:
        job.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="2000,5000,10000,20000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--warmup-seconds", type=float, default=30.0, help="published at the rate before measuring")
    parser.add_argument("--port", type=int, default=19692, help="of the benchmark's own broker (and the next)")
    args = parser.parse_args(argv)

    from integrity_local.kafka import LocalKafkaBroker
    from integrity_risk.paths import local_dir

    root = local_dir() / "bench_streaming"
    shutil.rmtree(root, ignore_errors=True)
    os.environ.update(
        INTEGRITY_STORAGE_ROOT=(root / "storage").as_uri(),
        INTEGRITY_FEAST_DIR=str(root / "feast"),
        INTEGRITY_FEATURE_WAREHOUSE=str(root / "warehouse"),
        INTEGRITY_FEAST_PROFILE="local",
    )
    os.environ.setdefault("INTEGRITY_ALLOW_DEMO_KEY", "1")
    from integrity_risk.features.feast_store import apply_repo

    apply_repo()
    rates = [int(r) for r in args.rates.split(",")]
    rows = world_rows(args.accounts, int(max(rates) * (args.warmup_seconds + args.seconds)))
    broker = LocalKafkaBroker(port=args.port, state_dir=root / "kafka")
    broker.start()
    os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"] = broker.connection()
    results = []
    try:
        for rate in rates:
            result = run_rate(rate, args.seconds, rows, f"bench_events_{rate}", args.warmup_seconds)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        with contextlib.suppress(Exception):
            broker.stop()
    print(
        f"\nstreaming job, {args.seconds:.0f} s per rate after {args.warmup_seconds:.0f} s of warm-up, {os.cpu_count()} cores"
    )
    print(
        f"{'rate':>8} {'sent/s':>9} {'read/s':>9} {'lag max':>9} {'lag +/s':>8} {'lag@end':>9} {'drain s':>8} "
        f"{'p50 s':>7} {'p99 s':>7} {'batch s':>8}"
    )
    for r in results:
        fmt = lambda v, spec: "-" if v is None else format(v, spec)
        print(
            f"{r['rate']:>8,} {r['sent_per_s']:>9,.0f} {r['processed_per_s']:>9,.0f} {fmt(r['lag_max'], '>9,')} "
            f"{fmt(r['lag_growth_per_s'], '>8,.0f')} {r['lag_at_end']:>9,} "
            f"{r['drained_s']:>8.1f} {fmt(r['p50_s'], '>7.2f')} {fmt(r['p99_s'], '>7.2f')} {fmt(r['batch_median_s'], '>8.2f')}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
