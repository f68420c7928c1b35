"""One way of following a store: every consumer of new events uses this follower.

The inspector, `agenttui tail --follow` and serve's WebSocket feed all learn about commits here, so a
bug in following is fixed once. The follower runs one daemon thread with its own read-only store;
the log, never the wake-up signal, is the truth: after any wake it reads `read_after(last)` and hands
the events over in position order, in bounded batches, each exactly once.

Wake-up signals, fastest first:
- a SQLite file: inotify on the file's folder (watchfiles) for `run.db*`, confirmed by
  `PRAGMA data_version` on the follower's connection, so another file's churn costs one pragma;
- a PostgreSQL URL: LISTEN/NOTIFY (`PostgresStore.wait_for_change`), every append commits a NOTIFY;
- either: a poll every `poll_interval` seconds, which is also the fallback (no inotify, a pooler
  that drops notifications) and what bounds the cost of a lost signal.

It also reports what happens to the store itself (`Change.kind`): the file appearing, being deleted,
replaced by `mv` (a new inode) or overwritten in place (`cp other.db run.db`: the event at the last
position read is no longer the one handed over), a store this version cannot read ("unusable"), and
transient failures ("problem": locked, server down), retried until they clear; a "problem" with an
empty message says it cleared. A lost connection is reopened and reading resumes after the last
position handed over: nothing is skipped or repeated.

Why the SQLite side also watches the `-shm` file: a process that opens and closes the database file
outside SQLite drops every POSIX lock the process holds on it; the next writer to close then deletes
the `-wal`/`-shm` under our open connection, which from then on reads a stale snapshot forever (the
stall of issue 11). The store no longer does that, but any library in the same process could: a new
`-shm` inode makes the follower reopen its connection, so it cannot go blind.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from .errors import AgentTuiError, NotAStoreError, SchemaError
from .envelope import Event
from .urls import is_postgres_url as is_url

#: events: new events; appeared/replaced/deleted: the store itself; unusable: it cannot be read as a
#: store by this version; problem: a transient failure, retried (an empty message: it cleared).
ChangeKind = Literal["events", "appeared", "replaced", "deleted", "unusable", "problem"]

#: Events handed over per callback: a writer's huge burst arrives as several bounded batches.
BATCH = 5000
#: Seconds between attempts to (re)open a store that cannot be read right now: the first retry
#: comes soon (a server restart takes about a second), then the wait doubles up to the maximum.
RETRY_FIRST = 0.25
RETRY_MAX = 5.0
#: watchfiles' step and debounce (ms): a commit is reported after one quiet 2 ms step, at most 10 ms
#: late under a continuous stream (the commit-to-screen budget is 50 ms; 5/25 cost a third of it).
WATCH_STEP_MS = 2
WATCH_DEBOUNCE_MS = 10


@dataclass
class Change:
    """What the follower saw. `events` for kind="events"; `message` explains the others."""

    kind: ChangeKind
    events: list[Event] = field(default_factory=list)
    message: str = ""
    last_position: int = 0


def display_name(target: str | None) -> str:
    """What messages call a store: the file's name, or the URL without its password (or options)."""
    if not target:
        return ""
    if is_url(target):
        from urllib.parse import urlsplit

        try:
            from .postgres import display_url
        except ImportError:  # no psycopg: opening will say so; the name must still hide the password
            parts = urlsplit(target)
            return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}" if parts.netloc else parts.scheme
        try:
            return display_url(target)
        except Exception:  # an unparsable URL: say so without echoing it (it may hold a password)
            return "postgresql://(invalid URL)"
    return os.path.basename(target)


def _stat_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of a non-empty file, None when it is missing or still empty."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_size == 0:
        return None  # a writer has created but not yet initialised it
    return (st.st_dev, st.st_ino)


