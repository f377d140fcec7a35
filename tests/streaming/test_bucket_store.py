"""The bucket store against windows counted straight from the events, across a restart.

No Spark here: each batch is the events Spark hands the job (streaming/account_events.hql),
late ones and duplicates among them. The job's test (test_streaming_job.py) checks the
whole path against the batch computation through HiveServer2.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from integrity_risk.streaming import buckets as buckets_module
from integrity_risk.streaming.buckets import BucketStore
from integrity_risk.streaming.windows import ADDITIVE_COUNTERS, BUCKET, WATERMARK, WINDOW_SETS

MINUTE = 60_000_000
START = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()) * 1_000_000
DELAY = int(WATERMARK.total_seconds() * 1e6)


def _events(seed: int, batches: int = 60) -> list[list[dict]]:
    """Batches of events over about three hours: some late, within the watermark and beyond
    it; some sent twice, in the same batch or a later one (a copy keeps its event's time
    and id); and now and then a jump in event time (a quiet spell)."""
    rng = random.Random(seed)
    newest, out, sent = START, [], []
    for _ in range(batches):
        batch = []
        for _ in range(rng.randint(0, 40)):
            if sent and rng.random() < 0.08:
                batch.append(dict(rng.choice(sent[-60:])))
                continue
            newest += rng.randint(0, 6_000_000)
            late = rng.random()
            micros = newest - rng.randint(0, 3 * DELAY) if late < 0.2 else newest
            kind = rng.choice(["login", "payment_attempt", "follow", "like", "post", "view"])
            event = {
                "id": len(sent),
                "account_pk": f"a{rng.randint(0, 5)}",
                "micros": micros,
                "event_type": kind,
                "is_fail": rng.randint(0, 1),
                "has_url": rng.randint(0, 1),
                "amount": Decimal(rng.randint(0, 10**8)) / 10**6 if kind == "payment_attempt" else None,
                "ip": f"ip{rng.randint(0, 7)}",
                "device": rng.choice([f"d{rng.randint(0, 3)}", None]),
            }
            sent.append(event)
            batch.append(event)
        out.append(batch)
        newest += rng.choice([0, 0, 20 * MINUTE])
    return out


def _adds(e: dict) -> dict[str, int]:
    kind = e["event_type"]
    return {
        "events": 1,
        "login_fails": e["is_fail"] if kind == "login" else 0,
        "payment_attempts": int(kind == "payment_attempt"),
        "payment_fails": e["is_fail"] if kind == "payment_attempt" else 0,
        "follows": int(kind == "follow"),
        "likes": int(kind == "like"),
        "link_posts": e["has_url"] if kind in ("post", "comment", "message") else 0,
    }


def _event_tables(batches: list[list[dict]]):
    """Each batch as Spark hands it to the job: one row per event, its counters' parts."""
    import pyarrow as pa

    parts = [c for c in ADDITIVE_COUNTERS if c != "events"]
    schema = pa.schema(
        [
            ("account_pk", pa.string()),
            ("ip_pk", pa.string()),
            ("device_pk", pa.string()),
            ("event_micros", pa.int64()),
            ("id_hi", pa.int64()),
            ("id_lo", pa.int64()),
            *[(c, pa.int32()) for c in parts],
            ("payment_amount", pa.decimal128(20, 6)),
        ]
    )
    rows = [
        [
            {
                "account_pk": e["account_pk"],
                "ip_pk": e["ip"],
                "device_pk": e["device"],
                "event_micros": e["micros"],
                "id_hi": e["id"] * 7919,
                "id_lo": -e["id"],
                **{c: _adds(e)[c] for c in parts},
                "payment_amount": e["amount"],
            }
            for e in batch
        ]
        for batch in batches
    ]
    return [pa.Table.from_pylist(batch, schema=schema) for batch in rows]


def _counted(batches: list[list[dict]]) -> tuple[list[list[dict]], list[tuple[int, int]]]:
    """Per batch, the events the stream counts, and (late, duplicates) it drops: an event
    older than the newest counted before the batch before it, less the watermark, is late;
    an id counted before (in this batch or an earlier one) is a duplicate."""
    counted, dropped, ids, newest, basis = [], [], set(), None, None
    for batch in batches:
        kept, late, duplicates = [], 0, 0
        floor, basis = (None if basis is None else basis - DELAY), newest
        for e in batch:
            if floor is not None and e["micros"] < floor:
                late += 1
            elif e["id"] in ids:
                duplicates += 1
            else:
                ids.add(e["id"])
                kept.append(e)
        counted.append(kept)
        dropped.append((late, duplicates))
        if kept:
            newest = max([e["micros"] for e in kept] + ([] if newest is None else [newest]))
    return counted, dropped


