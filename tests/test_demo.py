"""The simulated recursive planning agent: deterministic, in the real agent's payload shapes."""
from __future__ import annotations

import collections
import re
import threading

import pytest

from agenttui.demo import generate_run, write_live
from agenttui.store import SQLiteStore

START = "2026-03-01T09:00:00Z"

#: The built-in event types (the README's envelope section) and the payload fields the real agent always sends.
REQUIRED = {
    "run_started": {"input_data", "config", "run_mode"},
    "run_finished": {"total_steps", "duration_seconds", "total_nodes", "total_llm_calls", "total_tool_calls",
                     "token_usage_summary"},
    "run_error": {"error_type", "error_message", "stack_trace"},
    "step_started": {"step", "node_id", "node_goal", "root_id"},
    "step_finished": {"step", "node_id", "action_name", "status_after", "duration_seconds"},
    "node_created": {"node_id", "node_nid", "node_type", "task_type", "task_goal", "layer", "outer_node_id",
                     "root_node_id", "initial_parent_nids"},
    "node_status_changed": {"node_id", "node_goal", "old_status", "new_status"},
    "node_result_available": {"node_id", "action_name", "result_summary"},
    "plan_received": {"node_id", "raw_plan"},
    "node_added": {"graph_owner_node_id", "added_node_id", "added_node_nid"},
    "edge_added": {"graph_owner_node_id", "parent_node_id", "child_node_id", "parent_node_nid", "child_node_nid"},
    "inner_graph_built": {"node_id", "node_count", "edge_count", "node_ids"},
    "llm_call_started": {"agent_class", "model", "prompt", "prompt_preview"},
    "llm_call_completed": {"agent_class", "model", "duration_seconds", "response", "result_summary"},
    "tool_invoked": {"tool_name", "api_name", "args_summary"},
    "tool_returned": {"tool_name", "api_name", "state", "duration_seconds", "result_summary"},
    "decision": {"decision_type", "context", "reasoning", "chosen_action"},
    "artifact": {"artifact_type", "path", "content"},
}
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def envelopes(**kwargs):
    return [e.to_envelope() for e in generate_run(start=START, **kwargs)]


def test_same_seed_same_run_other_seed_other_run():
    assert envelopes(seed=3) == envelopes(seed=3)
    assert envelopes(seed=3) != envelopes(seed=4)
    # the id style changes ids only, never the run's content
    a = [(e["event_type"], e["payload"]) for e in envelopes(seed=3, id_style="time")]
    b = [(e["event_type"], e["payload"]) for e in envelopes(seed=3, id_style="uuid4")]
    assert a == b


def test_payloads_have_the_real_agents_shapes():
    events = list(generate_run(11, n_nodes=300, start=START))
    by_type = collections.defaultdict(list)
    for e in events:
        by_type[e.event_type].append(e)
    missing_types = set(REQUIRED) - set(by_type) - {"run_error", "run_finished"}
    assert not missing_types
    for event_type, evs in by_type.items():
        for e in evs:
            assert REQUIRED[event_type] <= set(e.payload), (event_type, e.payload)
    completed = [e.payload for e in by_type["llm_call_completed"]]
    assert any("token_usage" in p for p in completed) and any(p.get("error") for p in completed)
    assert any(p["state"] == "FAILED" and p.get("error") for p in (e.payload for e in by_type["tool_returned"]))
    statuses = {e.payload["new_status"] for e in by_type["node_status_changed"]}
    assert {"READY", "DOING", "PLAN_DONE", "FINAL_TO_FINISH", "FINISH", "FAILED"} <= statuses


def test_runs_end_finished_or_failed_depending_on_the_seed():
    endings = collections.Counter()
    for seed in range(30):
        events = list(generate_run(seed, start=START))
        assert events[0].event_type == "run_started"
        endings[events[-1].event_type] += 1
        assert sum(e.event_type in ("run_finished", "run_error") for e in events) == 1
    assert endings["run_finished"] > endings["run_error"] > 0