def _shape(path: str) -> tuple[int, int] | None:
    """(size, mtime) of the main file: it changes on a checkpoint and on an overwrite in place."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _default_opener(target: str) -> Any:
    from . import open_store

    if is_url(target):
        return open_store(target, readonly=True, pool_size=2)
    return open_store(target, readonly=True)


class StoreFollower:
    """Follows one store (a SQLite file or a PostgreSQL URL) from a background thread.

    on_change is called on the follower's thread (post it to your own thread if you need to);
    use_signal=False reads every `poll_interval` instead of waiting for file events or
    notifications (the polling fallback, forced). `filter` (an EventFilter) narrows the events
    handed over; positions still advance over the whole log.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        on_change: Callable[[Change], None],
        *,
        poll_interval: float = 0.25,
        use_signal: bool = True,
        filter: Any = None,
        opener: Callable[[str], Any] | None = None,
    ) -> None:
        text = os.fspath(target)
        self.server = is_url(text)
        self.path = text if self.server else os.path.abspath(text)
        self.name = display_name(self.path)  # never the URL itself: it may carry a password
        self.on_change = on_change
        self.poll_interval = poll_interval
        self.use_signal = use_signal
        self.filter = filter
        self._open = opener or _default_opener
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._signal_thread: threading.Thread | None = None
        self._store: Any = None
        self._last_position: int | None = None
        self._anchor: tuple[int, str] | None = None  # (position, event_id) last handed over
        self._file_id: tuple[int, int] | None = None
        self._shm_id: tuple[int, int] | None = None
        self._shape: tuple[int, int] | None = None
        self._data_version: int | None = None
        self._reported = ""
        self._problem_open = False
        self._retry = RETRY_FIRST
        #: how commits are noticed: "inotify" / "listen" while the signal works, "poll" otherwise
        self.mode = "starting"

    # ---------------------------------------------------------------------------- control
    def start(self, from_position: int | None) -> None:
        """Start following. from_position: the last position the caller has already read
        (None when the caller could not open the store: "appeared" is reported when it can)."""
        with self._lock:
            self._last_position = from_position
            if from_position is not None and not self.server:
                self._file_id = _stat_id(self.path)
        self._thread = threading.Thread(target=self._run, name=f"agenttui-follow {self.name}", daemon=True)
        self._thread.start()

    def follow_from(self, position: int) -> None:
        """Re-anchor after the caller reopened the store (it has read up to `position`)."""
        with self._lock:
            self._close_store()
            self._last_position = position
            self._anchor = None
            if not self.server:
                self._file_id = _stat_id(self.path)
        self._wake.set()

    def poke(self) -> None:
        """Check now (tests and the app's own refresh use it)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._signal_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2)
        with self._lock:
            self._close_store()

    @property
    def last_position(self) -> int | None:
        """The last position handed over (None before the store could be read)."""
        return self._last_position

    # ---------------------------------------------------------------------------- the thread
    def _run(self) -> None:
        if self.use_signal and not self.server:
            self._start_file_signal()
        elif self.server:
            self.mode = "listen" if self.use_signal else "poll"
        else:
            self.mode = "poll"
        while not self._stop.is_set():
            self.check()
            self._wait()

    def _wait(self) -> None:
        """Until the store may have changed: a signal, a poke, or `poll_interval` at most."""
        store, after = self._store, self._last_position
        if store is None:
            self._wake.wait(self._backoff() if self._problem_open else self.poll_interval)
        elif self.server and self.use_signal and after is not None and not self._wake.is_set():
            try:
                store.wait_for_change(timeout=self.poll_interval, after=after)
            except Exception as exc:  # the listening connection broke: reopen on the next check
                with self._lock:
                    if self._store is store:
                        self._close_store()
                self._emit(self._problem(self._describe(exc)))
                self._wake.wait(self._backoff())
        else:
            self._wake.wait(self.poll_interval)
        self._wake.clear()

    def _start_file_signal(self) -> None:
        """inotify on the folder in a second thread that only sets the wake event."""
        folder = os.path.dirname(self.path)
        try:
            from watchfiles import watch
        except ImportError:  # pragma: no cover - watchfiles is a dependency
            self.mode = "poll"
            return
        if not os.path.isdir(folder):
            self.mode = "poll"
            return
        name = os.path.basename(self.path)

        def relevant(_change: object, changed: str) -> bool:
            return os.path.basename(changed).startswith(name)

        def run() -> None:
            try:
                for _ in watch(folder, watch_filter=relevant, debounce=WATCH_DEBOUNCE_MS, step=WATCH_STEP_MS,
                               stop_event=self._stop, rust_timeout=int(self.poll_interval * 1000),
                               yield_on_timeout=False, recursive=False, raise_interrupt=False):
                    self._wake.set()
            except Exception:  # inotify unavailable or its limits reached: the poll carries on
                self.mode = "poll"

        self.mode = "inotify"
        self._signal_thread = threading.Thread(target=run, name=f"agenttui-inotify {name}", daemon=True)
        self._signal_thread.start()

    # ---------------------------------------------------------------------------- one check
    def check(self) -> None:
        """Look once and report what changed. Runs on the follower's thread (or a test's)."""
        with self._lock:
            changes = self._check_locked()
        self._emit(changes)

    def _emit(self, changes: list[Change]) -> None:
        for change in changes:
            if self._stop.is_set():
                return
            self.on_change(change)

    def _check_locked(self) -> list[Change]:
        out: list[Change] = []
        if not self.server:
            early = self._check_file()
            if early is not None:
                return early
        if self._store is None:
            opened = self._open_store()
            if opened is not None:
                return opened
        if self._last_position is None:
            return []  # the caller has not anchored us yet (it is opening the store)
        store = self._store
        try:
            if not self.server:
                version = store.data_version()
                if version == self._data_version:
                    return self._cleared()
                self._data_version = version
            while True:
                batch = store.read_after(self._last_position, limit=BATCH, filter=self.filter)
                if not batch:
                    break
                self._last_position = batch[-1].position or self._last_position
                self._anchor = (batch[-1].position, batch[-1].event_id)
                out.append(Change("events", events=batch, last_position=self._last_position))
                if len(batch) < BATCH:
                    break
        except Exception as exc:  # locked beyond the busy timeout, the server went away mid-read
            self._close_store()
            return out + self._problem(self._describe(exc))
        return out + self._cleared()

    def _check_file(self) -> list[Change] | None:
        """The SQLite file itself: deleted, replaced, overwritten in place, or a new WAL index."""
        fid = _stat_id(self.path)
        if fid is None:
            if self._file_id is not None or self._store is not None:
                self._close_store()
                self._file_id = None
                self._last_position = None  # a file that comes back is a new log: "appeared"
                return [Change("deleted", message=f"{self.path} was deleted; waiting for it to come back")]
            return []
        if self._file_id is not None and fid != self._file_id:
            return self._replaced(fid, f"{self.path} was replaced by a new file; reopened it")
        if self._store is not None:
            shm = _stat_id(self.path + "-shm")
            if shm != self._shm_id:
                self._close_store()  # our WAL index is gone: reopen before reading (see the docstring)
            shape = _shape(self.path)
            if shape != self._shape and self._store is not None and self._overwritten():
                return self._replaced(fid, f"{self.path} was overwritten with another store; reopened it")
            self._shape = shape
        return None

    def _overwritten(self) -> bool:
        """The main file changed (a checkpoint, or a copy over it): does it still hold our log?

        Asked on a fresh connection, which sees the file as a newcomer would; ours may keep
        serving pages it cached from the old content.
        """
        if self._anchor is None:
            return False
        position, event_id = self._anchor
        try:
            probe = self._open(self.path)
        except Exception:
            return True  # it no longer opens as a store: what replaced it says why when reopened
        try:
            got = probe.read_after(position - 1, limit=1)
        except Exception:
            return True
        finally:
            try:
                probe.close()
            except Exception:
                pass
        return not got or got[0].position != position or got[0].event_id != event_id

    def _replaced(self, fid: tuple[int, int], message: str) -> list[Change]:
        self._close_store()
        self._file_id = fid
        self._last_position = None
        self._anchor = None
        return [Change("replaced", message=message)]

    def _open_store(self) -> list[Change] | None:
        """Open the follower's own reader; a list of changes to report instead of reading, or None."""
        try:
            self._store = self._open(self.path)
        except FileNotFoundError:
            return []
        except (NotAStoreError, SchemaError) as exc:
            text = str(exc)
            if "no schema" in text:  # a writer is creating it right now
                return []
            if text != self._reported:
                self._reported = text
                return [Change("unusable", message=text)]
            return []
        except Exception as exc:  # locked beyond the busy timeout, server down, permissions
            return self._problem(self._describe(exc))
        self._data_version = None
        if not self.server:
            self._shm_id = _stat_id(self.path + "-shm")
            self._shape = _shape(self.path)
            if self._file_id is None:
                self._file_id = _stat_id(self.path)
        if self._last_position is None:
            self._reported = ""
            return [Change("appeared", message=f"{self.name} can be read now")]
        if self._anchor is None and self._last_position:
            try:
                got = self._store.read_after(self._last_position - 1, limit=1)
            except Exception as exc:
                self._close_store()
                return self._problem(self._describe(exc))
            if got and got[0].position == self._last_position:
                self._anchor = (got[0].position, got[0].event_id)
        return None

    def _close_store(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                pass
            self._store = None
            self._data_version = None

    # ---------------------------------------------------------------------------- problems
    def _describe(self, exc: Exception) -> str:
        """The store's own errors already name it (without a password); others get its name."""
        return str(exc) if isinstance(exc, AgentTuiError) else f"{self.name}: {type(exc).__name__}: {exc}"

    def _problem(self, message: str) -> list[Change]:
        if message == self._reported:
            return []
        self._reported = message
        self._problem_open = True
        return [Change("problem", message=message)]

    def _backoff(self) -> float:
        """The wait before the next attempt while a problem lasts (doubling, capped)."""
        wait, self._retry = self._retry, min(self._retry * 2, RETRY_MAX)
        return wait

    def _cleared(self) -> list[Change]:
        """Reading works again: an empty "problem" clears the one reported."""
        self._retry = RETRY_FIRST
        if not self._problem_open:
            return []
        self._problem_open = False
        self._reported = ""
        return [Change("problem", message="")]
