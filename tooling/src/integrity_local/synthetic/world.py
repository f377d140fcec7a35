"""Generate, write and load a synthetic world: the public face of the package."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from integrity_local.synthetic.config import RISK_TYPES, WorldConfig
from integrity_local.synthetic.dirty import inject_dirty
from integrity_local.synthetic.events import generate_events
from integrity_local.synthetic.ids import hex_ids, salt
from integrity_local.synthetic.labels import generate_labels
from integrity_local.synthetic.population import (
    COUNTRY_CODES,
    DAY_US,
    EMAIL_DOMAINS,
    LOOKALIKES,
    NEVER,
    Population,
    build_population,
)
from integrity_local.synthetic.schema import (
    ACCOUNT_PROFILES_SCHEMA,
    DIRTY_MANIFEST_SCHEMA,
    GROUND_TRUTH_SCHEMA,
    SCHEMAS,
)

if TYPE_CHECKING:
    from airflow.providers.apache.hive.hooks.hive import HiveServer2Hook

TABLES = tuple(SCHEMAS)  # user_events, account_profiles, enforcement_labels
MANIFEST = "world.json"


class DayTables(NamedTuple):
    """One day of the world, not written anywhere."""

    ds: str
    user_events: pa.Table
    account_profiles: pa.Table
    enforcement_labels: pa.Table
    dirty: pa.Table  # manifest of the dirty event rows: ds, event_id, kind


@dataclass
class World:
    """A population plus the tables derived once for the whole period."""

    cfg: WorldConfig
    population: Population
    profiles: pa.Table  # every account of the period, with created_at
    labels: pa.Table  # every label row of the period
    ground_truth: pa.Table


@dataclass(frozen=True)
class Partition:
    """One written partition of an upstream table: its table, day and file."""

    table: str  # user_events | account_profiles | enforcement_labels
    ds: str
    path: Path  # the partition folder (holds part-0.parquet)
    rows: int


@dataclass
class WorldFiles:
    """What ``write_world`` wrote."""

    out_dir: Path
    partitions: list[Partition] = field(default_factory=list)
    ground_truth: Path | None = None
    dirty_manifest: Path | None = None

    def rows(self, table: str, ds: str | None = None) -> int:
        """Rows written to ``table`` (one day, or all days)."""
        return sum(p.rows for p in self.partitions if p.table == table and (ds is None or p.ds == ds))

    def days(self) -> list[str]:
        return sorted({p.ds for p in self.partitions})

    def __str__(self) -> str:
        days = self.days()
        span = f"{days[0]}..{days[-1]}" if days else "no days"
        counts = ", ".join(f"{table} {self.rows(table):,}" for table in TABLES)
        return f"{self.out_dir}: {len(days)} days ({span}); rows: {counts}"


_CACHE: dict[tuple, World] = {}


def build_world(cfg: WorldConfig) -> World:
    """The population, profiles, labels and ground truth of ``cfg`` (cached per config)."""
    key = cfg.key()
    if key not in _CACHE:
        pop = build_population(cfg)
        _CACHE.clear()  # one world at a time: a large one holds a lot of memory
        _CACHE[key] = World(cfg, pop, _profiles(pop), generate_labels(pop), _ground_truth(pop))
    return _CACHE[key]


def _profiles(pop: Population) -> pa.Table:
    return pa.table(
        {
            "account_id": pop.account_ids,
            "created_at": pa.array(pop.created_us, pa.timestamp("us")),
            "country": pa.array(COUNTRY_CODES, pa.string()).take(pa.array(pop.country.astype(np.int64))),
            "signup_ip": pop.ip_text.take(pa.array(pop.home_ip)),
            "signup_device_id": hex_ids("dev_", pop.primary_dev, salt(pop.cfg.seed, "dev")),
            "email_domain": pa.array(EMAIL_DOMAINS, pa.string()).take(pa.array(pop.email_domain.astype(np.int64))),
            "phone_verified": pa.array(pop.phone_verified, pa.bool_()),
            "is_business": pa.array(pop.is_business, pa.bool_()),
        },
        schema=ACCOUNT_PROFILES_SCHEMA,
    )


def _ground_truth(pop: Population) -> pa.Table:
    cfg = pop.cfg
    abuser = pop.abuse_start_day != NEVER
    start_days = np.where(abuser, pop.abuse_start_day, 0).astype("timedelta64[D]")
    start_ds = (np.datetime64(cfg.start_ds) + start_days).astype(str)
    return pa.table(
        {
            "account_id": pop.account_ids,
            "truth": pa.array(("benign",) + RISK_TYPES, pa.string()).take(pa.array(pop.family.astype(np.int64))),
            "abuse_start_ds": pa.array(start_ds, pa.string(), mask=~abuser),
            "created_at": pa.array(pop.created_us, pa.timestamp("us")),
            "cluster_id": pa.array(pop.cluster, pa.int32()),
            "benign_trait": pa.array(LOOKALIKES, pa.string()).take(
                pa.array(pop.lookalike.astype(np.int64), mask=abuser)
            ),
        },
        schema=GROUND_TRUTH_SCHEMA,
    )


def generate_day(cfg: WorldConfig, ds: str, world: World | None = None) -> DayTables:
    """The three upstream partitions of ``ds`` as arrow tables (nothing is written).

    :param cfg: the world's config; ``ds`` must fall in its period.
    :param world: a prebuilt ``build_world(cfg)``; built (and cached) when omitted.
    """
    world = world or build_world(cfg)
    day = cfg.day_index(ds)
    day_start = world.population.start_us + day * DAY_US
    events = generate_events(world.population, ds)
    rng = np.random.default_rng([cfg.seed, day, 0xD1])
    events, dirty = inject_dirty(events, cfg, ds, day_start, rng)
    events, dirty = _apply_outage(cfg, ds, events, dirty)
    profiles = world.profiles.filter(
        pc.less(world.profiles["created_at"], pa.scalar(day_start + DAY_US, pa.timestamp("us")))
    )
    labels = world.labels.filter(
        pc.and_(
            pc.greater_equal(world.labels["labeled_at"], pa.scalar(day_start, pa.timestamp("us"))),
            pc.less(world.labels["labeled_at"], pa.scalar(day_start + DAY_US, pa.timestamp("us"))),
        )
    )
    return DayTables(ds, events, profiles, labels, dirty)


def _apply_outage(cfg: WorldConfig, ds: str, events: pa.Table, dirty: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The day's user_events as the upstream loader delivered them on an outage day.

    Applied to the finished partition (dirty rows included), as a failed load would be;
    the dirty manifest keeps only the rows still there.
    """
    outage = cfg.outage(ds)
    if outage is None:
        return events, dirty
    kind, event_type = outage
    if kind == "duplicated_load":
        # The whole batch loaded twice: every row again, the same event_id.
        return pa.concat_tables([events, events]), dirty
    if kind == "half_loaded":
        # The load stopped midway: the first half of the batch (rows are in event_time order).
        events = events.slice(0, events.num_rows // 2)
    else:  # missing_event_type: one producer's events never arrived
        events = events.filter(pc.fill_null(pc.not_equal(events["event_type"], event_type), True))
    return events, dirty.filter(pc.is_in(dirty["event_id"], value_set=events["event_id"].combine_chunks()))


def _write_atomically(table: pa.Table, path: Path) -> None:
    # A reader (or a crashed run) never sees half a file: write beside it, then rename.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, path)


def write_world(cfg: WorldConfig, out_dir: str | Path) -> WorldFiles:
    """Write every day of ``cfg`` under ``out_dir`` and return what was written.

    Layout: ``out_dir/raw/<table>/ds=YYYY-MM-DD/part-0.parquet`` for the three upstream
    tables, ``out_dir/truth/ground_truth.parquet`` (account -> benign or family, abuse
    start) and ``out_dir/truth/dirty_events.parquet``, and ``out_dir/world.json`` (the config
    and the partitions written). The truth folder is for tests and benchmarks only.
    Rewriting a world replaces its files.
    """
    out = Path(out_dir)
    world = build_world(cfg)
    files = WorldFiles(out_dir=out)
    manifests = []
    for ds in cfg.day_list():
        day = generate_day(cfg, ds, world)
        for table in TABLES:
            folder = out / "raw" / table / f"ds={ds}"
            data = getattr(day, table)
            _write_atomically(data, folder / "part-0.parquet")
            files.partitions.append(Partition(table, ds, folder, data.num_rows))
        manifests.append(day.dirty)
    files.ground_truth = out / "truth" / "ground_truth.parquet"
    _write_atomically(world.ground_truth, files.ground_truth)
    files.dirty_manifest = out / "truth" / "dirty_events.parquet"
    _write_atomically(
        pa.concat_tables(manifests) if manifests else DIRTY_MANIFEST_SCHEMA.empty_table(), files.dirty_manifest
    )
    # What this world wrote, so load_world ignores partitions left by an earlier, longer one.
    listing = {
        "config": {k: v for k, v in cfg.__dict__.items()},
        "partitions": [{"table": p.table, "ds": p.ds, "rows": p.rows} for p in files.partitions],
    }
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(listing, indent=1, default=list))
    os.replace(tmp, out / MANIFEST)
    return files


