"""Dense snapshots (store/snapshots.py, `agenttui rebuild --snapshots`): checkpoints every N events
of each run, mostly as deltas, that give exactly the fold's state wherever a replay starts from them;
the full-snapshot format read a row at a time; and what is refused, with what message."""
from __future__ import annotations

import random
import zlib
from pathlib import Path

import orjson
import pytest

from agenttui.cli import main as cli
from agenttui.demo import generate_run
from agenttui.store import ReadOnlyStoreError, RunState, SQLiteStore, fold, open_store
from agenttui.store.fold import FOLD_VERSION
from agenttui.store.snapshots import (
    DELTA_MAGIC, FULL_MAGIC, LazyRows, decode_snapshot, encode_full, encode_snapshot, load_snapshot,
)
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.history.window import load_window

from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401  (fixtures)
from test_tui_scrub_early import held_fold  # noqa: F401 (the whole-run fold waits for the test)
from tui_support import SIZE, anyio_backend, wait_for  # noqa: F401

RUNS = ("run-a", "run-b")


def _store(path: Path, n: int = 3000, **kwargs) -> tuple[Path, dict[str, list]]:
    """Two demo runs appended interleaved (each run's positions have gaps), with the writer's own
    snapshots far apart (snapshot_every), as a big run's are late in its life."""
    runs = {r: list(generate_run(k, n_events=n, run_id=r, start="2026-03-01T09:00:00Z"))
            for k, r in enumerate(RUNS, start=3)}
    with SQLiteStore(path, snapshot_every=kwargs.pop("snapshot_every", 100_000), **kwargs) as store:
        for k in range(0, n, 100):
            for r in RUNS:
                store.append(runs[r][k:k + 100])
        stored = {r: list(store.timeline(r)) for r in RUNS}
    return path, stored


def _snapshots(path: Path, run_id: str) -> list[tuple[int, int, bytes]]:
    with SQLiteStore(path, readonly=True) as store:
        return [(p, s, bytes(b)) for p, s, b in store.connection.execute(
            "SELECT position, seq, state FROM snapshots WHERE run_id = ? ORDER BY position", (run_id,))]


@pytest.fixture(scope="module")
def dense(tmp_path_factory) -> tuple[Path, dict[str, list], dict[str, int]]:
    path, stored = _store(tmp_path_factory.mktemp("dense") / "d.db")
    with SQLiteStore(path) as store:
        report = store.write_snapshots(every=100)
    return path, stored, report


def test_every_run_is_checkpointed_every_n_events_mostly_as_deltas(dense) -> None:
    path, stored, report = dense
    assert report["runs"] == 2 and report["events_folded"] == sum(map(len, stored.values()))
    assert report["deltas"] >= 20 and report["full"] >= 2 and report["written"] == report["deltas"] + report["full"]
    for run_id in RUNS:
        snaps = _snapshots(path, run_id)
        seqs = [0] + [s for _, s, _ in snaps]
        assert max(b - a for a, b in zip(seqs, seqs[1:])) <= 100
        assert len(stored[run_id]) - seqs[-1] < 100
        kinds = {blob[:4] for _, _, blob in snaps}
        assert kinds == {DELTA_MAGIC, FULL_MAGIC}
        deltas = sum(len(b) for _, _, b in snaps if b[:4] == DELTA_MAGIC)
        fulls = [len(b) for _, _, b in snaps if b[:4] == FULL_MAGIC]
        assert deltas / len([b for _, _, b in snaps if b[:4] == DELTA_MAGIC]) < max(fulls) / 2


def test_state_at_through_dense_snapshots_is_the_fold_of_the_prefix_everywhere(dense) -> None:
    path, stored, _ = dense
    rng = random.Random(5)
    with SQLiteStore(path, readonly=True) as store:
        for run_id in RUNS:
            events = stored[run_id]
            snaps = {p for p, _, _ in _snapshots(path, run_id)}
            picks = sorted({0, len(events) - 1, *rng.sample(range(len(events)), 25),
                            *(i for i, e in enumerate(events) if e.position in snaps)})
            state = RunState(run_id)
            k = 0
            for i, e in enumerate(events):
                state.apply(e)
                if k < len(picks) and picks[k] == i:
                    assert store.state_at(run_id, e.position).comparable() == state.comparable(), (run_id, i)
                    k += 1


