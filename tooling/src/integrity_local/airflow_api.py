"""A small client of Airflow's REST API v2, used the way a person would use the UI.

The demo prints a one-line approval command built on it, and the end-to-end tests
drive runs, backfills and approvals through it as each role.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL_RUN_STATES = {"success", "failed"}


class AirflowApiError(RuntimeError):
    """An Airflow REST API call that answered with an error status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass
class AirflowApi:
    """A small client of Airflow's REST API (``/api/v2``) with a JWT from the simple auth manager."""

    base_url: str
    username: str
    password: str = field(repr=False)
    _token: str | None = field(default=None, repr=False)

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            resp = httpx.post(
                f"{self.base_url}/auth/token", timeout=30, json={"username": self.username, "password": self.password}
            )
            if resp.status_code >= 300:
                raise AirflowApiError(resp.status_code, f"login of {self.username!r} refused: {resp.text}")
            self._token = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, *, retries: int = 10, **kwargs: Any) -> Any:
        """One API call; a busy metadata database is retried with back-off.

        SQLite answers a lock with 503, or with 500 "Database error" when the lock hits
        Airflow's own action log after the change: that one is retried only for calls
        that are safe to repeat (not POST, whose callers decide).
        """
        for attempt in range(retries + 1):
            resp = httpx.request(method, f"{self.base_url}/api/v2{path}", headers=self._headers(), timeout=60, **kwargs)
            busy = resp.status_code == 503 or (
                resp.status_code == 500 and method != "POST" and "Database error" in resp.text
            )
            if not busy or attempt == retries:
                break
            time.sleep(min(2**attempt, 15))
        if resp.status_code >= 300:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise AirflowApiError(resp.status_code, f"{method} {path}: {detail}")
        return resp.json() if resp.content else None

    # --- DAGs and runs -------------------------------------------------------------
    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request("GET", f"/dags/{dag_id}")
            except AirflowApiError as err:
                if err.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(
        self, dag_id: str, logical_date: str | None = None, conf: dict | None = None, run_id: str | None = None
    ) -> dict:
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, limit: int = 500) -> list[dict]:
        """The DAG's runs, oldest logical date first."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": limit, "order_by": "logical_date"})[
            "dag_runs"
        ]

    def runs_by_day(self, dag_id: str) -> dict[str, dict]:
        """The DAG's runs by the day (``YYYY-MM-DD``) of their logical date; runs without one are left out."""
        return {run["logical_date"][:10]: run for run in self.runs(dag_id) if run["logical_date"]}

    def backfills(self, dag_id: str) -> list[dict]:
        return self.request("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})["backfills"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        listing = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {ti["task_id"]: ti["state"] for ti in listing["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom, decoded: the API returns a stored dict as JSON text."""
        value = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")[
            "value"
        ]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value  # a plain string, as stored
        return value

    def wait_for(
        self,
        dag_id: str,
        run_id: str,
        *,
        task_id: str | None = None,
        states: set[str] | None = None,
        timeout: float = 1800,
        poll: float = 5,
    ) -> dict:
        """Wait until the run ends, or until ``task_id`` reaches one of ``states``.

        A run that ends before the task gets there raises, naming the tasks that failed.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            tasks = self.task_states(dag_id, run_id)
            if task_id is not None and tasks.get(task_id) in (states or set()):
                return run
            if run["state"] in TERMINAL_RUN_STATES:
                if task_id is None:
                    return run
                failed = sorted(t for t, s in tasks.items() if s in ("failed", "upstream_failed"))
                raise AirflowApiError(
                    500,
                    f"run {run_id} of {dag_id} ended {run['state']} before "
                    f"{task_id} reached {states}; failed tasks: {failed}",
                )
            time.sleep(poll)
        raise TimeoutError(f"{dag_id} {run_id}: not done within {timeout:.0f}s")

    def page(self, path: str, *, signed_in: bool = True) -> httpx.Response:
        """A page of the API server outside ``/api/v2`` (a plugin's), as this user or signed out."""
        return httpx.get(f"{self.base_url}{path}", headers=self._headers() if signed_in else {}, timeout=60)

    # --- approvals -----------------------------------------------------------------
    def approval_request(self, dag_id: str, run_id: str, task_id: str) -> dict:
        """The human-in-the-loop request of an approval task: subject, body, assigned users, answer."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails")

    def answer_approval(self, dag_id: str, run_id: str, task_id: str, option: str, *, reason: str) -> dict:
        """Answer a human-in-the-loop approval as this user ("Approve" or "Reject"), giving a reason."""
        return self.request(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails",
            json={"chosen_options": [option], "params_input": {"reason": reason}},
        )
