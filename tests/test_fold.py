"""The pure fold: what each built-in event type does to run, node and edge state."""
from __future__ import annotations

import orjson

from agenttui.store import PENDING, RunState, fold, nid_key, parse_envelope
from agenttui.store.envelope import Event

from store_fixtures import SAMPLE_RUN, ev, sample_dicts, sample_events


def run_of(*envs: dict, run_id: str = "r1") -> RunState:
    events = [parse_envelope(e) for e in envs]
    for i, e in enumerate(events, 1):
        e.position, e.seq = i, i
    return fold(run_id, events)


def test_sample_run_summary():
    events = [e for e in sample_events() if e.run_id == SAMPLE_RUN]
    state = fold(SAMPLE_RUN, events)
    run = state.run
    assert run["status"] == "completed"
    assert run["total_nodes"] == 12 and len(state.nodes) == 12 and len(state.edges) == 11
    assert run["llm_calls"] == 24 and run["tool_calls"] == 7
    assert run["task"] == "Write a report" and run["model"] == "m-large" and run["run_mode"] == "report"
    usage = [d["payload"].get("token_usage") or {} for d in sample_dicts()
             if d["event_type"] == "llm_call_completed" and d["run_id"] == SAMPLE_RUN]
    assert run["prompt_tokens"] == sum(u.get("prompt_tokens", 0) for u in usage) > 0
    assert run["completion_tokens"] == sum(u.get("completion_tokens", 0) for u in usage) > 0
    assert run["event_count"] == len(events) == run["last_seq"]
    assert all(n["pending"] == 0 for n in state.nodes.values())
    assert state.nodes[run["root_node_id"]]["node_nid"] == "0"
    assert state.roots() == [run["root_node_id"]]


def test_a_run_appears_with_its_first_event_without_run_started():
    state = run_of(ev("llm_call_started", model="m"))
    assert state.run["status"] == "running"
    assert state.run["start_time"] == state.run["created_at"] is not None
    assert state.run["llm_calls"] == 1


def test_run_error_sets_status_message_and_counts():
    state = run_of(ev("run_started"), ev("run_error", error_type="ValueError", error_message="boom", node_id="n1"))
    assert (state.run["status"], state.run["error_message"], state.run["error_count"]) == ("error", "boom", 1)
    assert state.run["end_time"] is not None
    assert state.nodes["n1"]["error_count"] == 1
    only_type = run_of(ev("run_error", error_type="Timeout"))
    assert only_type.run["error_message"] == "Timeout"


def test_run_finished_takes_totals_from_the_payload():
    state = run_of(ev("run_finished", total_steps=7, total_nodes=3, duration_seconds=12.5))
    assert (state.run["status"], state.run["total_steps"], state.run["total_nodes"]) == ("completed", 7, 3)
    assert state.run["duration_seconds"] == 12.5


def test_pending_node_becomes_real_and_keeps_early_status():
    state = run_of(
        ev("tool_invoked", node_id="a"),
        ev("node_status_changed", node_id="b", new_status="DOING"),
    )
    assert (state.nodes["a"]["status"], state.nodes["a"]["pending"]) == (PENDING, 1)
    assert (state.nodes["b"]["status"], state.nodes["b"]["pending"]) == ("DOING", 1)
    state.apply(parse_envelope(ev("node_created", node_id="a", node_nid="1")))
    state.apply(parse_envelope(ev("node_created", node_id="b", node_nid="2")))
    assert (state.nodes["a"]["status"], state.nodes["a"]["pending"]) == ("NOT_READY", 0)
    assert (state.nodes["b"]["status"], state.nodes["b"]["pending"]) == ("DOING", 0)
    assert state.run["total_nodes"] == 2


def test_node_created_twice_counts_once():
    state = run_of(ev("node_created", node_id="a", node_nid="1"), ev("node_created", node_id="a", node_nid="1"))
    assert state.run["total_nodes"] == 1


def test_node_created_with_outer_node_adds_the_edge_and_root():
    state = run_of(
        ev("node_created", node_id="root", node_nid="0"),
        ev("node_created", node_id="kid", node_nid="0.1", outer_node_id="root", root_node_id="root"),
    )
    assert state.run["root_node_id"] == "root"
    edge = state.edges[("root", "kid")]
    assert (edge["parent_nid"], edge["child_nid"]) == ("0", "0.1")
    assert state.children("root") == ["kid"]


