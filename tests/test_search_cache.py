"""The search index kept in the user's cache: a search answers exactly like the plain LIKE whether
the index is cold (nothing cached), incomplete (the store grew since) or warm, and the cache never
lands next to the store, never trusts a file it does not match, and stays within its bound.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import orjson
import pytest

from agenttui.store import EventFilter, SQLiteStore
from agenttui.tui.data import search_cache
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.data.search_cache import IndexCache, cache_root, prune
from agenttui.tui.data.search_index import SearchIndex

from test_search_index import RUN, TERMS, _payloads, _reference, _write
from tui_support import anyio_backend  # noqa: F401

BLOCK, CHUNK = 4, 3  # 12 events a chunk: a few hundred events make many chunks


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(root))
    return root


def _cached(path: Path, store: SQLiteStore) -> SearchIndex:
    return SearchIndex.cached(str(path), InspectorReader(store), RUN, block=BLOCK, chunk=CHUNK)


def _assert_exact(store: SQLiteStore, index: SearchIndex, terms=TERMS) -> None:
    reader = InspectorReader(store)
    for term in terms:
        expected = _reference(store, term)
        got = reader.matching_seqs(RUN, EventFilter(search=term), index=index)
        assert list(got) == expected, term
        first = reader.first_match(RUN, EventFilter(search=term), after_seq=0, index=index)
        assert first == (expected[0] if expected else None), term


def test_cold_then_warm_cache_answers_like_the_reference_and_maps_the_chunks(tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "s.db"
    _write(path, _payloads(400, seed=3))
    with SQLiteStore(path, readonly=True) as store:
        cold = _cached(path, store)
        assert len(cold) == 0, "nothing cached on the first open"
        _assert_exact(store, cold, TERMS[:8])  # nothing indexed yet: every search scans
        assert cold.extend(InspectorReader(store))
        _assert_exact(store, cold)
        assert len(cold) == 100 and len(cold._chunks) == 100 // CHUNK
        assert all(isinstance(c, np.memmap) for c in cold._chunks), "full chunks are mapped from the cache"

        warm = _cached(path, store)
        assert len(warm) == 99 and warm.covered_position > 0, "every full chunk comes back"
        _assert_exact(store, warm)
        assert warm.extend(InspectorReader(store))
        assert (warm.bitmaps() == cold.bitmaps()).all()
        plain = SearchIndex(RUN, block=BLOCK, chunk=CHUNK)
        plain.extend(InspectorReader(store))
        assert (plain.bitmaps() == warm.bitmaps()).all()
        assert (plain._first[:100] == warm._first[:100]).all() and (plain._last[:100] == warm._last[:100]).all()
    assert cache_root().is_relative_to(cache_dir)


def test_nothing_is_written_next_to_the_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "data"
    store_dir.mkdir()
    path = store_dir / "s.db"
    _write(path, _payloads(200, seed=4))
    with SQLiteStore(path, readonly=True) as store:
        _cached(path, store).extend(InspectorReader(store))
        _cached(path, store).extend(InspectorReader(store))
    # (SQLite's own -wal/-shm of a WAL database aside: they are the store's, not the index's)
    assert sorted(p.name for p in store_dir.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["s.db"]


def test_an_incomplete_cache_goes_on_from_where_it_stopped_as_the_store_grows(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    _write(path, _payloads(150, seed=5))
    with SQLiteStore(path, readonly=True) as store:
        first = _cached(path, store)
        first.extend(InspectorReader(store))
        chunks = len(first._chunks)
        with SQLiteStore(path) as writer:
            writer.append([{"event_id": f"late-{i}", "run_id": RUN, "event_type": "note",
                            "payload": {"v": "needle-9z" if i == 77 else f"hay {i}"}} for i in range(120)])
        again = _cached(path, store)
        assert len(again._chunks) == chunks, "the cached chunks, then the rest from the store"
        _assert_exact(store, again, ["needle-9z", "hay 1", "alpha", "zzz-none"])  # incomplete: the rest scanned
        again.extend(InspectorReader(store))
        assert len(again._chunks) > chunks
        _assert_exact(store, again, ["needle-9z", "hay 1", "alpha", "zzz-none", "straße"])


def _forget_an_event(directory: Path) -> None:
    meta = orjson.loads((directory / "meta.json").read_bytes())
    meta["checks"][-1][1] = "an-event-this-store-never-had"
    (directory / "meta.json").write_bytes(orjson.dumps(meta))


def _damage_a_chunk(directory: Path) -> None:
    (directory / "chunk-000001.npy").write_bytes(b"not numpy")


@pytest.mark.parametrize("damage", [_forget_an_event, _damage_a_chunk], ids=["store-no-longer-matches", "damaged-chunk"])
def test_a_cache_that_cannot_be_trusted_is_dropped_and_rebuilt(tmp_path: Path, damage) -> None:
    path = tmp_path / "m.db"
    _write(path, _payloads(200, seed=6))
    with SQLiteStore(path, readonly=True) as store:
        built = _cached(path, store)
        built.extend(InspectorReader(store))
        directory = built.cache.directory
        damage(directory)
        again = _cached(path, store)
        assert len(again) == 0 and not (directory / "meta.json").exists()
        again.extend(InspectorReader(store))
        _assert_exact(store, again, TERMS[:10])
        assert len(_cached(path, store)) == len(again) // CHUNK * CHUNK, "rebuilt into the cache"


def test_another_file_at_the_same_path_gets_its_own_cache(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    _write(path, _payloads(120, seed=1))
    with SQLiteStore(path, readonly=True) as store:
        _cached(path, store).extend(InspectorReader(store))
    replacement = tmp_path / "new.db"
    _write(replacement, _payloads(120, seed=2))
    os.replace(replacement, path)
    with SQLiteStore(path, readonly=True) as store:
        index = _cached(path, store)
        assert len(index) == 0
        index.extend(InspectorReader(store))
        _assert_exact(store, index, TERMS[:10])


def test_an_unwritable_cache_leaves_the_index_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(blocker))
    path = tmp_path / "u.db"
    _write(path, _payloads(200, seed=9))
    with SQLiteStore(path, readonly=True) as store:
        index = _cached(path, store)
        assert index.extend(InspectorReader(store))
        assert len(index) == 50 and not any(isinstance(c, np.memmap) for c in index._chunks)
        _assert_exact(store, index, TERMS[:10])


def test_postgres_targets_have_no_cache() -> None:
    assert IndexCache.for_target("postgresql://u@h/db", RUN, block=BLOCK, bits=14, chunk=CHUNK) is None


def test_prune_keeps_the_most_recently_used_within_the_limit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for k in range(5):
        d = root / f"d{k}"
        d.mkdir(parents=True)
        (d / "chunk").write_bytes(b"x" * 1000)
        os.utime(d, (1000 + k, 1000 + k))
    prune(root, keep=root / "d0", limit=3000)  # d1, d2 go; d0 is in use
    assert sorted(p.name for p in root.iterdir()) == ["d0", "d3", "d4"]
    prune(root, limit=1000)
    assert sorted(p.name for p in root.iterdir()) == ["d4"]


def test_the_cache_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTTUI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert search_cache.cache_root() == tmp_path / "xdg" / "agenttui" / "search-index"


@pytest.mark.anyio
async def test_a_second_open_searches_with_the_cached_index_from_its_first_frames(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import agenttui.tui.screens.inspector as inspector
    from agenttui.tui.app import AgentTuiApp
    from agenttui.tui.data import search_index

    from tui_support import SIZE, wait_for  # (anyio_backend: imported at the top)

    monkeypatch.setattr(search_index, "BLOCK", 16)
    monkeypatch.setattr(search_index, "CHUNK_BLOCKS", 4)  # 64 events a chunk
    path = tmp_path / "app.db"
    _write(path, _payloads(600, seed=12), interleave=False)
    first = AgentTuiApp(path)
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: first.inspector.history is not None, "the first open's index and fold", 60)
        assert len(first.inspector.search.index) == 600 // 16
    release = threading.Event()  # the second open: the tree's first level (and all after it) held back
    real = inspector.load_store_nodes
    monkeypatch.setattr(inspector, "load_store_nodes", lambda *a, **k: release.wait(30) and real(*a, **k))
    second = AgentTuiApp(path)
    try:
        async with second.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: second.inspector.search.index is not None, "the cached index")
            assert second.inspector.node_tree.source is None, "before the tree's first level"
            index = second.inspector.search.index
            assert index is not None and len(index) == 600 // 16 // 4 * 4 and not index.build_seconds
            await pilot.press("slash", *"straße", "enter")
            await wait_for(pilot, lambda: second.inspector.search.matches is not None, "the search")
            with SQLiteStore(path, readonly=True) as store:
                assert list(second.inspector.search.matches) == _reference(store, "straße")
            release.set()
            await wait_for(pilot, lambda: second.inspector.history is not None, "the rest after the tree", 60)
            assert len(second.inspector.search.index) == 600 // 16 and index.build_seconds
    finally:
        release.set()
