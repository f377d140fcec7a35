"""The live generator publishes the world's events to the real broker: all of them, in event-time
order but for the late ones, some twice, at the rate asked."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

DS = "2026-03-02"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    from integrity_local.synthetic import WorldConfig, generate_day

    return generate_day(WorldConfig(seed=5, start_ds=DS, days=1, n_accounts=150), DS).user_events.to_pylist()


def _topic(name: str) -> str:
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(name, 4, 1)])
    return name


def _read(broker, topic: str) -> list[tuple[int, dict]]:
    """Every message of ``topic`` as (partition, decoded JSON), each partition in its order."""
    from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook

    conn_id = f"kafka_read_{topic}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = broker.connection(
        **{"group.id": f"read_{topic}", "auto.offset.reset": "earliest"}
    )
    consumer = KafkaConsumerHook([topic], kafka_config_id=conn_id).get_consumer()
    got: list[tuple[int, dict]] = []
    deadline, idle = time.monotonic() + 60, 0
    try:
        while idle < 3 and time.monotonic() < deadline:
            messages = consumer.consume(num_messages=500, timeout=1)
            idle = 0 if messages or not got else idle + 1
            got += [(m.partition(), json.loads(m.value())) for m in messages if m.error() is None]
    finally:
        consumer.close()
    return got


def _producer():
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    return KafkaProducerHook(kafka_config_id="kafka_default").get_producer()


def test_every_event_arrives_in_event_time_order_but_the_late_ones_and_the_duplicates_come_twice(kafka_broker, rows):
    from integrity_local.synthetic.live import LiveStream, publish, upstream_columns

    columns = upstream_columns()
    stream = LiveStream(late_share=0.05, duplicate_share=0.03, seed=1, columns=columns)
    planned = list(stream.order(rows))
    topic = _topic("live_order")
    sent = publish(_producer(), rows, stream, rate=50_000, topic=topic)
    got = _read(kafka_broker, topic)

    assert sent["events"] == len(planned) == len(got)
    # Each row once, and the duplicated ones a second time: nothing lost, nothing made up.
    expected = sorted(json.dumps(json.loads(LiveStream.encode(r, columns)), sort_keys=True) for _, r in planned)
    assert sorted(json.dumps(e, sort_keys=True) for _, e in got) == expected
    duplicates = len(planned) - len(rows)
    assert 0.015 * len(rows) < duplicates < 0.05 * len(rows)
    # In each partition, time only goes back for a late event (or a retried copy).
    back = 0
    for partition in {p for p, _ in got}:
        latest = ""
        for _, event in (x for x in got if x[0] == partition):
            if event["event_time"] is None:
                continue
            back += event["event_time"] < latest
            latest = max(latest, event["event_time"])
    assert 0 < back <= (0.05 + 0.03) * len(rows) * 1.5


def test_a_live_stream_is_paced_to_its_rate_and_timed_by_the_clock(kafka_broker, rows):
    from integrity_local.synthetic.live import LiveStream, publish

    some = rows[:600]
    topic = _topic("live_now")
    began = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    sent = publish(_producer(), some, LiveStream(seed=2), rate=1_000, topic=topic, now=True)
    ended = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # 600 events at 1,000 a second: not faster than asked.
    assert sent["seconds"] >= 0.55 and sent["events_per_s"] <= 1_100
    got = _read(kafka_broker, topic)
    times = [dt.datetime.fromisoformat(e["event_time"]) for _, e in got if e["event_time"] is not None]
    assert len(got) == len(some) and times
    assert all(began - dt.timedelta(seconds=1) <= t <= ended + dt.timedelta(seconds=1) for t in times)
    # Rows the world wrote without a time still have none.
    assert sum(e["event_time"] is None for _, e in got) == sum(r["event_time"] is None for r in some)