@pytest.mark.parametrize("spill_buffer", [64, 1 << 20])
def test_a_chain_read_lazily_is_the_chain_read_whole_key_for_key_in_order(dense, spill_buffer: int, monkeypatch,
                                                                          tmp_path: Path) -> None:
    """Read for a window (a cache: rows parsed when read, a delta's kept as its JSON text until
    then, in a file past spill_buffer bytes) or whole, every snapshot of a chain gives the same
    rows in the same order."""
    from agenttui.store import spill

    monkeypatch.setattr(spill, "SPILL_BUFFER", spill_buffer)
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    path, stored, _ = dense
    with SQLiteStore(path, readonly=True) as store:
        conn = store.connection
        for run_id in RUNS:
            cache: dict = {}
            for position, _, blob in _snapshots(path, run_id):
                folded = fold(run_id, [e for e in stored[run_id] if e.position <= position])
                seq, whole = load_snapshot(conn, run_id, position)
                lazy_seq, lazy = load_snapshot(conn, run_id, position, cache=cache)
                assert lazy_seq == seq and isinstance(lazy.nodes, LazyRows)
                for state in (whole, lazy):  # the keys in the fold's order (a delta's new ones last)
                    assert list(state.nodes) == list(folded.nodes) and list(state.edges) == list(folded.edges)
                assert lazy.run == whole.run and lazy.position == whole.position == position
                if blob[:4] == DELTA_MAGIC:  # the rows the deltas set are held as text, not parsed
                    texts = [k for k, row in lazy.nodes._own.items() if not isinstance(row, dict)]  # noqa: SLF001
                    assert texts and all(type(lazy.nodes[k]) is dict for k in texts)
                assert lazy.nodes.materialised() == whole.nodes and lazy.edges.materialised() == whole.edges


def test_a_delta_names_its_previous_snapshot_in_its_first_bytes_or_is_parsed_for_it() -> None:
    """load_snapshot follows a chain by each delta's first bytes (its rows parsed after the base)."""
    from agenttui.store.snapshots import _delta_prev, encode_delta

    state = RunState("r", None)
    state.position = 9
    assert _delta_prev(encode_delta(state, 12345, [], [])) == 12345
    reordered = {"position": 9, "run": state.run, "nodes": [], "edges": [], "prev": 77}  # (not as encode_delta writes)
    assert _delta_prev(DELTA_MAGIC + zlib.compress(orjson.dumps(reordered))) == 77


