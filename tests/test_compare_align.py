"""Alignment of two runs: what is paired, what is one-sided, and where the runs first diverge."""
from __future__ import annotations

import pytest

from agenttui.compare import align_siblings, compare_runs
from compare_fixtures import BASE, agent_run, store_with, variant


def _cmp(tmp_path, spec_a, spec_b, **kw):
    store = store_with(tmp_path / "runs.db", a=spec_a, b=spec_b)
    return compare_runs(store, "a", store, "b", **kw)


def _rows(cmp):
    """Each pair as (nid in A, nid in B)."""
    na, nb = cmp.a.tree.nodes, cmp.b.tree.nodes
    return [(na[p.a]["node_nid"] if p.a else None, nb[p.b]["node_nid"] if p.b else None) for p in cmp.pairs]


def test_identical_runs_report_no_difference(tmp_path):
    cmp = _cmp(tmp_path, BASE, BASE)
    d = cmp.to_dict()
    assert d["identical"] is True
    assert d["first_divergence"] is None
    assert d["nodes"]["added"] == d["nodes"]["removed"] == d["nodes"]["changed"] == []
    assert d["nodes"]["unchanged"] == len(BASE)
    assert all(t["delta"] == 0 for t in d["totals"].values())
    assert _rows(cmp) == [(n["nid"], n["nid"]) for n in BASE]


def test_inserted_node_does_not_shift_the_nodes_after_it(tmp_path):
    inserted = BASE[:2] + [{"nid": "0.2", "goal": "Interview a zookeeper", "tools": [("phone.call", "zoo")]}] + [
        {**n, "nid": f"0.{int(n['nid'][2:]) + 1}"} for n in BASE[2:]]
    cmp = _cmp(tmp_path, BASE, inserted)
    assert _rows(cmp) == [("0", "0"), ("0.1", "0.1"), (None, "0.2"), ("0.2", "0.3"), ("0.3", "0.4"), ("0.4", "0.5")]
    d = cmp.to_dict()
    assert [n["goal"] for n in d["nodes"]["added"]] == ["Interview a zookeeper"]
    assert d["nodes"]["removed"] == []
    # the renumbered nodes are the same steps: nothing about them changed
    assert d["nodes"]["changed"] == []
    # the plan step that created the extra node is where B first did something A did not
    div = d["first_divergence"]
    assert (div["kind"], div["event_type_b"], div["node_b"]["nid"]) == ("event-only-b", "node_created", "0.2")
    assert div["step"] == 2  # step 1 is the run's setup (run_started, the root's creation)


def test_removed_node_is_marked_on_a_only(tmp_path):
    removed = [n for n in BASE if n["nid"] != "0.3"]
    cmp = _cmp(tmp_path, BASE, removed)
    assert _rows(cmp) == [("0", "0"), ("0.1", "0.1"), ("0.2", "0.2"), ("0.3", None), ("0.4", "0.4")]
    d = cmp.to_dict()
    assert [n["nid"] for n in d["nodes"]["removed"]] == ["0.3"]
    div = d["first_divergence"]
    assert (div["kind"], div["event_type_a"], div["node_a"]["nid"]) == ("event-only-a", "node_created", "0.3")
    assert d["totals"]["tool_calls"]["delta"] == -1


def test_changed_tool_argument_is_the_first_divergence(tmp_path):
    changed = variant(**{"0.2": {"tools": [("web.fetch", "https://x/DIET-v2")]}})
    cmp = _cmp(tmp_path, BASE, changed)
    d = cmp.to_dict()
    assert d["identical"] is False
    assert d["nodes"]["added"] == d["nodes"]["removed"] == []
    div = d["first_divergence"]
    assert div["kind"] == "fields" and div["fields"] == ["arguments"]
    assert div["event_type_a"] == div["event_type_b"] == "tool_invoked"
    assert div["node_a"]["nid"] == div["node_b"]["nid"] == "0.2"
    assert "node 0.2" in div["description"] and "arguments differs" in div["description"]
    # the divergence names the events: the arguments really are the ones that differ
    ea = cmp.a.store.events(after=div["position_a"] - 1, limit=1)[0]
    eb = cmp.b.store.events(after=div["position_b"] - 1, limit=1)[0]
    assert (ea.payload["args_summary"], eb.payload["args_summary"]) == ("https://x/diet", "https://x/DIET-v2")


