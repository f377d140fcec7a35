"""The graph stage through the real HiveServer2: raw days cleaned, edges, components and
features.graph_daily, against the same computed in Python with networkx on the raw rows."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import statistics

import pytest

DS = "2026-04-20"
DAY = dt.date.fromisoformat(DS)
FEATURE_TS = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time())
HUB_MAX = 5
MATURITY = 7
WINDOW = 14
TEST_KEY = "graph-tests-key-0123456789"


def _day(n: int) -> dt.date:
    return DAY - dt.timedelta(days=n)


def _world() -> tuple[list[dict], list[dict], list[dict]]:
    """Events, profiles and labels: a ring of six accounts chained through devices used on
    different days (no one day shows it), a hub IP of eight accounts, a pair sharing only a
    signup device, ordinary accounts, and an account whose device use is older than the window."""
    events: list[dict] = []

    def use(account: str, days_ago: int, device: str | None, ip: str | None, target: str | None = None) -> None:
        at = dt.datetime.combine(_day(days_ago), dt.time(10, len(events) % 60))
        events.append(
            {
                "event_id": f"e{len(events)}",
                "event_time": at,
                "account_id": account,
                "device_id": device,
                "ip": ip,
                "user_agent": "Mozilla/5.0",
                "country": "DE",
                "event_type": "like" if target else "login",
                "target_account_id": target,
                "target_item_id": None,
                "url": None,
                "amount": None,
                "status": "success",
            }
        )

    ring = [f"ring{i}" for i in range(6)]
    for i, account in enumerate(ring):  # ring i and i+1 share device d-ring-i, on another day each
        use(account, i, f"d-ring-{i}", f"ip-ring-{i}")
        use(ring[(i + 1) % 6], (i + 3) % 10, f"d-ring-{i}", None)
    ordinary = [f"user{i}" for i in range(8)]
    for i, account in enumerate(ordinary):
        use(account, i % 5, f"d-user-{i}", "ip-hub")  # everyone behind one carrier NAT: a hub
    use(ring[0], 2, None, "ip-hub")
    use("old0", WINDOW + 2, "d-old", "ip-old")  # outside the window
    use("old1", 1, "d-old", None)
    use("bad0", 1, "d-x", "ip-x")
    for i in range(4):  # four accounts behind one IP: an edge in a full window, a hub in this one
        use(f"quad{i}", 0, f"d-quad-{i}", "ip-quad")
    # Engagement: the ring's members like the same two accounts, one also another; two
    # ordinary accounts (not joined) like one the ring likes; the pair likes a shop.
    for i, account in enumerate(ring):
        use(account, i, None, None, "star0")
        use(account, i + 1, None, None, "star1" if i < 4 else "fan-only")
    use("user0", 1, None, None, "star0")
    use("user1", 2, None, None, "star0")
    use("pair0", 3, None, None, "shop")
    use("pair1", 4, None, None, "shop")
    use("pair1", WINDOW + 1, None, None, "old-target")  # outside the window
    events.append({**events[-1], "event_id": None})  # a dirty row: the cleaning stage drops it
    profiles = []
    everyone = sorted({e["account_id"] for e in events} | {"pair0", "pair1"})
    for i, account in enumerate(everyone):
        profiles.append(
            {
                "account_id": account,
                "created_at": dt.datetime(2026, 1, 1) + dt.timedelta(days=3 * i, hours=i),
                "country": "DE",
                "signup_ip": None,
                "signup_device_id": "d-signup-pair" if account.startswith("pair") else f"d-signup-{account}",
                "email_domain": "example.com",
                "phone_verified": True,
                "is_business": False,
            }
        )
    labels = [  # risk abusive_account: matured, not matured yet, and another risk's
        {"account_id": "ring2", "risk_type": "abusive_account", "label": 1, "source": "reviewer",
         "labeled_at": FEATURE_TS - dt.timedelta(days=MATURITY + 3)},
        {"account_id": "ring3", "risk_type": "abusive_account", "label": 1, "source": "reviewer",
         "labeled_at": FEATURE_TS - dt.timedelta(days=2)},
        {"account_id": "ring4", "risk_type": "fraud", "label": 1, "source": "chargeback",
         "labeled_at": FEATURE_TS - dt.timedelta(days=MATURITY + 3)},
    ]  # fmt: skip
    return events, profiles, labels


def _expected(events: list[dict], profiles: list[dict], labels: list[dict]) -> dict[str, dict]:
    import networkx as nx

    first = DAY - dt.timedelta(days=WINDOW - 1)
    used = {
        (e["account_id"], kind, value)
        for e in events
        if e["event_id"] and first <= e["event_time"].date() <= DAY
        for kind, value in (("device", e["device_id"]), ("ip", e["ip"]))
        if value
    }
    used |= {(p["account_id"], "device", p["signup_device_id"]) for p in profiles if p["signup_device_id"]}
    used |= {(p["account_id"], "ip", p["signup_ip"]) for p in profiles if p["signup_ip"]}
    users: dict[tuple, set] = {}
    for account, kind, value in used:
        users.setdefault((kind, value), set()).add(account)
    # The days of the window that hold events: the hub bound shrinks with them.
    seen = len({e["event_time"].date() for e in events if e["event_id"] and first <= e["event_time"].date() <= DAY})
    graph = nx.Graph()
    graph.add_nodes_from(p["account_id"] for p in profiles)
    hubs: dict[str, int] = {}
    for node, accounts in users.items():
        if len(accounts) * WINDOW > HUB_MAX * seen:
            for account in accounts:
                hubs[account] = hubs.get(account, 0) + 1
        else:
            graph.add_edges_from((account, node) for account in accounts)
    created = {p["account_id"]: p["created_at"].timestamp() for p in profiles}
    matured = {
        lab["account_id"]
        for lab in labels
        if lab["label"] == 1
        and lab["risk_type"] in ("abusive_account", "fake_engagement")
        and lab["labeled_at"] <= FEATURE_TS - dt.timedelta(days=MATURITY)
    }
    engaged: dict[str, set] = {}
    for e in events:
        if e["event_id"] and e["target_account_id"] and first <= e["event_time"].date() <= DAY:
            engaged.setdefault(e["account_id"], set()).add(e["target_account_id"])
    out, stats = {}, {}
    for component in nx.connected_components(graph):
        accounts = [v for v in component if isinstance(v, str)]
        nodes = [v for v in component if isinstance(v, tuple)]
        shares = {}
        for account in accounts:
            targets = engaged.get(account, set())
            others = set().union(*(engaged.get(a, set()) for a in accounts if a != account))
            shares[account] = sum(1 for t in targets if t in others) / len(targets) if targets else 0.0
        spread = statistics.pstdev(created[a] for a in accounts) / 86400
        if len(accounts) > 1:
            stats[frozenset(accounts)] = (
                math.log(len(accounts)),
                len(accounts) / len(nodes),
                math.log1p(spread),
                statistics.fmean(shares.values()),
            )
        for account in accounts:
            others = len(accounts) - 1
            out[account] = {
                "component_accounts": len(accounts),
                "component_devices": sum(1 for kind, _ in nodes if kind == "device"),
                "component_ips": sum(1 for kind, _ in nodes if kind == "ip"),
                "component_created_spread_days": spread,
                "component_shared_target_share": shares[account],
                "hub_nodes": hubs.get(account, 0),
                "component_labelled_share": (
                    sum(1 for a in accounts if a in matured and a != account) / others if others else 0.0
                ),
            }
    # The anomaly score: robust z-scores (median, 1.4826 MAD of at least 0.1) of the day's
    # components of two or more accounts; their root mean square.
    columns = list(zip(*stats.values(), strict=True))
    centres = [statistics.median(c) for c in columns]
    scales = [
        max(1.4826 * statistics.median(abs(x - m) for x in c), 0.1) for c, m in zip(columns, centres, strict=True)
    ]
    for members, values in stats.items():
        z = [(x - m) / d for x, m, d in zip(values, centres, scales, strict=True)]
        for account in members:
            out[account]["component_anomaly_score"] = math.sqrt(statistics.fmean(v * v for v in z))
    for row in out.values():
        row.setdefault("component_anomaly_score", 0.0)
    return out


def _run(operator):
    from types import SimpleNamespace

    context = {"ds": DS, "params": {}, "ti": SimpleNamespace(try_number=1)}
    operator.render_template_fields(context)
    return operator.execute(context)


def _load(hook, table: str, rows: list[dict], schema, day_of, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrity_local.upstream import load_partition

    days: dict[str, list[dict]] = {}
    for row in rows:
        days.setdefault(day_of(row), []).append(row)
    for ds, day_rows in days.items():
        folder = tmp_path / f"{table}-{ds}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), folder / "part-0.parquet")
        load_partition(hook, table, ds, folder)


def _graph_stage(hook) -> dict[str, dict]:
    from integrity_risk.operators.graph_components import GraphComponentsOperator
    from integrity_risk.operators.hive_extract import HiveExtractOperator

    common = {"ds": DS, "required_partitions": ("raw.account_profiles",)}
    _run(HiveExtractOperator(task_id="labels", hql="labels.hql", table="features.labels", lookback_days=1, **common))
    _run(
        HiveExtractOperator(
            task_id="edges",
            hql="graph/account_edges.hql",
            table="graph.account_edges",
            lookback_days=WINDOW,
            ddl="graph_tables.hql",
            sql_vars={"hub_max_accounts": HUB_MAX},
            **common,
        )
    )
    _run(GraphComponentsOperator(task_id="components", ds=DS))
    _run(
        HiveExtractOperator(
            task_id="graph_daily",
            hql="features/graph_daily.hql",
            table="features.graph_daily",
            sql_vars={"label_maturity_days": MATURITY},
            lookback_days=WINDOW,
            **common,
        )
    )
    frame = hook.get_pandas_df(f"SELECT * FROM features.graph_daily WHERE ds = '{DS}'")
    return {row.pop("account_pk"): row for row in frame.drop(columns=["ds"]).to_dict("records")}


@pytest.fixture(scope="module")
def world(hiveserver2, tmp_path_factory):
    from integrity_local.synthetic.schema import (
        ACCOUNT_PROFILES_SCHEMA,
        ENFORCEMENT_LABELS_SCHEMA,
        USER_EVENTS_SCHEMA,
    )
    from integrity_local.upstream import create_upstream_tables
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook
    from integrity_risk.operators.clean_events import CleanEventsOperator

    saved = os.environ.get("AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION")
    os.environ["AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"] = json.dumps({"conn_type": "generic", "password": TEST_KEY})
    hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    tmp = tmp_path_factory.mktemp("graph")
    events, profiles, labels = _world()
    create_upstream_tables(hook)
    _load(hook, "raw.user_events", events, USER_EVENTS_SCHEMA, lambda r: r["event_time"].date().isoformat(), tmp)
    _load(hook, "raw.account_profiles", profiles, ACCOUNT_PROFILES_SCHEMA, lambda r: DS, tmp)
    _load(
        hook,
        "raw.enforcement_labels",
        labels,
        ENFORCEMENT_LABELS_SCHEMA,
        lambda r: r["labeled_at"].date().isoformat(),
        tmp,
    )
    _run(CleanEventsOperator(task_id="clean_events", ds=DS, lookback_days=WINDOW, rewrite_window=True))
    yield hook, (events, profiles, labels), _graph_stage(hook), tmp
    if saved is None:
        os.environ.pop("AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION", None)
    else:
        os.environ["AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION"] = saved


def test_the_graph_features_equal_networkx_on_the_raw_rows(world):
    from integrity_risk.features.pseudonymize import pseudonymize

    hook, (events, profiles, labels), got, _ = world
    expected = {pseudonymize(TEST_KEY.encode(), a): row for a, row in _expected(events, profiles, labels).items()}
    assert got.keys() == expected.keys()
    for account, row in expected.items():
        for name, value in row.items():
            assert got[account][name] == pytest.approx(value), (account, name)
    ring = {pseudonymize(TEST_KEY.encode(), f"ring{i}") for i in range(6)}
    # The ring is whole though no day shows more than two of it; the hub joined no one to it.
    assert {got[a]["component_accounts"] for a in ring} == {6}
    assert got[pseudonymize(TEST_KEY.encode(), "user0")]["component_accounts"] == 1
    assert got[pseudonymize(TEST_KEY.encode(), "user0")]["hub_nodes"] == 1
    # 9 days of the 14 hold events: the bound of 5 accounts is 3.2, so four accounts behind
    # one IP are a hub's, not a ring.
    for i in range(4):
        quad = got[pseudonymize(TEST_KEY.encode(), f"quad{i}")]
        assert quad["component_accounts"] == 1 and quad["hub_nodes"] == 1
    # The shared tables' quality gate passes the day (keys, NULLs, ranges, feature_ts).
    from integrity_risk.config.tables import shared_table_rules
    from integrity_risk.operators.quality_gate import QualityGateOperator

    gate = QualityGateOperator(
        task_id="gate",
        table="features.graph_daily",
        ddl="feature_tables.hql",
        rules=shared_table_rules("features.graph_daily"),
        min_rows=1,
        ds=DS,
    )
    _run(gate)
    # The ring shares its targets (star1 by four of six, fan-only by two); the two ordinary
    # accounts liking star0 are not joined, so it is no shared target of theirs.
    assert got[pseudonymize(TEST_KEY.encode(), "ring0")]["component_shared_target_share"] == 1.0
    assert got[pseudonymize(TEST_KEY.encode(), "user0")]["component_shared_target_share"] == 0.0
    assert got[pseudonymize(TEST_KEY.encode(), "ring0")]["component_anomaly_score"] > 0
    # One matured label among the other five; ring2's own label is not its feature.
    assert got[pseudonymize(TEST_KEY.encode(), "ring0")]["component_labelled_share"] == pytest.approx(1 / 5)
    assert got[pseudonymize(TEST_KEY.encode(), "ring2")]["component_labelled_share"] == 0


def test_a_label_after_feature_ts_changes_no_feature(world):
    from integrity_local.synthetic.schema import ENFORCEMENT_LABELS_SCHEMA

    hook, _, before, tmp = world
    later = [
        {
            "account_id": account,
            "risk_type": "abusive_account",
            "label": 1,
            "source": "reviewer",
            "labeled_at": FEATURE_TS + dt.timedelta(hours=1),
        }
        for account in ("ring0", "ring1", "user1")
    ]
    _load(
        hook,
        "raw.enforcement_labels",
        later,
        ENFORCEMENT_LABELS_SCHEMA,
        lambda r: r["labeled_at"].date().isoformat(),
        tmp / "later",
    )
    assert _graph_stage(hook) == before


def test_the_components_of_a_written_day_are_left_alone_on_a_first_try_and_written_again_on_a_retry(world):
    from types import SimpleNamespace

    from integrity_risk.operators.graph_components import GraphComponentsOperator

    hook = world[0]
    before = sorted(hook.get_records(f"SELECT vertex, component FROM graph.account_components WHERE ds = '{DS}'"))
    shared = {"ds": DS, "skip_existing": "True"}
    first = GraphComponentsOperator(task_id="components", **shared)
    assert first.execute({"ti": SimpleNamespace(try_number=1)})["skipped"]
    retry = GraphComponentsOperator(task_id="components", **shared).execute({"ti": SimpleNamespace(try_number=2)})
    assert retry["rounds"] >= 1 and retry["vertices"] == len(before)
    assert (
        sorted(hook.get_records(f"SELECT vertex, component FROM graph.account_components WHERE ds = '{DS}'")) == before
    )
