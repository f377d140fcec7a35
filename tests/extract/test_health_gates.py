"""Health gates on a generated world: outages upstream stop the day naming the check, attackers
changing their behaviour pass every gate, and the platform team's reviewed acceptance lets a
blocked partition through, audited, while anyone else is refused.

The outages are made here, from the world's own files: a day with an event type missing, a
day half loaded, a day loaded twice.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from extract_helpers import extract, run_task

from integrity_local.synthetic import WorldConfig, load_world, write_world
from integrity_local.upstream import load_partition
from integrity_risk.acceptance import AcceptanceError, accept_partition, require_platform
from integrity_risk.config.risk import risk_config
from integrity_risk.config.tables import shared_table_rules
from integrity_risk.operators.quality_gate import QualityGateOperator
from integrity_risk.operators.upstream_health import UpstreamHealthError, UpstreamHealthOperator
from integrity_risk.promotion import read_audit
from integrity_risk.sensors.upstream import UpstreamPartitionsSensor

START, DAY = "2026-05-01", "2026-05-05"  # four trailing days, then the day judged; far from the other tests' days
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(hive, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("health_world")
    write_world(WorldConfig(seed=21, start_ds=START, days=5, n_accounts=200), out)
    load_world(hive, out)
    return out


def events_of(world: Path, ds: str) -> pa.Table:
    return pq.read_table(world / "raw" / "user_events" / f"ds={ds}")


def load_events(hive, ds: str, events: pa.Table) -> None:
    """Replace partition ``ds`` of raw.user_events with ``events``, as a broken upstream load would."""
    with tempfile.TemporaryDirectory(prefix="health-") as folder:
        pq.write_table(events, Path(folder) / "part-0.parquet")
        load_partition(hive, "raw.user_events", ds, Path(folder))


@pytest.fixture
def day(hive, world):
    """DAY as the world made it, put back after the test whatever the test loaded."""
    yield DAY
    load_events(hive, DAY, events_of(world, DAY))


@pytest.fixture
def audit(tmp_path, monkeypatch) -> Path:
    """A private storage root, so the audit log holds only this test's acceptances."""
    monkeypatch.setenv("INTEGRITY_STORAGE_ROOT", (tmp_path / "root").as_uri())
    return tmp_path / "root" / "audit"


def upstream_health(ds: str = DAY) -> dict:
    return run_task(UpstreamHealthOperator(task_id="upstream_health", ds=ds), ds)


def test_a_normal_day_passes_the_upstream_health_gate_against_its_trailing_days(world, day):
    result = upstream_health()
    events = result["raw.user_events"]
    assert len(events["trailing_rows"]) == 4 and events["rows"] == events_of(world, DAY).num_rows
    assert events["event_types"]["login"] > 0 and result["raw.account_profiles"]["rows"] > 0
    assert result["accepted"] == []


def _missing_type(events: pa.Table) -> pa.Table:
    return events.filter(pc.not_equal(events["event_type"], "login"))


def _half_loaded(events: pa.Table) -> pa.Table:
    # Every other row: half the files of a load, each holding the whole day.
    return events.take(list(range(0, events.num_rows, 2)))


def _loaded_twice(events: pa.Table) -> pa.Table:
    return pa.concat_tables([events, events])


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("outage", "check", "figure"),
    [
        (_missing_type, "event_type_rows", r"event_type=login: 0 rows is 0% of the median \d+"),
        (_half_loaded, "rows", r"\d+ rows is \d\d% of the median [\d.]+ of the 4 trailing partitions; allowed 70%"),
        (_loaded_twice, "duplicate_rate", r"\d+ of \d+ rows \(5\d\.\d%\) repeat an event_id; allowed at most 5\.0%"),
    ],
    ids=["event_type_missing", "half_loaded", "loaded_twice"],
)
def test_an_upstream_outage_fails_the_upstream_health_gate_naming_check_figure_and_bound(
    hive, world, day, outage, check, figure
):
    load_events(hive, DAY, outage(events_of(world, DAY)))
    with pytest.raises(UpstreamHealthError) as err:
        upstream_health()
    message = str(err.value)
    assert f"upstream health gate failed for ds={DAY}" in message
    lines = [line for line in message.splitlines() if line.startswith(f"- raw.user_events: {check}: ")]
    assert lines, message
    assert any(re.search(figure, line) for line in lines), message


