"""The project's online stores and columnar encoding, held to Feast's own conversion and reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from test_materialize import ACCOUNTS, apply

from integrity_risk.features import feast_store
from integrity_risk.features.online_values import entity_key_protos, serialized_values

T1 = datetime(2026, 3, 2, tzinfo=UTC)


def test_every_column_type_encodes_to_the_bytes_of_feasts_own_conversion():
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    columns = {
        ValueType.DOUBLE: pa.array([0.0, -0.0, 1.5, None, float("nan"), 1e300, -2.25]),
        ValueType.FLOAT: pa.array([0.0, 1.5, None, float("nan"), -3.25], pa.float32()),
        ValueType.INT64: pa.array([0, 1, -1, None, 2**62, 7, 7]),
        ValueType.INT32: pa.array([0, -5, None, 2**31 - 1, 3], pa.int32()),
        ValueType.STRING: pa.array(["US", "", None, "ü", "US"]),
        ValueType.BOOL: pa.array([True, False, None, True]),
        # Not a plain scalar field: Feast's own conversion, through the fallback.
        ValueType.UNIX_TIMESTAMP: pa.array([T1, None, T1 + timedelta(days=1)], pa.timestamp("us", tz="UTC")),
    }
    for value_type, column in columns.items():
        feast = [
            v.SerializeToString()
            for v in python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
        ]
        assert serialized_values(column, value_type) == feast, value_type
    # A float64 column declared Int64 (a pandas column of ints with nulls): ints, nulls empty.
    floats_of_ints = pa.array([1.0, np.nan, 3.0])
    assert serialized_values(floats_of_ints, ValueType.INT64) == [
        v.SerializeToString() for v in python_values_to_proto_values(np.array([1, None, 3], object), ValueType.INT64)
    ]


def test_every_column_type_decodes_to_the_frame_column_of_feasts_own_values():
    import pandas as pd
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type
    from feast.value_type import ValueType

    from integrity_risk.features.online_values import frame_column

    columns = {
        ValueType.DOUBLE: [pa.array([0.0, -0.0, 1.5, None, 1e300]), pa.array([None, None], pa.float64())],
        ValueType.FLOAT: [pa.array([0.0, 1.5, None, -3.25], pa.float32())],
        ValueType.INT64: [pa.array([0, 1, -1, 2**62, 7, 7]), pa.array([0, None, 3])],
        ValueType.INT32: [pa.array([0, -5, None, 2**31 - 1], pa.int32())],
        ValueType.STRING: [pa.array(["US", "", None, "ü", "US"])],
        ValueType.BOOL: [pa.array([True, False, None, True])],
        ValueType.UNIX_TIMESTAMP: [pa.array([T1, None], pa.timestamp("us", tz="UTC"))],
    }
    for value_type, arrays in columns.items():
        for column in arrays:
            cells: list[bytes | None] = [*serialized_values(column, value_type), None]  # None: no row
            feasts = [feast_value_type_to_python_type(Value.FromString(cell or b"")) for cell in cells]
            ours = pd.DataFrame({"c": frame_column(cells, value_type)})
            pd.testing.assert_frame_equal(ours, pd.DataFrame({"c": feasts}), obj=str(value_type))


def test_a_batch_of_a_repo_view_converts_as_feasts_materialization_converts_it(feast_env):
    from feast.utils import _convert_arrow_to_proto

    apply()
    store = feast_store.feature_store()
    view = store.get_feature_view("fraud_daily")
    rng = np.random.default_rng(3)
    n = len(ACCOUNTS)
    batch = pa.table(
        {
            "account_pk": ACCOUNTS,
            "feature_ts": pa.array([T1] * n, pa.timestamp("us", tz="UTC")),
            **{
                f.name: pa.array(
                    [None, *rng.integers(0, 9, n - 1).tolist()]
                    if f.dtype.to_value_type().name.startswith("INT")
                    else [float("nan"), *rng.random(n - 1).tolist()]
                )
                for f in view.features
            },
        }
    )
    join_keys = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
    feast_rows = _convert_arrow_to_proto(batch, view, join_keys)

    assert entity_key_protos(batch, join_keys) == [key for key, _, _, _ in feast_rows]
    for f in view.features:
        ours = serialized_values(batch.column(f.name), f.dtype.to_value_type())
        assert ours == [values[f.name].SerializeToString() for _, values, _, _ in feast_rows], f.name


@pytest.fixture(params=["local", "local_redis"])
def online_store(request, feast_env, redis_server, monkeypatch):
    """The profile's store after ``apply``: (FeatureStore, its online store, the fraud_daily view)."""
    if request.param == "local_redis":
        import redis

        host, port = redis_server.split(":")
        redis.Redis(host=host, port=int(port)).flushall()  # the session's server: other tests' rows
        monkeypatch.setenv("INTEGRITY_FEAST_PROFILE", "local_redis")
        monkeypatch.setenv("INTEGRITY_REDIS_URL", redis_server)
        monkeypatch.setenv("INTEGRITY_FEAST_DIR", str(feast_env.feast_dir) + "_redis")
    apply()
    store = feast_store.feature_store()
    online = store._get_provider().online_store
    assert type(online).__module__ == "integrity_risk.features.online_stores"
    return store, online, store.get_feature_view("fraud_daily")


