"""Where the project's files and its local state live."""

from __future__ import annotations

import os
from pathlib import Path

# The deployment's folder with include/, dags/ and feature_repo/. An editable install (the
# embedded default) finds it above src/; an image that installs the package sets it.
PROJECT_ROOT = Path(os.environ.get("INTEGRITY_PROJECT_DIR") or Path(__file__).resolve().parents[2])
INCLUDE_DIR = PROJECT_ROOT / "include"
HQL_DIR = INCLUDE_DIR / "hql"


def local_dir() -> Path:
    """The embedded default's state folder (ignored by git): warehouse, stores, logs."""
    path = Path(os.environ.get("INTEGRITY_LOCAL_DIR", PROJECT_ROOT / ".local")).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def risks_dir() -> Path:
    """Where the risk YAMLs live (env ``INTEGRITY_RISKS_DIR`` overrides, for tests)."""
    return Path(os.environ.get("INTEGRITY_RISKS_DIR", INCLUDE_DIR / "risks"))
