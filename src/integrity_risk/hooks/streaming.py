"""StreamingJobHook: the streaming job's state, as its status files and the broker tell it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from integrity_risk.streaming import TOPIC

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class ViewHealth:
    """One window set's query, as the supervisor judges it.

    :param heartbeat_age_s: seconds since the job last wrote its status (None: it never did).
    :param lag: messages on the topic the query has not read yet (None: no status).
    :param freshness_p99_s: of the newest batch with events, if recent (None: none).
    """

    view: str
    heartbeat_age_s: float | None
    lag: int | None
    freshness_p99_s: float | None
    error: str | None

    def alive(self, heartbeat_timeout_s: float) -> bool:
        return self.heartbeat_age_s is not None and self.heartbeat_age_s <= heartbeat_timeout_s and not self.error


class StreamingJobHook(BaseHook):
    """Reads the job's reports under the storage root and the topic's end offsets at the broker.

    The lag is the broker's end offsets less the offsets the job's last batch read through,
    so a job that stopped reporting shows its lag growing rather than its last word.

    :param kafka_config_id: Airflow connection of the broker (the Kafka provider's).
    :param topic: the upstream events' topic.
    """

    conn_name_attr = "kafka_config_id"
    default_conn_name = "kafka_default"
    conn_type = "kafka"
    hook_name = "Integrity streaming job"

    def __init__(self, kafka_config_id: str = default_conn_name, topic: str = TOPIC) -> None:
        super().__init__()
        self.kafka_config_id = kafka_config_id
        self.topic = topic

    @cached_property
    def admin_client(self) -> Any:
        """The broker's admin client (confluent-kafka's), one per hook: a caller that polls keeps it."""
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        return KafkaAdminClientHook(kafka_config_id=self.kafka_config_id).get_conn

    def end_offsets(self) -> dict[int, int]:
        """Each partition's end offset at the broker.

        :raises ValueError: the topic does not exist.
        """
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        admin = self.admin_client
        topics = admin.list_topics(self.topic, timeout=10).topics
        if self.topic not in topics or topics[self.topic].error is not None:
            raise ValueError(f"topic {self.topic!r} does not exist on the broker of {self.kafka_config_id!r}")
        request = {TopicPartition(self.topic, p): OffsetSpec.latest() for p in topics[self.topic].partitions}
        return {tp.partition: future.result().offset for tp, future in admin.list_offsets(request).items()}

    def health(
        self, views: Sequence[str], *, recent: dt.timedelta = dt.timedelta(minutes=5), now: dt.datetime | None = None
    ) -> list[ViewHealth]:
        """Each view's heartbeat, lag and recent freshness."""
        from integrity_risk.streaming.status import read_status

        now = now or dt.datetime.now(dt.UTC)
        end = self.end_offsets()
        judged = []
        for view in views:
            status = read_status(self.topic, view)
            if status is None:
                judged.append(ViewHealth(view, None, sum(end.values()), None, None))
                continue
            read = {int(p): int(o) for p, o in ((status.get("end_offsets") or {}).get(self.topic) or {}).items()}
            lag = sum(max(0, offset - read.get(p, 0)) for p, offset in end.items())
            heartbeat = dt.datetime.fromisoformat(status["heartbeat_at"]) if status.get("heartbeat_at") else None
            judged.append(
                ViewHealth(
                    view,
                    None if heartbeat is None else (now - heartbeat).total_seconds(),
                    lag,
                    _latest_p99(status.get("recent_batches") or [], now - recent),
                    status.get("error"),
                )
            )
        return judged


def _latest_p99(batches: list[dict[str, Any]], since: dt.datetime) -> float | None:
    """The p99 freshness of the newest batch with events, if pushed since ``since``: how fresh
    the job is now (a backlog read after a restart is followed by fresh batches, or a lag).
    """
    for batch in reversed(batches):
        if batch.get("freshness_s") and batch.get("pushed_at"):
            if dt.datetime.fromisoformat(batch["pushed_at"]) < since:
                return None
            return float(batch["freshness_s"][0])
    return None