def test_a_window_from_a_dense_snapshot_is_the_whole_fold_at_every_index_it_holds(dense) -> None:
    path, stored, _ = dense
    events = stored["run-a"]
    with SQLiteStore(path, readonly=True) as store:
        reader = InspectorReader(store)
        cache: dict = {}
        starts = set()
        for index in (5, 99, 100, 101, 650, 977, 2345, len(events) - 2, len(events) - 1):
            window = load_window(reader, "run-a", index, after=30, cache=cache)
            assert window.first_index <= index < len(window) and index - window.first_index < 100
            starts.add(window.first_index)
            for i in (window.first_index, index, len(window) - 1):
                expected = fold("run-a", events[:i + 1])
                assert window.state_at_index(i).comparable() == expected.comparable(), (index, i)
                assert window.roots_at(i) == expected.roots()
                for node_id in list(expected.nodes)[::7]:
                    assert window.node_at(node_id, i) == expected.nodes[node_id]
                    assert window.children_at(node_id, i) == expected.children(node_id)
        assert len(starts) >= 6
        # the cache's decoded base is shared by the windows, never changed by their folds
        (base,) = cache.values()
        before = {k: dict(base.nodes[k]) for k in base.nodes}
        window = load_window(reader, "run-a", len(events) - 1, after=0, cache=cache)
        window.extend(events)  # (nothing new: skipped) and a fold of what it holds already happened
        assert {k: base.nodes[k] for k in base.nodes} == before


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_dense_snapshots_on_both_backends(request, tmp_path: Path, backend: str) -> None:
    target = str(tmp_path / "both.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    events = list(generate_run(3, n_events=3000, run_id="run-p", start="2026-03-01T09:00:00Z"))
    with open_store(target, snapshot_every=100_000) as store:
        for k in range(0, len(events), 300):
            store.append(events[k:k + 300])
        store.snapshot("run-p")  # one full snapshot by the writer's own path, at the end
        report = store.write_snapshots(every=100)
        assert report["deltas"] >= 5 and report["events_folded"] == len(events)
        assert store.write_snapshots(every=100)["written"] == 0
        stored = list(store.timeline("run-p"))
        for i in (0, 99, 100, 101, 777, 2345, len(stored) - 2):
            expected = fold("run-p", stored[:i + 1])
            assert store.state_at("run-p", stored[i].position).comparable() == expected.comparable()
            found = store.nearest_snapshot("run-p", seq=i + 1, cache={})
            assert found is None or found[0] <= i + 1
        seq, state = store.nearest_snapshot("run-p", seq=len(stored) - 2)
        assert len(stored) - 2 - seq < 100
        assert {k: state.nodes[k] for k in state.nodes} == fold("run-p", stored[:seq]).nodes


def test_a_second_pass_writes_only_what_was_appended_since(tmp_path: Path) -> None:
    path, stored = _store(tmp_path / "again.db", n=600)
    with SQLiteStore(path) as store:
        first = store.write_snapshots(every=100)
        assert first["events_folded"] == 1200
        assert store.write_snapshots(every=100)["written"] == 0
        more = list(generate_run(3, n_events=900, run_id="run-a", start="2026-03-01T09:00:00Z"))[600:]
        store.append(more)
        again = store.write_snapshots(every=100)
        assert again["runs"] == 2 and 0 < again["events_folded"] <= 300 + 100 and again["written"] >= 3
        events = list(store.timeline("run-a"))
        assert store.state_at("run-a", events[-1].position).comparable() == fold("run-a", events).comparable()


def test_a_chain_missing_a_link_falls_back_to_an_older_whole_snapshot(dense, tmp_path: Path) -> None:
    path, stored, _ = dense
    copy = tmp_path / "broken.db"
    with SQLiteStore(path, readonly=True) as store:
        store.connection.execute(f"VACUUM INTO '{copy}'")
    snaps = _snapshots(copy, "run-b")
    deltas = [(p, s) for p, s, b in snaps if b[:4] == DELTA_MAGIC]
    victim = deltas[len(deltas) // 3]
    with SQLiteStore(copy) as store:
        store.connection.execute("DELETE FROM snapshots WHERE run_id = 'run-b' AND position = ?", (victim[0],))
    events = stored["run-b"]
    after = next(e for e in events if e.seq == victim[1] + 150)  # past the delta that names the victim
    with SQLiteStore(copy, readonly=True) as store:
        found = load_snapshot(store.connection, "run-b", after.position)
        assert found is not None and found[0] < victim[1]  # below the break
        expected = fold("run-b", [e for e in events if e.position <= after.position])
        assert store.state_at("run-b", after.position).comparable() == expected.comparable()


def test_snapshots_of_another_fold_version_are_never_read(dense, tmp_path: Path) -> None:
    path, stored, _ = dense
    copy = tmp_path / "other-fold.db"
    with SQLiteStore(path, readonly=True) as store:
        store.connection.execute(f"VACUUM INTO '{copy}'")
    with SQLiteStore(copy) as store:
        store.connection.execute("UPDATE snapshots SET fold_version = ?", (FOLD_VERSION + 1,))
        assert store.nearest_snapshot("run-a", seq=10**9) is None
        events = stored["run-a"]
        assert store.state_at("run-a", events[800].position).comparable() == fold("run-a", events[:801]).comparable()
        # and a pass writes this fold's afresh, from the run's first event
        assert store.write_snapshots(every=300)["events_folded"] == 2 * len(events)
        assert store.nearest_snapshot("run-a", seq=10**9) is not None


def test_full_snapshot_format_reads_whole_or_a_row_at_a_time_and_the_old_one_still_reads(dense) -> None:
    path, stored, _ = dense
    state = fold("run-a", stored["run-a"])
    blob = encode_full(state)
    assert blob[:4] == FULL_MAGIC
    whole = decode_snapshot(blob)
    assert whole.comparable() == state.comparable()
    assert list(whole.nodes) == list(state.nodes) and list(whole.edges) == list(state.edges)
    lazy = decode_snapshot(blob, lazy=True)
    assert isinstance(lazy.nodes, LazyRows) and list(lazy.edges) == list(state.edges)
    some = list(state.nodes)[::13]
    assert [lazy.nodes[n] for n in some] == [state.nodes[n] for n in some]
    assert dict(lazy.edges.items()) == state.edges and len(lazy.nodes) == len(state.nodes)
    appends = encode_snapshot(state)  # the append path's form until 2026-12: one JSON document
    assert appends[:1] == b"\x78" and decode_snapshot(appends).comparable() == state.comparable()
    with pytest.raises(ValueError, match="delta"):
        decode_snapshot(DELTA_MAGIC + b"...")


def test_appends_write_full_snapshots_a_window_reads_a_row_at_a_time(tmp_path: Path) -> None:
    path, stored = _store(tmp_path / "appends.db", n=800, snapshot_every=250)
    for run_id in RUNS:
        fulls = [(position, b) for position, _, b in _snapshots(path, run_id) if b[:4] == FULL_MAGIC]
        assert fulls, "no full snapshot"
        position, blob = fulls[-1]
        lazy = decode_snapshot(blob, lazy=True)
        assert isinstance(lazy.nodes, LazyRows)
        prefix = [e for e in stored[run_id] if e.position <= position]
        assert lazy.position == position and dict(lazy.nodes.items()) == fold(run_id, prefix).nodes


def test_rebuild_snapshots_rewrites_the_full_snapshots_older_appends_wrote(tmp_path: Path, monkeypatch) -> None:
    import agenttui.store.base as base

    monkeypatch.setattr(base, "encode_full", encode_snapshot)  # a store written before 2026-12
    path, stored = _store(tmp_path / "appends.db", n=800, snapshot_every=250)
    monkeypatch.undo()
    assert all(b[:1] == b"\x78" for r in RUNS for _, _, b in _snapshots(path, r))  # one JSON document each
    with SQLiteStore(path) as store:
        report = store.write_snapshots(every=100)
    assert report["reencoded"] >= 4
    assert all(b[:4] in (FULL_MAGIC, DELTA_MAGIC) for r in RUNS for _, _, b in _snapshots(path, r))


@pytest.mark.parametrize("every", [0, -5, True, 2.5, "100"])
def test_write_snapshots_refuses_an_every_that_is_not_a_positive_whole_number(tmp_path: Path, every) -> None:
    path, _ = _store(tmp_path / "bad.db", n=200)
    with SQLiteStore(path) as store, pytest.raises(ValueError, match=r"every must be a whole number of events, 1 or"):
        store.write_snapshots(every=every)


def test_write_snapshots_refuses_a_read_only_store_and_an_unknown_run(tmp_path: Path) -> None:
    path, _ = _store(tmp_path / "ro.db", n=200)
    before = _snapshots(path, "run-a")
    with SQLiteStore(path, readonly=True) as store, pytest.raises(ReadOnlyStoreError, match="opened read-only"):
        store.write_snapshots(every=50)
    with SQLiteStore(path) as store, pytest.raises(ValueError, match="run 'nope' is not in the store"):
        store.write_snapshots(every=50, run_ids=["run-a", "nope"])
    assert _snapshots(path, "run-a") == before


def test_cli_rebuild_snapshots(tmp_path: Path, capsys) -> None:
    path, stored = _store(tmp_path / "cli.db", n=500)
    assert cli(["rebuild", str(path), "--snapshots", "--every", "100", "-q"]) == 0
    out = capsys.readouterr().out
    assert "snapshots written" in out and "every 100 events" in out and "1,000 events folded" in out
    seqs = [s for _, s, _ in _snapshots(path, "run-a")]
    assert max(b - a for a, b in zip([0, *seqs], seqs)) <= 100
    with SQLiteStore(path, readonly=True) as store:  # the projections are as they were
        assert store.check() == []


@pytest.mark.parametrize("args, message", [
    (["--snapshots", "--every", "0"], "argument --every: must be from 1"),
    (["--snapshots", "--every", "-3"], "argument --every: must be from 1"),
    (["--snapshots", "--every", "many"], "argument --every"),
    (["--every", "10"], "--every goes with --snapshots"),
    (["--snapshots", "--check"], "--check and --snapshots do different jobs"),
])
def test_cli_rebuild_snapshots_bad_usage_says_what_is_wrong(tmp_path: Path, capsys, args, message) -> None:
    path, _ = _store(tmp_path / "usage.db", n=200)
    before = _snapshots(path, "run-a")
    assert cli(["rebuild", str(path), *args]) == 2
    assert message in capsys.readouterr().err
    assert _snapshots(path, "run-a") == before


def test_cli_rebuild_snapshots_of_a_missing_or_unwritable_file(tmp_path: Path, capsys, monkeypatch) -> None:
    missing = tmp_path / "missing.db"
    assert cli(["rebuild", str(missing), "--snapshots"]) == 2
    assert f"{missing}: no such database" in capsys.readouterr().err
    assert not missing.exists()
    path, _ = _store(tmp_path / "locked.db", n=200)
    import os
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(path) else real(p, mode, **kw))
    assert cli(["rebuild", str(path), "--snapshots"]) == 2
    assert f"{path}: not writable" in capsys.readouterr().err


@pytest.mark.anyio
async def test_the_slider_steps_from_dense_snapshots_before_the_fold(tmp_path: Path, held_fold) -> None:  # noqa: F811
    from agenttui.tui.app import AgentTuiApp

    path, stored = _store(tmp_path / "ui.db", n=1200)
    with SQLiteStore(path) as store:
        store.write_snapshots(every=100)
    events = stored["run-b"]
    total = len(events)
    app = AgentTuiApp(path, run_id="run-b")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inspector
        # a window of the run's end is loaded ahead of the first `[`, from the last dense snapshot
        await wait_for(pilot, lambda: screen.scrub.holds(total - 2), "the window ahead of `[`", 30)
        assert screen.history is None and screen.scrub.window.first_index >= total - 2 - 100

        async def shows(index: int, what: str) -> None:
            await wait_for(pilot, lambda: screen.replay == index and screen.scrub.holds(index)
                           and screen.node_tree.source is screen.scrub.window and screen.node_tree.index == index,
                           what, 30)
            window = screen.scrub.window
            assert index - window.first_index < 100 + 1, "started from the nearest dense snapshot"
            expected = fold("run-b", events[:index + 1])
            assert window.run_at(index) == expected.run
            assert window.roots_at(index) == expected.roots()
            for node_id in list(expected.nodes)[::5]:
                assert window.node_at(node_id, index) == expected.nodes[node_id]

        await pilot.press("left_square_bracket")
        await shows(total - 2, "one event back")
        await pilot.press("left_curly_bracket")
        await shows(total - 2 - round(total * 0.05), "5% back")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await shows(total - 4 - round(total * 0.05), "two steps back in the window")
        screen.replay = total // 2
        await shows(total // 2, "the middle")
        assert screen.history is None, "all of it before the fold"
        held_fold.set()
        await wait_for(pilot, lambda: screen.history is not None, "the fold, let go", 60)


def test_encoding_a_full_snapshot_holds_about_its_own_size_not_a_buffer_per_row() -> None:
    """orjson's output keeps a ~4 KB buffer each: 117k rows held at once took ~460 MB in the appending process."""
    import tracemalloc

    from agenttui.store.fold import RunState

    state = RunState("run-big")
    for i in range(20_000):
        node_id = f"{i:032x}"
        state.nodes[node_id] = {"node_id": node_id, "run_id": "run-big", "task_goal": f"goal {i}", "status": "DONE"}
    text_size = sum(len(orjson.dumps(row)) for row in state.nodes.values())
    tracemalloc.start()
    try:
        blob = encode_full(state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decode_snapshot(blob).nodes == state.nodes
    assert peak < 10 * text_size, f"peak {peak:,} bytes for {text_size:,} bytes of rows"
