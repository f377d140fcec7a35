"""The streaming path on the embedded default: the demo's last step (``demo --streaming``).

Once the risk DAG asked the reviewers, the step starts the Kafka broker
(:class:`~integrity_local.kafka.LocalKafkaBroker`) and the streaming job
(:class:`~integrity_local.streaming_job.LocalStreamingJob`). It publishes live, timed
to the wall clock, a card-testing burst from a few ordinary accounts of the world (taken
over, as it were), beside ordinary traffic from as many others. It waits until the
burst's windows are readable online, then scores both groups with the candidate model
before and after. The daily features would show the burst only after the next day's
extract; the stream shows it within seconds. The broker and the job keep running afterwards,
as HiveServer2 and Airflow do (``scripts/stop.sh`` stops them all).

The accounts come from the world's ground truth (``truth/ground_truth.parquet``, written
for tests and demos), so the step knows which accounts were ordinary before the burst.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from integrity_risk.streaming.windows import window_set

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

# Card testing as the generator's fraud family does it (synthetic/events.py): small
# amounts that mostly fail, here from a handful of proxies and devices at once.
CARD_TEST_AMOUNT = (0.5, 4.99)
CARD_TEST_FAIL_SHARE = 0.75
PROXIES_PER_ACCOUNT = 8
DEVICES_PER_ACCOUNT = 3
WINDOWS = window_set("5m")
VIEW = WINDOWS.view
TABLE = f"features.{VIEW}"
WATCHED = ("payment_attempts_5m", "payment_fails_5m", "distinct_ips_5m")


@dataclass(frozen=True)
class BurstPlan:
    """Who sends what: ``burst`` accounts card-test, ``control`` accounts browse as usual."""

    burst: list[str]
    control: list[str]
    payments_per_account: int = 40
    control_events_per_account: int = 6


def ordinary_accounts(world_dir: Path, n: int, seed: int) -> list[str]:
    """``n`` raw ids of benign accounts without an abuse-like trait, in a seeded random order."""
    import pyarrow.parquet as pq

    truth = pq.read_table(world_dir / "truth" / "ground_truth.parquet").to_pandas()
    ordinary = truth[(truth["truth"] == "benign") & (truth["benign_trait"] == "none")]
    if len(ordinary) < n:
        raise ValueError(f"{world_dir}: {len(ordinary)} ordinary accounts, {n} asked for")
    return ordinary["account_id"].sample(n, random_state=seed).tolist()


def _event(account: str, event_type: str, **fields: Any) -> dict[str, Any]:
    from integrity_local.synthetic.live import upstream_columns

    row: dict[str, Any] = dict.fromkeys(upstream_columns())  # a column not set here is NULL
    row.update(
        # New ids on every run: the job drops an id it saw within its watermark as a client's retry.
        event_id=uuid.uuid4().hex,
        # publish(now=True) re-times every event to the wall clock as its turn comes.
        event_time=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        account_id=account,
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        country="US",
        event_type=event_type,
        status="success",
    )
    row.update(fields)
    return row


def burst_events(plan: BurstPlan, seed: int = 0) -> list[dict[str, Any]]:
    """The step's events in the upstream columns: card tests from ``plan.burst``, browsing from ``plan.control``.

    Addresses are from the documentation ranges (RFC 5737): 203.0.113.0/24 for the
    proxies, 198.51.100.0/24 for the controls' homes.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n, account in enumerate(plan.burst):
        proxies = [f"203.0.113.{(n * PROXIES_PER_ACCOUNT + i) % 254 + 1}" for i in range(PROXIES_PER_ACCOUNT)]
        devices = [f"burst-{n}-{i}" for i in range(DEVICES_PER_ACCOUNT)]
        for _ in range(plan.payments_per_account):
            rows.append(
                _event(
                    account,
                    "payment_attempt",
                    device_id=str(rng.choice(devices)),
                    ip=str(rng.choice(proxies)),
                    amount=round(float(rng.uniform(*CARD_TEST_AMOUNT)), 2),
                    status="fail" if rng.random() < CARD_TEST_FAIL_SHARE else "success",
                )
            )
    for n, account in enumerate(plan.control):
        for _ in range(plan.control_events_per_account):
            rows.append(
                _event(
                    account,
                    str(rng.choice(["view", "like", "view", "login"])),
                    device_id=f"control-{n}",
                    ip=f"198.51.100.{n % 254 + 1}",
                )
            )
    return rows


