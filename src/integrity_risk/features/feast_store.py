"""The project's Feast store: which configuration, applying the repo, materializing a window.

One setting picks the configuration, ``INTEGRITY_FEAST_PROFILE``:

==============  ==========================================  ==================
profile         offline store                               online store
==============  ==========================================  ==================
``local``       parquet files of the local Spark warehouse  SQLite
``local_redis`` parquet files of the local Spark warehouse  Redis
``cluster``     parquet files of the shared warehouse       Redis
``production``  Spark over the Hive tables                  Redis
==============  ==========================================  ==================

The registry is a file on the local profiles and Feast's SQL registry (PostgreSQL,
``INTEGRITY_FEAST_REGISTRY_URL``) on ``cluster``.

Each profile is a YAML file in ``feature_repo/`` whose ``${VARS}`` come from the
environment, with the embedded default's values filled in when unset:

- ``INTEGRITY_FEAST_DIR``: registry and SQLite file (default ``<local_dir>/feast``);
- ``INTEGRITY_FEATURE_WAREHOUSE``: the Spark warehouse holding ``features.db``
  (default ``<local_dir>/hiveserver2/warehouse``);
- ``INTEGRITY_REDIS_URL``: ``host:port[,db=N][,password=...]`` (default ``127.0.0.1:6379``).

    python -m integrity_risk.features.feast_store apply [--force]
    python -m integrity_risk.features.feast_store config
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.abc
import importlib.util
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integrity_risk.paths import feature_repo_dir, local_dir

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

    from feast import FeatureStore, RepoConfig

PROFILES = {
    "local": "feature_store.yaml",
    "local_redis": "feature_store.local_redis.yaml",
    "cluster": "feature_store.cluster.yaml",
    "production": "feature_store.production.yaml",
}
DEFAULT_PROFILE = "local"
FINGERPRINT_FILE = "repo.sha256"
# The layout of the project's online stores' tables (online_stores), part of the repo's
# fingerprint: a new layout makes the next apply run, and the stores' update() move the tables.
ONLINE_LAYOUT = "sqlite:row-per-account"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
logger = logging.getLogger(__name__)


class FeastSetupError(RuntimeError):
    """The Feast configuration or repo is not usable; the message says what to fix."""


class FeatureViewNotFound(FeastSetupError):
    """A feature view or service asked for is not in the repo."""


class OnlineStoreUnavailable(RuntimeError):
    """The online store could not be reached; the message names it and its address."""


def profile_name(profile: str | None = None) -> str:
    """The chosen profile: the argument, else env ``INTEGRITY_FEAST_PROFILE``, else ``local``."""
    name = profile or os.environ.get("INTEGRITY_FEAST_PROFILE") or DEFAULT_PROFILE
    if name not in PROFILES:
        raise FeastSetupError(
            f"unknown Feast profile {name!r} (INTEGRITY_FEAST_PROFILE); choose one of {sorted(PROFILES)}"
        )
    return name


def feast_dir() -> Path:
    """Where the embedded default keeps its registry and SQLite online store."""
    return Path(os.environ.get("INTEGRITY_FEAST_DIR") or local_dir() / "feast")


def warehouse_dir() -> Path:
    """The Spark warehouse whose ``features.db`` the local profiles read."""
    return Path(os.environ.get("INTEGRITY_FEATURE_WAREHOUSE") or local_dir() / "hiveserver2" / "warehouse")


def settings(profile: str | None = None) -> dict[str, str]:
    """Values for the YAML's ``${VARS}``: the environment over the embedded defaults.

    Production gets no defaults: a forgotten variable must fail, not point at loopback.
    """
    defaults = (
        {}
        if profile_name(profile) == "production"
        else {
            "INTEGRITY_FEAST_DIR": str(feast_dir()),
            "INTEGRITY_FEATURE_WAREHOUSE": str(warehouse_dir()),
            "INTEGRITY_REDIS_URL": "127.0.0.1:6379",
        }
    )
    return {**defaults, **{k: v for k, v in os.environ.items() if v}}


def yaml_path(profile: str | None = None) -> Path:
    return feature_repo_dir() / PROFILES[profile_name(profile)]


def _raw_config(profile: str | None = None) -> dict:
    """The profile's YAML with its ``${VARS}`` filled in, as a mapping (Feast not imported)."""
    from integrity_risk.config.base import load_yaml

    path = yaml_path(profile)
    values = settings(profile)
    missing = sorted({m for m in _VAR.findall(path.read_text()) if m not in values})
    if missing:
        raise FeastSetupError(f"{path.name} needs environment variable(s) {', '.join(missing)}")
    return load_yaml(_VAR.sub(lambda m: values[m.group(1)], path.read_text()))


