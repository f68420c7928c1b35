"""The store follower on a SQLite file: new events, a file that appears, is replaced or is deleted."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from contextlib import contextmanager

from agenttui.store import SQLiteStore
from agenttui.store.follow import Change, StoreFollower

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


@contextmanager
def following(db: Path, **options):
    """A follower on `db` from its current end; yields what it reports and that start position."""
    with SQLiteStore(db, readonly=True) as ro:
        start = ro.last_position()
    seen = Collector()
    follower = StoreFollower(db, seen, poll_interval=0.05, **options)
    follower.start(start)
    try:
        yield seen, start
    finally:
        follower.stop()


@pytest.mark.parametrize("use_file_events", [True, False], ids=["inotify", "poll"])
def test_new_commits_are_reported_once_in_order(tmp_path: Path, use_file_events: bool) -> None:
    db = make_db(tmp_path / "run.db")
    with following(db, use_signal=use_file_events) as (seen, start):
        _append(db, 3, "a")
        _append(db, 2, "b")
        seen.wait(lambda ch: sum(len(c.events) for c in ch if c.kind == "events") >= 5, "5 new events")
    got = seen.events()
    assert [e.event_id for e in got] == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert [e.position for e in got] == list(range(start + 1, start + 6))


def test_a_missing_file_is_reported_when_it_appears(tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    seen = Collector()
    watcher = StoreFollower(db, seen, poll_interval=0.05)
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
    watcher = StoreFollower(db, seen, poll_interval=0.05)
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
    watcher = StoreFollower(bad, seen, poll_interval=0.05)
    watcher.start(None)
    try:
        seen.wait(lambda ch: any(c.kind == "unusable" for c in ch), "the unusable report")
    finally:
        watcher.stop()
    assert "not a SQLite database" in next(c.message for c in seen.changes if c.kind == "unusable")
    assert sum(c.kind == "unusable" for c in seen.changes) == 1  # reported once, not every poll


ONE_SHOT = (
    "import sys\n"
    "from agenttui.store import SQLiteStore\n"
    "s = SQLiteStore(sys.argv[1])\n"
    "for i in range(int(sys.argv[3])):\n"
    "    s.append({'event_id': f'{sys.argv[2]}-{i}', 'run_id': 'live', 'event_type': 'tick', 'payload': {}})\n"
    "s.close()\n"
)


def _one_shot(db: Path, prefix: str, count: int = 1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ONE_SHOT, str(db), prefix, str(count)])


@pytest.mark.parametrize("use_file_events", [True, False], ids=["inotify", "poll"])
def test_writers_that_open_append_and_close_per_event_are_all_seen(tmp_path: Path, use_file_events: bool) -> None:
    """The stall of issue 11: only the first event of such writers used to reach the reader."""
    db = make_db(tmp_path / "run.db")
    with following(db, use_signal=use_file_events) as (seen, start):
        for i in range(6):
            assert _one_shot(db, f"p{i}").wait(timeout=60) == 0
            seen.wait(lambda ch, i=i: len(seen.events()) == i + 1, f"event p{i}-0", 30)
    assert [e.event_id for e in seen.events()] == [f"p{i}-0" for i in range(6)]


def test_several_writer_processes_at_once_give_every_event_once_in_position_order(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    with following(db) as (seen, start):
        writers = [_one_shot(db, f"w{k}", 25) for k in range(4)]
        assert [w.wait(timeout=120) for w in writers] == [0] * 4
        seen.wait(lambda ch: len(seen.events()) >= 100, "100 events from 4 writers", 60)
    got = seen.events()
    assert [e.position for e in got] == list(range(start + 1, start + 101))
    assert sorted(e.event_id for e in got) == sorted(f"w{k}-{i}" for k in range(4) for i in range(25))


def test_a_file_overwritten_in_place_is_reported_as_replaced(tmp_path: Path) -> None:
    """`cp other.db run.db` keeps the inode: the follower notices that its last event is gone."""
    db = make_db(tmp_path / "run.db")
    other = tmp_path / "other.db"
    with SQLiteStore(other) as store:
        store.append([{"event_id": f"o-{i}", "run_id": "other", "event_type": "tick", "payload": {}}
                      for i in range(3)])
    with following(db) as (seen, start):
        time.sleep(0.2)  # the follower has opened its reader
        inode = os.stat(db).st_ino
        shutil.copyfile(other, db)
        assert os.stat(db).st_ino == inode
        seen.wait(lambda ch: any(c.kind == "replaced" for c in ch), "the overwrite to be noticed")


def test_a_reader_whose_wal_index_was_deleted_reopens_and_misses_nothing(tmp_path: Path) -> None:
    """Whatever deletes the -wal/-shm under the follower (a library in the same process that closes
    a descriptor of the file), it must not go blind: a new -shm makes it reopen."""
    db = make_db(tmp_path / "run.db")
    with following(db) as (seen, start):
        assert _one_shot(db, "a").wait(timeout=60) == 0
        seen.wait(lambda ch: len(seen.events()) == 1, "the first event")
        with open(db, "rb") as fh:  # the bug pattern: drops this process's locks on the file
            fh.read(16)
        for i in range(3):
            assert _one_shot(db, f"b{i}").wait(timeout=60) == 0
        seen.wait(lambda ch: len(seen.events()) == 4, "every later event", 30)
    assert [e.event_id for e in seen.events()] == ["a-0", "b0-0", "b1-0", "b2-0"]


def test_a_filter_narrows_what_is_handed_over(tmp_path: Path) -> None:
    from agenttui.store import EventFilter

    db = make_db(tmp_path / "run.db")
    with following(db, filter=EventFilter(run_id="mine")) as (seen, _start):
        with SQLiteStore(db) as store:
            store.append([{"event_id": f"x-{i}", "run_id": "mine" if i % 2 else "theirs", "event_type": "tick",
                           "payload": {}} for i in range(6)])
        seen.wait(lambda ch: len(seen.events()) == 3, "the 3 events of run 'mine'")
        time.sleep(0.2)
    assert [e.event_id for e in seen.events()] == ["x-1", "x-3", "x-5"]
