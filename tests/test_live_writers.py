"""Every commit reaches a reader in this process, whatever the writer's connection pattern (issue 11).

The stall this guards against: a store opened in Python read the file's header with open()/close(),
which drops every POSIX lock the process holds on the file. The next writer process to close then
saw no reader, checkpointed, and deleted the -wal and -shm under the open readers: they never saw
another commit. A writer that opens, appends and closes per event is the pattern that shows it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agenttui.store import SQLiteStore
from agenttui.store.sqlite import is_sqlite_file

ONE_SHOT_WRITER = (
    "import sys\n"
    "from agenttui.store import SQLiteStore\n"
    "s = SQLiteStore(sys.argv[1])\n"
    "s.append([{'event_id': sys.argv[2], 'run_id': 'r1', 'event_type': sys.argv[2], 'payload': {}}])\n"
    "s.close()\n"
)


def write_one(db: Path, event_id: str) -> None:
    subprocess.run([sys.executable, "-c", ONE_SHOT_WRITER, str(db), event_id], check=True, timeout=60)


def test_readers_see_every_commit_of_writers_that_close_after_each_event(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with SQLiteStore(db) as store:
        store.append([{"event_id": "e0", "run_id": "r1", "event_type": "tick", "payload": {}}])
    follower = SQLiteStore(db, readonly=True)
    app_reader = SQLiteStore(db, readonly=True)
    try:
        for i in range(4):
            write_one(db, f"probe_{i}")
            # a third reader opened and closed in between, as the inspector's workers do
            with SQLiteStore(db, readonly=True) as worker:
                assert worker.last_position() == i + 2
            assert is_sqlite_file(db)  # the folder picker's check must not break the readers either
            assert follower.last_position() == i + 2, f"probe_{i} is visible to the long-lived reader"
            assert [e.event_id for e in follower.read_after(i + 1)] == [f"probe_{i}"]
            assert app_reader.last_position() == i + 2
        assert (tmp_path / "run.db-wal").exists(), "the writer left the WAL to the readers still open"
    finally:
        follower.close()
        app_reader.close()


def test_a_file_that_is_not_sqlite_is_named_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"hello, this is text\n" * 50)
    for readonly in (True, False):
        try:
            SQLiteStore(path, readonly=readonly)
        except Exception as exc:  # noqa: BLE001 - the type and message are the point
            assert "not a SQLite database" in str(exc) and str(path) in str(exc)
        else:  # pragma: no cover
            raise AssertionError("opened a text file as a store")
    assert path.read_bytes() == b"hello, this is text\n" * 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"], "no -wal or -shm left behind"
    assert not is_sqlite_file(path)