def _batch(view, attempts: list[int], ts: datetime) -> pa.Table:
    n = len(attempts)
    columns = {f.name: [0] * n if f.dtype.to_value_type().name.startswith("INT") else [0.0] * n for f in view.features}
    columns["payment_attempts_7d"] = attempts
    return pa.table(
        {"account_pk": ACCOUNTS[:n], "feature_ts": pa.array([ts] * n, pa.timestamp("us", tz="UTC")), **columns}
    )


def _read(store) -> list:
    """``payment_attempts_7d`` of the accounts, through Feast's own read."""
    response = store.get_online_features(
        features=["fraud_daily:payment_attempts_7d"], entity_rows=[{"account_pk": pk} for pk in ACCOUNTS[:2]]
    )
    return response.to_dict()["payment_attempts_7d"]


@pytest.mark.parametrize("path", ["arrow", "protos"])
def test_an_older_row_never_replaces_a_newer_one_and_an_equal_time_overwrites(online_store, path):
    from feast.utils import _convert_arrow_to_proto

    store, online, view = online_store

    def write(attempts: list[int], ts: datetime) -> None:
        batch = _batch(view, attempts, ts)
        if path == "arrow":
            online.online_write_arrow(store.config, view, batch)
        else:  # Feast's interface: write_to_online_store, push, Spark's executors
            rows = _convert_arrow_to_proto(batch, view, {"account_pk": view.entity_columns[0].dtype.to_value_type()})
            online.online_write_batch(store.config, view, rows, progress=None)

    write([5, 6], T1)
    assert _read(store) == [5, 6]
    write([1, 2], T1 - timedelta(days=1))  # a re-run of the day before
    assert _read(store) == [5, 6]
    write([7, 8], T1)  # a corrected extract of the same day
    assert _read(store) == [7, 8]
    write([9, 10], T1 + timedelta(days=1))
    assert _read(store) == [9, 10]


def test_sqlite_keeps_a_row_per_account_and_replaces_a_table_of_feasts_layout(feast_env):
    import sqlite3

    apply()
    store = feast_store.feature_store()
    view = store.get_feature_view("fraud_daily")
    path = store.config.online_store.path
    table = "integrity_risk_fraud_daily"
    # A table this store wrote before it kept a row per account: Feast's, a row per feature.
    with sqlite3.connect(path) as db:
        db.execute(f"DROP TABLE {table}")
        db.execute(
            f"CREATE TABLE {table} (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, "
            "vector_value BLOB, event_ts timestamp, created_ts timestamp, PRIMARY KEY (entity_key, feature_name))"
        )
        db.execute(f"INSERT INTO {table} (entity_key, feature_name, value) VALUES (x'00', 'payment_attempts_1d', x'')")
    feast_store.apply_repo(force=True)  # as an upgrade's first apply (the layout is in the repo's fingerprint)
    store._get_provider().online_store.online_write_arrow(store.config, view, _batch(view, [3] * len(ACCOUNTS), T1))
    with sqlite3.connect(path) as db:
        ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        indexes = db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
        rows = db.execute(f"SELECT features FROM {table}").fetchall()
    assert ddl.rstrip().endswith("WITHOUT ROWID") and "feature_name" not in ddl
    assert indexes == []
    assert rows == [(",".join(f.name for f in view.features),)] * len(ACCOUNTS)
    assert _read(store) == [3, 3]
