"""The live change signal: new events, a file that appears, is replaced or is deleted."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.watcher import Change, StoreWatcher

from tui_support import make_db


class Collector:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.cond = threading.Condition()

    def __call__(self, change: Change) -> None:
        with self.cond:
            self.changes.append(change)
            self.cond.notify_all()

    def wait(self, predicate, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.changes):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; saw {[c.kind for c in self.changes]}")
                self.cond.wait(left)

    def events(self) -> list:
        return [e for c in self.changes if c.kind == "events" for e in c.events]


def _append(path: Path, n: int, prefix: str = "w") -> None:
    with SQLiteStore(path) as store:
        store.append([{"event_id": f"{prefix}-{i}", "run_id": "live", "event_type": "tick", "payload": {"i": i}}
                      for i in range(n)])


@pytest.mark.parametrize("use_file_events", [True, False], ids=["inotify", "poll"])
def test_new_commits_are_reported_once_in_order(tmp_path: Path, use_file_events: bool) -> None:
    db = make_db(tmp_path / "run.db")
    with SQLiteStore(db, readonly=True) as ro:
        start = ro.last_position()
    seen = Collector()
    watcher = StoreWatcher(db, seen, poll_interval=0.05, use_file_events=use_file_events)
    watcher.start(start)
    try:
        _append(db, 3, "a")
        _append(db, 2, "b")
        seen.wait(lambda ch: sum(len(c.events) for c in ch if c.kind == "events") >= 5, "5 new events")
    finally:
        watcher.stop()
    got = seen.events()
    assert [e.event_id for e in got] == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert [e.position for e in got] == list(range(start + 1, start + 6))


def test_a_missing_file_is_reported_when_it_appears(tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    seen = Collector()
    watcher = StoreWatcher(db, seen, poll_interval=0.05)
    watcher.start(None)
    try:
        time.sleep(0.1)
        assert seen.changes == []
        make_db(db)
        seen.wait(lambda ch: any(c.kind == "appeared" for c in ch), "the file to appear")
    finally:
        watcher.stop()


def test_deleted_and_replaced_files_are_reported(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    with SQLiteStore(db, readonly=True) as ro:
        start = ro.last_position()
    seen = Collector()
    watcher = StoreWatcher(db, seen, poll_interval=0.05)
    watcher.start(start)
    try:
        other = make_db(tmp_path / "other.db")
        os.replace(other, db)
        seen.wait(lambda ch: any(c.kind == "replaced" for c in ch), "the replacement")
        os.remove(db)
        seen.wait(lambda ch: any(c.kind == "deleted" for c in ch), "the deletion")
    finally:
        watcher.stop()


def test_a_file_that_is_not_a_store_is_reported_as_unusable(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"this is not sqlite at all\n" * 10)
    seen = Collector()
    watcher = StoreWatcher(bad, seen, poll_interval=0.05)
    watcher.start(None)
    try:
        seen.wait(lambda ch: any(c.kind == "unusable" for c in ch), "the unusable report")
    finally:
        watcher.stop()
    assert "not a SQLite database" in next(c.message for c in seen.changes if c.kind == "unusable")
    assert sum(c.kind == "unusable" for c in seen.changes) == 1  # reported once, not every poll
