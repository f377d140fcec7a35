"""Tiny hand-written upstream rows for precise extract tests, loaded through load_partition."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from integrity_local.synthetic.schema import SCHEMAS
from integrity_local.upstream import load_partition

_ids = itertools.count(1)
_AUTO = object()


def at(ds: str, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(ds) + dt.timedelta(hours=hour, minutes=minute)


def event(
    account_id: str,
    ds: str,
    event_type: str = "view",
    *,
    hour: int = 12,
    minute: int = 0,
    event_id: str | None | object = _AUTO,
    **columns,
) -> dict:
    """One raw.user_events row with sensible defaults; keyword columns override them."""
    row = {
        "event_id": f"ev-{next(_ids)}" if event_id is _AUTO else event_id,
        "event_time": at(ds, hour, minute),
        "account_id": account_id,
        "device_id": f"dev-{account_id}",
        "ip": f"10.0.0.{abs(hash(account_id)) % 200 + 1}",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile",
        "country": "DE",
        "event_type": event_type,
        "target_account_id": None,
        "target_item_id": None,
        "url": None,
        "amount": None,
        "status": "success",
    }
    row.update(columns)
    return row


def profile(account_id: str, *, created: str = "2026-01-01", **columns) -> dict:
    row = {
        "account_id": account_id,
        "created_at": dt.datetime.fromisoformat(created),
        "country": "DE",
        "signup_ip": f"192.168.1.{abs(hash(account_id)) % 200 + 1}",
        "signup_device_id": f"dev-{account_id}",
        "email_domain": "example.org",
        "phone_verified": True,
        "is_business": False,
    }
    row.update(columns)
    return row


def label(account_id: str, risk_type: str, value: int, labeled_at: dt.datetime, source: str = "reviewer") -> dict:
    return {
        "account_id": account_id,
        "risk_type": risk_type,
        "label": value,
        "source": source,
        "labeled_at": labeled_at,
    }


def load(hook, table: str, ds: str, rows: list[dict]) -> None:
    """Replace partition ``ds`` of ``raw.<table>`` with ``rows`` (may be empty)."""
    schema = SCHEMAS[table]
    data = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    with tempfile.TemporaryDirectory(prefix=f"extract-{table}-") as folder:
        pq.write_table(data, Path(folder) / "part-0.parquet")
        load_partition(hook, f"raw.{table}", ds, Path(folder))
