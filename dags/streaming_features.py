"""streaming_features: keeps the streaming job running and its features fresh.

Every five minutes: start the job if it is not running, then check that it keeps up.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param

from integrity_risk.operators.streaming_job import EnsureStreamingJobOperator
from integrity_risk.sensors.streaming import StreamingFreshnessSensor
from integrity_risk.streaming.launcher import STREAMING_QUEUE

DOC = """
### Streaming features: supervision

The streaming job (`integrity_risk.streaming.job`, Spark Structured Streaming) reads the
upstream events from Kafka (`user_events`, connection `kafka_default`), counts them per
account over sliding windows (5 minutes and 1 hour) and pushes the counters to the online
store (`account_realtime_5m`, `account_realtime_1h`). It runs continuously, outside
Airflow's task slots; this DAG supervises it:

- `ensure_job` starts it when its status (under `<storage root>/streaming/status`) has no
  heartbeat in the last 20 seconds (it writes one every 2), or names a failed query. It resumes from its checkpoints.
  It runs on the `streaming` queue: at scale, a Celery worker of its own hosts the job's
  driver (`airflow-worker-streaming` in docker-compose.yaml).
- `check_freshness` waits up to 3 minutes for every window set to be at most `max_lag`
  (50,000) messages behind the topic, its newest batch's values online within
  `max_freshness_s` (10 s) of their events (p99), and fails naming the topic, the lag and
  the freshness otherwise. Both bounds are params: a run triggered with others uses them.

**Owner:** integrity ML platform. Unpause it where a broker carries the events.
"""

with DAG(
    dag_id="streaming_features",
    schedule=dt.timedelta(minutes=5),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["integrity", "streaming"],
    default_args={"retries": 0},
    params={
        "max_lag": Param(50_000, type="integer", minimum=0, description="messages the job may be behind"),
        "max_freshness_s": Param(
            10.0, type="number", exclusiveMinimum=0, description="p99 seconds from an event to its value online"
        ),
    },
) as dag:
    # On the streaming queue: the job it starts lives on that task's worker.
    ensure = EnsureStreamingJobOperator(task_id="ensure_job", queue=STREAMING_QUEUE)
    check = StreamingFreshnessSensor(
        task_id="check_freshness",
        max_lag="{{ params.max_lag }}",
        max_freshness_s="{{ params.max_freshness_s }}",
    )
    ensure >> check