def test_nids_nest_and_the_tree_is_a_tree():
    events = list(generate_run(5, n_nodes=120, start=START))
    created = [e.payload for e in events if e.event_type == "node_created"]
    assert len(created) == 120
    by_id = {p["node_id"]: p for p in created}
    roots = [p for p in created if p["outer_node_id"] is None]
    assert len(roots) == 1 and roots[0]["node_nid"] == "0" and roots[0]["layer"] == 0
    for p in created:
        if p["outer_node_id"] is None:
            continue
        parent = by_id[p["outer_node_id"]]
        assert p["layer"] == parent["layer"] + 1
        expected_prefix = "" if parent["node_nid"] == "0" else parent["node_nid"] + "."
        assert p["node_nid"].startswith(expected_prefix)
        assert p["node_nid"][len(expected_prefix):].isdigit()
        assert parent["node_type"] == "PLAN_NODE"
    assert max(p["layer"] for p in created) >= 2


def test_event_count_is_exact_and_time_moves_forward():
    for n in (3, 50, 2_000):
        events = list(generate_run(7, n_events=n, start=START))
        assert len(events) == n
        assert events[-1].event_type == "run_finished"
        stamps = [e.timestamp for e in events]
        assert stamps == sorted(stamps) and stamps[0] >= "2026-03-01T09:00:00.000000Z"
    with pytest.raises(ValueError):
        list(generate_run(1, n_events=2))


def test_id_styles():
    time_ids = [e.event_id for e in generate_run(2, n_events=300, start=START)]
    assert all(UUID7.match(i) for i in time_ids) and time_ids == sorted(time_ids)
    uuid4_ids = [e.event_id for e in generate_run(2, n_events=300, start=START, id_style="uuid4")]
    assert all(UUID4.match(i) for i in uuid4_ids) and len(set(uuid4_ids)) == 300
    with pytest.raises(ValueError):
        generate_run(2, id_style="snowflake")


def test_a_generated_run_folds_consistently(tmp_path):
    events = list(generate_run(9, n_nodes=60, start=START, run_id="sim"))
    with SQLiteStore(tmp_path / "d.db") as store:
        store.append(events)
        assert store.check() == []
        run = store.run("sim")
        created = sum(e.event_type == "node_created" for e in events)
        assert run["total_nodes"] == created == len(store.nodes("sim"))
        assert run["llm_calls"] == sum(e.event_type == "llm_call_started" for e in events)
        assert run["status"] == ("completed" if events[-1].event_type == "run_finished" else "error")
        assert run["prompt_tokens"] > 0
        tree = store.node_tree("sim")
        assert tree.number_of_nodes() == created and tree.number_of_edges() == created - 1


def test_write_live_unpaced(tmp_path):
    with SQLiteStore(tmp_path / "d.db") as store:
        result = write_live(store, seed=1, rate=0, n_events=1_500, run_id="bulk", max_batch=400)
        assert (result.events, result.interrupted) == (1_500, False)
        assert store.count_events(run_id="bulk") == 1_500
        assert store.run("bulk")["status"] == "completed"


def test_write_live_paced_uses_the_wall_clock(tmp_path):
    with SQLiteStore(tmp_path / "d.db") as store:
        before = store.last_position()
        result = write_live(store, seed=1, rate=2_000, n_events=40, run_id="paced")
        events = store.events(run_id="paced", limit=None)
        assert result.events == 40 and len(events) == 40 and before == 0
        assert events[0].timestamp[:4] >= "2026"
        assert all(UUID7.match(e.event_id) for e in events)


def test_stopping_closes_the_run_with_an_error(tmp_path):
    stop = threading.Event()
    seen = []

    def progress(n: int) -> None:
        seen.append(n)
        if n >= 5:
            stop.set()

    with SQLiteStore(tmp_path / "d.db") as store:
        result = write_live(store, seed=1, rate=1_000, run_id="stopped", stop=stop, on_progress=progress)
        assert result.interrupted
        last = store.events(run_id="stopped", order="desc", limit=1)[0]
        assert last.event_type == "run_error" and last.payload["error_type"] == "Interrupted"
        assert store.run("stopped")["status"] == "error"
        assert result.events == store.count_events(run_id="stopped") < 100
