"""Refuse, at the API server, a backfill of a risk DAG that starts before the DAG's first day.

Airflow accepts ``POST /backfills`` for 1900-01-01..today: about 46,000 runs of a daily DAG,
created at once, long before there is any data (a modeler's typo in ``from_date``). The
guard answers 400 before Airflow creates anything, naming the first day allowed
(``history_start``, else ``start_date``, of the risk's YAML). It sits in front of the API as
a root middleware (``plugins/integrity_backfill_guard_plugin.py``); ``airflow backfill create``
on the command line bypasses the API, and the DAG's first task refuses such runs there
(:class:`integrity_risk.sensors.upstream.UpstreamPartitionsSensor`'s ``not_before``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

BACKFILL_PATHS = ("/api/v2/backfills", "/api/v2/backfills/dry_run")


def backfill_refusal(body: Mapping[str, Any]) -> str | None:
    """Why a ``POST /backfills`` body must be refused, or None to let Airflow judge it.

    Only risk DAGs (``integrity_<risk>`` of a YAML in ``include/risks``) are judged; a
    ``from_date`` that is not a date is left to Airflow's own validation, which names it.
    """
    from integrity_risk.config.risk import RiskConfigError, all_risk_types, risk_config

    dag_id, from_date = body.get("dag_id"), body.get("from_date")
    if not isinstance(dag_id, str) or not dag_id.startswith("integrity_") or not isinstance(from_date, str):
        return None
    risk = dag_id.removeprefix("integrity_")
    if risk not in all_risk_types():
        return None
    try:
        first = dt.datetime.fromisoformat(from_date.replace("Z", "+00:00")).date()
        cfg = risk_config(risk)
    except (ValueError, RiskConfigError):
        return None
    if first >= cfg.first_day:
        return None
    return (
        f"from_date {from_date} is before {cfg.first_day}, the first day of {dag_id} "
        f"(history_start, else start_date, in include/risks/{risk}.yaml): its runs would find no data. "
        f"Start the backfill on or after {cfg.first_day}."
    )


class BackfillRangeGuard:
    """ASGI middleware: a ``POST`` to :data:`BACKFILL_PATHS` that :func:`backfill_refusal` refuses gets a 400."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in BACKFILL_PATHS:
            await self.app(scope, receive, send)
            return
        messages, more = [], True
        while more:  # the body, kept to hand on unchanged
            message = await receive()
            messages.append(message)
            more = message.get("type") == "http.request" and message.get("more_body", False)
        body = b"".join(m.get("body", b"") for m in messages)
        try:
            problem = backfill_refusal(json.loads(body or b"{}"))
        except (ValueError, AttributeError):
            problem = None  # not a JSON object: Airflow answers that itself
        if problem:
            payload = json.dumps({"detail": problem}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
