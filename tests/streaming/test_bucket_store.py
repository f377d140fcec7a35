"""The bucket store against windows counted straight from the events, across a restart.

No Spark here: the batches' buckets are what Spark's update mode gives (each bucket that
gained events, whole). The job's test (test_streaming_job.py) checks the whole path
against the batch computation through HiveServer2.
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


def _events(seed: int, batches: int = 60) -> list[list[dict]]:
    """Batches of events over about three hours, some late, as late as Spark lets through:
    in batch n, no older than the watermark batch n - 1 ran with (the newest event of the
    batches before it, less the delay). After a jump in event time (a quiet spell, or a
    partition read further than the others), that is far behind the newest event."""
    rng = random.Random(seed)
    newest, out, newest_after = START, [], []
    delay = int(WATERMARK.total_seconds() * 1e6)
    for n in range(batches):
        floor = newest_after[n - 2] - delay if n >= 2 else START
        batch = []
        for _ in range(rng.randint(0, 40)):
            newest += rng.randint(0, 6_000_000)
            micros = rng.randint(floor, newest) if rng.random() < 0.15 else newest
            kind = rng.choice(["login", "payment_attempt", "follow", "like", "post", "view"])
            batch.append(
                {
                    "account_pk": f"a{rng.randint(0, 5)}",
                    "micros": micros,
                    "event_type": kind,
                    "is_fail": rng.randint(0, 1),
                    "has_url": rng.randint(0, 1),
                    "amount": Decimal(rng.randint(0, 10**8)) / 10**6 if kind == "payment_attempt" else None,
                    "ip": f"ip{rng.randint(0, 7)}",
                    "device": rng.choice([f"d{rng.randint(0, 3)}", None]),
                }
            )
        out.append(batch)
        newest_after.append(newest)
        newest += rng.choice([0, 0, 20 * MINUTE])  # now and then a jump
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


def _bucket_tables(batches: list[list[dict]]):
    """What Spark's update mode gives per batch: each bucket that gained events, with all of its events."""
    import pyarrow as pa

    bucket_micros = int(BUCKET.total_seconds() * 1e6)
    seen: dict[tuple, list[dict]] = {}
    tables = []
    for batch in batches:
        touched = set()
        for e in batch:
            key = (e["account_pk"], e["micros"] // bucket_micros * bucket_micros)
            seen.setdefault(key, []).append(e)
            touched.add(key)
        rows = []
        for key in sorted(touched):
            events = seen[key]
            amounts = [e["amount"] for e in events if e["amount"] is not None]
            rows.append(
                {
                    "account_pk": key[0],
                    "bucket_micros": key[1],
                    **{c: sum(_adds(e)[c] for e in events) for c in ADDITIVE_COUNTERS},
                    "payment_amount_sum": sum(amounts) if amounts else None,
                    "ips": sorted({e["ip"] for e in events}),
                    "devices": sorted({e["device"] for e in events if e["device"]}),
                    "last_event_micros": max(e["micros"] for e in events),
                }
            )
        schema = pa.schema(
            [
                ("account_pk", pa.string()),
                ("bucket_micros", pa.int64()),
                *[(c, pa.int64()) for c in ADDITIVE_COUNTERS],
                ("payment_amount_sum", pa.decimal128(30, 6)),
                ("ips", pa.list_(pa.string())),
                ("devices", pa.list_(pa.string())),
                ("last_event_micros", pa.int64()),
            ]
        )
        tables.append(pa.Table.from_pylist(rows, schema=schema))
    return tables


def _expected(batches: list[list[dict]], upto: int, window) -> dict[tuple, dict]:
    """Batch ``upto``'s windows, from the events themselves: every window holding one of
    the batch's buckets whose last slide has events."""
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
        store.apply(tables[batch_id], batch_id)
        outputs.append(
            {w.view: _got(store, tables[batch_id], w) if tables[batch_id].num_rows else {} for w in WINDOW_SETS}
        )
    return outputs


def _folder(tmp_path, name: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath((tmp_path / name).as_uri())


def test_windows_added_up_from_buckets_equal_windows_counted_from_the_events(tmp_path):
    batches = _events(seed=1)
    tables = _bucket_tables(batches)
    store = BucketStore(_folder(tmp_path, "buckets"), list(WINDOW_SETS))
    outputs = _run(store, tables, 0, len(batches))
    checked = 0
    for batch_id, output in enumerate(outputs):
        for window in WINDOW_SETS:
            expected = _expected(batches, batch_id, window)
            assert output[window.view] == expected, (batch_id, window.view)
            checked += len(expected)
    assert checked > 200
    # Evicted as it goes: no more than an hour's reach (and the watermark) of minutes per account.
    ((kept,),) = store.db.sql("SELECT count(*) FROM buckets").fetchall()
    reach = (max(w.length for w in WINDOW_SETS) + WATERMARK) / BUCKET + 2
    assert kept <= 6 * reach


@pytest.mark.parametrize("crash_at", [9, 14, 15])
def test_a_store_resumed_after_a_crash_gives_the_batch_it_runs_again_what_it_gave_first(
    tmp_path, monkeypatch, crash_at
):
    """A crash after batch ``crash_at`` applied its buckets, before Spark recorded it done:
    the resumed store runs it again from the snapshot and logs, and every batch from there
    gets the windows an uninterrupted store gave."""
    monkeypatch.setattr(buckets_module, "SNAPSHOT_EVERY", 7)
    batches = _events(seed=2, batches=30)
    tables = _bucket_tables(batches)
    uninterrupted = _run(BucketStore(_folder(tmp_path, "a"), list(WINDOW_SETS)), tables, 0, len(tables))

    crashed = BucketStore(_folder(tmp_path, "b"), list(WINDOW_SETS))
    _run(crashed, tables, 0, crash_at + 1)
    resumed = BucketStore(_folder(tmp_path, "b"), list(WINDOW_SETS))
    assert _run(resumed, tables, crash_at, len(tables)) == uninterrupted[crash_at:]
    assert resumed.resumed_at == crash_at
