"""The streaming job against the real broker, Spark and Feast, checked against the batch path
(the same events loaded into raw.user_events, cleaned and recomputed through HiveServer2).

One scenario: the live generator replays a past day in event-time order, with late and
duplicated events and the world's dirty rows; the job is SIGKILLed while events keep coming and restarted
from its checkpoint; malformed messages, an event timed ahead of the broker's clock and one
later than the watermark arrive at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
import time

import pytest

pytestmark = pytest.mark.slow

TOPIC = "user_events_job_test"
TEST_KEY = "streaming-tests-key-0123456789"
DS = "2026-03-02"  # a past day, replayed in event-time order


@pytest.fixture(scope="module")
def streaming(kafka_broker, hive_hook, tmp_path_factory):
    """Storage root, Feast repo (applied) and the pseudonymization key of the job and the batch."""
    from integrity_local.upstream import create_upstream_tables
    from integrity_risk.features.feast_store import apply_repo

    root = tmp_path_factory.mktemp("streaming")
    env = {
        "INTEGRITY_STORAGE_ROOT": (root / "storage").as_uri(),
        "INTEGRITY_FEAST_DIR": str(root / "feast"),
        "INTEGRITY_FEATURE_WAREHOUSE": str(root / "warehouse"),
        "INTEGRITY_FEAST_PROFILE": "local",
        "AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION": json.dumps({"conn_type": "generic", "password": TEST_KEY}),
    }
    saved = {name: os.environ.get(name) for name in [*env, "INTEGRITY_ALLOW_DEMO_KEY"]}
    os.environ.update(env)
    os.environ.pop("INTEGRITY_ALLOW_DEMO_KEY", None)
    try:
        create_upstream_tables(hive_hook)
        apply_repo()
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _status(view: str, topic: str = TOPIC) -> dict:
    from integrity_risk.streaming.status import read_status

    return read_status(topic, view) or {}


def _wait(what: str, check, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1.0)


def _topic_end(topic: str) -> int:
    from integrity_risk.hooks.streaming import StreamingJobHook

    return sum(StreamingJobHook(topic=topic).end_offsets().values())


def _caught_up(views: list[str], topic: str) -> bool:
    """Every view's query has read the whole topic and run a batch since."""
    end = _topic_end(topic)
    for view in views:
        status = _status(view, topic)
        offsets = (status.get("end_offsets") or {}).get(topic) or {}
        if sum(int(v) for v in offsets.values()) != end or status.get("offsets_behind") not in (0, None):
            return False
    return True


def _read_topic(topic: str) -> list[bytes]:
    from confluent_kafka import Consumer

    servers = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]["bootstrap.servers"]
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": f"read-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    end, got = _topic_end(topic), []
    deadline = time.monotonic() + 60
    try:
        while len(got) < end and time.monotonic() < deadline:
            got += [m.value() for m in consumer.consume(num_messages=1000, timeout=1) if m.error() is None]
    finally:
        consumer.close()
    assert len(got) == end
    return got


def _as_raw_rows(messages: list[bytes]) -> list[dict]:
    """The messages as raw.user_events rows, as the upstream table would hold them; malformed ones have no row."""
    rows = []
    for message in messages:
        try:
            row = json.loads(message)
        except ValueError:
            continue
        if not isinstance(row, dict):
            continue
        try:
            row["event_time"] = dt.datetime.fromisoformat(row["event_time"]) if row.get("event_time") else None
        except ValueError:
            row["event_time"] = None  # as a typed column holds a time it cannot read
        if isinstance(row.get("amount"), str):
            row["amount"] = float(row["amount"])
        rows.append({k: str(v) if isinstance(v, int) and k != "amount" else v for k, v in row.items()})
    return rows


def _run(operator, ds: str):
    """Render and execute an operator as the task runner would, with a minimal context."""
    from types import SimpleNamespace

    context = {"ds": ds, "params": {}, "ti": SimpleNamespace(try_number=1)}
    operator.render_template_fields(context)
    return operator.execute(context)


