"""An import is all or nothing per file: failed or killed part-way, it leaves nothing of the file.

`agenttui import` stores a file in one transaction by default (store.bulk()); into an empty store
the secondary indexes are dropped inside that transaction and built at its end, so a rollback or
a crash must also leave them in place. `--commit-batches` opts out: every batch commits as it goes.
Every test ends with the store's own promises: integrity, `rebuild --check` clean, chains intact.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from agenttui.cli import main as cli_main
from agenttui.store import SQLiteStore
from agenttui.store.bulk import BulkConflict, PipelinedLoad
from agenttui.store.jsonl import import_jsonl

EVENT_INDEXES = {"idx_events_event_id", "idx_events_run_seq", "idx_events_run_type", "idx_events_node_id",
                 "idx_events_timestamp", "idx_nodes_node_id", "idx_nodes_nid", "idx_nodes_outer",
                 "idx_edges_parent", "idx_edges_child"}


def _events(prefix: str, n: int, runs: int = 3) -> list[dict]:
    """Events of a few interleaved runs that touch nodes, statuses, edges and an unknown type."""
    start = datetime(2025, 4, 17, 12, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        node = f"{prefix}-n{i // 4}"
        kind = ("node_created", "node_status_changed", "edge_added", "custom_probe")[i % 4]
        payload: dict = {"node_id": node, "i": i}
        if kind == "node_created":
            payload.update(node_nid=f"1.{i // 4}", task_goal=f"goal {i}", node_type="EXECUTE_NODE")
        elif kind == "node_status_changed":
            payload.update(old_status="READY", new_status="DOING")
        elif kind == "edge_added":
            payload.update(parent_node_id=f"{prefix}-n{max(0, i // 4 - 1)}", child_node_id=node)
        out.append({"event_id": f"{prefix}-{i:06d}", "run_id": f"{prefix}-run-{i % runs}", "event_type": kind,
                    "timestamp": (start + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "payload": payload})
    return out


def _write(path: Path, events: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def _state(db: Path) -> tuple[int, set[str]]:
    """(events stored, names of the indexes present), read on a connection of its own."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
    return count, names


def _consistent(db: Path) -> None:
    with SQLiteStore(db) as store:
        assert store.check() == []
        assert store.verify() == []


@pytest.fixture(params=["empty", "holding events"])
def db(request, tmp_path: Path) -> Path:
    """A store either empty (the load drops and rebuilds the indexes) or already holding events."""
    path = tmp_path / "run.db"
    with SQLiteStore(path) as store:
        if request.param == "holding events":
            store.append(_events("old", 50))
    return path


class _Boom(RuntimeError):
    pass


def _failing_on_call(n: int, real, calls: list):
    """`real` (an append method), raising _Boom on its n-th call instead of running."""
    def failing(self, events, **kw):
        calls.append(1)
        if len(calls) == n:
            raise _Boom("the disk went away")
        return real(self, events, **kw)
    return failing


def test_an_import_failing_midway_stores_nothing(db: Path, tmp_path: Path, monkeypatch) -> None:
    before, indexes = _state(db)
    src = _write(tmp_path / "in.jsonl", _events("imp", 400))
    calls: list = []
    real = PipelinedLoad.append
    monkeypatch.setattr(PipelinedLoad, "append", _failing_on_call(3, real, calls))
    with SQLiteStore(db) as store, pytest.raises(_Boom):
        import_jsonl(store, src, batch_size=50)
    assert len(calls) == 3
    assert _state(db) == (before, indexes)
    assert EVENT_INDEXES <= indexes
    _consistent(db)
    monkeypatch.setattr(PipelinedLoad, "append", real)
    with SQLiteStore(db) as store:  # the same file again, unharmed: all of it, once
        report = import_jsonl(store, src, batch_size=50)
    assert (report.stored, report.duplicates, report.failed) == (400, 0, 0)
    assert _state(db) == (before + 400, indexes)
    _consistent(db)