def test_edge_added_names_pending_nodes_and_fills_nids_later():
    state = run_of(ev("edge_added", parent_node_id="p", child_node_id="c", graph_owner_node_id="p"))
    edge = state.edges[("p", "c")]
    assert edge["parent_nid"] is None and edge["metadata"] == {"graph_owner_node_id": "p"}
    assert state.nodes["p"]["status"] == PENDING and state.nodes["c"]["status"] == PENDING
    state.apply(parse_envelope(ev("edge_added", parent_node_id="p", child_node_id="c", parent_node_nid="1",
                                  child_node_nid="1.1")))
    assert (state.edges[("p", "c")]["parent_nid"], state.edges[("p", "c")]["child_nid"]) == ("1", "1.1")


def test_self_edges_are_ignored():
    state = run_of(ev("edge_added", parent_node_id="x", child_node_id="x"))
    assert state.edges == {}


def test_failed_statuses_and_tool_failures_count_as_errors():
    state = run_of(
        ev("node_status_changed", node_id="n", new_status="FAILED"),
        ev("node_status_changed", node_id="n", new_status="FAILED"),  # still one failure
        ev("tool_returned", node_id="n", state="timeout"),
        ev("tool_returned", node_id="n", state="SUCCESS"),
        ev("tool_returned", node_id="n", state="SUCCESS", error="partial"),
        ev("llm_call_completed", node_id="n", error="rate limited"),
    )
    assert state.run["error_count"] == 4 and state.nodes["n"]["error_count"] == 4


def test_llm_tokens_sum_per_run_and_node_and_ignore_garbage():
    state = run_of(
        ev("llm_call_completed", node_id="n", token_usage={"prompt_tokens": 10, "completion_tokens": 3}),
        ev("llm_call_completed", token_usage={"prompt_tokens": 5.0, "completion_tokens": "many"}),
        ev("llm_call_completed", token_usage="lots"),
        ev("llm_call_completed", token_usage={"prompt_tokens": True}),
    )
    assert (state.run["prompt_tokens"], state.run["completion_tokens"]) == (15, 3)
    assert (state.nodes["n"]["prompt_tokens"], state.nodes["n"]["completion_tokens"]) == (10, 3)


def test_unknown_types_only_count():
    state = run_of(ev("custom_metric", node_id="n", value=1), ev("weird"))
    assert state.run["event_count"] == 2
    assert state.nodes["n"]["event_count"] == 1 and state.nodes["n"]["status"] == PENDING


def test_steps_track_the_highest_step_and_status_after():
    state = run_of(
        ev("step_started", step=3, node_id="n", node_goal="do it"),
        ev("step_finished", step=2, node_id="n", status_after="FINISH"),
    )
    assert state.run["total_steps"] == 3
    assert (state.nodes["n"]["task_goal"], state.nodes["n"]["status"]) == ("do it", "FINISH")


def test_fold_is_deterministic_and_snapshot_round_trip_is_exact():
    events = sample_events()
    a = fold(SAMPLE_RUN, [e for e in events if e.run_id == SAMPLE_RUN])
    b = fold(SAMPLE_RUN, [e for e in events if e.run_id == SAMPLE_RUN])
    assert a.comparable() == b.comparable()
    restored = RunState.from_dict(orjson.loads(orjson.dumps(a.to_dict())))
    assert restored.comparable() == a.comparable() and restored.position == a.position


def test_copy_is_independent():
    state = run_of(ev("node_created", node_id="a", node_nid="1"))
    snap = state.copy()
    state.apply(parse_envelope(ev("node_status_changed", node_id="a", new_status="DOING")))
    assert snap.nodes["a"]["status"] == "NOT_READY"


def test_event_without_position_still_advances_last_seq():
    state = fold("r", [Event(event_type="x", run_id="r"), Event(event_type="x", run_id="r")])
    assert state.run["last_seq"] == 2 and state.run["event_count"] == 2


def test_nid_key_orders_hierarchical_ids_numerically():
    nids = ["1.10", "1.9", "2", "1", "1.2.1", None, "a"]
    assert sorted(nids, key=nid_key) == ["1", "1.2.1", "1.9", "1.10", "2", "a", None]
