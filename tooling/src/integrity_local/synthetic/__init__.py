"""A synthetic upstream world for demos, tests and benchmarks (never for pipelines).

Benign users and five attack families (``RISK_TYPES``) in exactly the upstream schema
(``include/hql/upstream_tables.hql``), deterministic for a seed::

    from integrity_local.synthetic import WorldConfig, write_world, load_world

    cfg = WorldConfig(seed=7, start_ds="2026-03-01", days=7, n_accounts=5000)
    files = write_world(cfg, out_dir)  # parquet partitions + truth/ground_truth.parquet
    load_world(hook, out_dir)  # into raw.* through HiveServer2

Scenarios: ``WorldConfig(cutover_ds=...)`` makes the attack families adapt abruptly on a day
(behaviour drift, volumes unchanged); ``WorldConfig(outages={ds: kind})`` breaks the upstream
load of a day (``OUTAGE_KINDS``: an event type missing, half the rows, every row twice).

CLI: ``python -m integrity_local.synthetic --start 2026-03-01 --days 7 --seed 7 --out DIR [--load]``
(``--cutover DS``, ``--cutover-families a,b``, ``--outage DS=KIND``).
"""

from integrity_local.synthetic.config import (
    DEFAULT_ATTACK_SHARES,
    DIRTY_KINDS,
    EVENT_TYPES,
    LABEL_SOURCES,
    OUTAGE_KINDS,
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
    "OUTAGE_KINDS",
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
