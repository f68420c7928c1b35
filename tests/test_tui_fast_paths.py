"""The inspector's fast paths answer exactly what the slow, obvious ones do.

A type filter read from the type index alone (positions translated to seqs when the run's
positions are contiguous), the newest rows of a filter shown before its full list, per-type
counts over a stretch of positions, and the tree's store-backed top level before the fold.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from agenttui.store import EventFilter, SQLiteStore
from agenttui.store.fold import nid_key
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.components.event_list import TailRows
from agenttui.tui.data.store_tree import load_store_nodes

from tui_support import SAMPLE_RUN, sample_events

OTHER_RUN = "run-other"


def _other_events(n: int) -> list[dict]:
    return [{"event_id": f"other-{i}", "run_id": OTHER_RUN, "event_type": "tool_invoked" if i % 2 else "decision",
             "payload": {"i": i}} for i in range(n)]


@pytest.fixture(params=["alone", "interleaved"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteStore:
    """The sample run alone in its file (contiguous positions), or with another run's events
    written between its own (the index-only path must step aside there)."""
    events = sample_events()
    with SQLiteStore(tmp_path / "run.db") as writer:
        if request.param == "alone":
            writer.append(events)
        else:
            for k in range(0, len(events), 40):
                writer.append(events[k:k + 40])
                writer.append(_other_events(3) if k == 0 else
                              [dict(e, event_id=f"{e['event_id']}-{k}") for e in _other_events(3)])
    s = SQLiteStore(tmp_path / "run.db", readonly=True)
    yield s
    s.close()


def _slow(store: SQLiteStore, flt: EventFilter, after: int, upto: int) -> list[int]:
    """Every event read and tested in Python: the reference answer."""
    types = set(flt.types) if flt.types is not None else None
    hidden = set(flt.exclude_types or ())
    return [e.seq for e in store.timeline(SAMPLE_RUN)
            if after < e.seq <= upto and (types is None or e.event_type in types) and e.event_type not in hidden]


FILTERS = [
    EventFilter(types=["tool_invoked"]),
    EventFilter(types=["tool_invoked", "llm_call_completed", "node_created"]),
    EventFilter(exclude_types=["llm_call_started"]),
    EventFilter(exclude_types=["llm_call_started", "tool_returned", "no_such_type"]),
    EventFilter(types=[]),
    EventFilter(types=["no_such_type"]),
]


@pytest.mark.parametrize("flt", FILTERS, ids=repr)
def test_type_filters_match_the_reference(store: SQLiteStore, flt: EventFilter) -> None:
    last = InspectorReader(store).last_seq(SAMPLE_RUN)
    counts = InspectorReader(store).type_counts(SAMPLE_RUN)
    for after, upto in ((0, last), (40, 120), (last - 1, last)):
        expected = _slow(store, flt, after, upto)
        assert list(InspectorReader(store).matching_seqs(SAMPLE_RUN, flt, after_seq=after, upto_seq=upto)) == expected
        if after == 0 and upto == last:  # the counts are the run's up to `last`: the caller's contract
            got = InspectorReader(store).matching_seqs(SAMPLE_RUN, flt, upto_seq=upto, type_counts=counts)
            assert list(got) == expected


def test_type_counts_over_a_stretch_of_positions(store: SQLiteStore) -> None:
    events = list(store.timeline(SAMPLE_RUN))
    whole = InspectorReader(store).type_counts(SAMPLE_RUN)
    assert sum(whole.values()) == len(events)
    cut = events[100].position
    early = InspectorReader(store).type_counts(SAMPLE_RUN, upto_position=cut)
    late = InspectorReader(store).type_counts(SAMPLE_RUN, after_position=cut)
    for event_type, n in whole.items():
        assert early.get(event_type, 0) + late.get(event_type, 0) == n
    assert sum(late.values()) == len(events) - 101
    assert InspectorReader(store).last_position(SAMPLE_RUN) == events[-1].position


def test_tail_seqs_are_the_newest_matches(store: SQLiteStore) -> None:
    last = InspectorReader(store).last_seq(SAMPLE_RUN)
    for types in (["tool_invoked"], ["tool_invoked", "node_status_changed", "llm_call_completed"]):
        for upto in (last, 90):
            expected = _slow(store, EventFilter(types=types), 0, upto)
            assert list(InspectorReader(store).tail_seqs(SAMPLE_RUN, types=types, upto_seq=upto, limit=7)) == expected[-7:]
    expected = _slow(store, EventFilter(exclude_types=["llm_call_started"]), 0, last)
    assert list(InspectorReader(store).tail_seqs(SAMPLE_RUN, hidden=["llm_call_started"], upto_seq=last, limit=9)) == expected[-9:]
    assert list(InspectorReader(store).tail_seqs(SAMPLE_RUN, types=["tool_invoked"], upto_seq=0, limit=5)) == []


def test_tail_rows_place_the_known_rows_last() -> None:
    from array import array

    rows = TailRows(10, array("q", [40, 55, 70]))
    assert [rows.seq_of_row(r) for r in range(10)] == [None] * 7 + [40, 55, 70]
    assert rows.row_of(55) == 8 and rows.row_of(56) is None
    assert rows.row_near(60) == 8 and rows.row_near(1) == 6
    assert rows.extend([70, 71, 90]) == 2
    assert rows.count == 12 and rows.seq_of_row(11) == 90


def test_the_store_tree_matches_the_stored_projection(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "run.db") as writer:
        writer.append(sample_events())
    with SQLiteStore(tmp_path / "run.db", readonly=True) as store:
        nodes = load_store_nodes(InspectorReader(store), SAMPLE_RUN, lambda: InspectorReader(store))
        state = store.stored_state(SAMPLE_RUN)
        assert len(nodes) == store.run(SAMPLE_RUN)["event_count"]
        assert nodes.roots_at(0) == state.roots()
        for node_id in state.nodes:
            assert nodes.children_at(node_id, 0) == sorted(state.children(node_id),
                                                            key=lambda n: nid_key(state.nodes[n]["node_nid"]))
            assert nodes.has_children_at(node_id, 0) == bool(state.children(node_id))
            assert nodes.node_at(node_id, 0) == store.node(SAMPLE_RUN, node_id)
        assert nodes.node_at("no-such-node", 0) is None


def test_the_store_trees_roots_are_the_runs_nodes_no_edge_of_that_run_points_to(tmp_path: Path) -> None:
    """The roots query probes the child index node by node: an edge of another run to a node of
    the same id does not make it a child here, a second parent does not make a root twice, and a
    node with no edges at all is a root."""
    from store_fixtures import ev

    events = []
    for run, edges in (("a", [("p", "x"), ("p", "y"), ("q", "y")]), ("b", [("x", "p"), ("x", "q")])):
        for node in ("p", "q", "x", "y", "lone"):
            events.append(ev("node_created", run, node_id=node, node_goal=f"{run}:{node}"))
        for parent, child in edges:
            events.append(ev("edge_added", run, parent_node_id=parent, child_node_id=child))
    with SQLiteStore(tmp_path / "run.db") as writer:
        writer.append(events)
    with SQLiteStore(tmp_path / "run.db", readonly=True) as store:
        reader = InspectorReader(store)
        for run, roots in (("a", {"p", "q", "lone"}), ("b", {"x", "y", "lone"})):
            count, found = reader.tree_roots(run)
            assert set(found) == roots == set(store.stored_state(run).roots()) and len(found) == len(roots)
            assert count == store.run(run)["event_count"]
        assert reader.tree_roots("no-such-run") == (0, [])
