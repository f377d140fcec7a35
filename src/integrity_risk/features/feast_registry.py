"""Feast's file registry, written so that no reader or crash ever meets half a file.

Feast's ``FileRegistryStore`` rewrites the registry file in place: it truncates the file,
then writes. A reader in between (the online DAG of another risk, a training set) parses
an empty or partial registry, and a task killed in between leaves one behind, after which
every Feast call fails until someone runs ``feast apply`` again and the materialization
record is gone. This store writes a new file beside it and renames it over the old one,
which POSIX makes atomic. Object-store registries (``s3://``, ``gs://``) replace an
object whole already and do not need it.

Select it in ``feature_store.yaml``::

    registry:
      path: ${INTEGRITY_FEAST_DIR}/registry.db
      registry_store_type: integrity_risk.features.feast_registry.AtomicFileRegistryStore
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from feast.infra.registry.file import FileRegistryStore

if TYPE_CHECKING:
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto


class AtomicFileRegistryStore(FileRegistryStore):
    """A local-file registry store whose every update replaces the file whole."""

    def update_registry_proto(self, registry_proto: RegistryProto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(datetime.now(UTC))
        # The parent's own resolved path (it has no public accessor), so that the writes land
        # where its get_registry_proto reads.
        target = self._filepath
        target.parent.mkdir(parents=True, exist_ok=True)
        # Writers take turns (the `feast` pool); the name keeps a crashed writer's file apart.
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            with open(partial, "wb") as f:
                f.write(registry_proto.SerializeToString())
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        # The rename is durable only once the folder is.
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
