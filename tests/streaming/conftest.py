"""The streaming tests' real Kafka broker (KRaft), started once per session."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def kafka_broker():
    """A local Kafka 4 broker on a fresh data folder; ``AIRFLOW_CONN_KAFKA_DEFAULT`` names it.

    Set INTEGRITY_TEST_KAFKA_PORT (and the next port, the controller's) to run two sessions side by side.
    """
    from integrity_local.kafka import LocalKafkaBroker
    from integrity_risk.paths import local_dir

    port = int(os.environ.get("INTEGRITY_TEST_KAFKA_PORT", "19092"))
    state = local_dir() / "kafka" / str(port)
    LocalKafkaBroker(port=port, state_dir=state).stop()
    shutil.rmtree(state, ignore_errors=True)
    broker = LocalKafkaBroker(port=port, state_dir=state)
    broker.start()
    os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"] = broker.connection()
    yield broker
    broker.stop()