class _ServeWhileMaterializingWarning(logging.Filter):
    """Drops Feast's warning that ``serve_features_while_materializing`` does nothing on a
    file registry: Feast's serving check reads the flag from any registry, and the
    profiles set it so that reads go on while a view is being materialized.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "`serve_features_while_materializing` is enabled but `registry_type`" not in record.getMessage()


logging.getLogger("feast.repo_config").addFilter(_ServeWhileMaterializingWarning())


def load_config(profile: str | None = None) -> RepoConfig:
    """The ``RepoConfig`` of a profile, with its ``${VARS}`` filled in.

    :param profile: ``local``, ``local_redis`` or ``production``; default from the environment.
    """
    from feast import RepoConfig

    raw = _raw_config(profile)
    if profile_name(profile) != "production":
        feast_dir().mkdir(parents=True, exist_ok=True)
    config = RepoConfig(**raw)
    config.repo_path = feature_repo_dir()
    return config


def feature_store(profile: str | None = None) -> FeatureStore:
    """A ``FeatureStore`` for the chosen profile (no network or file access until used).

    :param profile: ``local``, ``local_redis`` or ``production``; default from the environment.
    """
    from feast import FeatureStore

    return FeatureStore(repo_path=str(feature_repo_dir()), config=load_config(profile))


# --- apply ------------------------------------------------------------------


def repo_files() -> list[Path]:
    """The files whose content defines the registry: the repo's Python and YAML."""
    return sorted(
        p
        for p in feature_repo_dir().rglob("*")
        if p.is_file() and p.suffix in {".py", ".yaml", ".yml"} and "__pycache__" not in p.parts
    )


def repo_fingerprint(profile: str | None = None) -> str:
    """A hash of the repo's files and of the settings they read (profile, warehouse).

    The same files pointed at another warehouse are another registry, so the
    settings are part of the hash; so is the layout of the project's online stores, whose
    tables an apply creates (a new layout is applied once, and the stores' ``update`` moves
    the tables to it).
    """
    digest, root = hashlib.sha256(), feature_repo_dir()
    for path in repo_files():
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"profile={profile_name(profile)}\0warehouse={warehouse_dir()}\0online={ONLINE_LAYOUT}".encode())
    return digest.hexdigest()


def _registry_path(raw: dict) -> str:
    registry = raw["registry"]
    return str(registry["path"] if isinstance(registry, dict) else registry)


def _fingerprint_path(registry_path: str, profile: str | None = None):
    """Beside the registry when it is a local file, else under the storage root, which every
    worker reads: a marker in one worker's own folder would make the next worker apply again.
    """
    registry = Path(registry_path)
    if "://" not in registry_path and registry.parent.exists():
        return registry.parent / FINGERPRINT_FILE
    from integrity_risk.storage import storage_root

    return storage_root() / "feast" / f"{profile_name(profile)}.{FINGERPRINT_FILE}"


def _read_marker(registry_path: str, profile: str | None = None) -> tuple[str | None, list[str] | None]:
    """The fingerprint the last apply recorded, and the views it registered (None when
    the marker predates that record).
    """
    marker = _fingerprint_path(registry_path, profile)
    lines = marker.read_text().splitlines() if marker.exists() else []
    return (lines[0].strip() if lines else None), (json.loads(lines[1]) if len(lines) > 1 else None)


def _local_registry_present(registry_path: str) -> bool:
    registry = Path(registry_path)
    return "://" not in registry_path and registry.is_file() and registry.stat().st_size > 0


