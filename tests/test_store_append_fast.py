"""The append's batch fast paths give what the per-event paths give.

`canonical_timestamps` and `canonical_payloads` (store/envelope.py) accept a whole batch at once or
send it down the per-event path; the projection plan skips the guarded UPDATE of indexed columns
it knows to be stored already (store/sqlite.py `_StoredKeys`). Each is checked here against the
path it shortcuts: the same verdicts, the same stored rows, the same errors.
"""
from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenttui.store import Event, SQLiteStore, parse_envelope
from agenttui.store import base as store_base
from agenttui.store import sqlite as sqlite_backend
from agenttui.store.envelope import EnvelopeError, canonical_timestamps, normalize_timestamp

from test_store_projections import _expected_states, event_logs

CANONICAL = "2026-03-01T09:05:07.123456Z"


def _unchanged(stamp: object) -> bool:
    """normalize_timestamp's verdict: the stamp is stored exactly as given."""
    try:
        return isinstance(stamp, str) and normalize_timestamp(stamp) == stamp
    except EnvelopeError:
        return False


@st.composite
def stamps(draw) -> object:
    """Canonical stamps with a few characters replaced, cut or added: every field at its limits."""
    if draw(st.integers(0, 20)) == 0:
        return draw(st.none() | st.integers(0, 2 ** 31) | st.text(max_size=30))
    chars = list(draw(st.sampled_from([
        CANONICAL, "2024-02-29T23:59:59.999999Z", "2023-02-29T00:00:00.000000Z", "0000-01-01T00:00:00.000000Z",
        "0999-12-31T24:00:00.000000Z", "2026-13-01T00:00:00.000000Z", "2026-04-31T10:00:00.000000Z",
        "2026-04-30T10:60:00.000000Z", "2026-04-30T10:00:60.000000Z", "2026-04-30T10:59:59.000000Z",
        "9999-12-31T23:59:59.999999Z", "2026-01-01T19:59:59.000000Z"])))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(chars) - 1))
        chars[i] = draw(st.sampled_from(list("0123456789:-T.Zz t\n\x00") + ["\u0663", "\uff11", "é"]))
    if draw(st.integers(0, 8)) == 0:
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(list("0\n Z"))))
    if draw(st.integers(0, 8)) == 0:
        del chars[draw(st.integers(0, len(chars) - 1))]
    return "".join(chars)


@settings(max_examples=400, deadline=None)
@given(st.lists(stamps(), min_size=1, max_size=6))
def test_a_batch_of_stamps_is_canonical_exactly_when_each_is_kept_as_is(batch):
    assert canonical_timestamps(batch) == all(_unchanged(s) for s in batch)


def test_stamps_that_line_feeds_could_make_look_canonical_are_not():
    two = CANONICAL + "\n" + CANONICAL
    assert not canonical_timestamps([two])
    assert not canonical_timestamps([two, ""])
    assert canonical_timestamps([CANONICAL, CANONICAL])


# ----------------------------------------------------------------------- whole batches of events

def _odd_event(rng: random.Random, i: int) -> Event:
    """An event, most often canonical, else with one field the per-event path must normalise or refuse."""
    e = Event(event_type="llm_call_started", payload={"node_id": f"n{i % 3}", "i": i}, run_id="r1",
              event_id=f"e{i}", timestamp=CANONICAL)
    change = rng.randrange(15)
    if change == 1:
        e.timestamp = rng.choice(["2026-03-01T10:05:07+01:00", "2026-02-30T00:00:00.000000Z", 1.5e9])  # type: ignore[assignment]
    elif change == 2:
        e.run_id = rng.choice([None, "", "r\x00", "é-run", 7, "r" * 513])  # type: ignore[assignment]
    elif change == 3:
        e.node_id = rng.choice(["", "x" * 600, "nœud", 5])  # type: ignore[assignment]
    elif change == 4:
        e.payload = rng.choice([{"x": float("nan")}, {"x": None}, {"big": "y" * 3000}, [1], {"n": {1, 2}}])  # type: ignore[assignment]
    elif change == 5:
        e.metadata = rng.choice([{"schema_version": 1}, {"x": float("inf")}, {"x": None}, "meta",
                                 {"big": "z" * 3000}])  # type: ignore[assignment]
    elif change == 6:
        e.event_type = rng.choice(["", "t" * 201, "évènement", 3, "a\x00"])  # type: ignore[assignment]
    elif change == 7:
        e.event_id = rng.choice(["ü-id", "i" * 513, "a\x00b", 9])  # type: ignore[assignment]
    return e


def _outcome(store: SQLiteStore, batch: list[Event]) -> object:
    try:
        events, payloads = store._prepare(batch)
    except EnvelopeError as exc:
        return ("error", str(exc), exc.field)
    return ("ok", [(e.event_type, e.payload, e.run_id, e.event_id, e.timestamp, e.node_id, e.metadata)
                   for e in events], payloads)


