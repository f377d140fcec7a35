"""EnsureStreamingJobOperator: start the streaming job when it is not running."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from integrity_risk.streaming import TOPIC
from integrity_risk.streaming.windows import WINDOW_SET_NAMES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class EnsureStreamingJobOperator(BaseOperator):
    """Start the streaming job (:mod:`integrity_risk.streaming.job`) unless it reports it runs.

    A job runs when every window set's status was written within ``heartbeat_timeout_s`` and
    names no failed query. Otherwise this task starts one, detached, on its worker
    (:mod:`integrity_risk.streaming.launcher`); it resumes from its checkpoints under the
    storage root. A job that hangs without exiting keeps its heartbeat stale and gets a second
    one beside it: Spark's offset log lets only one run commit each batch (the other fails
    on the concurrent update), so nothing is counted twice; stop the hung one.

    :param topic: the upstream events' topic.
    :param kafka_config_id: Airflow connection of the broker.
    :param heartbeat_timeout_s: how old a heartbeat may be for the job to count as running.
    :returns: ``{"started": bool, "pid": int | None, "views": {...}}``.
    """

    template_fields: Sequence[str] = ("topic",)
    ui_color = "#e4f0e8"

    def __init__(
        self,
        *,
        topic: str = TOPIC,
        kafka_config_id: str = "kafka_default",
        heartbeat_timeout_s: float = 20.0,
        window_sets: Sequence[str] = WINDOW_SET_NAMES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.kafka_config_id = kafka_config_id
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.window_sets = tuple(window_sets)

    def execute(self, context: Context) -> dict[str, Any]:
        from integrity_risk.hooks.streaming import StreamingJobHook
        from integrity_risk.streaming.launcher import job_command, job_state_dir, start_detached
        from integrity_risk.streaming.windows import window_set

        views = [window_set(name).view for name in self.window_sets]
        hook = StreamingJobHook(self.kafka_config_id, self.topic)
        health = hook.health(views)
        report = {h.view: {"heartbeat_age_s": h.heartbeat_age_s, "lag": h.lag, "error": h.error} for h in health}
        if all(h.alive(self.heartbeat_timeout_s) for h in health):
            self.log.info("the streaming job on %s runs: %s", self.topic, report)
            return {"started": False, "pid": None, "views": report}
        self.log.warning("the streaming job on %s is not running (%s): starting it", self.topic, report)
        command = job_command(topic=self.topic, conn_id=self.kafka_config_id, window_sets=",".join(self.window_sets))
        pid = start_detached(command, job_state_dir(self.topic))
        self.log.info("started the streaming job on %s: pid %d", self.topic, pid)
        return {"started": True, "pid": pid, "views": report}
