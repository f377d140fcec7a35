"""The storage root: where what crosses tasks and machines lies (``file://``, ``s3://``, ``gs://``, ``hdfs://``).

A task on one worker must never hand another component a path on its own disk: the
HiveServer2, the next task's worker and the reviewer's report server do not see it. What
crosses goes under this root, through Airflow's ``ObjectStoragePath``, so the same code runs
on the embedded default (a folder, ``file://``) and at scale (a bucket or HDFS, reached with
the Airflow connection ``INTEGRITY_STORAGE_CONN_ID``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow.sdk import ObjectStoragePath

ROOT_ENV = "INTEGRITY_STORAGE_ROOT"
CONN_ENV = "INTEGRITY_STORAGE_CONN_ID"


def storage_root() -> ObjectStoragePath:
    """``$INTEGRITY_STORAGE_ROOT`` (a URL), else ``file://<local dir>/storage`` on the embedded default.

    :raises ValueError: the root is a bare path, not a URL: the scheme says which store it is.
    """
    from integrity_risk.paths import local_dir

    url = os.environ.get(ROOT_ENV) or (local_dir() / "storage").as_uri()
    if "://" not in url:
        raise ValueError(f"{ROOT_ENV}={url!r} must be a URL such as file:///srv/integrity, s3://bucket/integrity")
    return as_storage_path(url)


def staging_dir(purpose: str) -> ObjectStoragePath:
    """A new, empty folder ``<root>/staging/<purpose>/<unique>`` for one hand-off; the caller removes it."""
    path = storage_root() / "staging" / purpose / uuid.uuid4().hex
    path.mkdir(parents=True, exist_ok=True)
    return path


def as_storage_path(location: str | os.PathLike | ObjectStoragePath) -> ObjectStoragePath:
    """A URL (``file://``, ``s3://``...) or a bare path (a folder of this machine) as an ``ObjectStoragePath``;
    an ``ObjectStoragePath`` as it is.
    """
    from pathlib import Path

    from airflow.sdk import ObjectStoragePath

    if not isinstance(location, (str, os.PathLike)):
        return location
    text = str(location)
    if "://" not in text:
        return ObjectStoragePath(Path(text).absolute().as_uri())
    return ObjectStoragePath(text, conn_id=os.environ.get(CONN_ENV) or None)


def local_path(location: str | os.PathLike | ObjectStoragePath) -> Path | None:
    """The folder of this machine a location is, or None when it is remote (``s3://``, ``hdfs://``...).

    Imports no Airflow for a path or a URL: the trainer's process calls it, and a task's
    subprocess has no metadata database to configure Airflow with.
    """
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    if not isinstance(location, (str, os.PathLike)):
        return Path(location.path) if location.protocol in ("file", "local") else None
    text = str(location)
    if "://" not in text:
        return Path(text).absolute()
    url = urlparse(text)
    return Path(unquote(url.path)) if url.scheme in ("file", "local") else None


@contextlib.contextmanager
def local_copy(location: str | os.PathLike) -> Iterator[Path]:
    """The folder at ``location`` on this machine's disk, for code that reads files by path.

    A ``file://`` root is a mount every machine shares: its folder is used in place. A remote
    one is downloaded into a temporary folder, removed afterwards, with ``fsspec`` (what
    ``ObjectStoragePath`` uses) and the credentials of this process's environment: the
    trainer runs as a process of its own, without Airflow's connections.
    """
    import tempfile
    from pathlib import Path

    here = local_path(location)
    if here is not None:
        yield here
        return
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(location))
    with tempfile.TemporaryDirectory(prefix="integrity_copy_") as tmp:
        fs.get(root.rstrip("/") + "/", tmp, recursive=True)
        yield Path(tmp)


def publish_dir(folder: Path, dest: ObjectStoragePath, commit_file: str | None = None) -> None:
    """Put the files of a finished local ``folder`` at ``dest``, replacing what was there, never half-written.

    On a ``file://`` root the folder is copied next to ``dest`` and renamed into place (a
    rename is atomic). On an object store, where nothing renames a folder, the old objects go
    first and ``commit_file`` (the manifest) is written last: a reader that requires it never
    reads a set whose other files are still arriving.
    """
    import shutil

    here = local_path(dest)
    if here is not None:
        here.parent.mkdir(parents=True, exist_ok=True)
        tmp = here.parent / f".{here.name}.tmp-{uuid.uuid4().hex[:8]}"
        shutil.copytree(folder, tmp)
        try:
            if here.exists():
                old = here.parent / f".{here.name}.old-{uuid.uuid4().hex[:8]}"
                here.rename(old)
                tmp.rename(here)
                shutil.rmtree(old)
            else:
                tmp.rename(here)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    if dest.exists():
        dest.rmdir(recursive=True)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: p.name == commit_file):
        target = dest / str(path.relative_to(folder))
        with target.open("wb") as out:
            out.write(path.read_bytes())
