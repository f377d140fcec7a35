"""Validated values: what may be placed into SQL text or a path, checked in one place.

Every day, table name and risk type that reaches HiveQL passes one of these checks
first; that is what keeps a templated or user-supplied value from injecting SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

#: A day as ``YYYY-MM-DD`` (the shape only; :func:`parse_ds` also checks the calendar).
DS_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: A table as ``database.table``, plain identifiers only.
TABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
#: A plain SQL identifier: a column, a partition key, a session variable.
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A risk type's name: lower_snake_case, 2-49 characters (also the YAML file's stem).
RISK_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,48}$")


def parse_ds(ds: Any) -> dt.date:
    """Return ``ds`` as a date, or raise ``ValueError`` unless it is a real ``YYYY-MM-DD`` day.

    :param ds: the day, e.g. ``"2026-03-02"``.
    """
    if not isinstance(ds, str) or not DS_PATTERN.match(ds):
        raise ValueError(f"ds must be a day as YYYY-MM-DD, got {ds!r}")
    try:
        return dt.date.fromisoformat(ds)
    except ValueError:
        raise ValueError(f"ds {ds!r} is not a real calendar day") from None


def check_table_name(name: Any) -> str:
    """Return ``name`` if it is a plain ``database.table`` identifier, else raise ``ValueError``."""
    if not isinstance(name, str) or not TABLE_PATTERN.match(name):
        raise ValueError(f"expected a table as database.table (letters, digits, _), got {name!r}")
    return name


def check_identifier(name: Any, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier (letters, digits, _), else raise ``ValueError``.

    :param what: what the name is, for the message (``"column"``, ``"sql_vars name"``).
    """
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.match(name):
        raise ValueError(f"{what} {name!r} must be an identifier (letters, digits, _)")
    return name


def check_risk_type(name: Any) -> str:
    """Return ``name`` if it is a valid risk type name (lower_snake_case), else raise ``ValueError``."""
    if not isinstance(name, str) or not RISK_TYPE_PATTERN.match(name):
        raise ValueError(f"a risk type is lower_snake_case, 2-49 characters, got {name!r}")
    return name