def test_failure_in_one_run(tmp_path):
    failed = variant(**{"0.3": {"status": "FAILED", "tool_error": "TimeoutError: 30 s"}})
    cmp = _cmp(tmp_path, BASE, failed)
    d = cmp.to_dict()
    [changed] = d["nodes"]["changed"]
    assert changed["b"]["nid"] == "0.3"
    assert changed["fields"]["status"] == ["FINISH", "FAILED"]
    assert changed["fields"]["error_count"][0] == 0 and changed["fields"]["error_count"][1] > 0
    assert [n["nid"] for n in d["new_errors"]] == ["0.3"]
    assert d["totals"]["error_count"]["delta"] > 0
    div = d["first_divergence"]
    assert div["event_type_a"] == "tool_returned" and set(div["fields"]) >= {"status", "error"}


def test_reworded_goal_still_pairs_and_counts_as_changed():
    a_nodes = {"x1": {"node_type": "EXECUTE_NODE", "task_goal": "Find sources about otter habitats", "node_nid": "0.1"},
               "x2": {"node_type": "EXECUTE_NODE", "task_goal": "Write the conclusion", "node_nid": "0.2"}}
    b_nodes = {"y1": {"node_type": "EXECUTE_NODE", "task_goal": "Find good sources about otter habitats", "node_nid": "0.1"},
               "y2": {"node_type": "EXECUTE_NODE", "task_goal": "Write the conclusion", "node_nid": "0.2"}}
    pairs = align_siblings(["x1", "x2"], ["y1", "y2"], a_nodes, b_nodes)
    assert pairs == [("x1", "y1", "similar"), ("x2", "y2", "same")]


def test_unrelated_goals_do_not_pair():
    a_nodes = {"x1": {"node_type": "EXECUTE_NODE", "task_goal": "Find sources about otters", "node_nid": "0.1"}}
    b_nodes = {"y1": {"node_type": "EXECUTE_NODE", "task_goal": "Book a flight to Oslo", "node_nid": "0.1"}}
    assert align_siblings(["x1"], ["y1"], a_nodes, b_nodes) == [("x1", None, "only-a"), (None, "y1", "only-b")]


def test_nodes_without_goals_pair_by_nid():
    a_nodes = {"x1": {"node_nid": "0.1"}, "x2": {"node_nid": "0.2"}}
    b_nodes = {"y2": {"node_nid": "0.2"}}
    assert align_siblings(["x1", "x2"], ["y2"], a_nodes, b_nodes) == [("x1", None, "only-a"), ("x2", "y2", "nid")]


def test_runs_in_two_stores(tmp_path):
    sa = store_with(tmp_path / "a.db", r=BASE)
    sb = store_with(tmp_path / "b.db", r=variant(**{"0.4": {"result": "a different ending"}}))
    d = compare_runs(sa, "r", sb, "r", label_a="a.db", label_b="b.db").to_dict()
    assert (d["a"]["target"], d["b"]["target"]) == ("a.db", "b.db")
    [changed] = d["nodes"]["changed"]
    assert list(changed["fields"]) == ["result"]
    assert d["first_divergence"]["fields"] == ["result"]


def test_bad_edges_still_list_every_node_once(tmp_path):
    events = agent_run("a", BASE)
    ids = {e["payload"]["node_nid"]: e["payload"]["node_id"] for e in events if e["event_type"] == "node_created"}
    # a second parent for 0.3 and a cycle 0.1 -> 0 (bad data from a buggy agent)
    extra = [{"event_id": f"bad-{i}", "run_id": "a", "event_type": "edge_added", "timestamp": "2026-03-01T10:00:00Z",
              "payload": {"parent_node_id": ids[p], "child_node_id": ids[c]}}
             for i, (p, c) in enumerate([("0.1", "0.3"), ("0.1", "0")])]
    store = store_with(tmp_path / "bad.db", a=events + extra, b=BASE)
    cmp = compare_runs(store, "a", store, "b")
    assert sorted(n for n, _ in _rows(cmp) if n) == sorted(n["nid"] for n in BASE)
    assert sorted(n for _, n in _rows(cmp) if n) == sorted(n["nid"] for n in BASE)


def test_unknown_run_is_a_clear_error(tmp_path):
    store = store_with(tmp_path / "runs.db", a=BASE)
    with pytest.raises(LookupError, match="no run 'nope'"):
        compare_runs(store, "a", store, "nope")
