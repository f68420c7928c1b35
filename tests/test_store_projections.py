"""Projections: incremental folding in the append transaction == a rebuild == fold() in memory.

The property test throws random, realistic (and sometimes malformed) event sequences of several runs at
the store in random batch splits, with duplicates, and checks all three agree.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenttui.store import SQLiteStore, fold, parse_envelope
from agenttui.store.fold import NODE_STATUSES

from store_fixtures import SAMPLE_RUN, loaded_store, raw_rows, sample_dicts, sample_events

# The "get the full node tree of a run" query of the storage guide the schema was designed from,
# copied character for character: people who learnt the schema from it must keep getting answers.
GUIDE_NODE_TREE_QUERY = """
WITH RECURSIVE node_tree AS (
    -- Start with root node
    SELECT node_id, node_nid, task_goal, 0 as depth
    FROM nodes
    WHERE node_id = (SELECT root_node_id FROM runs WHERE run_id = ?)
    UNION ALL
    -- Add children recursively
    SELECT n.node_id, n.node_nid, n.task_goal, nt.depth + 1
    FROM nodes n
    JOIN edges e ON n.node_id = e.child_node_id
    JOIN node_tree nt ON e.parent_node_id = nt.node_id
)
SELECT * FROM node_tree ORDER BY node_nid;
"""

# ------------------------------------------------------------------------ event strategies

NODES = [f"n{i}" for i in range(6)]
RUNS = ["run-a", "run-b", None]
node_ref = st.sampled_from(NODES)
maybe_node = st.none() | node_ref
nid = st.lists(st.integers(0, 12), min_size=1, max_size=3).map(lambda parts: ".".join(map(str, parts)))
# fields agents get wrong: the fold must ignore what it cannot use, never crash
odd = st.none() | st.booleans() | st.text(max_size=4) | st.integers(-3, 2 ** 64 - 1) | st.floats(
    allow_nan=False, allow_infinity=False, width=32)
count = st.integers(0, 5000) | odd
status = st.sampled_from(NODE_STATUSES) | st.text(max_size=3)


def _payload(event_type: str) -> st.SearchStrategy[dict]:
    builders = {
        "run_started": st.fixed_dictionaries({
            "input_data": st.fixed_dictionaries({"data": st.fixed_dictionaries({"prompt": st.text(max_size=8)})})
            | st.text(max_size=5) | st.none(),
            "config": st.fixed_dictionaries({"model": st.sampled_from(["m-large", "m-small"]) | odd}),
            "run_mode": st.sampled_from(["report", "chat"]) | odd,
        }),
        "run_finished": st.fixed_dictionaries({"total_steps": count, "total_nodes": count,
                                               "duration_seconds": count}),
        "run_error": st.fixed_dictionaries({"error_type": st.text(max_size=6), "error_message": odd,
                                            "node_id": maybe_node}),
        "step_started": st.fixed_dictionaries({"step": count, "node_id": maybe_node, "node_goal": odd}),
        "step_finished": st.fixed_dictionaries({"step": count, "node_id": maybe_node, "status_after": status | odd}),
        "node_created": st.fixed_dictionaries({
            "node_id": node_ref, "node_nid": nid | odd, "node_type": st.sampled_from(["PLAN_NODE", "EXECUTE_NODE"]),
            "task_type": st.sampled_from(["COMPOSITION", "REASONING", "RETRIEVAL"]), "task_goal": odd,
            "layer": st.integers(0, 4) | odd, "outer_node_id": maybe_node, "root_node_id": maybe_node,
        }),
        "node_status_changed": st.fixed_dictionaries({"node_id": node_ref, "old_status": status,
                                                      "new_status": status | odd, "node_goal": odd}),
        "node_result_available": st.fixed_dictionaries({"node_id": node_ref, "action_name": odd,
                                                        "result_summary": odd}),
        "plan_received": st.fixed_dictionaries({"node_id": node_ref,
                                                "raw_plan": st.lists(st.fixed_dictionaries({"id": nid}), max_size=3)
                                                | odd}),
        "node_added": st.fixed_dictionaries({"graph_owner_node_id": maybe_node, "added_node_id": node_ref,
                                             "added_node_nid": nid | st.none()}),
        "edge_added": st.fixed_dictionaries({"graph_owner_node_id": maybe_node, "parent_node_id": node_ref,
                                             "child_node_id": node_ref, "parent_node_nid": nid | st.none(),
                                             "child_node_nid": nid | st.none()}),
        "inner_graph_built": st.fixed_dictionaries({"node_id": node_ref, "node_count": count, "edge_count": count}),
        "llm_call_started": st.fixed_dictionaries({"model": st.just("m"), "node_id": maybe_node}),
        "llm_call_completed": st.fixed_dictionaries({
            "node_id": maybe_node, "error": st.none() | st.text(max_size=3),
            "token_usage": st.none() | odd | st.fixed_dictionaries({"prompt_tokens": count,
                                                                   "completion_tokens": count}),
        }),
        "tool_invoked": st.fixed_dictionaries({"tool_name": st.just("search"), "node_id": maybe_node}),
        "tool_returned": st.fixed_dictionaries({"node_id": maybe_node, "state": st.sampled_from(
            ["SUCCESS", "FAILED", "error", "TIMEOUT"]) | odd, "error": st.none() | st.text(max_size=3)}),
        "custom_metric": st.fixed_dictionaries({"value": odd, "node_id": maybe_node}),
        "decision": st.fixed_dictionaries({"decision_type": st.text(max_size=4), "chosen_action": odd}),
    }
    return builders[event_type].map(lambda p: {k: v for k, v in p.items() if v is not None})


EVENT_TYPES = ["run_started", "run_finished", "run_error", "step_started", "step_finished", "node_created",
               "node_status_changed", "node_result_available", "plan_received", "node_added", "edge_added",
               "inner_graph_built", "llm_call_started", "llm_call_completed", "tool_invoked", "tool_returned",
               "custom_metric", "decision"]


@st.composite
def envelopes(draw, n: int) -> dict:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    env = {
        "event_id": f"e{n:05d}",
        "run_id": draw(st.sampled_from(RUNS)),
        "event_type": event_type,
        # a few timestamps out of order, as clocks of several processes would be
        "timestamp": f"2025-04-17T12:00:{draw(st.integers(0, 59)):02d}.{draw(st.integers(0, 999999)):06d}Z",
        "payload": draw(_payload(event_type)),
    }
    if draw(st.integers(0, 9)) == 0:
        env["node_id"] = draw(node_ref)  # the envelope's node_id wins over the payload's
    return env


@st.composite
def event_logs(draw) -> tuple[list[dict], list[int], list[int]]:
    """Events (with some exact duplicates re-sent later), the batch sizes they are appended in, and
    which of two connections appends each batch (the other's cached fold must then be reloaded)."""
    size = draw(st.integers(1, 60))
    events = [draw(envelopes(i)) for i in range(size)]
    dupes = draw(st.lists(st.integers(0, size - 1), max_size=6))
    for d in dupes:
        events.insert(draw(st.integers(d + 1, len(events))), dict(events[d]))
    cuts = sorted(draw(st.lists(st.integers(1, len(events)), max_size=8, unique=True)))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [len(events)]) if b > a]
    writers = [draw(st.integers(0, 1)) for _ in sizes]
    return events, sizes, writers