def test_a_failure_in_the_writer_thread_stores_nothing(db: Path, tmp_path: Path, monkeypatch) -> None:
    """An error raised by SQLite on the second thread reaches the importer and rolls everything back."""
    before, indexes = _state(db)
    src = _write(tmp_path / "in.jsonl", _events("imp", 300))
    import agenttui.store.bulk as bulk

    plans = []
    real_submit = bulk._Writer.submit

    def poisoned(self, plan):
        plans.append(plan)
        if len(plans) == 4:  # a statement the database refuses, as a full disk would
            plan = [*plan, ("INSERT INTO no_such_table VALUES (?)", [(1,)])]
        return real_submit(self, plan)

    monkeypatch.setattr(bulk._Writer, "submit", poisoned)
    with SQLiteStore(db) as store, pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        import_jsonl(store, src, batch_size=40)
    assert _state(db) == (before, indexes)
    _consistent(db)


def test_commit_batches_keeps_what_committed_before_the_failure(db: Path, tmp_path: Path, monkeypatch) -> None:
    before, indexes = _state(db)
    src = _write(tmp_path / "in.jsonl", _events("imp", 400))
    monkeypatch.setattr(SQLiteStore, "append", _failing_on_call(3, SQLiteStore.append, []))
    with SQLiteStore(db) as store, pytest.raises(_Boom):
        import_jsonl(store, src, batch_size=50, atomic=False)
    assert _state(db) == (before + 100, indexes)
    _consistent(db)


_CHILD = """
import sys, os
from agenttui.store import SQLiteStore
from agenttui.store.bulk import PipelinedLoad
from agenttui.store.jsonl import import_jsonl
progress = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
real = PipelinedLoad.append
def noted(self, events, **kw):
    result = real(self, events, **kw)
    os.write(progress, b"batch\\n")
    return result
PipelinedLoad.append = noted
with SQLiteStore(sys.argv[1]) as store:
    import_jsonl(store, sys.argv[2], batch_size=200)
os.write(progress, b"done\\n")
"""


def test_a_killed_import_stores_nothing(db: Path, tmp_path: Path) -> None:
    """SIGKILL once several batches are written (not committed): after recovery nothing of the
    file is there, the indexes are all in place, and a re-run stores the whole file once."""
    before, indexes = _state(db)
    src = _write(tmp_path / "in.jsonl", _events("imp", 60_000))
    progress = tmp_path / "progress"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(db), str(src), str(progress)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if progress.exists() and progress.read_bytes().count(b"batch") >= 5:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the import ended before it could be killed: {proc.stderr.read()[-2000:]}"
        assert b"done" not in progress.read_bytes()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
        proc.stderr.close()
    assert _state(db) == (before, indexes)
    _consistent(db)
    with SQLiteStore(db) as store:
        report = import_jsonl(store, src)
    assert (report.stored, report.failed) == (60_000, 0)
    assert _state(db) == (before + 60_000, indexes)
    _consistent(db)


def test_an_id_repeated_across_batches_is_stored_once(db: Path, tmp_path: Path) -> None:
    """The optimistic load meets the repeat (unique index, or its build at the end), rolls back
    and is redone with checks: the result is what a batch-by-batch import gives."""
    before, indexes = _state(db)
    events = _events("imp", 300)
    src = _write(tmp_path / "in.jsonl", events + [events[10], events[250]] + _events("more", 20))
    with SQLiteStore(db) as store:
        report = import_jsonl(store, src, batch_size=64)
    assert (report.stored, report.duplicates, report.failed) == (320, 2, 0)
    assert _state(db) == (before + 320, indexes)
    _consistent(db)


