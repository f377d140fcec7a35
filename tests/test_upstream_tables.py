from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from integrity_local.upstream import create_upstream_tables, load_partition
from integrity_risk.paths import HQL_DIR

SHARED_DDL = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "tables.hql"


def test_include_ddl_is_the_upstream_ddl():
    ours = (HQL_DIR / "upstream_tables.hql").read_text()
    if SHARED_DDL.exists():  # the design card's copy, beside the checkout
        assert ours == SHARED_DDL.read_text()
    assert "CREATE TABLE IF NOT EXISTS raw.user_events" in ours


def test_upstream_tables_have_the_upstream_schema(hive_hook):
    create_upstream_tables(hive_hook)
    header = hive_hook.get_results("SELECT * FROM raw.enforcement_labels LIMIT 0")["header"]
    columns = [(name.split(".")[-1], dtype) for name, dtype, *_ in header]
    assert columns == [
        ("account_id", "STRING_TYPE"),
        ("risk_type", "STRING_TYPE"),
        ("label", "INT_TYPE"),
        ("source", "STRING_TYPE"),
        ("labeled_at", "TIMESTAMP_TYPE"),
        ("ds", "STRING_TYPE"),
    ]


def test_a_loaded_partition_round_trips_and_a_reload_replaces_it(hive_hook, tmp_path):
    create_upstream_tables(hive_hook)
    schema = pa.schema(
        [
            ("account_id", pa.string()),
            ("risk_type", pa.string()),
            ("label", pa.int32()),
            ("source", pa.string()),
            ("labeled_at", pa.timestamp("us")),
        ]
    )
    import datetime as dt

    at = dt.datetime(2026, 3, 2, 10, 30)
    for attempt in range(2):
        folder = tmp_path / f"load{attempt}"
        folder.mkdir()
        table = pa.table(
            {
                "account_id": ["a1", "a2"],
                "risk_type": ["fraud", "scraping"],
                "label": [1, 0],
                "source": ["reviewer", "appeal"],
                "labeled_at": [at, at],
            },
            schema=schema,
        )
        pq.write_table(table, folder / "part-0.parquet")
        load_partition(hive_hook, "raw.enforcement_labels", "2026-03-02", folder)
    rows = hive_hook.get_records(
        "SELECT account_id, risk_type, label, source, CAST(labeled_at AS STRING), ds "
        "FROM raw.enforcement_labels WHERE ds = '2026-03-02' ORDER BY account_id"
    )
    assert rows == [
        ("a1", "fraud", 1, "reviewer", "2026-03-02 10:30:00", "2026-03-02"),
        ("a2", "scraping", 0, "appeal", "2026-03-02 10:30:00", "2026-03-02"),
    ]
