"""The local broker carries the upstream events as a cluster's Kafka would, through the Kafka provider's hooks."""

from __future__ import annotations

import json
import os
import time

import pytest

TOPIC = "user_events"
DS = "2026-03-02"


@pytest.fixture(scope="module")
def events() -> list[dict]:
    """A generated day's first events, in the upstream table's columns, as JSON-ready rows."""
    from integrity_local.synthetic import WorldConfig, generate_day
    from integrity_local.synthetic.live import upstream_columns

    day = generate_day(WorldConfig(seed=3, start_ds=DS, days=1, n_accounts=200), DS)
    rows = day.user_events.slice(0, 600).to_pylist()
    columns = upstream_columns()
    assert set(columns) <= set(rows[0]), "the generator's events lack upstream columns"
    return [{name: row[name] for name in columns} for row in rows]


def _produce(events: list[dict]) -> None:
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    for event in events:
        # Keyed by account: one account's events stay in order, on one partition.
        producer.produce(TOPIC, key=str(event["account_id"]).encode(), value=json.dumps(event, default=str).encode())
    assert producer.flush(30) == 0, "events left undelivered"


def _consume(broker, group: str, limit: int) -> list[dict]:
    """Up to ``limit`` events of the topic for consumer group ``group``, its offsets committed."""
    from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook

    conn_id = f"kafka_{group}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = broker.connection(
        **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": "false"}
    )
    consumer = KafkaConsumerHook([TOPIC], kafka_config_id=conn_id).get_consumer()
    got: list[dict] = []
    try:
        # The group's first assignment takes seconds; after it, 3 empty polls mean the topic is read.
        deadline, idle = time.monotonic() + 60, 0
        while len(got) < limit and idle < 3 and time.monotonic() < deadline:
            messages = consumer.consume(num_messages=min(100, limit - len(got)), timeout=1)
            idle = 0 if messages or not got else idle + 1
            for message in messages:
                assert message.error() is None, message.error()
                got.append(json.loads(message.value()))
        if got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


def _by_account(events: list[dict]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for event in events:
        order.setdefault(str(event["account_id"]), []).append(event["event_id"])
    return order


def test_events_published_as_json_come_back_whole_and_in_each_accounts_order(kafka_broker, events):
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(TOPIC, 4, 1)])
    _produce(events)
    got = _consume(kafka_broker, "whole", limit=len(events) + 1)
    expected = json.loads(json.dumps(events, default=str))
    assert sorted(got, key=lambda e: e["event_id"]) == sorted(expected, key=lambda e: e["event_id"])
    assert _by_account(got) == _by_account(expected)


def test_a_restarted_broker_keeps_the_events_and_each_groups_offsets(kafka_broker, events):
    first = _consume(kafka_broker, "resumed", limit=len(events) // 2)
    assert len(first) == len(events) // 2
    kafka_broker.stop()
    assert not kafka_broker.answers()
    kafka_broker.start()
    rest = _consume(kafka_broker, "resumed", limit=len(events))
    # The group resumes after its committed offsets: nothing read twice, nothing lost.
    assert sorted(e["event_id"] for e in first + rest) == sorted(e["event_id"] for e in events)