def test_attackers_changing_their_behaviour_pass_every_health_gate(hive, world, day):
    # The fraud family's card testers drop 60% of their payment attempts on the day (and the
    # platform's other events go on as usual): behaviour, not an outage.
    truth = pq.read_table(world / "truth" / "ground_truth.parquet")
    fraudsters = truth.filter(pc.equal(truth["truth"], "fraud"))["account_id"]
    events = events_of(world, DAY)
    theirs = pc.and_(pc.is_in(events["account_id"], fraudsters), pc.equal(events["event_type"], "payment_attempt"))
    their_rows = pc.indices_nonzero(theirs).to_pylist()
    assert len(their_rows) >= 20, "the world should give its fraudsters payment attempts on the day"
    dropped = set(their_rows[: int(len(their_rows) * 0.6)])
    load_events(hive, DAY, events.take([i for i in range(events.num_rows) if i not in dropped]))

    assert upstream_health()["accepted"] == []
    for table in ("account_daily", "fraud_daily"):
        extract(table, DAY)
    shared = QualityGateOperator(
        task_id="gate", table="features.account_daily", rules=shared_table_rules("features.account_daily")
    )
    fraud = risk_config("fraud").extract
    own = QualityGateOperator(task_id="gate", table=fraud.table, rules=fraud.quality, min_rows=fraud.min_rows)
    assert run_task(shared, DAY)["rows"] > 0 and run_task(own, DAY)["rows"] >= fraud.min_rows


def test_an_accepted_partition_passes_its_accepted_check_only_and_the_acceptance_is_audited(
    hive, world, day, audit, capsys
):
    load_events(hive, DAY, _half_loaded(events_of(world, DAY)))
    # Another check, or another table, accepted: the day still fails on its rows.
    accept_partition("raw.user_events", DAY, check="duplicate_rate", reason="retries expected", actor="admin")
    accept_partition("raw.account_profiles", DAY, reason="snapshot migration", actor="admin")
    with pytest.raises(UpstreamHealthError, match=r"raw\.user_events: rows: "):
        upstream_health()

    entry = accept_partition(
        "raw.user_events", DAY, check="rows", reason="half the clients were down for a launch", actor="admin"
    )
    capsys.readouterr()
    result = upstream_health()
    assert result["accepted"] == [entry["event_id"]]
    logged = capsys.readouterr().out  # the task log (Airflow's structlog writes it to stdout here)
    assert (
        "failed checks pass by acceptance: admin accepted check rows" in logged
        and "half the clients were down" in logged
    )
    assert "rows: " in logged and "of the median" in logged  # the overridden figure
    recorded = read_audit(audit)[-1]
    assert {k: recorded[k] for k in ("action", "table", "ds", "check", "actor", "reason")} == {
        "action": "accept_partition",
        "table": "raw.user_events",
        "ds": DAY,
        "check": "rows",
        "actor": "admin",
        "reason": "half the clients were down for a launch",
    }
    assert recorded["recorded_at"]
    # That partition only: the day before, half loaded the same way, still fails.
    previous = (dt.date.fromisoformat(DAY) - dt.timedelta(days=1)).isoformat()
    load_events(hive, previous, _half_loaded(events_of(world, previous)))
    try:
        with pytest.raises(UpstreamHealthError, match="rows: "):
            upstream_health(previous)
    finally:
        load_events(hive, previous, events_of(world, previous))


def test_the_freshness_sensor_waits_for_a_missing_partition_then_fails_naming_it(world):
    from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout

    class FirstTry:
        def get_first_reschedule_date(self, context):
            return None

    late = "2026-05-06"  # a day after the world: nothing loaded
    tables = ["raw.user_events", "raw.account_profiles"]

    def sensor(ds, **kwargs):
        s = UpstreamPartitionsSensor(task_id="wait_upstream", tables=tables, ds=ds, **kwargs)
        s.render_template_fields({"ds": ds, "params": {}})
        return s

    assert sensor(DAY).poke({}) is True
    waiting = sensor(late)
    assert waiting.mode == "reschedule" and waiting.poke({}) is False
    assert waiting.pending == [f"raw.user_events ds={late}", f"raw.account_profiles ds={late}"]
    with pytest.raises(AirflowRescheduleException):
        waiting.execute({"ti": FirstTry()})
    with pytest.raises(AirflowSensorTimeout, match=rf"upstream partitions \['raw\.user_events ds={late}'"):
        sensor(late, timeout=dt.timedelta(0)).execute({"ti": FirstTry()})