def _expected_states(events: list[dict]) -> dict:
    """fold() of the same events in memory, with positions and seqs assigned as the store must."""
    seen: set[str] = set()
    by_run: dict[str, list] = {}
    position = 0
    for env in events:
        if env["event_id"] in seen:
            continue
        seen.add(env["event_id"])
        e = parse_envelope(env)
        position += 1
        e.position = position
        e.seq = len(by_run.setdefault(e.run_id, [])) + 1
        by_run[e.run_id].append(e)
    return {run_id: fold(run_id, evs) for run_id, evs in by_run.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(event_logs())
def test_incremental_projections_equal_rebuild_and_in_memory_fold(log):
    events, sizes, writers = log
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "prop.db", snapshot_every=5)
        other = SQLiteStore(Path(tmp) / "prop.db", snapshot_every=5)
        at = 0
        for size, writer in zip(sizes, writers):
            (store, other)[writer].append([dict(e) for e in events[at:at + size]])
            at += size
        other.close()
        expected = _expected_states(events)

        assert store.check() == []
        assert sorted(r["run_id"] for r in store.runs()) == sorted(expected)
        incremental = {run_id: store.stored_state(run_id).comparable() for run_id in expected}
        for run_id, state in expected.items():
            assert incremental[run_id] == state.comparable(), run_id
            assert [e.seq for e in store.timeline(run_id)] == list(range(1, state.run["event_count"] + 1))

        store.rebuild()
        assert store.check() == []
        for run_id in expected:
            assert store.stored_state(run_id).comparable() == incremental[run_id], run_id
        store.close()


