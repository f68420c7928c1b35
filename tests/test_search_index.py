"""The search index only ever narrows where a search reads: every answer equals the plain LIKE's.

The reference is the store's own `EventFilter.where()` run over every row of the run (what the
inspector did before the index). Payloads mix ASCII, accents, ß, Turkish İ/ı, final sigma, the
Kelvin sign, emoji, JSON escapes (quotes, backslashes, newlines, control characters) and LIKE's
own wildcards; blocks are kept tiny so a few hundred events make many blocks.
"""
from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenttui.store import EventFilter, SQLiteStore, search_blocks
from agenttui.tui.data import reader as queries, search_index
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.data.search_index import SearchIndex, search_key

from tui_support import SIZE, anyio_backend, wait_for  # noqa: F401

RUN = "run-search"
OTHER = "run-other"
ALPHABET = "aAbBcCzZ09 -_%.:/é É ß ẞ İ ı i ̇ ς Σ σ K k 😀 日本 \"\\\n\t\x01{}[]"
WORDS = ["alpha", "Beta", "café", "CAFÉ", "straße", "STRASSE", "İstanbul", "ıi", "ΟΔΟΣ", "όσος", "Kelvin",
         "😀 party", "say \"hi\"", "back\\slash", "line\nbreak", "tab\there", "ctl\x01x", "100%", "a_b",
         "xyzzy", "日本語", "ǅ", "ﬁle"]
TERMS = ["alpha", "ALPHA", "beta", "Café", "É", "é", "ss", "ß", "STRASSE", "straße", "İ", "i̇", "istanbul",
         "ı", "σ", "ς", "Σ", "ΟΔΟΣ", "k", "K", "😀", "\"hi\"", "\"", "\\", "back\\slash", "\n", "line\nbreak",
         "\t", "\x01", "100%", "%", "_", "a_b", "a", "ab", "xy", "xyzzy", "zzz-none", "日本", "ǆ", "fi", "ﬁ",
         "\"}", "}\n{", "nope\"}{\"v\": \"next"]


def _payloads(n: int, seed: int) -> list[dict]:
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4)))
        out.append({"i": i, "v": text, "k": rng.choice(WORDS)})
    return out


def _write(path: Path, payloads: list[dict], *, interleave: bool = True) -> None:
    """The run's events, with another run's events between batches of them."""
    with SQLiteStore(path) as writer:
        for k in range(0, len(payloads), 37):
            writer.append([{"event_id": f"e-{k + j}", "run_id": RUN, "event_type": "note", "payload": p}
                           for j, p in enumerate(payloads[k:k + 37])])
            if interleave:
                writer.append([{"event_id": f"o-{k}-{j}", "run_id": OTHER, "event_type": "note",
                                "payload": {"v": "alpha straße 😀 xyzzy"}} for j in range(3)])


def _reference(store: SQLiteStore, term: str, after: int = 0, upto: int | None = None) -> list[int]:
    where, params = EventFilter(run_id=RUN, search=term).where()
    sql = f"SELECT seq FROM events WHERE {where} AND seq > ?"
    params.append(after)
    if upto is not None:
        sql += " AND seq <= ?"
        params.append(upto)
    return [r[0] for r in store.connection.execute(sql + " ORDER BY seq", params)]


def _positions(store: SQLiteStore, seqs: list[int]) -> list[int]:
    return [InspectorReader(store).position_of_seq(RUN, s) for s in seqs]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("search") / "s.db"
    _write(path, _payloads(700, seed=3))
    store = SQLiteStore(path, readonly=True)
    index = SearchIndex(RUN, block=8)
    assert index.extend(InspectorReader(store))
    yield store, index
    store.close()


@pytest.fixture(params=["default-scans", "tiny-scans"])
def scans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's own sizes, or tiny ones: every candidate range its own query, cut in pieces."""
    if request.param == "tiny-scans":
        monkeypatch.setattr(queries, "SCAN_GAP", 0)
        monkeypatch.setattr(queries, "SCAN_POSITIONS", 7)


