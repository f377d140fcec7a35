"""The synthetic world, live: its upstream events published to Kafka as the upstream would.

Each event goes to the topic (default ``user_events``) as one JSON object in the upstream
table's columns (``raw.user_events`` of ``include/hql/upstream_tables.hql``, without ``ds``),
keyed by its account, in event-time order, at a given rate. Like a real client fleet:

- a share of the events arrives **late**: published a random number of events after its
  turn, up to ``max_lateness`` of event time later;
- a share is **duplicated**: published again a little later (a client's retry), same
  ``event_id``;
- the day's dirty rows (``inject_dirty``: no account, unknown types, odd clocks) go out as
  they are: cleaning them is the consumer's job, as in batch.

``now=True`` re-times the stream to the wall clock: an event's ``event_time`` becomes the
moment its turn came (a late one keeps that time and is published after it), so that a
streaming job's windows and watermark move with the clock. A row without a time keeps none;
a row with an odd clock is re-timed like the others. Otherwise the world's own times
are kept, and the events equal what ``write_world`` puts in ``raw.user_events``.

    python -m integrity_local.synthetic.live --start 2026-03-01 --days 1 --accounts 2000 \\
        --rate 5000 --late-share 0.02 --duplicate-share 0.01 [--now] [--conn-id kafka_default]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from integrity_risk.streaming import TOPIC


@dataclass
class LiveStream:
    """What to publish, and how the upstream misbehaves while it does."""

    late_share: float = 0.0
    duplicate_share: float = 0.0
    # A late event comes out after the on-time events of up to this much later event time.
    max_lateness: dt.timedelta = dt.timedelta(minutes=2)
    seed: int = 0
    columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("late_share", "duplicate_share"):
            share = getattr(self, name)
            if not 0.0 <= share < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {share}")

    def order(self, rows: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(turn, row)`` in publishing order: the rows by event time, some late, some twice.

        ``turn`` is the row's place in event-time order, which the clock follows with ``now``.
        """
        rng = np.random.default_rng(self.seed)
        epoch = dt.datetime(1970, 1, 1)

        def when(row: dict[str, Any]) -> float:
            t = row.get("event_time")
            return (t - epoch).total_seconds() if t is not None else float("-inf")

        rows = sorted(rows, key=when)
        times = np.array([when(r) for r in rows])
        late = rng.random(len(rows)) < self.late_share
        duplicate = rng.random(len(rows)) < self.duplicate_share
        # Where each row is published: its own turn, or (late) after the rows up to its
        # lateness later; a duplicate a few turns after its first copy.
        due = np.arange(len(rows), dtype=np.float64)
        lateness = rng.uniform(0, self.max_lateness.total_seconds(), len(rows))
        for i in np.flatnonzero(late & np.isfinite(times)):
            due[i] = np.searchsorted(times, times[i] + lateness[i], side="right") - 0.5
        sends = [(due[i], i) for i in range(len(rows))]
        sends += [(due[i] + rng.integers(1, 50), i) for i in np.flatnonzero(duplicate)]
        sends.sort()
        for _, i in sends:
            yield int(i), rows[i]

    @staticmethod
    def encode(row: dict[str, Any], columns: list[str]) -> bytes:
        """The row as the topic carries it: JSON in the upstream columns, times in ISO 8601 (UTC)."""
        out = {}
        for name in columns:
            value = row.get(name)
            if isinstance(value, dt.datetime):
                value = value.isoformat(timespec="microseconds")
            elif isinstance(value, float) and not np.isfinite(value):
                value = str(value)  # JSON has no NaN: the consumer reads "nan" as a malformed amount
            out[name] = value
        return json.dumps(out).encode()


def upstream_columns() -> list[str]:
    """The columns of ``raw.user_events`` (the fixed upstream DDL), without its partition."""
    from integrity_risk.streaming import upstream_columns as columns

    return [name for name, _ in columns()]


def publish(
    producer: Any,
    rows: list[dict[str, Any]],
    stream: LiveStream,
    *,
    rate: float,
    topic: str = TOPIC,
    now: bool = False,
) -> dict[str, float]:
    """Publish ``rows`` as ``stream`` orders them, at ``rate`` events a second; what was sent.

    :param producer: a confluent-kafka ``Producer`` (``KafkaProducerHook(...).get_producer()``).
    :param now: re-time the events to the wall clock (module docstring).
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    columns = stream.columns or upstream_columns()
    # Encoded before the paced loop, which then only sends: encoding is most of the cost. With
    # ``now`` a timed event is encoded without its time, which is appended when its turn comes.
    untimed = [c for c in columns if c != "event_time"]
    sends = []
    for turn, row in stream.order(rows):
        key = row.get("account_id")
        timed = now and row.get("event_time") is not None  # a row without a time keeps none
        value = stream.encode(row, untimed)[:-1] if timed else stream.encode(row, columns)
        sends.append((turn, None if key is None else str(key).encode(), value, timed))
    began = time.monotonic()
    start_wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for sent, (turn, key, encoded, timed) in enumerate(sends):
        # Paced by turn: a late event goes out when its later turn comes.
        wait = began + sent / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        value = encoded
        if timed:
            at = (start_wall + dt.timedelta(seconds=turn / rate)).isoformat(timespec="microseconds")
            value = encoded + b', "event_time": "' + at.encode() + b'"}'
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:  # the client's queue is full: let it deliver
                producer.poll(0.1)
        producer.poll(0)
    sent = len(sends)
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"{left} of {sent} events to {topic} were not delivered within 60 s")
    seconds = time.monotonic() - began
    return {"events": sent, "seconds": seconds, "events_per_s": sent / seconds if seconds else float("inf")}


def main(argv: list[str] | None = None) -> int:
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    from integrity_local.synthetic import WorldConfig, build_world, generate_day

    parser = argparse.ArgumentParser(
        prog="python -m integrity_local.synthetic.live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--start", required=True, help="the world's first day")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=5000.0, help="events a second")
    parser.add_argument("--late-share", type=float, default=0.0)
    parser.add_argument("--duplicate-share", type=float, default=0.0)
    parser.add_argument("--now", action="store_true", help="re-time the events to the wall clock")
    parser.add_argument("--topic", default=TOPIC)
    parser.add_argument("--partitions", type=int, default=4, help="of the topic, when it does not exist yet")
    parser.add_argument("--conn-id", default="kafka_default", help="the Airflow connection of the broker")
    args = parser.parse_args(argv)
    cfg = WorldConfig(seed=args.seed, start_ds=args.start, days=args.days, n_accounts=args.accounts)
    world = build_world(cfg)
    # The upstream's topic, as its owner would have created it (an existing one is kept).
    KafkaAdminClientHook(kafka_config_id=args.conn_id).create_topic([(args.topic, args.partitions, 1)])
    producer = KafkaProducerHook(kafka_config_id=args.conn_id).get_producer()
    stream = LiveStream(late_share=args.late_share, duplicate_share=args.duplicate_share, seed=args.seed)
    for ds in cfg.day_list():
        rows = generate_day(cfg, ds, world).user_events.to_pylist()
        sent = publish(producer, rows, stream, rate=args.rate, topic=args.topic, now=args.now)
        print(
            f"{ds}: {sent['events']:,} events to {args.topic} in {sent['seconds']:.1f} s ({sent['events_per_s']:,.0f}/s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
