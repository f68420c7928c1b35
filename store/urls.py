"""Which backend a TARGET names: the one place that tells a PostgreSQL URL from a SQLite path.

Kept apart from store/postgres.py so that asking needs no psycopg.
"""
from __future__ import annotations

import os
from typing import Any

#: Where a TARGET comes from when none is given, first set wins (DATABASE_URL: the usual name on
#: hosted platforms, for teams on PostgreSQL).
TARGET_ENV_VARS = ("AGENTTUI_DB", "DATABASE_URL")

#: The URL schemes PostgreSQL's own clients accept (libpq takes both).
POSTGRES_URL_PREFIXES = ("postgresql://", "postgres://")
#: SQLAlchemy-style prefix for a SQLite file, accepted for convenience.
SQLITE_URL_PREFIX = "sqlite:///"


def is_postgres_url(target: Any) -> bool:
    """True when `target` is a postgresql:// (or postgres://) URL rather than a file path."""
    return isinstance(target, str) and target.startswith(POSTGRES_URL_PREFIXES)


def sqlite_path(target: str) -> str:
    """The file path a SQLite TARGET names (a `sqlite:///path` URL or the path itself)."""
    return target[len(SQLITE_URL_PREFIX):] if target.startswith(SQLITE_URL_PREFIX) else target


def target_from_env() -> str | None:
    """The TARGET the environment names ($AGENTTUI_DB, else $DATABASE_URL), or None."""
    for name in TARGET_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    return None
