"""Capacity check: backfill several risk DAGs at once and watch the pools and the scheduler.

The range must end before the latest interval, which the scheduler runs by itself once
the DAGs are unpaused.

Creates one Airflow backfill per DAG over the same range (as modelers would, through
the REST API), then, until every backfill is done, samples the pools' running slots
and the scheduler's heartbeat. Afterwards it reads every task instance of the range
and computes the peak number of tasks that ran at once in each pool from their start
and end times. Two views of one limit: samples can miss a short peak, the records
cannot (but keep only each task's last try).

    python -m integrity_local.load_check --from 2026-10-01 --to 2026-10-30 [--risk fraud ...]

runs it against the local deployment (``python -m integrity_local.airflow_services start``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from integrity_local.airflow_api import AirflowApi
from integrity_local.demo import backfill


@dataclass
class LoadReport:
    """What a load check saw: wall time, final run states and task durations."""

    wall_s: float
    runs: Counter = field(default_factory=Counter)  # final run state -> count
    follower_runs: Counter = field(default_factory=Counter)  # final state -> count, asset-scheduled DAGs
    task_states: Counter = field(default_factory=Counter)  # (task_id, state) -> count, over all runs
    peak_running: dict[str, int] = field(default_factory=dict)  # pool -> max running slots sampled
    peak_overlap: dict[str, int] = field(default_factory=dict)  # pool -> max tasks overlapping in time
    pool_slots: dict[str, int] = field(default_factory=dict)
    max_heartbeat_age_s: float = 0.0
    max_api_latency_s: float = 0.0
    unhealthy_samples: int = 0
    samples: int = 0

    def lines(self) -> list[str]:
        runs = ", ".join(f"{n} {state}" for state, n in sorted(self.runs.items()))
        out = [
            f"wall time {self.wall_s / 60:.1f} min; runs: {runs}; asset-triggered runs: "
            + (", ".join(f"{n} {state}" for state, n in sorted(self.follower_runs.items())) or "none")
        ]
        for pool, slots in sorted(self.pool_slots.items()):
            out.append(
                f"pool {pool} ({slots} slots): peak running {self.peak_running.get(pool, 0)} sampled, "
                f"{self.peak_overlap.get(pool, 0)} overlapping in the task records"
            )
        out.append(
            f"scheduler: {self.samples} health samples, {self.unhealthy_samples} unhealthy, oldest "
            f"heartbeat {self.max_heartbeat_age_s:.1f}s, slowest API answer {self.max_api_latency_s:.2f}s"
        )
        return out


def peak_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """Most intervals open at one instant (an interval ending when another starts does not overlap it)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _sample(api: AirflowApi, report: LoadReport) -> None:
    began = time.monotonic()
    pools = api.request("GET", "/pools", params={"limit": 100})["pools"]
    health = httpx.get(f"{api.base_url}/api/v2/monitor/health", timeout=60).json()
    report.max_api_latency_s = max(report.max_api_latency_s, time.monotonic() - began)
    report.samples += 1
    for pool in pools:
        report.pool_slots[pool["name"]] = pool["slots"]
        report.peak_running[pool["name"]] = max(report.peak_running.get(pool["name"], 0), pool["running_slots"])
    scheduler = health.get("scheduler", {})
    if scheduler.get("status") != "healthy":
        report.unhealthy_samples += 1
    beat = _when(scheduler.get("latest_scheduler_heartbeat"))
    if beat is not None:
        age = (dt.datetime.now(dt.UTC) - beat).total_seconds()
        report.max_heartbeat_age_s = max(report.max_heartbeat_age_s, age)