class _RepoFinder(importlib.abc.MetaPathFinder):
    """Resolves the repo's module names, and only those, to the repo's files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, name, path=None, target=None):
        file = self.files.get(name) if path is None else None
        return importlib.util.spec_from_file_location(name, file) if file else None


def load_repo_modules(profile: str | None = None) -> dict[str, ModuleType]:
    """The repo's Python files, executed afresh for ``profile``: ``{"features": <module>, ...}``.

    The files are written to be run as ``feast apply`` runs them, from inside the folder:
    they import one another by bare name (``from features import ...``), and the data
    sources read the profile from the environment when imported. So for the time of the
    import, and only then, those names resolve to the repo's files (a finder answering for
    them alone; ``sys.path`` and the working directory stay as they are) and
    ``INTEGRITY_FEAST_PROFILE`` is ``profile``. Modules of the same names imported before
    (another ``features``) are put back afterwards.

    :param profile: ``local``, ``local_redis`` or ``production``; default from the environment.
    """
    name = profile_name(profile)
    files = {path.stem: path for path in sorted(feature_repo_dir().glob("*.py")) if path.name != "__init__.py"}
    finder = _RepoFinder(files)
    saved_env = os.environ.get("INTEGRITY_FEAST_PROFILE")
    shadowed = {module: sys.modules.pop(module) for module in files if module in sys.modules}
    os.environ["INTEGRITY_FEAST_PROFILE"] = name
    sys.meta_path.insert(0, finder)
    try:
        return {module: importlib.import_module(module) for module in files}
    finally:
        sys.meta_path.remove(finder)
        for module in files:
            sys.modules.pop(module, None)
        sys.modules.update(shadowed)
        if saved_env is None:
            os.environ.pop("INTEGRITY_FEAST_PROFILE", None)
        else:
            os.environ["INTEGRITY_FEAST_PROFILE"] = saved_env


def repo_objects(profile: str | None = None) -> list:
    """The Feast objects the repo defines for ``profile``, each once: what ``feast apply`` registers.

    Like ``feast apply``, every module-level object of a Feast kind counts, whatever its
    variable's name; one imported into another file is the same object and counts once.
    """
    from feast import Entity, FeatureService, FeatureView, LabelView, OnDemandFeatureView, Project
    from feast.data_source import DataSource
    from feast.permissions.permission import Permission

    kinds = (Project, DataSource, Entity, FeatureView, OnDemandFeatureView, LabelView, FeatureService, Permission)
    objects: list = []
    for module in load_repo_modules(profile).values():
        for value in vars(module).values():
            if isinstance(value, kinds) and not any(value is seen for seen in objects):
                objects.append(value)
    return objects


def _sources_of(objects: Sequence) -> set[str]:
    """Names of the data sources ``FeatureStore.apply`` registers with ``objects``: the
    repo's own and those its views and push or stream sources carry.
    """
    from feast import FeatureView, LabelView, OnDemandFeatureView
    from feast.data_source import DataSource

    sources = []
    for obj in objects:
        if isinstance(obj, DataSource):
            sources += [obj, getattr(obj, "batch_source", None)]
        elif isinstance(obj, FeatureView):
            sources += [obj.batch_source, obj.stream_source]
        elif isinstance(obj, OnDemandFeatureView):
            sources += list(obj.source_request_sources.values())
            sources += [p.batch_source for p in obj.source_feature_view_projections.values()]
        elif isinstance(obj, LabelView):
            sources += [obj.source, getattr(obj.source, "batch_source", None)]
    return {source.name for source in sources if source is not None}


def _removed_from_repo(store: FeatureStore, objects: Sequence[Any]) -> list[Any]:
    """The registered objects the repo no longer defines (``feast apply`` deletes them too)."""
    from feast import Entity, FeatureService, FeatureView, LabelView, OnDemandFeatureView, StreamFeatureView
    from feast.permissions.permission import Permission

    def names(kind: Any, but: Any = ()) -> set[str]:
        return {o.name for o in objects if isinstance(o, kind) and not isinstance(o, but)}

    registered: list[tuple[Sequence[Any], set[str]]] = [
        (store.list_data_sources(), _sources_of(objects)),
        (store.list_entities(), names(Entity)),
        (store.list_feature_views(), names(FeatureView, but=StreamFeatureView)),
        (store.list_stream_feature_views(), names(StreamFeatureView)),
        (store.list_on_demand_feature_views(), names(OnDemandFeatureView)),
        (store.list_label_views(), names(LabelView)),
        (store.list_feature_services(), names(FeatureService)),
        (store.list_permissions(), names(Permission)),
    ]
    return [o for listed, kept in registered for o in listed if o.name not in kept]


def apply_repo(profile: str | None = None, force: bool = False) -> dict:
    """``feast apply`` of ``feature_repo/``, skipped when neither the repo nor its settings changed.

    Registers every object the repo defines and deletes from the registry the objects
    removed from the repo, as the ``feast apply`` CLI does, through Feast's public
    ``FeatureStore.apply`` (one registry commit, written whole by the registry store).

    :param profile: ``local``, ``local_redis`` or ``production``; default from the environment.
    :param force: apply even when the fingerprint matches.
    :return: ``{"applied": bool, "fingerprint": str, "feature_views": [...]}``.
    """
    name = profile_name(profile)
    fingerprint = repo_fingerprint(name)
    registry_path = _registry_path(_raw_config(name))
    current, views = _read_marker(registry_path, name)
    # Every risk DAG run asks: answer an unchanged local registry without importing Feast (seconds).
    if not force and current == fingerprint and views and _local_registry_present(registry_path):
        return {"applied": False, "fingerprint": fingerprint, "feature_views": views}

    from feast import FeatureView, Project

    store = feature_store(name)
    registered = _registered_view_names(store)
    if not force and current == fingerprint and registered:
        views = sorted(registered)
        applied = False
    else:
        objects = repo_objects(name)
        if not any(isinstance(o, Project) for o in objects):
            objects.append(Project(name=store.project))
        # What `feast apply` checks first: each view's offline source exists and is readable.
        for view in objects:
            if isinstance(view, FeatureView) and view.batch_source is not None:
                view.batch_source.validate(store.config)
        removed = _removed_from_repo(store, objects)
        if removed:
            logger.info(
                "Removed from the repo, deleted from the registry: %s",
                ", ".join(f"{type(o).__name__} {o.name}" for o in removed),
            )
        store.apply(objects, objects_to_delete=removed, partial=False)
        views = sorted(_registered_view_names(feature_store(name)))
        applied = True
    marker = _fingerprint_path(registry_path, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(marker, Path):
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(f"{fingerprint}\n{json.dumps(views)}\n")
        tmp.replace(marker)
    else:  # an object store writes an object whole
        marker.write_text(f"{fingerprint}\n{json.dumps(views)}\n")
    return {"applied": applied, "fingerprint": fingerprint, "feature_views": views}


def _registered_view_names(store: FeatureStore) -> set[str]:
    try:
        return {fv.name for fv in store.list_all_feature_views()}
    except Exception:  # no registry yet: nothing is registered
        return set()


# --- resolving names ----------------------------------------------------------


def resolve_feature_views(
    store: FeatureStore,
    feature_views: Sequence[str] | None = None,
    feature_service: str | None = None,
) -> list[str]:
    """The materializable (batch) feature views named directly or through a service.

    :raises FeatureViewNotFound: naming each view or the service not in the registry.
    """
    if bool(feature_views) == bool(feature_service):
        raise ValueError("give exactly one of feature_views or feature_service")
    batch = {fv.name for fv in store.list_feature_views()}
    on_demand = {fv.name for fv in store.list_on_demand_feature_views()}
    if feature_service:
        service = get_feature_service(store, feature_service)
        names = [p.name for p in service.feature_view_projections]
        return [n for n in names if n in batch]
    missing = [n for n in feature_views or () if n not in batch]
    if missing:
        raise FeatureViewNotFound(
            f"feature view(s) {', '.join(missing)} not in the Feast repo "
            f"(registered: {', '.join(sorted(batch | on_demand)) or 'none'}); "
            "add it to feature_repo/features.py and run feast apply"
        )
    return list(feature_views or ())


def get_feature_service(store: FeatureStore, name: str, allow_cache: bool = False):
    """The registered feature service ``name``, or a clear error listing those that exist.

    :param allow_cache: accept the registry as cached by ``store`` (up to its
        ``cache_ttl_seconds`` old): what the online path wants, instead of a registry read.
    """
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name, allow_cache=allow_cache)
    except FeatureServiceNotFoundException:
        services = sorted(fs.name for fs in store.list_feature_services())
        raise FeatureViewNotFound(
            f"feature service {name!r} not in the Feast repo "
            f"(registered: {', '.join(services) or 'none'}); "
            "add it to feature_repo/feature_services.py and run feast apply"
        ) from None


def feature_service_version(store: FeatureStore, name: str) -> str:
    """A content hash of what a service serves: its views, their fields and types.

    Stable across ``feast apply`` runs that change nothing the model reads, and
    different as soon as a feature, type or view of the service changes.
    """
    service = get_feature_service(store, name)
    spec = []
    for projection in sorted(service.feature_view_projections, key=lambda p: p.name):
        fields = sorted((f.name, str(f.dtype)) for f in projection.features)
        spec.append([projection.name, fields])
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def feature_refs(store: FeatureStore, feature_service: str, allow_cache: bool = False) -> list[str]:
    """The service's features as Feast full names, ``<view>__<feature>``, in service order."""
    return service_feature_refs(get_feature_service(store, feature_service, allow_cache))