def test_a_day_that_can_never_arrive_fails_at_once_not_after_the_deadline(world):
    from airflow.sdk.exceptions import AirflowFailException

    tables = ["raw.user_events"]

    def sensor(ds, **kwargs):
        s = UpstreamPartitionsSensor(task_id="wait_upstream", tables=tables, ds=ds, not_before=START, **kwargs)
        s.render_template_fields({"ds": ds, "params": {}})
        return s

    # Before the DAG's first day (a backfill from 1900): refused before any query. A connection
    # that does not exist proves it: a query would fail on it, not with this message.
    typo = sensor("1900-01-01", hiveserver2_conn_id="no_such_connection")
    with pytest.raises(AirflowFailException, match=rf"ds=1900-01-01 is before {START}, the first day of this DAG"):
        typo.execute({})
    # A day upstream never loaded, whose deadline passed long ago: its first poke fails, naming it.
    old = "2026-04-20"  # before the world: nothing loaded
    ended = dt.datetime(2026, 4, 21, tzinfo=dt.UTC)
    with pytest.raises(AirflowFailException, match=rf"\['raw\.user_events ds={old}'\] are missing and their deadline"):
        UpstreamPartitionsSensor(task_id="w", tables=tables, ds=old).poke({"data_interval_end": ended})
    # Today's day, within its deadline, waits as before.
    assert sensor("2026-05-06").poke({"data_interval_end": dt.datetime.now(dt.UTC)}) is False


# --- the accept_partition DAG -------------------------------------------------------


@pytest.fixture(scope="module")
def accept_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "accept_partition.py"))
    assert bag.import_errors == {}
    return bag.dags["accept_partition"]


@pytest.fixture
def platform(tmp_path, monkeypatch):
    """``platform(*names)``: a copy of include/ whose platform team is ``names``; dag.test() triggers as "dag_test"."""

    def make(*names):
        project = tmp_path / "project"
        shutil.copytree(ROOT / "include", project / "include", dirs_exist_ok=True)
        (project / "include" / "platform.yaml").write_text(f"platform: {list(names)}\n")
        monkeypatch.setenv("INTEGRITY_PROJECT_DIR", str(project))
        monkeypatch.delenv("INTEGRITY_RISKS_DIR", raising=False)

    return make


def test_only_the_platform_team_may_accept_and_a_modeler_is_refused():
    assert require_platform("platform") == "platform"  # include/platform.yaml's team
    for user in ("modeler", "reviewer", "admin", None, ""):
        with pytest.raises(AcceptanceError, match=r"only the platform team may \(platform;"):
            require_platform(user)


@pytest.mark.reliability
def test_the_accept_dag_refuses_a_user_not_in_the_platform_team_before_anything_is_written(
    airflow_db, accept_dag, platform, audit
):
    platform("admin")  # the run is triggered as dag_test: not in the team, like a modeler
    run = accept_dag.test(run_conf={"table": "raw.user_events", "ds": DAY, "reason": "I say so"})
    assert str(run.state) == "failed"
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {
        "authorize": "failed",
        "accept": "upstream_failed",
    }
    assert read_audit(audit) == []


def test_a_partition_accepted_through_the_dag_passes_its_gate_with_the_acceptance_in_the_audit(
    hive, world, day, airflow_db, accept_dag, platform, audit
):
    platform("dag_test")
    load_events(hive, DAY, _loaded_twice(events_of(world, DAY)))
    with pytest.raises(UpstreamHealthError, match="duplicate_rate"):
        upstream_health()
    run = accept_dag.test(
        run_conf={"table": "raw.user_events", "ds": DAY, "check": "duplicate_rate", "reason": "a replay we dedupe"}
    )
    assert str(run.state) == "success"
    [entry] = read_audit(audit)
    assert (entry["actor"], entry["table"], entry["ds"], entry["check"], entry["dag_run_id"]) == (
        "dag_test",
        "raw.user_events",
        DAY,
        "duplicate_rate",
        run.run_id,
    )
    assert upstream_health()["accepted"] == [entry["event_id"]]


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"table": "raw.user_events", "ds": DAY, "reason": "   "}, "reason"),
        ({"table": "raw.user_events", "ds": DAY}, "reason"),
        ({"table": "raw.user_events; DROP", "ds": DAY, "reason": "x"}, "table"),
        ({"table": "raw.user_events", "ds": "yesterday", "reason": "x"}, "ds"),
        ({"table": "raw.user_events", "ds": DAY, "check": "schema", "reason": "x"}, "check"),
    ],
)
def test_the_accept_dag_params_are_validated_by_their_schema(accept_dag, conf, problem):
    from airflow.exceptions import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(accept_dag))
    serialized.params.deep_merge({"table": "raw.user_events", "ds": DAY, "reason": "ok"}).validate()
    with pytest.raises(ParamValidationError, match=problem):
        serialized.params.deep_merge(conf).validate()
