"""Connected components through the real HiveServer2, against networkx on the same edges."""

from __future__ import annotations

import random

import pytest


@pytest.fixture(scope="module")
def hook(hiveserver2):
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    hook.run("CREATE DATABASE IF NOT EXISTS graph_test")
    return hook


def _edges() -> list[tuple[str, str]]:
    """Rings (cycles of accounts through shared devices), long chains, stars, pairs and
    self-loops; vertices named so that a component's smallest sits anywhere in it."""
    rng = random.Random(7)
    edges: list[tuple[str, str]] = []
    for ring in range(6):  # an account-device-account... cycle
        members = [f"a{rng.randint(0, 10**6):07d}" for _ in range(rng.randint(3, 12))]
        devices = [f"device:{ring}-{i}" for i in range(len(members))]
        for i, account in enumerate(members):
            edges += [(account, devices[i]), (account, devices[i - 1])]
    for chain in range(3):  # a path of 60 to 200 vertices: label propagation needs as many rounds
        path = [f"ip:{chain}-{rng.randint(0, 10**6):07d}" for _ in range(rng.randint(60, 200))]
        edges += list(zip(path, path[1:], strict=False))
    for star in range(4):
        edges += [(f"ip:star{star}", f"a-star{star}-{leaf:03d}") for leaf in range(rng.randint(2, 40))]
    edges += [("a-pair-x", "device:pair"), ("a-pair-x", "device:pair"), ("a-lonely", "a-lonely")]
    rng.shuffle(edges)
    return edges


def test_components_equal_networkx_on_rings_chains_stars_and_self_loops(hook):
    import networkx as nx

    from integrity_risk.graph.components import connected_components

    edges = _edges()
    hook.run(
        [
            "DROP TABLE IF EXISTS graph_test.edges",
            "CREATE TABLE graph_test.edges (src STRING, dst STRING) STORED AS PARQUET",
        ]
    )
    values = ", ".join(f"('{a}', '{b}')" for a, b in edges)
    hook.run(f"INSERT INTO graph_test.edges VALUES {values}")

    rounds = connected_components(hook, "graph_test.edges", "graph_test.components", work="graph_test.cc_work")

    got: dict[str, set[str]] = {}
    for vertex, component in hook.get_records("SELECT vertex, component FROM graph_test.components"):
        got.setdefault(component, set()).add(vertex)
    graph = nx.Graph()
    graph.add_edges_from(edges)
    expected = {frozenset(c) for c in nx.connected_components(graph)}
    assert {frozenset(members) for members in got.values()} == expected
    # Each component is named by its smallest vertex.
    assert all(component == min(members) for component, members in got.items())
    longest = max(len(c) for c in expected)
    assert longest >= 60 and rounds <= 12, rounds  # logarithmic, where propagation needs ~200
    # The rounds' tables are gone.
    tables = {name for _, name, *_ in hook.get_records("SHOW TABLES IN graph_test")}
    assert not any(name.startswith("cc_work") for name in tables), tables