def service_feature_refs(service) -> list[str]:
    """The features of a ``FeatureService`` object as ``<view>__<feature>``."""
    return [f"{p.name_to_use()}__{f.name}" for p in service.feature_view_projections for f in p.features]


# --- materialization ---------------------------------------------------------


def materialized_until(store: FeatureStore, view: str) -> datetime | None:
    """The latest end of the windows already materialized for ``view`` (registry record)."""
    intervals = store.get_feature_view(view).materialization_intervals
    ends = [e if e.tzinfo else e.replace(tzinfo=UTC) for _, e in intervals]
    return max(ends, default=None)


def check_offline_sources(store: FeatureStore, feature_views: Sequence[str]) -> None:
    """Fail naming the table when a local view's parquet folder holds no data file yet.

    (Feast's file store would fail deep inside dask with a message about no files.)
    """
    from feast import FileSource

    for view in feature_views:
        source = store.get_feature_view(view).batch_source
        if isinstance(source, FileSource) and "://" not in source.path:
            # The path is the table's partition files (feature_repo/data_sources.py), or its folder.
            folder, _, partitions = source.path.partition("/ds=")
            root = Path(folder)
            files = root.glob(f"ds={partitions}" if partitions else "ds=*/*")
            if not any(f.is_file() and not f.name.startswith((".", "_")) for f in files):
                raise FeastSetupError(
                    f"feature view {view}: no partition of its table under {root} "
                    "(has the extract run? is INTEGRITY_FEATURE_WAREHOUSE the extract's warehouse?)"
                )