def _record(api: AirflowApi, dag_ids: list[str], first: dt.date, last: dt.date, report: LoadReport) -> None:
    in_pool: dict[str, list] = {}
    for dag_id in dag_ids:
        for run in api.runs(dag_id):
            if not run["logical_date"] or not first.isoformat() <= run["logical_date"][:10] <= last.isoformat():
                continue
            report.runs[run["state"]] += 1
            listing = api.request(
                "GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances", params={"limit": 100}
            )["task_instances"]
            for ti in listing:
                report.task_states[(ti["task_id"], ti["state"])] += 1
                start, end = _when(ti.get("start_date")), _when(ti.get("end_date"))
                # Deferred tasks (the approval) hold no slot while they wait; only executed ones count.
                if start and end and ti["state"] in ("success", "failed"):
                    in_pool.setdefault(ti["pool"], []).append((start, end))
    report.peak_overlap = {pool: peak_overlap(spans) for pool, spans in in_pool.items()}


def run_load(
    api: AirflowApi,
    dag_ids: list[str],
    first: dt.date,
    last: dt.date,
    *,
    run_training: str = "auto",
    followers: tuple[str, ...] = (),
    max_active_runs: int = 2,
    poll: float = 2.0,
    timeout: float = 4 * 3600,
    progress=print,
) -> LoadReport:
    """Backfill ``dag_ids`` over ``[first, last]`` at once; sample until every backfill has closed.

    ``followers`` are DAGs the backfills trigger (asset-scheduled): unpaused first, and
    waited for at the end; their runs count in the report under ``follower_runs``.
    """
    began = time.monotonic()
    report = LoadReport(wall_s=0.0)
    for dag_id in dag_ids:
        api.wait_for_dag(dag_id)
        backfill(
            api, dag_id, first, last, run_training=run_training, reprocess="completed", max_active_runs=max_active_runs
        )
    # Unpaused only now: the scheduler's own run of the latest interval must not race the
    # backfill's creation of the same day (seen with Airflow 3.3: the scheduler crashed on
    # the run the backfill replaced). Backfill runs of a paused DAG wait for the unpause.
    for dag_id in (*followers, *dag_ids):
        api.unpause(dag_id)
    shown = -1
    while True:
        _sample(api, report)
        remaining = sum(1 for dag_id in dag_ids for b in api.backfills(dag_id) if not b.get("completed_at"))
        if remaining != shown:
            progress(
                f"    {remaining} of {len(dag_ids)} backfills still running ({(time.monotonic() - began) / 60:.1f} min)"
            )
            shown = remaining
        if remaining == 0:
            break
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"backfills of {dag_ids} not done within {timeout:.0f}s")
        time.sleep(poll)
    while followers and (busy := _busy_runs(api, followers)):
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"runs of {sorted(busy)} not done within {timeout:.0f}s")
        _sample(api, report)
        time.sleep(poll)
    report.wall_s = time.monotonic() - began
    _record(api, dag_ids, first, last, report)
    for dag_id in followers:
        report.follower_runs.update(run["state"] for run in api.runs(dag_id))
    return report


def _busy_runs(api: AirflowApi, dag_ids) -> set[str]:
    return {dag_id for dag_id in dag_ids for run in api.runs(dag_id) if run["state"] in ("queued", "running")}


def main(argv: list[str] | None = None) -> int:
    from integrity_local.airflow_services import LocalAirflow
    from integrity_risk.config.risk import all_risk_types

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--to", dest="last", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--risk", action="append", choices=all_risk_types(), help="default: every risk type")
    parser.add_argument("--run-training", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--max-active-runs", type=int, default=2)
    parser.add_argument("--airflow-port", type=int, default=8080)
    args = parser.parse_args(argv)
    airflow = LocalAirflow(port=args.airflow_port)
    api = AirflowApi(airflow.url, "admin", airflow.password("admin"))
    risks = args.risk or all_risk_types()
    report = run_load(
        api,
        [f"integrity_{r}" for r in risks],
        args.first,
        args.last,
        followers=tuple(f"integrity_{r}_online_features" for r in risks),
        run_training=args.run_training,
        max_active_runs=args.max_active_runs,
    )
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
