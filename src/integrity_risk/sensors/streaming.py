"""StreamingFreshnessSensor: waits until the streaming job is alive, caught up and fresh; else fails naming the lag."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from integrity_risk.streaming import TOPIC
from integrity_risk.streaming.windows import WINDOW_SET_NAMES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from integrity_risk.hooks.streaming import ViewHealth


class StreamingFreshnessSensor(BaseSensorOperator):
    """Wait until every window set's query heartbeats, is at most ``max_lag`` messages behind the
    topic, and pushed its newest batch within ``max_freshness_s`` of its events (p99).

    A job just started has ``grace`` to get there (its first batch compiles); one still
    short of it after that fails the task with what is wrong, naming the topic, the lag and
    the freshness, so the platform team sees it in the UI rather than stale features online.
    A quiet topic (nothing new, nothing behind) is fresh.

    :param topic: the upstream events' topic.
    :param max_lag: messages the job may be behind the broker's end offsets. (templated)
    :param max_freshness_s: p99 seconds from an event's time to its value online. (templated)
    :param heartbeat_timeout_s: how old the job's heartbeat may be.
    :param grace: how long to wait for all of that, from the first poke.
    """

    template_fields: Sequence[str] = ("topic", "max_lag", "max_freshness_s")
    ui_color = "#e8f4e8"

    def __init__(
        self,
        *,
        topic: str = TOPIC,
        kafka_config_id: str = "kafka_default",
        window_sets: Sequence[str] = WINDOW_SET_NAMES,
        max_lag: int | str = 50_000,
        max_freshness_s: float | str = 10.0,
        heartbeat_timeout_s: float = 20.0,
        grace: dt.timedelta = dt.timedelta(minutes=3),
        poke_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        # Poke mode: the grace runs from this try's first poke.
        super().__init__(poke_interval=poke_interval, timeout=grace.total_seconds() + 60, mode="poke", **kwargs)
        self.topic = topic
        self.kafka_config_id = kafka_config_id
        self.window_sets = tuple(window_sets)
        self.max_lag = max_lag
        self.max_freshness_s = max_freshness_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.grace = grace
        self._first_poke: float | None = None

    def problems(self, health: Sequence[ViewHealth]) -> list[str]:
        """What keeps each view from being fresh, in words."""
        max_lag, max_freshness_s = int(self.max_lag), float(self.max_freshness_s)
        found = []
        for h in health:
            if h.error:
                found.append(f"{h.view}: its query failed: {h.error[:300]}")
            elif h.heartbeat_age_s is None:
                found.append(f"{h.view}: no status yet (the job never reported)")
            elif h.heartbeat_age_s > self.heartbeat_timeout_s:
                found.append(f"{h.view}: no heartbeat for {h.heartbeat_age_s:.0f} s (the job is down)")
            if h.lag is not None and h.lag > max_lag:
                found.append(f"{h.view}: {h.lag:,} messages behind (bound {max_lag:,})")
            if h.freshness_p99_s is not None and h.freshness_p99_s > max_freshness_s:
                found.append(f"{h.view}: p99 freshness {h.freshness_p99_s:.1f} s (bound {max_freshness_s:g} s)")
        return found

    def poke(self, context: Context) -> bool:
        from integrity_risk.hooks.streaming import StreamingJobHook
        from integrity_risk.streaming.windows import window_set

        if self._first_poke is None:
            self._first_poke = time.monotonic()
        views = [window_set(name).view for name in self.window_sets]
        health = StreamingJobHook(self.kafka_config_id, self.topic).health(views)
        problems = self.problems(health)
        if not problems:
            self.log.info(
                "topic %s: %s",
                self.topic,
                "; ".join(f"{h.view} lag {h.lag}, p99 freshness {h.freshness_p99_s}" for h in health),
            )
            return True
        waited = time.monotonic() - self._first_poke
        if waited >= self.grace.total_seconds():
            raise AirflowFailException(
                f"streaming features from topic {self.topic!r} are not fresh after {waited:.0f} s: "
                + "; ".join(problems)
            )
        self.log.info("topic %s, waiting (%.0f s): %s", self.topic, waited, "; ".join(problems))
        return False