def materialize_window(
    store: FeatureStore,
    feature_views: Sequence[str],
    start: datetime,
    end: datetime,
    overlap: timedelta = timedelta(hours=6),
    chunk: timedelta = timedelta(days=7),
) -> dict:
    """Load the rows with ``start - overlap <= feature_ts <= end`` of each view online.

    Not "everything up to now": a backfill of an old day reads that day. The online
    store must still end up with each account's *newest* values. The project's online
    stores and Feast's Redis store skip a row older than the one they hold
    (``keep_newest_online``), so an old day costs that day only. Where that does not hold
    (another store) the window is extended to the latest end already materialized: the
    re-run rewrites the same newest values (idempotent) instead of rolling the accounts
    back to the old day. Long windows go in chunks, oldest first, because
    materialization reads its window into memory.

    :param feature_views: names of batch feature views (see ``resolve_feature_views``).
    :param start: start of the run's data interval (UTC, tz-aware).
    :param end: end of the run's data interval.
    :param overlap: read this much before ``start`` too, for rows that arrived late.
    :param chunk: the longest window materialized in one call.
    :return: per view, the windows materialized.
    :raises OnlineStoreUnavailable: the online store cannot be reached; names its address.
    """
    if end <= start:
        raise ValueError(f"empty materialization window: start {start} is not before end {end}")
    if chunk <= timedelta(0):
        raise ValueError("chunk must be positive")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"materialization window needs tz-aware UTC times, got {start!r}, {end!r}")
    check_offline_sources(store, feature_views)
    newest_wins = keep_newest_online(store, feature_views)
    done: dict[str, list[list[str]]] = {}
    for view in feature_views:
        until = None if view in newest_wins else materialized_until(store, view)
        window_end = max(end, until) if until is not None else end
        windows = []
        cursor = start - overlap
        while cursor < window_end:
            upper = min(cursor + chunk, window_end)
            _materialize_chunk(store, view, cursor, upper)
            windows.append([cursor.isoformat(), upper.isoformat()])
            cursor = upper
        done[view] = windows
    return done