def _batch_tables(hive_hook, rows: list[dict], tmp_path) -> dict[str, list[dict]]:
    """The batch path over ``rows``: raw day(s) loaded, cleaned, the realtime tables recomputed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrity_local.synthetic.schema import USER_EVENTS_SCHEMA
    from integrity_local.upstream import load_partition
    from integrity_risk.operators.clean_events import CleanEventsOperator
    from integrity_risk.operators.hive_extract import HiveExtractOperator
    from integrity_risk.streaming.windows import WINDOW_SETS

    days = sorted({r["event_time"].date().isoformat() for r in rows if r.get("event_time")})
    for ds in days:
        folder = tmp_path / f"raw-{ds}"
        folder.mkdir()
        day_rows = [r for r in rows if r.get("event_time") and r["event_time"].date().isoformat() == ds]
        pq.write_table(pa.Table.from_pylist(day_rows, schema=USER_EVENTS_SCHEMA), folder / "part-0.parquet")
        load_partition(hive_hook, "raw.user_events", ds, folder)
    tables: dict[str, list[dict]] = {w.view: [] for w in WINDOW_SETS}
    for ds in days:
        _run(CleanEventsOperator(task_id="clean_events", ds=ds, lookback_days=1, rewrite_window=True), ds)
        for window in WINDOW_SETS:
            op = HiveExtractOperator(
                task_id=f"extract_{window.view}",
                hql=f"features/{window.view}.hql",
                table=f"features.{window.view}",
                ds=ds,
                lookback_days=1,
                required_partitions=(),
            )
            _run(op, ds)
            cursor_rows = hive_hook.get_pandas_df(f"SELECT * FROM features.{window.view} WHERE ds = '{ds}'")
            tables[window.view] += cursor_rows.drop(columns=["ds"]).to_dict("records")
    return tables


def _stream_windows(window) -> dict[tuple, dict]:
    """The last value the stream gave each (account, window): its final one."""
    import pandas as pd

    from integrity_risk.streaming.status import windows_log

    frames = [pd.read_parquet(str(path)) for path in sorted(windows_log(TOPIC, window).glob("batch_id=*.parquet"))]
    log = pd.concat(frames).sort_values("pushed_batch_id", kind="stable")
    final = log.drop_duplicates(["account_pk", "window_end"], keep="last")
    return {(r["account_pk"], _ts(r["window_end"])): r for r in final.to_dict("records")}


def _ts(value) -> dt.datetime:
    import pandas as pd

    stamp = pd.Timestamp(value)
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")).to_pydatetime()


def _same(stream: dict, batch: dict, features: tuple[str, ...]) -> list[str]:
    differences = []
    for name in ("feature_ts", "window_start", *features):
        a, b = stream[name], batch[name]
        if name in ("feature_ts", "window_start"):
            a, b = _ts(a), _ts(b)
        if a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
            differences.append(f"{name}: stream {a!r}, batch {b!r}")
    return differences


def test_a_killed_job_restarts_from_its_checkpoint_and_its_closed_windows_equal_batch(
    kafka_broker, hive_hook, streaming, tmp_path
):
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    from integrity_local.streaming_job import LocalStreamingJob
    from integrity_local.synthetic import WorldConfig, generate_day
    from integrity_local.synthetic.live import LiveStream, publish
    from integrity_risk.features.feast_store import feature_store
    from integrity_risk.features.pseudonymize import pseudonymize
    from integrity_risk.streaming.status import windows_log
    from integrity_risk.streaming.windows import WINDOW_SETS

    views = [w.view for w in WINDOW_SETS]
    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(TOPIC, 4, 1)])
    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    rows = generate_day(WorldConfig(seed=11, start_ds=DS, days=1, n_accounts=120, dirty_share=0.05), DS)
    # In event-time order, so that the halves are the day's first and second half.
    # The rows a client's clock put on other days are left out: each such day would cost the
    # batch side a cleaning and two extracts more.
    rows = sorted(
        (
            r
            for r in rows.user_events.to_pylist()
            if r["event_time"] is None or r["event_time"].date().isoformat() == DS
        ),
        key=lambda r: (r["event_time"] is None, r["event_time"] or 0),
    )
    half = len(rows) // 2
    stream = LiveStream(late_share=0.03, duplicate_share=0.03, seed=3)

    job = LocalStreamingJob(topic=TOPIC, trigger_seconds=1.0)
    job.start()
    try:
        publish(producer, rows[:half], stream, rate=1500, topic=TOPIC)
        _wait("the first batches", lambda: all(_status(v).get("recent_batches") for v in views))

        # SIGKILL in the middle of a batch of the second half: once it has written its windows
        # (and is pushing them, or committing), before Spark records it done. The restart
        # from the checkpoints runs that batch again.
        logged = {p.name for p in windows_log(TOPIC, WINDOW_SETS[0]).glob("batch_id=*")}
        sender = threading.Thread(
            target=publish, args=(producer, rows[half:], stream), kwargs={"rate": 1500, "topic": TOPIC}
        )
        sender.start()
        _wait(
            "a batch of the second half",
            lambda: {p.name for p in windows_log(TOPIC, WINDOW_SETS[0]).glob("batch_id=*")} - logged,
            120,
        )
        job.kill()
        sender.join()
        job.start()

        # Malformed messages, an event timed ahead of the broker's clock, then (once the
        # stream has caught up) one later than the watermark: the job keeps running.
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for bad in (b"not json {", b"[1, 2, 3]", b'{"event_id": 5, "event_time": "yesterday"}'):
            producer.produce(TOPIC, value=bad)
        ahead = {
            "event_id": "ahead-1",
            "event_time": (now + dt.timedelta(minutes=30)).isoformat(),
            "account_id": "clock-ahead-account",
            "event_type": "login",
            "status": "fail",
        }
        producer.produce(TOPIC, key=b"clock-ahead-account", value=json.dumps(ahead).encode())
        producer.flush(30)
        _wait("the stream to catch up", lambda: _caught_up(views, TOPIC))
        late = {
            "event_id": "late-1",
            "event_time": f"{DS}T12:00:00",
            "account_id": "late-account",
            "event_type": "payment_attempt",
            "amount": 5.0,
            "status": "fail",
        }
        producer.produce(TOPIC, key=b"late-account", value=json.dumps(late).encode())
        producer.flush(30)
        _wait("the late event to be read", lambda: _caught_up(views, TOPIC))
        assert job.running_pid() is not None, job.log_file.read_text()[-3000:]
    finally:
        job.stop()

    for view in views:
        status = _status(view)
        assert status["malformed"] >= 2, status  # two not JSON at all; the third parses with nulls
        assert status["clock_ahead"] == 1, status
        assert status["late_dropped"] >= 1, status
        assert status["error"] is None

    # The batch of the day the event ahead of the clock claims has not come yet.
    raw_rows = [r for r in _as_raw_rows(_read_topic(TOPIC)) if r.get("event_id") != "ahead-1"]
    batch = _batch_tables(hive_hook, raw_rows, tmp_path)
    key = TEST_KEY.encode()
    assert pseudonymize(key, "clock-ahead-account") not in {
        r["account_pk"] for r in _stream_windows(WINDOW_SETS[0]).values()
    }
    only_batch = {pseudonymize(key, "late-account")}
    online = feature_store()
    for window in WINDOW_SETS:
        stream_rows = _stream_windows(window)
        batch_rows = {(r["account_pk"], _ts(r["window_end"])): r for r in batch[window.view]}
        assert {k[0] for k in stream_rows} & only_batch == set()
        assert {k[0] for k in batch_rows} >= only_batch
        expected = {k: r for k, r in batch_rows.items() if k[0] not in only_batch}
        assert len(expected) > 1000
        assert stream_rows.keys() == expected.keys()
        differences = {k: d for k in expected if (d := _same(stream_rows[k], expected[k], window.features))}
        assert not differences, list(differences.items())[:5]

        # Online: each account's newest window, as batch has it; a double-counted batch would show.
        newest: dict[str, dict] = {}
        for (account, _), row in expected.items():
            if account not in newest or _ts(row["feature_ts"]) > _ts(newest[account]["feature_ts"]):
                newest[account] = row
        accounts = sorted(newest)
        values = online.get_online_features(
            features=[f"{window.view}:{name}" for name in window.features],
            entity_rows=[{"account_pk": a} for a in accounts],
        ).to_dict()
        for i, account in enumerate(accounts):
            for name in window.features:
                assert values[name][i] == newest[account][name], (window.view, account, name)


def _heartbeat_age(topic: str, view: str) -> float:
    from integrity_risk.streaming.status import read_status

    status = read_status(topic, view) or {}
    if not status.get("heartbeat_at"):
        return float("inf")
    return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(status["heartbeat_at"])).total_seconds()


def test_a_job_that_never_reported_fails_the_freshness_check_naming_the_topic_and_the_lag(kafka_broker, streaming):
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook
    from airflow.sdk.exceptions import AirflowFailException

    from integrity_risk.sensors.streaming import StreamingFreshnessSensor

    topic = "user_events_unwatched"
    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(topic, 2, 1)])
    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    for i in range(30):
        producer.produce(topic, value=json.dumps({"event_id": str(i)}).encode())
    producer.flush(30)
    sensor = StreamingFreshnessSensor(task_id="check", topic=topic, max_lag=10, grace=dt.timedelta(0))
    with pytest.raises(AirflowFailException) as failed:
        sensor.poke({})
    message = str(failed.value)
    assert "'user_events_unwatched'" in message
    assert "account_realtime_5m: no status yet" in message and "30 messages behind (bound 10)" in message


def test_the_supervising_dag_restarts_a_killed_job_and_finds_it_fresh(
    kafka_broker, streaming, airflow_db, tmp_path, monkeypatch
):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    from integrity_local.maven import spark_kafka_jars
    from integrity_local.streaming_job import LocalStreamingJob
    from integrity_local.synthetic import WorldConfig, generate_day
    from integrity_local.synthetic.live import LiveStream, publish
    from integrity_risk.paths import project_root
    from integrity_risk.streaming.status import read_status

    topic, view = "user_events", "account_realtime_5m"  # the DAG's
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "streaming_features.py").write_text(
        (project_root() / "dags" / "streaming_features.py").read_text()
    )
    monkeypatch.setenv(
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        json.dumps(
            [
                {
                    "name": "dags-folder",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(tmp_path / "dags")},
                }
            ]
        ),
    )
    monkeypatch.setenv("INTEGRITY_STREAMING_JARS", ",".join(str(j) for j in spark_kafka_jars()))
    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(topic, 4, 1)])
    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    # Enough events to flow at 40/s for longer than the DAG can take (about 13,000: 5 minutes).
    # With a day of 100 accounts they ran out after 77 s: on a loaded machine the restarted
    # job's first batch came later, and no batch after it could show the job fresh again.
    rows = generate_day(WorldConfig(seed=12, start_ds=DS, days=1, n_accounts=400), DS).user_events.to_pylist()

    job = LocalStreamingJob(topic=topic)
    job.start()
    publish(producer, rows[:200], LiveStream(), rate=500, topic=topic, now=True)
    _wait("the job to read the first events", lambda: _caught_up([view], topic))
    killed_run = read_status(topic, view)["run_id"]
    job.kill()
    _wait("the killed job's heartbeat to go stale", lambda: _heartbeat_age(topic, view) > 20, 60)

    # Events keep coming, live, while the DAG notices, restarts the job and checks it.
    done = threading.Event()

    def send_until_done() -> None:
        for start in range(200, len(rows), 40):
            if done.is_set():
                return
            publish(producer, rows[start : start + 40], LiveStream(), rate=40, topic=topic, now=True)

    sender = threading.Thread(target=send_until_done)
    sender.start()
    try:
        dag = DagBag(dag_folder=str(tmp_path / "dags"), safe_mode=False).dags["streaming_features"]
        # The bound a loaded 2-core machine keeps while this test runs beside the job; the
        # benchmark (bench/bench_streaming.py) measures what the job does alone.
        run = dag.test(run_conf={"max_freshness_s": 30})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states == {"ensure_job": "success", "check_freshness": "success"}, job.log_file.read_text()[-3000:]
        status = read_status(topic, view)
        assert status["run_id"] != killed_run and _heartbeat_age(topic, view) < 20
        assert job.running_pid() is not None  # the task's job, in the same state folder
    finally:
        done.set()
        job.stop()
        sender.join()