def test_a_batch_of_events_is_prepared_as_the_per_event_path_would(tmp_path, monkeypatch):
    """The same drawn batches through both paths (the per-event one with canonical_payloads off):
    the same events, payload texts and errors (the per-event path normalises in place, so each
    path gets its own copies)."""
    rng = random.Random(15)
    seeds = [rng.randrange(1 << 30) for _ in range(600)]

    def batches() -> list[list[Event]]:
        out = []
        for seed in seeds:
            r = random.Random(seed)
            out.append([_odd_event(r, i) for i in range(r.randint(1, 6))])
        return out

    store = SQLiteStore(tmp_path / "p.db", max_payload_bytes=2000)
    fast = [_outcome(store, b) for b in batches()]
    monkeypatch.setattr(store_base, "canonical_payloads", lambda *a, **k: None)
    slow = [_outcome(store, b) for b in batches()]
    store.close()
    assert fast == slow
    assert {o[0] for o in fast} == {"ok", "error"}  # type: ignore[index]
    assert sum(o[0] == "ok" for o in fast) > 100  # type: ignore[index]


# ------------------------------------------------------------------ projections' indexed columns

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(event_logs(), st.lists(st.integers(0, 2), min_size=8, max_size=8))
def test_projections_stay_right_whoever_wrote_a_run_last(log, ways):
    """Events appended as Event objects (the fast path) by two writers taking turns and through
    bulk loads: nodes whose nid or outer node arrive late keep matching the fold."""
    events, sizes, _ = log
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "k.db", snapshot_every=5)
        other = SQLiteStore(Path(tmp) / "k.db", snapshot_every=5)
        at = 0
        for k, size in enumerate(sizes):
            batch = [parse_envelope(dict(e)) for e in events[at:at + size]]
            way = ways[k % len(ways)]
            if way == 2:
                with store.bulk() as session:
                    session.append(batch)
            else:
                (store, other)[way].append(batch)
            at += size
        other.close()
        assert store.check() == []
        for run_id, state in _expected_states(events).items():
            assert store.stored_state(run_id).comparable() == state.comparable(), run_id
        store.close()


def test_a_node_stored_without_its_nid_gets_it_from_a_later_append(tmp_path):
    store = SQLiteStore(tmp_path / "n.db")
    ts = iter(f"2026-03-01T09:00:{s:02d}.000000Z" for s in range(60))
    store.append(Event("step_started", {"node_id": "a", "step": 1}, "r", "e1", next(ts)))
    assert store.node("r", "a")["node_nid"] is None
    store.append(Event("node_created", {"node_id": "a", "node_nid": "1.2", "outer_node_id": "root"}, "r", "e2",
                       next(ts)))
    node = store.node("r", "a")
    assert (node["node_nid"], node["outer_node_id"]) == ("1.2", "root")
    assert store.connection.execute("SELECT node_id FROM nodes INDEXED BY idx_nodes_nid WHERE node_nid = '1.2'"
                                    ).fetchall() == [("a",)]
    assert store.check() == []
    store.close()


@pytest.mark.parametrize("n", [1, 100])
def test_fast_path_batches_store_what_dict_batches_store(tmp_path, n):
    """The same events as Event objects and as envelope dicts (which take the per-event path)."""
    dicts = [{"event_id": f"e{i}", "run_id": "r", "event_type": "node_created", "timestamp": CANONICAL,
              "payload": {"node_id": f"n{i}", "node_nid": f"1.{i}", "outer_node_id": "n0" if i else None}}
             for i in range(n)]
    a, b = SQLiteStore(tmp_path / "a.db"), SQLiteStore(tmp_path / "b.db")
    a.append([parse_envelope(dict(d)) for d in dicts])
    b.append(dicts)
    cols = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata"
    assert (a.connection.execute(f"SELECT {cols} FROM events").fetchall()
            == b.connection.execute(f"SELECT {cols} FROM events").fetchall())
    assert a.nodes("r") == b.nodes("r")
    a.close()
    b.close()


# --------------------------------------------------------------------------- multi-row inserts

def _big_batch(n: int, start: int = 0) -> list[Event]:
    """Events of two runs, with metadata, node ids and text needing escapes."""
    return [Event("note", {"text": f"line {i}\n\"quoted\" é", "i": i, "node_id": f"n{i % 7}"}, f"r{i % 2}",
                  f"big{i}", CANONICAL, metadata={"schema_version": 1, "i": i} if i % 3 else None)
            for i in range(start, start + n)]