# -------------------------------------------------------------------- sample-based checks

def test_sample_incremental_equals_rebuild_one_event_at_a_time(tmp_path):
    store = SQLiteStore(tmp_path / "one.db", snapshot_every=10)
    for e in sample_events():
        store.append(e)
    before = store.stored_state(SAMPLE_RUN).comparable()
    assert store.check() == []
    assert raw_rows(store, "SELECT count(*) FROM snapshots")[0][0] > 0
    counts = store.rebuild()
    assert counts["events"] == len(sample_dicts()) and counts["nodes"] == 12 and counts["edges"] == 11
    assert store.stored_state(SAMPLE_RUN).comparable() == before
    assert store.check() == []


def test_check_reports_a_tampered_projection(tmp_path):
    store = loaded_store(tmp_path)
    store.connection.execute("UPDATE runs SET llm_calls = 999 WHERE run_id = ?", (SAMPLE_RUN,))
    store.connection.execute("DELETE FROM nodes WHERE node_nid = '2.1'")
    store.connection.execute("INSERT INTO runs (run_id, start_time, status) VALUES ('ghost', 'x', 'running')")
    problems = store.check()
    assert any("runs.llm_calls is 999 but the events give 24" in p for p in problems)
    assert any("missing from nodes" in p for p in problems)
    assert any("'ghost': in the runs table but has no events" in p for p in problems)
    store.rebuild()
    assert store.check() == []


def test_guide_node_tree_query_runs_unchanged(tmp_path):
    store = loaded_store(tmp_path)
    rows = store.connection.execute(GUIDE_NODE_TREE_QUERY, (SAMPLE_RUN,)).fetchall()
    assert len(rows) == 12
    assert len({r[0] for r in rows}) == 12
    for node_id, node_nid, task_goal, depth in rows:
        assert depth == (0 if node_nid == "0" else node_nid.count(".") + 1), node_nid
        assert task_goal.startswith(f"Goal {node_nid}:")
    assert rows[0][3] == 0 and max(r[3] for r in rows) == 3


def test_views_return_rows(tmp_path):
    store = loaded_store(tmp_path)
    history = store.connection.execute(
        "SELECT node_id, run_id, timestamp, old_status, new_status FROM node_status_history").fetchall()
    expected = [d for d in sample_dicts() if d["event_type"] == "node_status_changed"]
    assert len(history) == len(expected)
    assert [h[2] for h in history] == sorted(h[2] for h in history)
    assert {(h[3], h[4]) for h in history} == {(d["payload"]["old_status"], d["payload"]["new_status"])
                                               for d in expected}
    timeline = store.connection.execute(
        "SELECT node_id, node_nid, created_time, execution_start, completion_time FROM node_execution_timeline "
        "WHERE run_id = ?", (SAMPLE_RUN,)).fetchall()
    assert len(timeline) == 12
    for node_id, node_nid, created, started, completed in timeline:
        assert created is not None and started is not None and completed is not None, node_nid
        assert created <= completed


def test_node_tree_graph_of_the_sample(tmp_path):
    store = loaded_store(tmp_path)
    g = store.node_tree(SAMPLE_RUN)
    assert (g.number_of_nodes(), g.number_of_edges()) == (12, 11)
    root = store.run(SAMPLE_RUN)["root_node_id"]
    assert g.graph["root_node_id"] == root and g.in_degree(root) == 0
    import networkx as nx

    assert nx.is_arborescence(g)
    assert g.nodes[root]["node_nid"] == "0"
    for parent, child in g.edges:
        parent_nid, child_nid = g.nodes[parent]["node_nid"], g.nodes[child]["node_nid"]
        if parent_nid == "0":
            assert "." not in child_nid
        else:
            assert child_nid.rsplit(".", 1)[0] == parent_nid


@pytest.mark.parametrize("batch", [1, 7, 50, 1000])
def test_batch_split_does_not_change_the_projections(tmp_path, batch):
    reference = loaded_store(tmp_path, "ref.db").stored_state(SAMPLE_RUN).comparable()
    store = SQLiteStore(tmp_path / f"b{batch}.db")
    events = sample_events()
    for i in range(0, len(events), batch):
        store.append(events[i:i + batch])
    assert store.stored_state(SAMPLE_RUN).comparable() == reference
