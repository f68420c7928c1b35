"""The live change signal for a PostgreSQL store: LISTEN/NOTIFY as a wake-up, then reading by position.

Every append commits a NOTIFY carrying its last position (store/postgres.py). This watcher's
thread blocks in `PostgresStore.wait_for_change(after=last)`, so a commit anywhere on the server
wakes it within milliseconds; it then reads `read_after(last)`. The log, not the notification, is
the truth: a notification that is lost, coalesced, arrives before we listen or never arrives (a
pooler such as PgBouncer in transaction mode drops them) costs at most one `poll_interval`,
because every wait ends after that long and re-checks the head position. That timeout is also
how `poke()` and `stop()` are noticed. A dropped connection (server restart, network) is reported
as a problem and recovered: the store is reopened and reading resumes after the last position
handed over, so nothing is skipped or shown twice.

Same interface and `Change` kinds as the file watcher (tui/watcher.py): "appeared" when a store
that could not be opened at start becomes readable (the server came up, a writer created the
schema), "unusable" for a store this version can never read (a newer schema, tables that are not
agenttui's), "problem" for a transient failure (server unreachable), retried until it clears,
which a "problem" with an empty message announces (the app's status then drops the notice).
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from agenttui.store import AgentTuiError, NotAStoreError, SchemaError

from .targets import display_name, open_reader
from .watcher import BATCH, Change, FollowerThread

#: Seconds between attempts to (re)connect while the server cannot be reached.
RETRY_INTERVAL = 1.0


class NotifyWatcher(FollowerThread):
    """Follows one PostgreSQL store from a background thread; see the module docstring.

    use_notify=False reads every `poll_interval` instead of listening (the polling baseline the
    tests compare against; listening needs no such switch, see the module docstring).
    `poke()` checks at once while polling or reconnecting, within `poll_interval` while listening.
    """

    _thread_name = "agenttui-notify-watcher"

    def __init__(
        self,
        url: str,
        on_change: Callable[[Change], None],
        *,
        poll_interval: float = 0.25,
        use_notify: bool = True,
    ) -> None:
        self.path = url
        self.name = display_name(url)  # never the URL itself: it may carry a password
        self.on_change = on_change
        self.poll_interval = poll_interval
        self.use_notify = use_notify
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Any = None
        self._last_position: int | None = None
        self._reported = ""
        self._problem_open = False  # a "problem" was reported and has not cleared yet
        self._lock = threading.Lock()
        #: "listen" while waiting on notifications, "poll" when told not to listen
        self.mode = "starting"

    # ---------------------------------------------------------------------------- control
    def start(self, from_position: int | None) -> None:
        """Start following. from_position: the last position the caller has already read
        (None when the caller could not open the store: the watcher reports "appeared" when it can)."""
        with self._lock:
            self._last_position = from_position
        self._spawn()

    def follow_from(self, position: int) -> None:
        """Re-anchor after the caller reopened the store (it has read up to `position`)."""
        with self._lock:
            self._last_position = position
        self._wake.set()

    # ---------------------------------------------------------------------------- thread
    def _run(self) -> None:
        self.mode = "listen" if self.use_notify else "poll"
        while not self._stop.is_set():
            self.check()
            while not self._stop.is_set() and not self._wait():
                pass

    def _wait(self) -> bool:
        """Until a commit is announced, a poke, or `poll_interval` (RETRY_INTERVAL while disconnected).
        False when listening timed out with nothing new: the head was checked, no read is needed."""
        store, after = self._store, self._last_position
        changed = True
        if store is None:
            self._wake.wait(RETRY_INTERVAL)
        elif not self.use_notify or after is None or self._wake.is_set():
            self._wake.wait(self.poll_interval)
        else:
            try:
                changed = store.wait_for_change(timeout=self.poll_interval, after=after) is not None
            except Exception as exc:  # the listening connection broke: reconnect on the next check
                with self._lock:
                    if self._store is store:
                        self._close_store()
                for change in self._problem(self._describe(exc)):
                    self.on_change(change)
                self._wake.wait(RETRY_INTERVAL)
        changed = changed or self._wake.is_set()
        self._wake.clear()
        return changed

    # ---------------------------------------------------------------------------- one check
    def check(self) -> None:
        """Look once: open the store if needed, then hand over new events. Runs on the watcher
        thread (or a test's)."""
        with self._lock:
            changes = self._check_locked()
        for change in changes:
            if self._stop.is_set():
                return
            self.on_change(change)

    def _check_locked(self) -> list[Change]:
        if self._store is None:
            try:
                self._store = open_reader(self.path)
            except (NotAStoreError, SchemaError) as exc:
                text = str(exc)
                if "no schema" in text:  # no writer has created the store yet: keep waiting
                    return []
                if text != self._reported:
                    self._reported = text
                    return [Change("unusable", message=text)]
                return []
            except Exception as exc:  # server down or unreachable, authentication, ...
                return self._problem(self._describe(exc))
            self._reported = ""
            if self._last_position is None:
                return [Change("appeared", message=f"{self.name} can be read now")]
        if self._last_position is None:
            return []  # the caller has not anchored us yet (it is opening the store)
        out: list[Change] = []
        try:
            while True:
                batch = self._store.read_after(self._last_position, limit=BATCH)
                if not batch:
                    break
                self._last_position = batch[-1].position or self._last_position
                out.append(Change("events", events=batch, last_position=self._last_position))
                if len(batch) < BATCH:
                    break
        except Exception as exc:  # the server went away mid-read: what was read is kept
            self._close_store()
            return out + self._problem(self._describe(exc))
        if self._problem_open:  # reading works again: an empty "problem" clears the one shown
            self._problem_open = False
            self._reported = ""
            out.append(Change("problem", message=""))
        return out

    def _describe(self, exc: Exception) -> str:
        """The store's own errors already name the server (without the password); others get its name."""
        return str(exc) if isinstance(exc, AgentTuiError) else f"{self.name}: {type(exc).__name__}: {exc}"

    def _problem(self, message: str) -> list[Change]:
        if message == self._reported:
            return []
        self._reported = message
        self._problem_open = True
        return [Change("problem", message=message)]