def test_a_big_batch_stores_through_multi_row_inserts_what_executemany_stores(tmp_path, monkeypatch):
    """At MULTI_ROW_EVENTS events and more, the events go in as multi-row INSERTs: the same rows,
    hashes that verify, and the same projections as row by row."""
    n = sqlite_backend.MULTI_ROW_EVENTS + 37
    a = SQLiteStore(tmp_path / "multi.db")
    calls: list[int] = []
    real = sqlite_backend.insert_rows

    def counted(conn, sql, rows):
        calls.append(len(rows))
        return real(conn, sql, rows)

    monkeypatch.setattr(sqlite_backend, "insert_rows", counted)
    a.append(_big_batch(n))
    assert calls == [n], "the events of a big batch went through insert_rows"
    monkeypatch.setattr(sqlite_backend, "MULTI_ROW_EVENTS", 10**9)
    b = SQLiteStore(tmp_path / "rows.db")
    b.append(_big_batch(n))
    cols = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata"
    assert (a.connection.execute(f"SELECT {cols} FROM events ORDER BY id").fetchall()
            == b.connection.execute(f"SELECT {cols} FROM events ORDER BY id").fetchall())
    assert a.verify() == [] and b.verify() == []
    for run in ("r0", "r1"):
        assert a.nodes(run) == b.nodes(run)
    a.close()
    b.close()


def test_a_big_batch_holding_stored_events_stores_only_the_new_ones(tmp_path):
    """A multi-row INSERT meeting a stored event id fails whole, like executemany's row: the batch is
    redone without the stored events, which are counted as duplicates."""
    n = sqlite_backend.MULTI_ROW_EVENTS + 10
    with SQLiteStore(tmp_path / "dup.db") as store:
        store.append(_big_batch(5, start=n - 5))  # the batch's last five are stored already
        result = store.append(_big_batch(n))
        assert (result.stored, result.duplicates) == (n - 5, 5)
        assert store.count_events() == n
        assert store.verify() == []
        # and a whole batch of stored events stores nothing
        again = store.append(_big_batch(n))
        assert (again.stored, again.duplicates) == (0, n)


# --------------------------------------------------------------------------- WAL checkpoints

def _filler(n: int, start: int = 0) -> list[Event]:
    return [Event("note", {"text": "x" * 1500, "i": i}, "r", f"f{i}", CANONICAL) for i in range(start, start + n)]


def _events_in_the_database_file(path: Path) -> int:
    """Events the database file itself holds, its WAL ignored: what checkpoints have copied."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:  # not even the schema copied yet
        return 0
    finally:
        conn.close()


def test_the_checkpointer_thread_copies_the_wal_into_the_database_without_the_writer(tmp_path):
    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    assert store.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == sqlite_backend.WAL_RESTART_FRAMES
    store.append(_filler(300))  # well under WAL_RESTART_FRAMES pages: only the thread checkpoints them
    deadline = time.monotonic() + 60
    while _events_in_the_database_file(path) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _events_in_the_database_file(path) == 300
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]


def test_the_wal_starts_over_while_appends_keep_coming_even_without_the_thread(tmp_path, monkeypatch):
    """The writer's own automatic checkpoint at WAL_RESTART_FRAMES bounds the WAL (here with the
    thread never checkpointing at all)."""
    monkeypatch.setattr(sqlite_backend, "WAL_RESTART_FRAMES", 200)
    monkeypatch.setattr(sqlite_backend._Checkpointer, "_run", lambda self: None)
    path = tmp_path / "w.db"
    store = SQLiteStore(path)
    biggest = 0
    for k in range(60):
        store.append(_filler(20, k * 20))
        biggest = max(biggest, os.path.getsize(f"{path}-wal"))
    page = store.connection.execute("PRAGMA page_size").fetchone()[0]
    assert biggest < 2 * 200 * (page + 24)  # 60 batches of ~35 pages: without the restarts, ~2,000 pages
    assert store.count_events() == 1200 and store.verify() == []
    store.close()


def test_stores_closed_while_their_checkpointer_runs_leave_no_wal_behind(tmp_path):
    paths = [tmp_path / f"s{i}.db" for i in range(3)]
    stores = [SQLiteStore(p) for p in paths]
    for k in range(5):
        for s in stores:
            s.append(_filler(50, k * 50))
    for s in stores:
        s.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s0.db", "s1.db", "s2.db"]
    for p in paths:
        assert _events_in_the_database_file(p) == 250


def test_a_store_left_open_has_its_checkpointer_stopped_at_exit(tmp_path):
    """The exit hook ends every checkpointer thread (and closes its connection), so the writer's
    connection is the file's last one when the process ends."""
    store = SQLiteStore(tmp_path / "open.db")
    store.append(_filler(10))
    thread = store._checkpointer._thread  # type: ignore[union-attr]
    assert thread is not None and thread.is_alive()
    sqlite_backend._stop_checkpointers()
    assert not thread.is_alive()
    store.append(_filler(10, 10))  # a stopped checkpointer leaves the writer to SQLite's own checkpoints
    assert store.count_events() == 20
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["open.db"]
