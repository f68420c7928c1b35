"""Big full snapshots stored in parts (store/snapshots.py PARTS_MAGIC, schema 5's snapshot_parts):
read back exactly, never left behind when their snapshot is replaced or deleted, a snapshot whose
parts are gone is skipped for an older one, and the header's integer lists parsed without an int
object per value."""
from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from agenttui.demo import generate_run
from agenttui.store import SQLiteStore, fold
from agenttui.store import snapshots
from agenttui.store.snapshots import FULL_MAGIC, PARTS_MAGIC, decode_snapshot, encode_full, load_snapshot

RUN = "parts"


@pytest.fixture
def small_parts(monkeypatch) -> int:
    monkeypatch.setattr(snapshots, "PART_BYTES", 4096)
    return 4096


def _store(path: Path, n: int = 2000, every: int = 400) -> list:
    events = list(generate_run(7, n_events=n, run_id=RUN, start="2026-03-01T09:00:00Z"))
    with SQLiteStore(path, snapshot_every=every) as store:
        for k in range(0, n, 50):  # a writer per batch, as a run appended by many short processes
            store.append(events[k:k + 50])
        return list(store.timeline(RUN))


def _rows(path: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _orphans(path: Path) -> int:
    return _rows(path, "SELECT count(*) FROM snapshot_parts p WHERE NOT EXISTS (SELECT 1 FROM snapshots s "
                       "WHERE s.run_id = p.run_id AND s.position = p.position)")[0][0]


def test_big_full_snapshots_are_stored_in_parts_and_read_back_as_the_fold(tmp_path, small_parts) -> None:
    path = tmp_path / "p.db"
    stored = _store(path)
    heads = _rows(path, "SELECT position, substr(state, 1, 4), length(state) FROM snapshots WHERE run_id = ? "
                        "ORDER BY position", RUN)
    in_parts = [p for p, magic, _ in heads if magic == PARTS_MAGIC]
    assert in_parts and all(magic != FULL_MAGIC for _, magic, _ in heads)  # (every full one is past 4 KB here)
    for position in in_parts:
        sizes = [n for (n,) in _rows(path, "SELECT length(data) FROM snapshot_parts WHERE run_id = ? AND position = ? "
                                           "ORDER BY part", RUN, position)]
        assert sizes and max(sizes) <= small_parts and all(n == small_parts for n in sizes[:-1])
    with SQLiteStore(path, readonly=True) as store:
        for position in in_parts:
            expected = fold(RUN, [e for e in stored if e.position <= position])
            for cache in (None, {}):  # whole, and lazily (a replay window's way)
                found = load_snapshot(store.connection, RUN, position, cache=cache)
                assert found is not None and found[1].position == position
                assert found[1].comparable() == expected.comparable()
        cut = random.Random(3).choice(stored).position
        assert store.state_at(RUN, cut).comparable() == fold(RUN, [e for e in stored if e.position <= cut]).comparable()


def test_a_snapshot_in_parts_is_the_same_bytes_as_one_stored_whole(small_parts) -> None:
    events = list(generate_run(2, n_events=600, run_id=RUN, start="2026-03-01T09:00:00Z"))
    state = fold(RUN, events)
    blob = encode_full(state)
    (upsert, [row]), (insert, parts) = snapshots.snapshot_in_parts((RUN, 9, 9, 1, blob, "now"))
    head = row[4]
    assert head[:4] == PARTS_MAGIC and int.from_bytes(head[4:12], "big") == len(blob)
    assert FULL_MAGIC + head[12:] + b"".join(bytes(p[3]) for p in parts) == blob
    assert [p[2] for p in parts] == list(range(len(parts)))
    for lazy in (False, True):
        again = decode_snapshot(head, lazy=lazy, parts=(bytes(p[3]) for p in parts))
        assert again.comparable() == state.comparable()
    with pytest.raises(ValueError, match="stored apart: read it with load_snapshot"):
        decode_snapshot(head)
    with pytest.raises(ValueError, match="parts of it are missing"):
        decode_snapshot(head, parts=(bytes(p[3]) for p in parts[:-1]))
    small = encode_full(fold(RUN, events[:3]))
    assert snapshots.snapshot_in_parts((RUN, 1, 1, 1, small, "now")) == [(upsert, [(RUN, 1, 1, 1, small, "now")])]


def test_replaced_or_deleted_snapshots_take_their_parts_with_them(tmp_path, small_parts) -> None:
    path = tmp_path / "p.db"
    _store(path)
    assert _rows(path, "SELECT count(*) FROM snapshot_parts")[0][0] > 0
    with SQLiteStore(path) as store:
        store.write_snapshots(every=150)  # passes the appends' full ones: some are written again
        assert _orphans(path) == 0
        store.rebuild()  # every snapshot dropped and made again
    assert _orphans(path) == 0
    with SQLiteStore(path) as store:
        store.connection.execute("DELETE FROM snapshots")
    assert _rows(path, "SELECT count(*) FROM snapshot_parts")[0][0] == 0


def test_a_snapshot_whose_parts_are_gone_is_skipped_for_an_older_one(tmp_path, small_parts) -> None:
    path = tmp_path / "p.db"
    stored = _store(path)
    in_parts = [p for p, magic in _rows(path, "SELECT position, substr(state, 1, 4) FROM snapshots WHERE run_id = ? "
                                              "ORDER BY position", RUN) if magic == PARTS_MAGIC]
    assert len(in_parts) >= 2
    last = in_parts[-1]
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM snapshot_parts WHERE run_id = ? AND position = ? AND part = 0", (RUN, last))
    conn.commit()
    conn.close()
    with SQLiteStore(path, readonly=True) as store:
        for by in ("position", "seq"):
            bound = last if by == "position" else next(e.seq for e in stored if e.position == last)
            found = load_snapshot(store.connection, RUN, **{by: bound}, cache={})
            assert found is not None and found[1].position < last
            older = found[1].position
            assert found[1].comparable() == fold(RUN, [e for e in stored if e.position <= older]).comparable()
        assert store.state_at(RUN, last).comparable() == fold(RUN, [e for e in stored if e.position <= last]).comparable()


def test_a_store_from_before_schema_5_gains_the_parts_table_when_a_writer_opens_it(tmp_path) -> None:
    path = tmp_path / "v4.db"
    _store(path, n=200)
    conn = sqlite3.connect(path)
    conn.executescript("DROP TRIGGER snapshot_parts_replaced; DROP TRIGGER snapshot_parts_deleted; "
                       "DROP TABLE snapshot_parts; PRAGMA user_version = 4;")
    conn.close()
    with SQLiteStore(path, readonly=True) as store:  # a reader reads it as it is
        assert store.state_at(RUN, 100) is not None
    assert not _rows(path, "SELECT name FROM sqlite_master WHERE name = 'snapshot_parts'")
    with SQLiteStore(path) as store:
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == 5
    names = {n for (n,) in _rows(path, "SELECT name FROM sqlite_master WHERE name LIKE 'snapshot_parts%'")}
    assert names == {"snapshot_parts", "snapshot_parts_replaced", "snapshot_parts_deleted"}


@pytest.mark.parametrize("text, expected", [
    (b"[1,2,3]", [1, 2, 3]),
    (b"[-5,0,2147483647]", [-5, 0, 2147483647]),
    (b"[4294967296,-1]", [4294967296, -1]),  # past int32: int64
])
def test_integer_lists_of_a_header_become_arrays(text, expected) -> None:
    out = snapshots._int_list(memoryview(text))
    assert out is not None and list(out) == expected
    assert out.typecode == ("i" if max(map(abs, expected)) < 2**31 else "q")


@pytest.mark.parametrize("text", [b"[]", b'[1,"a"]', b"[1,,2]", b"[-]", b"[1.5]", b"[1e3]", b"[1,2,]", b"1,2",
                                  b"[ 1]", b"[1-2]", b"[1,-]", b"[--1]"])
def test_anything_else_is_left_to_the_json_parser(text) -> None:
    assert snapshots._int_list(memoryview(text)) is None


def test_a_base_in_the_cache_is_not_read_from_its_parts_again(tmp_path, small_parts) -> None:
    """A replay window over a base already decoded (the inspector's snapshot cache) reads none of
    its parts again: only the first window's load reads them."""
    path = tmp_path / "p.db"
    stored = _store(path)
    in_parts = [p for p, magic in _rows(path, "SELECT position, substr(state, 1, 4) FROM snapshots WHERE run_id = ? "
                                              "ORDER BY position", RUN) if magic == PARTS_MAGIC]
    with SQLiteStore(path, readonly=True) as store:
        conn = store.connection
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        cache: dict = {}
        first = load_snapshot(conn, RUN, in_parts[-1], cache=cache)
        reads = sum("FROM snapshot_parts" in q and "ORDER BY part" in q for q in seen)
        seen.clear()
        again = load_snapshot(conn, RUN, in_parts[-1], cache=cache)
        conn.set_trace_callback(None)
        assert reads == 1 and not any("ORDER BY part" in q for q in seen)
        assert first is not None and again is not None and again[1].comparable() == first[1].comparable() == \
            fold(RUN, [e for e in stored if e.position <= in_parts[-1]]).comparable()
