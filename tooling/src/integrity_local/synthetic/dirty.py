"""Malformed rows of the kinds real upstream event tables carry, injected on request.

Each kind is switched on by name (``WorldConfig.dirty_kinds``) so a test of the extract
can inject exactly one. The dirty rows of a day are ``dirty_share`` of its clean rows,
split evenly among the kinds; a row is dirtied at most once. The manifest names each
dirty row's ``event_id`` and kind (the ground truth for tests; pipelines never read it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from integrity_local.synthetic.population import DAY_US
from integrity_local.synthetic.schema import DIRTY_MANIFEST_SCHEMA

if TYPE_CHECKING:
    from integrity_local.synthetic.config import WorldConfig

UNKNOWN_EVENT_TYPES = ("LOGIN", "view_v2", "unknown", "", "purchase")
OVERSIZED_CHARS = 32_768


def dirty_counts(cfg: WorldConfig, n_clean: int) -> dict[str, int]:
    """How many rows of each kind a day with ``n_clean`` clean rows gets."""
    total = int(round(cfg.dirty_share * n_clean))
    kinds = cfg.dirty_kinds
    if not kinds or total == 0:
        return {}
    base, extra = divmod(total, len(kinds))
    return {kind: base + (i < extra) for i, kind in enumerate(kinds)}


def _replace(column: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """``column`` with ``column[rows[i]] = values[i]`` (one take: much faster than replace_with_mask)."""
    index = np.arange(len(column), dtype=np.int64)
    index[rows] = len(column) + np.arange(len(rows))
    return pa.concat_arrays([column, values.cast(column.type)]).take(pa.array(index))


def _nullify(column: pa.Array, rows: np.ndarray) -> pa.Array:
    """``column`` with ``rows`` set to NULL; only the validity bitmap is new (no data copy)."""
    valid = (
        np.ones(len(column), dtype=bool)
        if column.null_count == 0
        else column.is_valid().to_numpy(zero_copy_only=False).copy()
    )
    valid[rows] = False
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(column.type, len(column), [bitmap, *column.buffers()[1:]], offset=column.offset)


def _single(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def inject_dirty(
    table: pa.Table, cfg: WorldConfig, ds: str, day_start_us: int, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Return (``table`` with the dirty rows, manifest of ``(ds, event_id, kind)``).

    :param table: the day's clean user_events.
    :param day_start_us: the partition day's 00:00 UTC, in epoch microseconds.
    """
    counts = dirty_counts(cfg, table.num_rows)
    n = table.num_rows
    if not counts or n == 0:
        return table, DIRTY_MANIFEST_SCHEMA.empty_table()
    # Bad amounts go on payment rows where there are enough, so they look like real ones.
    taken = np.zeros(n, dtype=bool)
    chosen: dict[str, np.ndarray] = {}
    if counts.get("bad_amount"):
        payments = np.flatnonzero(pc.equal(table["event_type"], "payment_attempt").to_numpy(zero_copy_only=False))
        pool = payments if len(payments) >= counts["bad_amount"] else np.arange(n)
        chosen["bad_amount"] = rng.choice(pool, size=min(counts["bad_amount"], len(pool)), replace=False)
        taken[chosen["bad_amount"]] = True
    others = [k for k in counts if k != "bad_amount"]
    free = np.flatnonzero(~taken)
    picks = rng.choice(free, size=min(len(free), sum(counts[k] for k in others)), replace=False)
    at = 0
    for kind in others:
        chosen[kind] = np.sort(picks[at : at + counts[kind]])
        at += counts[kind]

    cols = {name: _single(table[name]) for name in table.column_names}
    event_ids = cols["event_id"]
    manifest = []
    for kind, rows in chosen.items():
        k = len(rows)
        if k == 0:
            continue
        manifest.append((event_ids.take(pa.array(rows)), kind))
        if kind == "null_account":
            cols["account_id"] = _nullify(cols["account_id"], rows)
        elif kind == "null_time":
            cols["event_time"] = _nullify(cols["event_time"], rows)
        elif kind == "null_country":
            cols["country"] = _nullify(cols["country"], rows)
        elif kind == "out_of_day":
            # Late or early client clocks: up to 36 hours before or after the partition's day.
            off = (rng.uniform(1, 36 * 3600, k) * 1_000_000).astype(np.int64)
            when = np.where(rng.random(k) < 0.5, day_start_us - off, day_start_us + DAY_US + off)
            cols["event_time"] = _replace(cols["event_time"], rows, pa.array(when, pa.timestamp("us")))
        elif kind == "bad_amount":
            bad = np.where(
                rng.random(k) < 0.5, -np.round(rng.uniform(0.01, 500, k), 2), np.round(10 ** rng.uniform(9, 13, k), 2)
            )
            cols["amount"] = _replace(cols["amount"], rows, pa.array(bad, pa.float64()))
        elif kind == "unknown_event_type":
            names = pa.array(UNKNOWN_EVENT_TYPES, pa.string()).take(
                pa.array(rng.integers(0, len(UNKNOWN_EVENT_TYPES), k))
            )
            cols["event_type"] = _replace(cols["event_type"], rows, names)
        elif kind == "oversized":
            # A multi-kilobyte URL or user agent, as buggy clients send.
            in_url = rng.random(k) < 0.5
            url_rows, ua_rows = rows[in_url], rows[~in_url]
            big_url = "https://example.invalid/?q=" + "x" * OVERSIZED_CHARS
            big_ua = "Mozilla/5.0 " + "A" * OVERSIZED_CHARS
            if len(url_rows):
                cols["url"] = _replace(cols["url"], url_rows, pa.array([big_url] * len(url_rows), pa.string()))
            if len(ua_rows):
                cols["user_agent"] = _replace(
                    cols["user_agent"], ua_rows, pa.array([big_ua] * len(ua_rows), pa.string())
                )
    out = pa.table(cols, schema=table.schema)
    if "duplicate" in chosen and len(chosen["duplicate"]):
        # Exact client retries: the same rows again, delivered at the end of the day's batch.
        out = pa.concat_tables([out, out.take(pa.array(chosen["duplicate"]))])
    manifest_table = (
        pa.concat_tables(
            [
                pa.table(
                    {
                        "ds": pa.array([ds] * len(ids), pa.string()),
                        "event_id": ids,
                        "kind": pa.array([kind] * len(ids), pa.string()),
                    },
                    schema=DIRTY_MANIFEST_SCHEMA,
                )
                for ids, kind in manifest
            ]
        )
        if manifest
        else DIRTY_MANIFEST_SCHEMA.empty_table()
    )
    return out, manifest_table
