"""A synthetic upstream world for demos, tests and benchmarks (never for pipelines).

Benign users and five attack families (``RISK_TYPES``) in exactly the upstream schema
(``include/hql/upstream_tables.hql``), deterministic for a seed::

    from integrity_local.synthetic import WorldConfig, write_world, load_world

    cfg = WorldConfig(seed=7, start_ds="2026-03-01", days=7, n_accounts=5000)
    files = write_world(cfg, out_dir)  # parquet partitions + truth/ground_truth.parquet
    load_world(hook, out_dir)  # into raw.* through HiveServer2

CLI: ``python -m integrity_local.synthetic --start 2026-03-01 --days 7 --seed 7 --out DIR [--load]``.
"""

from integrity_local.synthetic.config import (
    DEFAULT_ATTACK_SHARES,
    DIRTY_KINDS,
    EVENT_TYPES,
    LABEL_SOURCES,
    RISK_TYPES,
    TRUTH_CLASSES,
    WorldConfig,
)
from integrity_local.synthetic.schema import GROUND_TRUTH_SCHEMA, SCHEMAS
from integrity_local.synthetic.world import (
    DayTables,
    Partition,
    World,
    WorldFiles,
    build_world,
    generate_day,
    load_world,
    write_world,
    written_partitions,
)

__all__ = [
    "DEFAULT_ATTACK_SHARES",
    "DIRTY_KINDS",
    "EVENT_TYPES",
    "GROUND_TRUTH_SCHEMA",
    "LABEL_SOURCES",
    "RISK_TYPES",
    "SCHEMAS",
    "TRUTH_CLASSES",
    "DayTables",
    "Partition",
    "World",
    "WorldConfig",
    "WorldFiles",
    "build_world",
    "generate_day",
    "load_world",
    "write_world",
    "written_partitions",
]