def written_partitions(out_dir: str | Path) -> list[tuple[str, str, Path]]:
    """``(table, ds, folder)`` of the partitions the last ``write_world`` into ``out_dir`` wrote.

    Without its ``world.json`` (files copied by hand), every partition under ``out_dir/raw``.
    """
    out = Path(out_dir)
    if (out / MANIFEST).exists():
        listing = json.loads((out / MANIFEST).read_text())["partitions"]
        return [(p["table"], p["ds"], out / "raw" / p["table"] / f"ds={p['ds']}") for p in listing]
    found = []
    for table in TABLES:
        for folder in sorted((Path(out_dir) / "raw" / table).glob("ds=*")):
            if any(folder.glob("*.parquet")):
                found.append((table, folder.name[3:], folder))
    return found


def load_world(hook: HiveServer2Hook, out_dir: str | Path) -> list[tuple[str, str]]:
    """Load every partition under ``out_dir/raw`` into ``raw.*`` (creating the tables first).

    Each partition replaces the one already there, so loading twice gives the same tables.
    :returns: the ``(table, ds)`` pairs loaded.
    """
    from integrity_local.upstream import create_upstream_tables, load_partition

    partitions = written_partitions(out_dir)
    if not partitions:
        raise FileNotFoundError(f"no partitions under {Path(out_dir) / 'raw'}; run write_world first")
    create_upstream_tables(hook)
    for table, ds, folder in partitions:
        load_partition(hook, f"raw.{table}", ds, folder)
    return [(table, ds) for table, ds, _ in partitions]