def _expected(batches: list[list[dict]], upto: int, window) -> dict[tuple, dict]:
    """Batch ``upto``'s windows, from the counted events themselves: every window holding
    one of the batch's buckets whose last slide has events."""
    bucket_micros = int(BUCKET.total_seconds() * 1e6)
    events = [e for batch in batches[: upto + 1] for e in batch]
    slide, length = window.slide_micros, window.length_micros
    ends = {
        (e["account_pk"], (e["micros"] // bucket_micros * bucket_micros // slide + 1 + k) * slide)
        for e in batches[upto]
        for k in range(length // slide)
    }
    out = {}
    for account, end in ends:
        inside = [e for e in events if e["account_pk"] == account and end - length <= e["micros"] < end]
        newest = max(e["micros"] for e in inside)
        if newest < end - slide:
            continue
        amounts = [e["amount"] for e in inside if e["amount"] is not None]
        out[(account, end)] = {
            **{f"{c}_{window.name}": sum(_adds(e)[c] for e in inside) for c in ADDITIVE_COUNTERS},
            f"payment_amount_sum_{window.name}": float(sum(amounts, Decimal(0))),
            f"distinct_ips_{window.name}": len({e["ip"] for e in inside}),
            f"distinct_devices_{window.name}": len({e["device"] for e in inside if e["device"]}),
            "feature_ts": newest,
            "window_start": end - length,
        }
    return out


def _got(store: BucketStore, changed, window) -> dict[tuple, dict]:
    table = store.windows_of(changed, window)
    out = {}
    for row in table.to_pylist():
        end = int(row.pop("window_end").timestamp() * 1e6)
        row["feature_ts"] = int(row["feature_ts"].timestamp() * 1e6)
        row["window_start"] = int(row["window_start"].timestamp() * 1e6)
        out[(row.pop("account_pk"), end)] = row
    return out


def _run(store: BucketStore, tables, first: int, last: int) -> list[dict]:
    outputs = []
    for batch_id in range(first, last):
        changed = store.apply(tables[batch_id], batch_id)
        outputs.append(
            {
                "dropped": (store.late, store.duplicates),
                **{w.view: _got(store, changed, w) if changed.num_rows else {} for w in WINDOW_SETS},
            }
        )
    return outputs


def _folder(tmp_path, name: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath((tmp_path / name).as_uri())


def test_windows_added_up_from_buckets_equal_windows_counted_from_the_events(tmp_path):
    batches = _events(seed=1)
    counted, dropped = _counted(batches)
    assert sum(late for late, _ in dropped) > 20 and sum(dup for _, dup in dropped) > 20
    store = BucketStore(_folder(tmp_path, "buckets"), list(WINDOW_SETS))
    outputs = _run(store, _event_tables(batches), 0, len(batches))
    checked = 0
    for batch_id, output in enumerate(outputs):
        assert output["dropped"] == dropped[batch_id], batch_id
        for window in WINDOW_SETS:
            expected = _expected(counted, batch_id, window)
            assert output[window.view] == expected, (batch_id, window.view)
            checked += len(expected)
    assert checked > 200
    # Evicted as it goes: no more than an hour's reach (and the watermark) of minutes per account.
    ((kept,),) = store.db.sql("SELECT count(*) FROM buckets").fetchall()
    reach = (max(w.length for w in WINDOW_SETS) + WATERMARK) / BUCKET + 2
    assert kept <= 6 * reach
    # The ids kept for duplicates: the last batch's, and the counted events before it at or
    # after where its lateness started (the newest before the batch before it, less the watermark).
    ((ids,),) = store.db.sql("SELECT count(*) FROM seen").fetchall()
    floor = max(e["micros"] for batch in counted[:-2] for e in batch) - DELAY
    assert ids == sum(1 for batch in counted[:-1] for e in batch if e["micros"] >= floor) + len(counted[-1])


@pytest.mark.parametrize("crash_at", [9, 14, 15])
def test_a_store_resumed_after_a_crash_gives_the_batch_it_runs_again_what_it_gave_first(
    tmp_path, monkeypatch, crash_at
):
    """A crash after batch ``crash_at`` applied its events, before Spark recorded it done:
    the resumed store runs it again from the snapshot and logs, and every batch from there
    gets the windows an uninterrupted store gave."""
    monkeypatch.setattr(buckets_module, "SNAPSHOT_EVERY", 7)
    tables = _event_tables(_events(seed=2, batches=30))
    uninterrupted = _run(BucketStore(_folder(tmp_path, "a"), list(WINDOW_SETS)), tables, 0, len(tables))

    crashed = BucketStore(_folder(tmp_path, "b"), list(WINDOW_SETS))
    _run(crashed, tables, 0, crash_at + 1)
    resumed = BucketStore(_folder(tmp_path, "b"), list(WINDOW_SETS))
    assert _run(resumed, tables, crash_at, len(tables)) == uninterrupted[crash_at:]
    assert resumed.resumed_at == crash_at
