"""DDL files against the real HiveServer2: the tables missing are created, the others left as they are."""


def test_only_the_missing_tables_of_a_ddl_file_are_created_and_existing_rows_stay(hiveserver2, tmp_path):
    from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

    hive_hook = IntegrityHiveServer2Hook(hiveserver2_conn_id="hiveserver2_default")
    ddl = tmp_path / "probe_tables.hql"
    ddl.write_text(
        "-- two tables of one database\n"
        "CREATE DATABASE IF NOT EXISTS ddl_probe;\n"
        "CREATE TABLE IF NOT EXISTS ddl_probe.kept (n BIGINT) STORED AS PARQUET;\n"
        "create table if not exists ddl_probe.Dropped (n BIGINT) STORED AS PARQUET;\n"
    )
    hive_hook.run("DROP DATABASE IF EXISTS ddl_probe CASCADE")

    assert hive_hook.create_missing_tables(ddl) == ["ddl_probe.kept", "ddl_probe.dropped"]
    hive_hook.run("INSERT INTO ddl_probe.kept VALUES (7)")
    assert hive_hook.create_missing_tables(ddl) == []

    hive_hook.run("DROP TABLE ddl_probe.dropped")
    assert hive_hook.create_missing_tables(ddl) == ["ddl_probe.dropped"]
    assert hive_hook.get_records("SELECT n FROM ddl_probe.kept") == [(7,)]
    assert hive_hook.get_records("SELECT count(*) FROM ddl_probe.dropped") == [(0,)]
    hive_hook.run("DROP DATABASE ddl_probe CASCADE")
