"""The History's reads for the node tree (children_at, display_at) keep what they worked out
for a span of indices: read in any order (steps forward and back, jumps, a run still growing),
they equal the fold's own state at each index, including across a child's nid changing (which
reorders its siblings) and children arriving one by one."""
from __future__ import annotations

import random

from agenttui.tui.history import History

from test_tui_tree_slider import _ev


def reordering_run() -> list:
    """A root whose children come one by one, some renumbered later (a repeated node_created or
    an edge that fills a missing nid), with status changes between that leave the order alone."""
    events: list = []

    def add(event_type: str, **payload) -> None:
        events.append(_ev(len(events) + 1, event_type, **payload))

    add("node_created", node_id="root", node_nid="0", task_goal="root", outer_node_id=None)
    for k in (3, 1, 10, 2):
        add("node_created", node_id=f"c{k}", node_nid=f"0.{k}", task_goal=f"goal {k}", outer_node_id="root")
        add("node_status_changed", node_id="root", new_status="RUNNING")
    add("node_created", node_id="c1", node_nid="0.20", task_goal="renumbered")  # c1 moves to the end
    add("node_status_changed", node_id="c2", new_status="RUNNING")
    add("node_added", node_id="root", added_node_id="late", graph_owner_node_id="root")  # no nid yet
    add("edge_added", node_id="root", parent_node_id="root", child_node_id="late", child_node_nid="0.0")
    add("node_created", node_id="c10", node_nid="0.1", task_goal="renumbered")  # c10 moves near the front
    add("node_created", node_id="g", node_nid="0.1.1", task_goal="grandchild", outer_node_id="c10")
    add("node_status_changed", node_id="g", new_status="FINISH")
    add("node_created", node_id="c3", node_nid="0.3", task_goal="same nid again")  # ties stay in edge order
    add("node_created", node_id="c4", node_nid="0.3", task_goal="a twin nid", outer_node_id="root")
    add("node_status_changed", node_id="c10", new_status="FINISH")
    return events


def check_reads(history: History, i: int) -> None:
    state = history.state_at_index(i)
    assert history.roots_at(i) == state.roots(), f"roots at {i}"
    for node_id, row in state.nodes.items():
        assert history.children_at(node_id, i) == state.children(node_id), f"children of {node_id} at {i}"
        assert history.has_children_at(node_id, i) == bool(state.children(node_id))
        shown = history.display_at(node_id, i)
        assert shown is not None
        assert {k: row[k] for k in shown} == shown, f"{node_id} at {i}"
        shown["status"] = "scribbled"  # (the caller's copy: what is kept must not change)
        assert history.display_at(node_id, i)["status"] == row["status"]


def test_reads_in_any_order_equal_the_fold_at_each_index():
    events = reordering_run()
    history = History("r")
    history.extend(events)
    last = len(history) - 1
    order = list(range(last + 1)) + list(range(last, -1, -1))
    rng = random.Random(5)
    order += [rng.randrange(last + 1) for _ in range(60)]
    for i in order:
        check_reads(history, i)
    # the order did change across the run (the cache has something to get wrong)
    assert history.children_at("root", 9) != history.children_at("root", last)


def test_reads_follow_a_run_that_grows_between_them():
    events = reordering_run()
    history = History("r")
    for cut in range(1, len(events) + 1):
        history.extend(events[cut - 1:cut])
        for i in (cut - 1, max(0, cut - 3), cut - 1):
            check_reads(history, i)


def test_a_renumbered_child_takes_its_new_place_when_stepping_across_the_change():
    events = reordering_run()
    history = History("r")
    history.extend(events)
    renumbered = next(k for k, e in enumerate(events) if e.payload.get("task_goal") == "renumbered")
    before, after = history.children_at("root", renumbered - 1), history.children_at("root", renumbered)
    assert before == ["c1", "c2", "c3", "c10"] and after == ["c2", "c3", "c10", "c1"]
    assert history.children_at("root", renumbered - 1) == before  # (stepping back over it)
