"""What the inspector can be pointed at: a SQLite file (or folder of them) or a PostgreSQL URL.

The inspector's readers open stores through `open_store_reader` (see reader.py), and follow them through `follower_for`
(the store's one follower), so the rest of the TUI does not care which backend it reads. The
PostgreSQL side (psycopg, LISTEN/NOTIFY) is imported only for a URL: opening a file costs what it did.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from agenttui.store import SQLiteStore
from agenttui.store.follow import Change, StoreFollower, display_name, is_url

__all__ = ["Change", "display_name", "follower_for", "is_url", "open_store_reader", "resolve"]


def resolve(target: str | os.PathLike[str]) -> str:
    """The target as the app keeps it: a URL verbatim, a path made absolute."""
    text = os.fspath(target)
    return text if is_url(text) else os.path.abspath(text)


def open_store_reader(target: str, **sqlite_options: Any) -> Any:
    """A read-only store on the target; `sqlite_options` (busy_timeout_ms, ...) apply to files only.

    A PostgreSQL reader keeps a small pool: the inspector's queries are few and one at a time.
    """
    if is_url(target):
        from agenttui.store.postgres import PostgresStore

        return PostgresStore(target, readonly=True, pool_size=2)
    return SQLiteStore(target, readonly=True, **sqlite_options)


def follower_for(target: str, on_change: Callable[[Change], None], *, poll_interval: float,
                 use_signal: bool) -> StoreFollower:
    """The store's follower for the target, opening its own reader the way the inspector does.

    use_signal=False means "poll instead of waiting for the backend's signal" on both backends.
    """
    return StoreFollower(target, on_change, poll_interval=poll_interval, use_signal=use_signal,
                         opener=open_store_reader)
