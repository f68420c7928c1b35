"""What the inspector can be pointed at: a SQLite file (or folder of them) or a PostgreSQL URL.

The app and its workers open stores through `open_reader`, and pick the change signal through
`watcher_for`, so the rest of the TUI does not care which backend it reads. The PostgreSQL side
(psycopg and the LISTEN watcher) is imported only for a URL: opening a file costs what it did.
"""
from __future__ import annotations

import os
from typing import Any, Callable
from urllib.parse import urlsplit

from agenttui.store import SQLiteStore

from .watcher import Change, StoreWatcher

URL_PREFIXES = ("postgresql://", "postgres://")


def is_url(target: object) -> bool:
    """True for a postgresql:// (or postgres://) URL, the one kind of target that is not a path."""
    return isinstance(target, str) and target.startswith(URL_PREFIXES)


def resolve(target: str | os.PathLike[str]) -> str:
    """The target as the app keeps it: a URL verbatim, a path made absolute."""
    text = os.fspath(target)
    return text if is_url(text) else os.path.abspath(text)


def display_name(target: str | None) -> str:
    """What messages call the store: the file's name, or the URL without its password (or options)."""
    if not target:
        return ""
    if is_url(target):
        try:
            from agenttui.store.postgres import display_url
        except ImportError:  # no psycopg: opening will say so; the name must still hide the password
            parts = urlsplit(target)
            return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}" if parts.netloc else parts.scheme
        try:
            return display_url(target)
        except Exception:  # an unparsable URL: say so without echoing it (it may hold a password)
            return "postgresql://(invalid URL)"
    return os.path.basename(target)


def open_reader(target: str, **sqlite_options: Any) -> Any:
    """A read-only store on the target; `sqlite_options` (busy_timeout_ms, ...) apply to files only.

    A PostgreSQL reader keeps a small pool: the inspector's queries are few and one at a time.
    """
    if is_url(target):
        from agenttui.store.postgres import PostgresStore

        return PostgresStore(target, readonly=True, pool_size=2)
    return SQLiteStore(target, readonly=True, **sqlite_options)


def watcher_for(target: str, on_change: Callable[[Change], None], *, poll_interval: float,
                use_file_events: bool) -> Any:
    """The live change signal for the target: file events for a file, LISTEN/NOTIFY for a URL.

    use_file_events=False means "poll instead of waiting for the backend's signal" on both.
    """
    if is_url(target):
        from .notify_watcher import NotifyWatcher

        return NotifyWatcher(target, on_change, poll_interval=poll_interval, use_notify=use_file_events)
    return StoreWatcher(target, on_change, poll_interval=poll_interval, use_file_events=use_file_events)