def _pseudonymized(accounts: list[str]) -> list[str]:
    from integrity_risk.features.pseudonymize import get_key, pseudonymize

    key = get_key()
    return [pseudonymize(key, account) for account in accounts]


def _quiet_accounts(risk: str, world_dir: Path, n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` ordinary accounts (raw ids, and pseudonymized) with no payment in a window online.

    So a second run of the step picks others than the first one's card testers.
    """
    candidates = ordinary_accounts(world_dir, 8 * n, seed)
    pks = _pseudonymized(candidates)
    payments = _payments(_online(risk, pks))
    quiet = [(account, pk) for account, pk in zip(candidates, pks, strict=True) if payments[pk] == 0]
    if len(quiet) < n:
        raise ValueError(f"{len(quiet)} of {len(candidates)} ordinary accounts have no payment online; {n} needed")
    return [account for account, _ in quiet[:n]], [pk for _, pk in quiet[:n]]


def _online(risk: str, pks: list[str]) -> pd.DataFrame:
    from integrity_risk.features.online import fetch_online_features

    return fetch_online_features(risk, pks).set_index("account_pk")


def _scores(risk: str, online: pd.DataFrame) -> pd.Series:
    """The candidate's score of each account (the model the reviewers are asked about)."""
    import pandas as pd

    from integrity_risk.tracking import CANDIDATE_ALIAS, registered_model_name
    from integrity_risk.training.scoring import score, with_sequences

    model_uri = f"models:/{registered_model_name(risk)}@{CANDIDATE_ALIAS}"
    frame = online.reset_index()
    # The daily sequences up to now come from the batch tables (the online store serves the day's values).
    frame["feature_ts"] = pd.Timestamp.now(tz="UTC")
    scored = score(model_uri, with_sequences(model_uri, frame))
    return pd.Series(scored[f"score_{risk}"].to_numpy(), index=online.index)


def _payments(online: pd.DataFrame) -> pd.Series:
    """Each account's payment attempts in its 5-minute window online; 0 without a window."""
    return online[f"{VIEW}__payment_attempts_5m"].astype("float64").fillna(0.0)


def _burst_online(online: pd.DataFrame, pks: list[str], payments: int) -> bool:
    return bool((_payments(online).loc[pks] >= payments).all())


def run_streaming_step(
    risk: str,
    world_dir: Path,
    *,
    threshold: float | None = None,
    accounts: int = 5,
    rate: float = 200.0,
    seed: int = 7,
) -> int:
    """The step, printed as it goes; 0 when the burst reached the online store in time.

    :param threshold: the candidate's alert threshold (at its operating FPR), shown beside the scores.
    """
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

    from integrity_local.demo import step
    from integrity_local.kafka import LocalKafkaBroker
    from integrity_local.streaming_job import LocalStreamingJob
    from integrity_risk.features.feast_store import apply_repo
    from integrity_risk.streaming import TOPIC

    picked, pks = _quiet_accounts(risk, world_dir, 2 * accounts, seed)
    plan = BurstPlan(burst=picked[:accounts], control=picked[accounts:])

    broker = LocalKafkaBroker()
    step(f"the streaming path: a Kafka broker on {broker.bootstrap_servers} and the streaming job")
    print(f"    broker answers after {broker.start():.1f}s (log {broker.log_file})")
    os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"] = broker.connection()
    KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic([(TOPIC, broker.partitions, 1)])
    apply_repo()  # the job writes the repo's real-time views: registered first
    job = LocalStreamingJob()
    print(f"    streaming job pid {job.start()} (log {job.log_file})")
    try:
        _publish_and_watch(risk, plan, pks, rate=rate, seed=seed, threshold=threshold)
    except TimeoutError as err:
        print(f"    STOPPED: {err}; see {job.log_file}")
        return 1
    # Like HiveServer2 and Airflow, they keep running: the live generator can publish more
    # (README, "Streaming features"), and the streaming_features DAG can supervise the job.
    print(f"    the broker and the job keep running: AIRFLOW_CONN_KAFKA_DEFAULT='{broker.connection()}'")
    return 0


def _publish_and_watch(
    risk: str, plan: BurstPlan, pks: list[str], *, rate: float, seed: int, threshold: float | None
) -> None:
    """Publish the controls' browsing, then the burst; print what the online store and the candidate saw."""
    from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

    from integrity_local.demo import step
    from integrity_local.synthetic.live import LiveStream, publish
    from integrity_risk.hooks.streaming import StreamingJobHook

    burst_pks, control_pks = pks[: len(plan.burst)], pks[len(plan.burst) :]
    hook = StreamingJobHook()
    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    events = burst_events(plan, seed)
    control = [e for e in events if e["account_id"] in plan.control]
    burst = [e for e in events if e["account_id"] in plan.burst]
    # The controls' browsing goes first: the job's first batches compile its code (tens of
    # seconds), which the burst's figure should not include.
    publish(producer, control, LiveStream(), rate=rate, now=True)
    _wait_until(lambda: _caught_up(hook), "the job reading the controls' events", 300)
    before = _online(risk, pks)
    scores_before = _scores(risk, before)
    step(
        f"{len(plan.burst)} ordinary accounts start card testing ({plan.payments_per_account} small payments "
        f"each, from {PROXIES_PER_ACCOUNT} proxies and {DEVICES_PER_ACCOUNT} devices), published live at "
        f"{rate:.0f}/s"
    )
    sent = publish(producer, burst, LiveStream(), rate=rate, now=True)
    published = time.monotonic()
    _wait_until(
        lambda: _burst_online(_online(risk, burst_pks), burst_pks, plan.payments_per_account),
        "the burst's windows online",
        120,
    )
    seconds = time.monotonic() - published
    after = _online(risk, pks)
    scores_after = _scores(risk, after)
    _wait_until(lambda: _caught_up(hook), "the job's report of the burst's batches", 60)
    p99 = hook.health([VIEW])[0].freshness_p99_s
    print(
        f"    {sent['events']} events in {sent['seconds']:.1f}s; every burst account's 5-minute window "
        f"online {seconds:.1f}s after the last was published (the job's p99 from an event to its value "
        f"online: {'-' if p99 is None else f'{p99:.1f}s'})"
    )
    _print_table(risk, burst_pks, control_pks, before, after, scores_before, scores_after, threshold)


def _caught_up(hook) -> bool:
    """The job read the whole topic and reported the batch that did."""
    return hook.health([VIEW])[0].lag == 0


def _wait_until(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.5)


def _print_table(risk, burst_pks, control_pks, before, after, scores_before, scores_after, threshold) -> None:
    columns = [f"{VIEW}__{name}" for name in WATCHED]
    if threshold is not None:
        print(f"    the candidate alerts at score_{risk} >= {threshold:.3f} (its threshold at the operating FPR): *")
    print(f"    {'account':10s} {'group':8s} " + " ".join(f"{n:>22s}" for n in WATCHED) + f" {'score_' + risk:>18s}")
    for group, pks in (("burst", burst_pks), ("control", control_pks)):
        for pk in pks:
            cells = " ".join(f"{_value(before.loc[pk, c]):>9s} -> {_value(after.loc[pk, c]):>9s}" for c in columns)
            scores = f"{_score(scores_before[pk], threshold)} -> {_score(scores_after[pk], threshold)}"
            print(f"    {pk[:10]:10s} {group:8s} {cells} {scores}")


def _score(value: float, threshold: float | None) -> str:
    return f"{value:.3f}" + ("*" if threshold is not None and value >= threshold else " ")


def _value(value) -> str:
    return "-" if value is None or value != value else f"{value:g}"
