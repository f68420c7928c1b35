"""The search blocks the SQLite store's writers keep (store/search_blocks.py): every way of writing
gives the blocks a fresh computation from the stored events gives, and no block hides a match."""
from __future__ import annotations

import io
import random
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson
import pytest

from agenttui.store import EventFilter, SQLiteStore, bulk, search_blocks
from agenttui.store.jsonl import import_jsonl
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.data.search_cache import IndexCache
from agenttui.tui.data.search_index import SearchIndex

WORDS = ["alpha", "Beta", "gamma", "straße", "ΣΊΣΥΦΟΣ", "naïve", "😀", "needle", "hay", "tool", "x"]


def _events(n: int, runs: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        out.append({"event_id": f"e-{seed}-{i}", "run_id": f"r{rng.randrange(runs)}", "event_type": "note",
                    "timestamp": (start + timedelta(seconds=i)).isoformat(), "payload": {"i": i, "text": text}})
    return out


def _blocks(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT run_id, block, first_position, last_position, events, bits, bitmap "
                            "FROM search_blocks ORDER BY run_id, block").fetchall()


def _expected(path: Path) -> list[tuple]:
    """The blocks computed afresh from the stored events, one block at a time (no batching across
    blocks), with each payload hashed on its own: every full block of BLOCK seqs per run."""
    with sqlite3.connect(path) as conn:
        runs = conn.execute("SELECT run_id, last_seq FROM runs ORDER BY run_id").fetchall()
        out = []
        for run_id, last in runs:
            for k in range(last // search_blocks.BLOCK):
                rows = conn.execute("SELECT id, payload FROM events WHERE run_id = ? AND seq > ? AND seq <= ? "
                                    "ORDER BY seq", (run_id, k * 128, k * 128 + 128)).fetchall()
                if rows:
                    seen = np.zeros(1 << search_blocks.BITS, dtype=bool)
                    for _, payload in rows:
                        seen[search_blocks.trigram_hashes(search_blocks.indexed_text(payload))] = True
                    out.append((run_id, k, rows[0][0], rows[-1][0], len(rows), search_blocks.BITS, seen))
        return out


def _same(got: list[tuple], expected: list[tuple]) -> bool:
    """The same blocks, each bitmap holding at least every trigram of each of its payloads (a
    batched or joined hashing adds the trigrams that cross two payloads, never loses one)."""
    if [g[:6] for g in got] != [e[:6] for e in expected]:
        return False
    for g, e in zip(got, expected):
        bits = np.unpackbits(np.frombuffer(g[6], dtype=np.uint8), bitorder="little").astype(bool)
        if (e[6] & ~bits).any():
            return False
    return True


@pytest.mark.parametrize("batch", [1, 50, 128, 300])
def test_appends_of_any_batch_size_write_every_completed_block(tmp_path, batch):
    events = _events(1100, runs=3, seed=batch)
    with SQLiteStore(tmp_path / "a.db") as store:
        for k in range(0, len(events), batch):
            store.append(events[k:k + batch])
    blocks = _blocks(tmp_path / "a.db")
    assert _same(blocks, _expected(tmp_path / "a.db"))
    assert sum(b[4] for b in blocks) == sum(r // 128 * 128 for r in _run_sizes(events))


def _run_sizes(events: list[dict]) -> list[int]:
    sizes: dict[str, int] = {}
    for e in events:
        sizes[e["run_id"]] = sizes.get(e["run_id"], 0) + 1
    return list(sizes.values())


@pytest.mark.parametrize("window", [1, bulk.BLOCK_RUNS])
def test_an_import_writes_the_same_blocks_into_an_empty_and_into_a_used_store(tmp_path, monkeypatch, window):
    monkeypatch.setattr(bulk, "BLOCK_RUNS", window)
    events = _events(2000, runs=5, seed=window)
    jsonl = b"".join(orjson.dumps(e) + b"\n" for e in events)
    with SQLiteStore(tmp_path / "empty.db") as store:
        assert import_jsonl(store, io.BytesIO(jsonl), batch_size=97).stored == 2000
    with SQLiteStore(tmp_path / "used.db") as store:  # a first part appended, the rest imported
        store.append(events[:333])
        assert import_jsonl(store, io.BytesIO(jsonl), batch_size=97).stored == 2000 - 333
    with SQLiteStore(tmp_path / "appended.db") as store:
        store.append(events)
    for name in ("empty", "used"):
        got = _blocks(tmp_path / f"{name}.db")
        expected = {(b[0], b[1]): b for b in _expected(tmp_path / f"{name}.db")}
        assert all(_same([b], [expected[(b[0], b[1])]]) for b in got)  # each block written is right
        if window > 1 or name == "used":  # every block, as appending gives them (a used store's
            # load reads an evicted run's unfinished block back through the event indexes)
            assert _same(got, list(expected.values()))
            assert [b[:6] for b in got] == [b[:6] for b in _blocks(tmp_path / "appended.db")]
        else:  # into an empty store, a run that left the window gets no more blocks from this load
            assert got and len(got) < len(expected)


def test_no_block_hides_a_match(tmp_path):
    """Every event a search finds lies in a candidate range of the index built from stored blocks."""
    events = _events(1500, runs=2, seed=11)
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        for k in range(0, len(events), 64):
            store.append(events[k:k + 64])
    with SQLiteStore(path, readonly=True) as store:
        reader = InspectorReader(store)
        for run_id in ("r0", "r1"):
            index = SearchIndex.cached(str(path) + ".no-cache", reader, run_id)
            assert index.events == store.run(run_id)["event_count"] // 128 * 128
            for term in ["STRASSE", "straße", "σίσυφος", "NAÏVE", "needle gamma", "😀", "zz-nowhere", "Beta x"]:
                hits = [e.position for e in store.events(EventFilter(run_id=run_id, search=term))]
                ranges = index.candidate_ranges(term, 1, store.last_position())
                assert all(any(lo <= p <= hi for lo, hi in ranges) for p in hits), term


def test_a_store_from_before_schema_4_gets_the_table_and_blocks_from_then_on(tmp_path):
    path = tmp_path / "old.db"
    with SQLiteStore(path) as store:
        store.append(_events(300, runs=1, seed=1))
    with sqlite3.connect(path) as conn:  # back to schema 3: no table
        conn.execute("DROP TABLE search_blocks")
        conn.execute("PRAGMA user_version = 3")
    with SQLiteStore(path, readonly=True) as store:  # read-only: no migration, no blocks, no error
        assert InspectorReader(store).search_blocks("r0") == []
    with SQLiteStore(path) as store:  # migrated on a writable open; the next block boundary writes one
        store.append(_events(300, runs=1, seed=2))
    blocks = _blocks(path)
    assert [b[1] for b in blocks] == [2, 3]  # blocks 0 and 1 were completed before the table existed
    with SQLiteStore(path, readonly=True) as store:
        reader = InspectorReader(store)
        assert SearchIndex("r0")._stored_start(reader) is None, \
            "blocks that do not start at the run's first event are not used"
        assert len(SearchIndex.cached(str(path) + ".no-cache", reader, "r0")) == 0


def test_retention_drops_only_the_blocks_left_without_events(tmp_path):
    path = tmp_path / "ret.db"
    events = _events(1000, runs=1, seed=4)  # one event a second from 2026-01-01
    with SQLiteStore(path) as store:
        store.append(events)
        before = _blocks(path)
        now = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=1, seconds=200)
        store.retention(1, now=now)  # deletes the first 200 events: block 0 entirely, block 1 partly
    after = _blocks(path)
    assert [b[1] for b in after] == [b[1] for b in before][1:]
    with SQLiteStore(path, readonly=True) as store:
        reader = InspectorReader(store)
        assert SearchIndex("r0")._stored_start(reader) == after[0][1]
        assert len(SearchIndex.cached(str(path) + ".no-cache", reader, "r0")) == len(after)


def test_payload_groups_give_the_bitmap_of_the_joined_text(monkeypatch):
    payloads = ['{"a":"Straße x"}', '{"b":"ΣΊΣΥΦΟΣ"}', '{"c":"' + "y" * 50 + '"}', '{"d":"plain"}']
    whole = np.unpackbits(np.frombuffer(search_blocks.payloads_bitmap(payloads), dtype=np.uint8), bitorder="little")
    monkeypatch.setattr(search_blocks, "HASH_WINDOW", 20)  # a group per payload or two
    cut = np.unpackbits(np.frombuffer(search_blocks.payloads_bitmap(payloads), dtype=np.uint8), bitorder="little")
    assert not (cut & ~whole).any()  # cutting only drops trigrams that cross two payloads
    for term in ["straße", "σίσυφος", "yyyy", "plain"]:
        key = search_blocks.search_key(term)
        assert all(cut[h] for h in search_blocks.trigram_hashes(key)), term


def test_rebuild_recomputes_the_blocks_of_runs_written_before_them(tmp_path):
    path = tmp_path / "rb.db"
    with SQLiteStore(path) as store:
        for k in range(0, 1100, 90):
            store.append(_events(1100, runs=3, seed=5)[k:k + 90])
    kept = _blocks(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM search_blocks WHERE block % 2 = 0")  # as if written partly before v4
    with SQLiteStore(path) as store:
        counts = store.rebuild()
    assert counts["search_blocks"] == len(kept) and _same(_blocks(path), _expected(path))
    assert [b[:6] for b in _blocks(path)] == [b[:6] for b in kept]


def test_two_writers_taking_turns_on_one_run_write_the_right_blocks(tmp_path, monkeypatch):
    """A writer's kept payloads of the unfinished block are stale once another writer appended to
    the run: it must read the block back, not complete it from its own part."""
    monkeypatch.setattr(search_blocks, "TAIL_RUNS", 2)  # and runs fall out of the kept tails
    path = tmp_path / "two.db"
    events = _events(1400, runs=4, seed=8)
    first, second = SQLiteStore(path), SQLiteStore(path)
    try:
        for k in range(0, len(events), 45):
            (first if (k // 45) % 3 else second).append(events[k:k + 45])
    finally:
        first.close()
        second.close()
    assert _same(_blocks(path), _expected(path)) and len(_blocks(path)) >= 8


def test_a_batch_rolled_back_after_its_blocks_were_computed_leaves_nothing_behind(tmp_path, monkeypatch):
    """The block write itself fails: the batch is rolled back, and neither its rows nor the payloads
    kept for the next block survive; the same batch appended again gives the right blocks."""
    path = tmp_path / "rb.db"
    events = _events(400, runs=1, seed=9)
    with SQLiteStore(path) as store:
        store.append(events[:100])
        monkeypatch.setattr(search_blocks, "INSERT_SQL", "INSERT INTO no_such_table VALUES (?,?,?,?,?,?,?)")
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            store.append(events[100:200])  # completes block 0, whose write fails
        monkeypatch.undo()
        assert store.count_events() == 100 and _blocks(path) == []
        store.append(events[100:150])
        store.append(events[150:300])
    assert _same(_blocks(path), _expected(path)) and len(_blocks(path)) == 2


def test_blocks_of_big_payloads_keep_every_trigram_and_bounded_hashing(tmp_path, monkeypatch):
    """Payloads of megabytes: hashed a window at a time (no block-sized text in memory), and a term
    at the very end of the biggest one is still in its block's bitmap."""
    monkeypatch.setattr(search_blocks, "HASH_WINDOW", 1 << 16)
    path = tmp_path / "big.db"
    big = "filler " * 300_000 + "needle-at-the-end-q8"  # ~2 MB
    events = [{"event_id": f"b-{i}", "run_id": "r0", "event_type": "artifact",
               "payload": {"text": big if i in (5, 130) else f"small {i}"}} for i in range(260)]
    with SQLiteStore(path) as store:
        for k in range(0, len(events), 50):
            store.append(events[k:k + 50])
    blocks = _blocks(path)
    assert [b[1] for b in blocks] == [0, 1] and _same(blocks, _expected(path))
    key = search_blocks.search_key("NEEDLE-AT-THE-END-Q8")
    for b in blocks:
        bits = np.unpackbits(np.frombuffer(b[6], dtype=np.uint8), bitorder="little")
        assert all(bits[h] for h in search_blocks.trigram_hashes(key))


def test_stored_blocks_go_to_the_cache_a_chunk_at_a_time(tmp_path, monkeypatch):
    """The store's blocks are copied into the user's cache and mapped from there, not held: the index
    keeps one unfinished chunk in memory; the next open maps them and reads only the store's newer
    blocks; either way the bitmaps are the store's and no block hides a match."""
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "s.db"
    events = _events(3000, runs=2, seed=5)
    with SQLiteStore(path) as store:
        store.append(events[:2000])
    chunk = 3
    for rnd in ("cold", "warm", "grown"):
        if rnd == "grown":
            with SQLiteStore(path) as store:
                store.append(events[2000:])
        with SQLiteStore(path, readonly=True) as store:
            reader = InspectorReader(store)
            rows = [b for b in _blocks(path) if b[0] == "r0"]
            index = SearchIndex.cached(str(path), reader, "r0", chunk=chunk)
            assert len(index) == len(rows) >= 2 * chunk, rnd
            assert len(index._chunks) == len(rows) // chunk
            assert all(isinstance(c, np.memmap) for c in index._chunks), "full chunks are mapped from the cache"
            assert index.nbytes <= (1 << search_blocks.BITS) // 8 * chunk + 16 * len(rows) * 2
            stored = np.stack([np.frombuffer(b[6], dtype=np.uint8) for b in rows], axis=1)
            assert (index.bitmaps() == stored).all(), rnd
            assert index._last[:len(index)].tolist() == [b[3] for b in rows]
            for term in ["STRASSE", "σίσυφος", "needle gamma", "😀", "zz-nowhere"]:
                hits = [e.position for e in store.events(EventFilter(run_id="r0", search=term))]
                ranges = index.candidate_ranges(term, 1, store.last_position())
                assert all(any(lo <= p <= hi for lo, hi in ranges) for p in hits), (rnd, term)


def test_a_cache_built_with_other_block_ends_gives_way_to_the_store(tmp_path, monkeypatch):
    """A cache the inspector built itself (its blocks end elsewhere than the store's) is kept, the
    store's blocks not mixed in, while it covers as much; dropped for them once they cover more."""
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "s.db"
    events = _events(2600, runs=1, seed=6)
    with SQLiteStore(path) as store:
        store.append(events[:600])
    with SQLiteStore(path, readonly=True) as store:
        reader = InspectorReader(store)
        own = SearchIndex.cached(str(path), reader, "r0", chunk=3)
        own._count = own._events = 0  # as if the store had no blocks: the inspector builds ...
        own._chunks, own._first, own._last = [], own._first[:0], own._last[:0]
        own.cache.clear()
        monkeypatch.setattr("agenttui.tui.data.search_index.BLOCK_CHARS", 1500)  # ... with short blocks
        assert own.extend(reader) and len(own._chunks) >= 2
        built_end = int(own._last[len(own._chunks) * 3 - 1])
        assert built_end not in {b[3] for b in _blocks(path)}, "the built blocks end elsewhere"
        assert built_end > max(b[3] for b in _blocks(path))
        kept = SearchIndex.cached(str(path), reader, "r0", chunk=3)
        assert len(kept) == len(own._chunks) * 3 and kept.covered_position == built_end
    with SQLiteStore(path) as store:
        store.append(events[600:])
    with SQLiteStore(path, readonly=True) as store:
        again = SearchIndex.cached(str(path), InspectorReader(store), "r0", chunk=3)
        rows = _blocks(path)
        assert len(again) == len(rows) and again._last[:len(again)].tolist() == [b[3] for b in rows]


def test_two_inspectors_opening_at_once_both_map_the_cache(tmp_path, monkeypatch):
    """An index that finds another inspector's cache ahead of it, holding the same blocks, maps those
    chunks instead of keeping its own in memory; chunks that do not match stay its own."""
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        store.append(_events(2000, runs=1, seed=7))
    with SQLiteStore(path, readonly=True) as store:
        reader = InspectorReader(store)
        late = SearchIndex("r0", chunk=3, cache=IndexCache.for_target(str(path), "r0", block=128, bits=14, chunk=3))
        late.cache.bind(reader)
        rows = _blocks(path)[:3]  # the late one copies its first chunk ...
        late._append(np.stack([np.frombuffer(b[6], dtype=np.uint8) for b in rows], axis=1),
                     np.array([b[2] for b in rows]), np.array([b[3] for b in rows]), 3 * 128)
        first = SearchIndex.cached(str(path), reader, "r0", chunk=3)  # ... another one opens and copies the rest
        assert len(first._chunks) == 5
        late._copy_stored(reader, 0, 3)  # the late one goes on: chunks 1 and on are already there
        assert len(late) == len(first) and all(isinstance(c, np.memmap) for c in late._chunks)
        assert [c.filename for c in late._chunks] == [c.filename for c in first._chunks]
        assert (late.bitmaps() == first.bitmaps()).all()
        other = first.cache.save_chunk(1, late._chunks[1], late._first[:6] + 1, late._last[:6], 768)
        assert other is None, "blocks that end elsewhere are not taken for the cached ones"
