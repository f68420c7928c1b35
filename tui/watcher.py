"""The live change signal for a SQLite store file.

A writer's commit lands in the `-wal` file next to the database, so the watcher watches the
database's *folder* (watchfiles, inotify on Linux) and treats any change to `run.db*` as a hint.
The hint is confirmed cheaply with `PRAGMA data_version` on the watcher's own read-only
connection, then the new events are read with `read_after(last_position)` and handed to the
`on_change` callback (which posts a Textual message; `post_message` is thread-safe).

The watcher also notices the file appearing, disappearing and being replaced (a new inode), and
wakes every `poll_interval` seconds even without a file event, so it keeps working where file
watching is unavailable (network filesystems, inotify limits): then it is a 250 ms poll.
"""
from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from agenttui.store import Event, NotAStoreError, SchemaError, SQLiteStore

#: events: new events; appeared/replaced/deleted: the file itself; unusable: it cannot be opened as a
#: store (not SQLite, newer schema); problem: a transient failure (locked), retried on the next wake.
ChangeKind = Literal["events", "appeared", "replaced", "deleted", "unusable", "problem"]

#: Events handed over per callback: a writer's huge burst arrives as several bounded batches.
BATCH = 5000


@dataclass
class Change:
    """What the watcher saw. `events` for kind="events"; `message` explains the others."""

    kind: ChangeKind
    events: list[Event] = field(default_factory=list)
    message: str = ""
    last_position: int = 0


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_size == 0:
        return None  # a writer has created but not yet initialised it
    return (st.st_dev, st.st_ino)


class FollowerThread(ABC):
    """What both watchers share (this file's and tui/notify_watcher.py's): one daemon thread that
    `poke()` wakes early and `stop()` ends, closing the watcher's own store connection."""

    _thread_name = "agenttui-watcher"
    _stop: threading.Event
    _wake: threading.Event
    _thread: threading.Thread | None
    _lock: threading.Lock
    _store: Any

    def _spawn(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Check soon (tests and the app's own refresh use it)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with self._lock:
            self._close_store()

    @abstractmethod
    def _run(self) -> None:
        """The thread's loop (each watcher has its own wake-up)."""

    def _close_store(self) -> None:
        """Close the watcher's own store connection, if open (a broken one may fail to close)."""
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                pass
            self._store = None


class StoreWatcher(FollowerThread):
    """Follows one database file from a background thread; see the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_change: Callable[[Change], None],
        *,
        poll_interval: float = 0.25,
        use_file_events: bool = True,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.on_change = on_change
        self.poll_interval = poll_interval
        self.use_file_events = use_file_events
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: SQLiteStore | None = None
        self._file_id: tuple[int, int] | None = None
        self._last_position: int | None = None
        self._data_version: int | None = None
        self._unusable_reported = ""
        self._lock = threading.Lock()
        #: "inotify" while file events work, "poll" after falling back
        self.mode = "starting"

    # ---------------------------------------------------------------------------- control
    def start(self, from_position: int | None) -> None:
        """Start following. from_position: the last position the caller has already read
        (None when the file is not open yet: the watcher reports "appeared" when it is)."""
        with self._lock:
            self._last_position = from_position
            self._file_id = _file_id(self.path) if from_position is not None else None
        self._spawn()

    def follow_from(self, position: int) -> None:
        """Re-anchor after the caller reopened the file (it has read up to `position`)."""
        with self._lock:
            self._close_store()
            self._last_position = position
            self._file_id = _file_id(self.path)
            self._data_version = None
        self._wake.set()

    # ---------------------------------------------------------------------------- thread
    def _run(self) -> None:
        self.check()
        if self.use_file_events and self._watch_files():
            return
        self.mode = "poll"
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.check()

    def _watch_files(self) -> bool:
        """Wake on file events; True when stopped normally, False to fall back to polling."""
        folder = os.path.dirname(self.path)
        name = os.path.basename(self.path)
        if not os.path.isdir(folder):
            return False
        try:
            from watchfiles import watch
        except ImportError:  # pragma: no cover - watchfiles is a dependency
            return False

        def relevant(_change: object, changed: str) -> bool:
            return os.path.basename(changed).startswith(name)

        try:
            self.mode = "inotify"
            # step/debounce in ms: a commit is reported after one quiet 2 ms step, at most 10 ms
            # late under a continuous stream (the commit-to-screen budget is 50 ms; 5/25 cost a
            # third of it); the timeout makes it poll even without file events.
            for _ in watch(folder, watch_filter=relevant, debounce=10, step=2, stop_event=self._stop,
                           rust_timeout=int(self.poll_interval * 1000), yield_on_timeout=True,
                           recursive=False, raise_interrupt=False):
                if self._stop.is_set():
                    return True
                self._wake.clear()
                self.check()
                if self._wake.is_set():
                    self._wake.clear()
                    self.check()
            return True
        except Exception:  # inotify unavailable or limits reached: poll instead
            return False

    # ---------------------------------------------------------------------------- one check
    def check(self) -> None:
        """Look once: file state, then new events. Runs on the watcher thread (or a test's)."""
        with self._lock:
            changes = self._check_locked()
        for change in changes:
            if self._stop.is_set():
                return
            self.on_change(change)

    def _check_locked(self) -> list[Change]:
        fid = _file_id(self.path)
        if fid is None:
            if self._file_id is not None or self._store is not None:
                self._close_store()
                self._file_id = None
                self._data_version = None
                self._last_position = None  # a file that comes back is a new log: report it as appeared
                return [Change("deleted", message=f"{self.path} was deleted; waiting for it to come back")]
            return []
        if self._file_id is not None and fid != self._file_id:
            self._close_store()
            self._file_id = fid
            self._data_version = None
            self._last_position = None
            return [Change("replaced", message=f"{self.path} was replaced by a new file; reopened it")]
        if self._store is None:
            try:
                self._store = SQLiteStore(self.path, readonly=True)
            except FileNotFoundError:
                return []
            except (NotAStoreError, SchemaError) as exc:
                text = str(exc)
                if "no schema" in text:  # a writer is creating it right now
                    return []
                if text != self._unusable_reported:
                    self._unusable_reported = text
                    return [Change("unusable", message=text)]
                return []
            except Exception as exc:  # locked beyond the busy timeout, permissions, ...
                return self._problem(f"{self.path}: {exc}")
            self._unusable_reported = ""
            if self._file_id is None:
                self._file_id = fid
                if self._last_position is None:
                    return [Change("appeared", message=f"{self.path} appeared")]
        if self._last_position is None:
            return []  # the caller has not anchored us yet (it is opening the file)
        store = self._store
        try:
            version = store.data_version()
            if version == self._data_version:
                return []
            self._data_version = version
            out: list[Change] = []
            while True:
                batch = store.read_after(self._last_position, limit=BATCH)
                if not batch:
                    break
                self._last_position = batch[-1].position or self._last_position
                out.append(Change("events", events=batch, last_position=self._last_position))
                if len(batch) < BATCH:
                    break
            return out
        except Exception as exc:
            # "database is locked" beyond the busy timeout or a file swapped under us: try again
            self._close_store()
            self._data_version = None
            return self._problem(f"{self.path}: {exc}")

    def _problem(self, message: str) -> list[Change]:
        if message == self._unusable_reported:
            return []
        self._unusable_reported = message
        return [Change("problem", message=message)]

