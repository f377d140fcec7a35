"""Where the project's files and its local state live.

Each is read from the environment when asked for, not when this module is imported,
so a process (a test, a worker) that points ``INTEGRITY_PROJECT_DIR`` or
``INTEGRITY_RISKS_DIR`` elsewhere gets that folder from every part of the library.
"""

from __future__ import annotations

import os
from pathlib import Path

# An editable install (the embedded default) finds the project above src/.
_EDITABLE_ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The deployment's folder with include/, dags/ and feature_repo/ (env ``INTEGRITY_PROJECT_DIR``;
    an image that installs the package sets it).
    """
    return Path(os.environ.get("INTEGRITY_PROJECT_DIR") or _EDITABLE_ROOT)


def include_dir() -> Path:
    return project_root() / "include"


def hql_dir() -> Path:
    """The HiveQL files: ``include/hql``."""
    return include_dir() / "hql"


def feature_repo_dir() -> Path:
    """The Feast repo: ``feature_repo/``."""
    return project_root() / "feature_repo"


def local_dir() -> Path:
    """The embedded default's state folder (ignored by git): warehouse, stores, logs."""
    path = Path(os.environ.get("INTEGRITY_LOCAL_DIR", project_root() / ".local")).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def risks_dir() -> Path:
    """Where the risk YAMLs live (env ``INTEGRITY_RISKS_DIR`` overrides, for tests)."""
    return Path(os.environ.get("INTEGRITY_RISKS_DIR", include_dir() / "risks"))


_CONSTANTS = {"PROJECT_ROOT": project_root, "INCLUDE_DIR": include_dir, "HQL_DIR": hql_dir}


def __getattr__(name: str) -> Path:
    # PROJECT_ROOT, INCLUDE_DIR and HQL_DIR as before, but read when imported, not frozen
    # at this module's import: `from integrity_risk.paths import HQL_DIR` inside a function
    # sees the environment of that call.
    if name in _CONSTANTS:
        return _CONSTANTS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
