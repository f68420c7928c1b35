"""Windows of a run's history (History.from_state, load_window): every index a window holds
answers exactly like the fold of the run's prefix, whatever state it was seeded with."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenttui.store import SQLiteStore, fold
from agenttui.store.packed_keys import PackedKeys
from agenttui.store.snapshots import LazyRows
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.history import History, load_history
from agenttui.tui.history.window import load_window
from agenttui.tui.history import record

from store_fixtures import SAMPLE_RUN, loaded_store, sample_events
from test_tui_replay import NODES, runs


def _assert_window_exact(window: History, events: list, start: int) -> None:
    assert window.first_index == start and len(window) == len(events)
    before = fold("r", events[:start])
    for i in range(start, len(events)):
        expected = fold("r", events[: i + 1])
        assert window.state_at_index(i).comparable() == expected.comparable(), i
        assert window.run_at(i) == expected.run, i
        assert window.position_of_index(i) == events[i].position
        assert window.timestamp_text_at(i) == events[i].timestamp
        for node_id in NODES:
            assert window.node_at(node_id, i) == expected.nodes.get(node_id), (node_id, i)
            if node_id in expected.nodes:
                assert window.children_at(node_id, i) == expected.children(node_id)
                assert window.child_count_at(node_id, i) == len(expected.children(node_id))
                assert window.has_children_at(node_id, i) == bool(expected.children(node_id))
                assert window.status_at(node_id, i) == expected.nodes[node_id]["status"]
                assert window.nid_at(node_id, i) == expected.nodes[node_id]["node_nid"]
                shown = window.display_at(node_id, i)
                assert {k: shown[k] for k in ("status", "task_goal", "llm_calls")} == \
                    {k: expected.nodes[node_id][k] for k in ("status", "task_goal", "llm_calls")}
            else:
                assert window.display_at(node_id, i) is None
        assert window.roots_at(i) == expected.roots()
        failed = any(n["status"] == "FAILED" and before.nodes.get(k, {}).get("status") != "FAILED"
                     for k, n in expected.nodes.items())
        is_mark = expected.run["error_count"] != before.run["error_count"] or failed
        assert (window.next_mark(i - 1) == i) == is_mark, i
        assert window.index_of_position(events[i].position) == i
        before = expected
    if start:  # what came before the window is its seed state, not recorded
        with pytest.raises(IndexError):
            window.run_at(start - 1)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs(), st.integers(0, 40), st.lists(st.integers(1, 10), max_size=4), st.sampled_from([0, 1, 4096]))
def test_a_window_seeded_with_any_prefix_replays_the_rest_exactly(events, cut, batches, hot_rows):
    start = min(cut, len(events) - 1)
    window = History.from_state(fold("r", events[:start])) if start else History("r")
    window.hot_rows = hot_rows  # 0: the fold lets go of every row, seeded ones too, after a batch
    k = start
    for size in batches:
        window.extend(events[k:k + size])
        k += size
    window.extend(events[start:])  # (what it already holds is skipped)
    _assert_window_exact(window, events, start)
    assert [i for i, _ in window.marks()] == [i for i in range(start, len(events)) if window.next_mark(i - 1) == i]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs(), st.integers(0, 40), st.lists(st.integers(1, 10), max_size=4), st.sampled_from([0, 1, 4096]),
       st.sampled_from([1, 2, 5]), st.sampled_from([1, 2, 16]))
def test_a_window_packed_as_it_folds_replays_exactly(events, cut, batches, hot_rows, pack_after, chain_max):
    """The same with the nodes' columns packed (and their first parent's edge with them) every few
    events: edges recorded on their child's history, seeded ones, second parents and edges whose
    values change, all read back from packed nodes and unpacked again when the fold touches them;
    and with families moved from a chain to an array of children at their 2nd, 3rd or 17th child."""

    start = min(cut, len(events) - 1)
    was = record.PACK_AFTER, record._CHAIN_MAX
    record.PACK_AFTER, record._CHAIN_MAX = pack_after, chain_max
    try:
        window = History.from_state(fold("r", events[:start])) if start else History("r")
        window.hot_rows = hot_rows
        k = start
        for size in batches + [1] * len(events):
            window.extend(events[k:k + size])
            k += size
        _assert_window_exact(window, events, start)
    finally:
        record.PACK_AFTER, record._CHAIN_MAX = was


@pytest.fixture(scope="module")
def snapshotted(tmp_path_factory):
    """The sample run, stored with a snapshot every 40 events (a store writing them densely)."""
    path = tmp_path_factory.mktemp("window") / "w.db"
    events = sample_events()
    with SQLiteStore(path, snapshot_every=40) as writer:
        for k in range(0, len(events), 20):
            writer.append(events[k:k + 20])
    store = SQLiteStore(path, readonly=True)
    yield store, load_history(InspectorReader(store), SAMPLE_RUN)
    store.close()


@pytest.mark.parametrize("lazy", [False, True], ids=["decoded", "lazy"])
def test_load_window_starts_at_the_snapshot_before_the_index_and_equals_the_whole_history(snapshotted, lazy):
    """lazy: read as the inspector reads them (a snapshot cache: LazyRows, whose node index the
    window numbers its nodes by, see record._NodeKeys)."""
    store, whole = snapshotted
    reader = InspectorReader(store)
    starts = set()
    cache: dict | None = {} if lazy else None
    shared = 0
    for index in (0, 39, 40, 41, 100, 150, len(whole) - 1):
        window = load_window(reader, SAMPLE_RUN, index, after=7, cache=cache)
        if isinstance(window._num, record._NodeKeys) and window._num._seed is not None and \
                isinstance(window._seed_nodes, LazyRows) and window._num._seed is window._seed_nodes.places():
            shared += 1
            assert len(window._num) == len(window._ids)
            assert all(window._num[node_id] == n for n, node_id in enumerate(window._ids))
        snapshot = reader.snapshot_before(SAMPLE_RUN, index + 1)
        assert window.first_index == (snapshot[1] if snapshot else 0) <= index < len(window)
        assert len(window) == min(len(whole), index + 1 + 7)
        starts.add(window.first_index)
        for i in range(window.first_index, len(window)):
            assert window.state_at_index(i).comparable() == whole.state_at_index(i).comparable(), (index, i)
            assert window.roots_at(i) == whole.roots_at(i)
            assert window.seq_of_index(i) == whole.seq_of_index(i)
        assert [m for m in whole.marks() if window.first_index <= m[0] < len(window)] == window.marks()
    assert len(starts) > 2, "windows started from several snapshots"
    assert (shared > 2) if lazy else not shared


def test_load_window_without_snapshots_folds_from_the_start(tmp_path):
    store = loaded_store(tmp_path)  # one append of 182 events: under snapshot_every, no snapshot
    reader = InspectorReader(store)
    assert reader.snapshot_before(SAMPLE_RUN, 10**9) is None
    window = load_window(reader, SAMPLE_RUN, 5, after=3)
    whole = load_history(reader, SAMPLE_RUN)
    assert window.first_index <= 5 < len(window)
    for i in range(window.first_index, len(window)):
        assert window.state_at_index(i).comparable() == whole.state_at_index(i).comparable()
    with pytest.raises(ValueError):
        load_window(reader, SAMPLE_RUN, -1)
    store.close()


def test_node_ids_are_packed_in_a_window_and_in_the_whole_history(snapshotted):
    """A window numbers its seed's nodes by the snapshot's own packed index (nothing of its own
    for them) and packs the nodes heard of after it; the whole History packs every id. Both read
    back every id by number and every number by id, as the fold numbered them."""
    store, whole = snapshotted
    reader = InspectorReader(store)
    window = load_window(reader, SAMPLE_RUN, len(whole) - 30, after=29, cache={})
    assert isinstance(window._num, record._NodeKeys) and window._num._seed is window._seed_nodes.places()
    assert isinstance(whole._num, PackedKeys)
    for history in (window, whole):
        ids = list(history._ids)
        assert len(ids) == len(set(ids)) == len(history._num) and history.node_ids() == ids
        assert all(history._num[node_id] == n and history._ids[n] == node_id for n, node_id in enumerate(ids))
        assert history._num.get("no such node") is None
    assert set(window._ids) <= set(whole._ids)
    for i in range(window.first_index, len(window)):
        assert window.state_at_index(i).comparable() == whole.state_at_index(i).comparable()