def test_an_optimistic_session_raises_bulk_conflict_and_stores_nothing(db: Path) -> None:
    before, indexes = _state(db)
    events = _events("imp", 30)
    with SQLiteStore(db) as store, pytest.raises(BulkConflict):
        with store.bulk() as session:
            session.append(events[:20])
            session.append(events[15:])
    assert _state(db) == (before, indexes)
    with SQLiteStore(db) as store:
        with store.bulk(optimistic=False) as session:
            first = session.append(events[:20])
            second = session.append(events[15:])
    assert (first.stored, second.stored, second.duplicates) == (20, 10, 5)
    _consistent(db)


def test_a_piped_import_is_atomic_too(db: Path, tmp_path: Path, monkeypatch) -> None:
    """stdin cannot be read twice, so it is loaded with checks (no optimistic redo): same result."""
    before, indexes = _state(db)
    events = _events("imp", 200)
    data = b"".join(orjson.dumps(e) + b"\n" for e in events + events[:5])
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe, SQLiteStore(db) as store:
        report = import_jsonl(store, pipe, batch_size=30)
    assert (report.stored, report.duplicates) == (200, 5)
    assert _state(db) == (before + 200, indexes)
    _consistent(db)


def test_a_reimport_into_a_store_holding_the_file_stores_nothing_new(db: Path, tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", _events("imp", 250))
    with SQLiteStore(db) as store:
        first = import_jsonl(store, src, batch_size=60)
        second = import_jsonl(store, src, batch_size=60)
    assert (first.stored, second.stored, second.duplicates) == (250, 0, 250)
    _consistent(db)


def test_cli_import_then_rebuild_check_is_clean(db: Path, tmp_path: Path, capsys) -> None:
    src = _write(tmp_path / "in.jsonl", _events("imp", 500) + [{"broken": True}] + _events("tail", 10))
    assert cli_main(["import", str(db), str(src), "-q"]) == 1  # one bad line: reported, the rest kept
    assert cli_main(["rebuild", str(db), "--check", "-q"]) == 0
    assert cli_main(["import", str(db), str(_write(tmp_path / "b.jsonl", _events("cb", 90))), "-q",
                     "--commit-batches"]) == 0
    assert cli_main(["rebuild", str(db), "--check", "-q"]) == 0
    capsys.readouterr()
    _consistent(db)


def test_import_help_names_the_opt_out(cli) -> None:
    code, out, _ = cli("import", "--help")
    text = " ".join(out.split())
    assert code == 0 and "--commit-batches" in text and "all or nothing" in text


def test_the_bulk_load_writes_what_batch_by_batch_appends_write(tmp_path: Path) -> None:
    """Same file, same store contents (events with their hashes, runs, nodes, edges, snapshots'
    positions) whether loaded in one pipelined transaction or committed batch by batch."""
    from store_fixtures import SAMPLE

    src = tmp_path / "in.jsonl"
    src.write_bytes(SAMPLE.read_bytes() + b"".join(orjson.dumps(e) + b"\n" for e in _events("imp", 4000, runs=1)))
    tables = {}
    for mode in ("bulk", "batches"):
        path = tmp_path / f"{mode}.db"
        with SQLiteStore(path, snapshot_every=500) as store:
            report = import_jsonl(store, src, batch_size=256, atomic=mode == "bulk")
            assert report.failed == 0 and store.check() == [] and store.verify() == []
            conn = store.connection
            tables[mode] = {
                "events": conn.execute("SELECT id, event_id, run_id, seq, event_type, payload, node_id, metadata "
                                       "FROM events ORDER BY id").fetchall(),
                "runs": conn.execute("SELECT * FROM runs ORDER BY run_id").fetchall(),
                "nodes": conn.execute("SELECT * FROM nodes ORDER BY run_id, node_id").fetchall(),
                "edges": conn.execute("SELECT * FROM edges ORDER BY id").fetchall(),
                "snapshots": conn.execute("SELECT run_id, position, seq FROM snapshots ORDER BY 1, 2").fetchall(),
            }
    for name in tables["bulk"]:
        assert tables["bulk"][name] == tables["batches"][name], name
    assert len(tables["bulk"]["snapshots"]) >= 2