def keep_newest_online(store: FeatureStore, feature_views: Sequence[str]) -> set[str]:
    """The views whose online rows can only move forward in time.

    The project's stores (``online_stores``) write a row only when its event time is not
    older than the stored one, and Feast's Redis store skips older rows too. Feast's own
    SQLite store overwrites blindly: its views are left out.
    """
    from integrity_risk.features.online_stores import SqliteOnlineStoreConfig

    newest_wins = online_store_kind(store.config) == "redis" or isinstance(
        store.config.online_store, SqliteOnlineStoreConfig
    )
    return set(feature_views) if newest_wins else set()


def online_store_kind(config: RepoConfig) -> str:
    """``sqlite``, ``redis`` (Feast's stores or the project's subclasses of them), or the configured type."""
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    online = config.online_store
    if isinstance(online, SqliteOnlineStoreConfig):
        return "sqlite"
    if isinstance(online, RedisOnlineStoreConfig):
        return "redis"
    return str(getattr(online, "type", type(online).__name__))


def _materialize_chunk(store: FeatureStore, view: str, start: datetime, end: datetime) -> None:
    """``store.materialize`` of one window; an unreachable online store fails naming its address.

    (Feast passes on the client's error, e.g. redis-py's "Connection closed by server.",
    which names neither the service nor where it is.) Rows are upserts keyed by account,
    so the windows already written stay, and the retry rewrites this one.
    """
    try:
        store.materialize(start, end, feature_views=[view])
    except Exception as err:
        if not _connection_error(err):
            raise
        raise OnlineStoreUnavailable(
            f"Feast online store {online_store_address(store.config)} is unreachable while materializing "
            f"{view} for [{start.isoformat()}, {end.isoformat()}]: {type(err).__name__}: {err}"
        ) from err


def _connection_error(err: Exception) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
    except ImportError:  # the Redis client is installed only where a profile uses it
        return isinstance(err, (ConnectionError, TimeoutError))
    return isinstance(err, (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError))


def online_store_address(config: RepoConfig) -> str:
    """The online store of ``config`` for messages: ``redis at host:port``, ``sqlite at <path>``.

    A Redis password (``host:port,password=...``) is left out.
    """
    online = config.online_store
    kind = online_store_kind(config)
    if kind == "redis":
        return "redis at " + ",".join(p for p in online.connection_string.split(",") if "=" not in p)
    path = getattr(online, "path", None)
    return f"{kind} at {path}" if path else str(kind)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_risk.features.feast_store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["apply", "config"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None)
    parser.add_argument("--force", action="store_true", help="apply even if the repo did not change")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except FeastSetupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "apply":
        print(json.dumps(apply_repo(args.profile, force=args.force), indent=2))
    else:
        config = load_config(args.profile)
        print(f"profile:  {profile_name(args.profile)} ({yaml_path(args.profile).name})")
        print(f"registry: {config.registry.path}")
        print(f"online:   {config.online_store.type}")
        print(f"offline:  {config.offline_store.type}")
        print(f"warehouse: {warehouse_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
