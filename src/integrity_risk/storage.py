"""The storage root: where what crosses tasks and machines lies (``file://``, ``s3://``, ``gs://``, ``hdfs://``).

A task on one worker must never hand another component a path on its own disk: the
HiveServer2, the next task's worker and the reviewer's report server do not see it. What
crosses goes under this root, through Airflow's ``ObjectStoragePath``, so the same code runs
on the embedded default (a folder, ``file://``) and at scale (a bucket or HDFS, reached with
the Airflow connection ``INTEGRITY_STORAGE_CONN_ID``).
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

ROOT_ENV = "INTEGRITY_STORAGE_ROOT"
CONN_ENV = "INTEGRITY_STORAGE_CONN_ID"


def storage_root() -> ObjectStoragePath:
    """``$INTEGRITY_STORAGE_ROOT`` (a URL), else ``file://<local dir>/storage`` on the embedded default.

    :raises ValueError: the root is a bare path, not a URL: the scheme says which store it is.
    """
    from airflow.sdk import ObjectStoragePath

    from integrity_risk.paths import local_dir

    url = os.environ.get(ROOT_ENV) or (local_dir() / "storage").as_uri()
    if "://" not in url:
        raise ValueError(f"{ROOT_ENV}={url!r} must be a URL such as file:///srv/integrity, s3://bucket/integrity")
    return ObjectStoragePath(url, conn_id=os.environ.get(CONN_ENV) or None)


def staging_dir(purpose: str) -> ObjectStoragePath:
    """A new, empty folder ``<root>/staging/<purpose>/<unique>`` for one hand-off; the caller removes it."""
    path = storage_root() / "staging" / purpose / uuid.uuid4().hex
    path.mkdir(parents=True, exist_ok=True)
    return path