@pytest.mark.parametrize("term", TERMS, ids=repr)
def test_index_backed_search_equals_plain_like(indexed, scans, term: str) -> None:
    store, index = indexed
    last = InspectorReader(store).last_seq(RUN)
    assert len(index) == last // 8, "complete blocks only"
    for after, upto in ((0, None), (0, last), (123, 456), (last - 3, last), (640, 650)):
        expected = _reference(store, term, after, upto)
        got = InspectorReader(store).matching_seqs(RUN, EventFilter(search=term), after_seq=after, upto_seq=upto,
                                    index=index)
        assert list(got) == expected, (after, upto)
        without = InspectorReader(store).matching_seqs(RUN, EventFilter(search=term), after_seq=after, upto_seq=upto)
        assert list(without) == expected
    # the pre-filter alone never leaves out a matching position
    every = _reference(store, term)
    ranges = index.candidate_ranges(term, 1, 10**9)
    assert all(a <= b for a, b in ranges) and all(ranges[i][1] < ranges[i + 1][0] for i in range(len(ranges) - 1))
    for position in _positions(store, every):
        assert any(a <= position <= b for a, b in ranges), position


@pytest.mark.parametrize("term", ["alpha", "straße", "😀", "zzz-none", "ß", "a"], ids=repr)
def test_first_match_with_and_without_the_index_wraps_like_the_reference(indexed, scans, term: str) -> None:
    store, index = indexed
    every = _reference(store, term)
    for after in (0, 1, 200, 499, 699, 700):
        later = [s for s in every if s > after]
        expected = later[0] if later else (every[0] if every else None)
        for ix in (index, None):
            assert InspectorReader(store).first_match(RUN, EventFilter(search=term), after_seq=after, index=ix) == expected


@pytest.mark.parametrize("term", ["alpha", "CAFÉ", "xyzzy", "zzz-none", "日本", "a"], ids=repr)
def test_the_previous_match_with_and_without_the_index_wraps_like_the_reference(indexed, scans, term: str) -> None:
    store, index = indexed
    every = _reference(store, term)
    last = InspectorReader(store).last_seq(RUN)
    for cursor in (1, 2, 50, 333, last, last + 1):
        before = [s for s in every if s < cursor]
        expected = before[-1] if before else (every[-1] if every else None)
        for idx in (index, None):
            assert InspectorReader(store).first_match_within(RUN, term, after_seq=cursor, index=idx, max_positions=10**9,
                                              backward=True) == (True, expected), (cursor, idx is None)


def test_a_term_of_a_type_filtered_search_still_matches_the_reference(indexed) -> None:
    store, index = indexed
    where, params = EventFilter(run_id=RUN, types=["note"], search="Kelvin").where()
    expected = [r[0] for r in store.connection.execute(f"SELECT seq FROM events WHERE {where} ORDER BY seq", params)]
    got = InspectorReader(store).matching_seqs(RUN, EventFilter(types=["note"], search="Kelvin"), index=index)
    assert list(got) == expected and expected
    none = InspectorReader(store).matching_seqs(RUN, EventFilter(types=["other"], search="Kelvin"), index=index)
    assert list(none) == []


def test_a_bounded_first_match_decides_or_leaves_it_to_the_worker(indexed) -> None:
    store, index = indexed
    every = _reference(store, "zzz-none")
    assert every == []
    # with the index a term found nowhere is decided without reading the blocks; without it,
    # a small budget runs out before the run is read
    assert InspectorReader(store).first_match_within(RUN, "zzz-none", after_seq=0, index=index, max_positions=10) == \
        (True, None)
    assert InspectorReader(store).first_match_within(RUN, "zzz-none", after_seq=0, index=None, max_positions=10) == \
        (False, None)
    assert InspectorReader(store).first_match_within(RUN, "zzz-none", after_seq=0, index=None, max_positions=10**6) == \
        (True, None)
    common = _reference(store, "alpha")
    for ix in (index, None):
        assert InspectorReader(store).first_match_within(RUN, "alpha", after_seq=common[3], index=ix,
                                          max_positions=1000) == (True, common[4])


def test_short_terms_cannot_be_prefiltered(indexed) -> None:
    store, index = indexed
    first, last = InspectorReader(store).first_position(RUN), InspectorReader(store).last_position(RUN)
    for term in ("a", "ab", "é", "\""):  # under 3 bytes once JSON-escaped and folded
        assert len(search_key(term)) < 3
        assert index.candidate_ranges(term, first, last) == [(first, last)]
    assert len(search_key("\\")) == 2 and len(search_key("\n")) == 2  # escaped: `\\`, `\n`


def test_a_term_found_nowhere_leaves_no_block_and_a_rare_one_few(indexed) -> None:
    store, index = indexed
    first, last = InspectorReader(store).first_position(RUN), InspectorReader(store).last_position(RUN)
    assert index.candidate_ranges("zzz-none", first, last) in ([], [(index.covered_position + 1, last)])
    rare = index.candidate_ranges(":417,", first, last)
    assert sum(b - a + 1 for a, b in rare) < (last - first) / 10
    assert list(InspectorReader(store).matching_seqs(RUN, EventFilter(search=":417,"), index=index)) == \
        _reference(store, ":417,") == [418]


def test_terms_across_two_events_never_match(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    payloads = [{"v": 12345}, {"w": 6789}] * 20  # stored `{"v":12345}`, `{"w":6789}`: no quote between
    _write(path, payloads, interleave=False)
    with SQLiteStore(path, readonly=True) as store:
        index = SearchIndex(RUN, block=4)
        index.extend(InspectorReader(store))
        for term in ("345}{", "45}{", "5}\n{", "345}", "}{"):
            expected = _reference(store, term)
            assert list(InspectorReader(store).matching_seqs(RUN, EventFilter(search=term), index=index)) == expected
            assert InspectorReader(store).first_match(RUN, EventFilter(search=term), after_seq=3, index=index) == \
                next((s for s in expected if s > 3), None)
        assert _reference(store, "345}{") == [] and _reference(store, "}{") == []
        assert len(_reference(store, "345}")) == 20


def test_the_index_grows_with_appended_events_and_finds_them_before_and_after(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    _write(path, _payloads(100, seed=5))
    with SQLiteStore(path, readonly=True) as store:
        index = SearchIndex(RUN, block=16)
        index.extend(InspectorReader(store))
        assert len(index) == 6 and index.events == 96
        covered = index.covered_position
        with SQLiteStore(path) as writer:
            writer.append([{"event_id": f"late-{i}", "run_id": RUN, "event_type": "note",
                            "payload": {"v": "needle-7q" if i == 40 else "hay"}} for i in range(50)])
        seq = _reference(store, "NEEDLE-7Q")
        assert len(seq) == 1
        # past the last complete block: scanned, not missed
        assert list(InspectorReader(store).matching_seqs(RUN, EventFilter(search="needle-7q"), index=index)) == seq
        assert InspectorReader(store).first_match(RUN, EventFilter(search="needle-7q"), after_seq=0, index=index) == seq[0]
        assert index.extend(InspectorReader(store))
        assert len(index) == 150 // 16 and index.covered_position > covered
        ranges = index.candidate_ranges("needle-7q", 1, InspectorReader(store).last_position(RUN))
        position = InspectorReader(store).position_of_seq(RUN, seq[0])
        assert any(a <= position <= b for a, b in ranges)
        assert sum(b - a + 1 for a, b in ranges) <= 16 + (InspectorReader(store).last_position(RUN) - index.covered_position)
        assert list(InspectorReader(store).matching_seqs(RUN, EventFilter(search="needle-7q"), index=index)) == seq


def test_growing_past_the_capacity_keeps_earlier_blocks(tmp_path: Path) -> None:
    path = tmp_path / "grow.db"
    _write(path, _payloads(300, seed=9), interleave=False)
    with SQLiteStore(path, readonly=True) as store:
        small = SearchIndex(RUN, block=2)  # 150 blocks: the arrays double from 16 several times
        small.extend(InspectorReader(store))
        assert len(small) == 150
        for term in ("café", "xyzzy", ":299,"):
            assert list(InspectorReader(store).matching_seqs(RUN, EventFilter(search=term), index=small)) == \
                _reference(store, term)


def test_a_cancelled_build_keeps_what_it_finished_and_goes_on_later(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.db"
    _write(path, _payloads(400, seed=7))
    monkeypatch.setattr(search_index, "READ_ROWS", 50)
    with SQLiteStore(path, readonly=True) as store:
        index = SearchIndex(RUN, block=10)
        assert index.extend(InspectorReader(store), cancelled=lambda: True) is False
        assert len(index) == 0
        calls = []
        assert index.extend(InspectorReader(store), cancelled=lambda: calls.append(1) or len(calls) > 3) is False
        assert 0 < len(index) < 40
        partial = index.covered_position
        assert index.extend(InspectorReader(store)) is True
        assert len(index) == 40 and index.covered_position > partial
        whole = SearchIndex(RUN, block=10)
        whole.extend(InspectorReader(store))
        assert (index.bitmaps()[:, :40] == whole.bitmaps()[:, :40]).all()
        assert (index._first[:40] == whole._first[:40]).all()
        # a cancelled search says so (None), it does not return a partial answer
        assert InspectorReader(store).matching_seqs(RUN, EventFilter(search="alpha"), index=index,
                                     cancelled=lambda: True) is None
        assert InspectorReader(store).first_match(RUN, EventFilter(search="alpha"), after_seq=0,
                                   cancelled=lambda: True) is None


def test_readers_search_while_a_builder_extends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.db"
    _write(path, _payloads(2000, seed=11))
    monkeypatch.setattr(search_index, "READ_ROWS", 64)
    index = SearchIndex(RUN, block=4)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            with SQLiteStore(path, readonly=True) as s:
                index.extend(InspectorReader(s), cancelled=lambda: time.sleep(0.002) or False)  # slow enough to watch
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with SQLiteStore(path, readonly=True) as store:
        expected = _reference(store, "straße")
        thread = threading.Thread(target=build)
        thread.start()
        seen = set()
        while thread.is_alive() or not seen:
            seen.add(len(index))
            got = InspectorReader(store).matching_seqs(RUN, EventFilter(search="straße"), index=index)
            assert list(got) == expected
        thread.join()
    assert not errors
    assert len(index) == 500 and len(seen) > 1, "searched while the index was partly built"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.text(alphabet=ALPHABET, max_size=12), min_size=1, max_size=40),
       pick=st.integers(min_value=0), start=st.integers(min_value=0, max_value=12),
       length=st.integers(min_value=1, max_value=6), swap=st.booleans(),
       other=st.text(alphabet=ALPHABET, min_size=1, max_size=4), block=st.sampled_from([1, 2, 3, 8]))
def test_hypothesis_index_backed_search_equals_like(texts, pick, start, length, swap, other, block) -> None:
    base = texts[pick % len(texts)]
    term = base[start:start + length] or other
    if swap:
        term = term.swapcase()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(queries, "SCAN_GAP", 0)  # each candidate block read on its own
        patch.setattr(queries, "SCAN_POSITIONS", 5)
        path = Path(tmp) / "h.db"
        _write(path, [{"t": t} for t in texts])
        with SQLiteStore(path, readonly=True) as store:
            index = SearchIndex(RUN, block=block)
            index.extend(InspectorReader(store))
            expected = _reference(store, term)
            got = InspectorReader(store).matching_seqs(RUN, EventFilter(search=term), index=index)
            assert list(got) == expected
            first = InspectorReader(store).first_match(RUN, EventFilter(search=term), after_seq=len(texts) // 2,
                                        index=index)
            later = [s for s in expected if s > len(texts) // 2]
            assert first == (later[0] if later else (expected[0] if expected else None))


# ---------------------------------------------------------------------------- in the app

pytestmark_app = pytest.mark.anyio


def _app_db(path: Path, n: int = 1500, needle_at: int = 1100, *, stored_blocks: bool = False) -> Path:
    """A run of `n` notes, one holding the needle. stored_blocks=False: without the search blocks the
    writer keeps (as a file from before schema 4), so the inspector builds its whole index itself."""
    with SQLiteStore(path) as writer:
        writer.append([{"event_id": f"a-{i}", "run_id": RUN, "event_type": "note",
                        "payload": {"i": i, "v": "Needle-Q7 here" if i == needle_at else "hay " * (i % 5)}}
                       for i in range(n)])
        if not stored_blocks:
            writer.connection.execute("DELETE FROM search_blocks")
    return path


@pytestmark_app
async def test_the_app_starts_from_the_blocks_the_writer_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index covers the writer's blocks at once, before its own build runs (held here), and
    finds through them what the SQL finds, with the events past the last block scanned."""
    db = _app_db(tmp_path / "app.db", n=1500, needle_at=700, stored_blocks=True)
    with SQLiteStore(db) as writer:
        writer.append([{"event_id": f"tail-{i}", "run_id": RUN, "event_type": "note",
                        "payload": {"v": "tail needle-q7" if i == 30 else "tail"}} for i in range(40)])
    release = threading.Event()
    original = SearchIndex.extend

    def held(self, store, cancelled=lambda: False):
        release.wait(20)
        return original(self, store, cancelled)

    monkeypatch.setattr(SearchIndex, "extend", held)
    app = AgentTuiApp(db)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.inspector.search.index is not None, "the index")
            index = app.inspector.search.index
            assert len(index) == 1540 // search_index.BLOCK and index.events == 1536
            assert index.candidate_ranges("needle-q7", 1, 1540)[0] == (641, 768)  # the block of seq 701
            await pilot.press("slash", *"NEEDLE-Q7", "enter")
            await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search")
            assert list(app.inspector.search.matches) == [701, 1531]
    finally:
        release.set()


@pytestmark_app
async def test_one_worker_reads_the_stored_blocks_even_when_it_is_slow(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The build worker waits for the attach worker's index, however long that one reads, rather than
    read the store's blocks a second time beside it (a 4M-event run's reading held ~200 MB at once),
    and extends that very index."""
    from agenttui.tui.screens import inspector

    db = _app_db(tmp_path / "app.db", n=1500, needle_at=700, stored_blocks=True)
    monkeypatch.setattr(inspector, "ATTACH_WAIT", 0.05)  # searches stop waiting for it long before it is in
    original = SearchIndex.cached.__func__  # type: ignore[attr-defined]
    made: list[SearchIndex] = []

    def slow(cls, *args, **kwargs):
        time.sleep(0.5)
        made.append(original(cls, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(SearchIndex, "cached", classmethod(slow))
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: (app.inspector.search.index is not None
                                       and app.inspector.search.index.build_seconds > 0), "the index built")
        await wait_for(pilot, lambda: app.inspector.history is not None, "the fold")
        assert len(made) == 1 and app.inspector.search.index is made[0]
        assert len(made[0]) == 1500 // search_index.BLOCK


@pytestmark_app
@pytest.mark.parametrize("inline", [10_000, 0], ids=["first-match-inline", "first-match-in-worker"])
async def test_the_app_finds_a_match_before_the_index_is_built_and_after(tmp_path: Path, inline: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import agenttui.tui.screens.inspector as filtering

    monkeypatch.setattr(filtering, "INLINE_POSITIONS", inline)
    db = _app_db(tmp_path / "app.db")
    release = threading.Event()
    original = SearchIndex.extend

    def held(self, store, cancelled=lambda: False):
        release.wait(20)  # the index exists but covers nothing until the test lets it build
        return original(self, store, cancelled)

    monkeypatch.setattr(SearchIndex, "extend", held)
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.count == 1500 and app.inspector.search.index is not None,
                       "the list and the index worker")
        assert len(app.inspector.search.index) == 0 and app.inspector.history is None, "the fold waits for the index"
        await pilot.press("slash", *"needle-q7", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search without an index")
        assert list(app.inspector.search.matches) == [1101]
        assert app.inspector.events_list.cursor_seq == 1101
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.inspector.search.matches is None and app.inspector.search_text is None, "clearing")
        release.set()
        await wait_for(pilot, lambda: len(app.inspector.search.index) == 1500 // search_index.BLOCK
                       and not app.inspector.search.index.building,
                       "the index")
        await wait_for(pilot, lambda: app.inspector.history is not None, "the fold after the index")
        await pilot.press("g")
        await pilot.press("slash", *"NEEDLE-Q7", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search with the index")
        assert list(app.inspector.search.matches) == [1101]
        assert app.inspector.events_list.cursor_seq == 1101
        await pilot.press("slash", *"nowhere-zq", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None and app.inspector.search_text == "nowhere-zq",
                       "a search with no match")
        assert list(app.inspector.search.matches) == []


@pytestmark_app
async def test_the_app_extends_the_index_with_live_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agenttui.tui.search as search_module

    monkeypatch.setattr(search_module, "INDEX_LAG", 300)
    db = _app_db(tmp_path / "live.db", n=600, needle_at=5)
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.search.index is not None and len(app.inspector.search.index) == 600 // search_index.BLOCK
                       and not app.inspector.search.index.building, "the index")
        with SQLiteStore(db) as writer:
            for k in range(4):
                writer.append([{"event_id": f"live-{k}-{i}", "run_id": RUN, "event_type": "note",
                                "payload": {"v": "late-hit-x9" if (k, i) == (3, 50) else "live"}}
                               for i in range(100)])
        await wait_for(pilot, lambda: app.inspector.events_list.count == 1000, "the live events")
        await wait_for(pilot, lambda: len(app.inspector.search.index) == 1000 // search_index.BLOCK
                       and not app.inspector.search.index.building,
                       "the index to take the live events")
        await pilot.press("slash", *"late-hit-x9", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search")
        assert list(app.inspector.search.matches) == [951]


@given(raw=st.binary(max_size=60), window=st.integers(1, 9))
def test_hashing_a_block_in_windows_sets_the_bits_of_hashing_it_whole(raw: bytes, window: int) -> None:
    whole = np.zeros(1 << search_index.BITS, dtype=bool)
    whole[search_index.trigram_hashes(raw)] = True
    assert (search_index.block_bitmap(raw, window=window) == np.packbits(whole, bitorder="little")).all()


def test_big_payloads_end_blocks_early_and_are_read_a_few_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """A run of 10 MB artifacts must not be read 8,192 rows or hashed 128 events at a time; the
    blocks that end early still find every match."""
    monkeypatch.setattr(search_index, "BLOCK_CHARS", 400)
    monkeypatch.setattr(search_index, "READ_CHARS", 1000)
    monkeypatch.setattr(search_index, "READ_ROWS", 16)
    monkeypatch.setattr(search_blocks, "HASH_WINDOW", 64)
    sizes = [10, 900, 5, 5, 2500, 40, 40, 40, 40, 40, 40, 40, 40, 40, 3000, 7] * 4
    payloads = [{"i": i, "v": ("big " * (n // 4)) + f"needle-{i}"} for i, n in enumerate(sizes)]
    path = tmp_path / "big.db"
    _write(path, payloads, interleave=False)
    reads: list[int] = []
    with SQLiteStore(path, readonly=True) as store:
        real = store.connection

        class Counting:  # the text of the rows each build query handed out
            def execute(self, sql, params=()):
                cur = real.execute(sql, params)
                if "payload FROM events" not in sql:
                    return cur
                reads.append([])
                return _Rows(cur, reads[-1])

        class _Rows:
            def __init__(self, cur, sizes):
                self.cur, self.sizes = cur, sizes

            def __iter__(self):
                for row in self.cur:
                    self.sizes.append(len(row[1]))
                    yield row

            def close(self):
                self.cur.close()

        class CountingStore:  # a store whose connection counts what the index reads
            connection = Counting()
            backend = "sqlite"

        index = SearchIndex(RUN, block=8)
        assert index.extend(InspectorReader(CountingStore()))
        assert all(sum(sizes[:-1]) < 1000 for sizes in reads), reads  # a query stops at its budget
        assert len(reads) > len(sizes) // 16
        assert len(index) > len(sizes) // 8 and index.events <= len(sizes)
        for i in (0, 1, 4, 14, 20, 63 - 16):
            assert list(InspectorReader(store).matching_seqs(RUN, EventFilter(search=f"needle-{i}"), index=index)) \
                == _reference(store, f"needle-{i}")
            ranges = index.candidate_ranges(f"needle-{i}", 1, 10**9)
            position = InspectorReader(store).position_of_seq(RUN, i + 1)
            assert any(a <= position <= b for a, b in ranges)
