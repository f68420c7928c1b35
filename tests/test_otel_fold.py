"""The fold's `details_updated`: fields only known when a span ends, the same live and in replay."""
from __future__ import annotations

from agenttui.store import Event, fold, open_store


def _events() -> list[Event]:
    return [
        Event("run_started", {"task": "span name"}, run_id="r", event_id="e1", timestamp="2025-01-01T00:00:00Z"),
        Event("node_created", {"node_id": "a", "task_goal": "agent", "status": "DOING"}, run_id="r", event_id="e2",
              timestamp="2025-01-01T00:00:01Z"),
        Event("details_updated", {"node_id": "a", "node": {"task_goal": "planner", "node_type": "AGENT",
                                                           "metadata": {"model": "m1"}}},
              run_id="r", event_id="e3", timestamp="2025-01-01T00:00:02Z"),
        Event("details_updated", {"node_id": "a", "node": {"metadata": {"input": "plan a trip"}}},
              run_id="r", event_id="e4", timestamp="2025-01-01T00:00:03Z"),
        Event("details_updated", {"run": {"task": "plan a trip", "model": "m1"}}, run_id="r", event_id="e5",
              timestamp="2025-01-01T00:00:04Z"),
    ]


def test_details_updated_sets_node_and_run_fields():
    state = fold("r", _events())
    node = state.nodes["a"]
    assert node["task_goal"] == "planner"
    assert node["node_type"] == "AGENT"
    assert node["metadata"] == {"model": "m1", "input": "plan a trip"}  # merged, not replaced
    assert state.run["task"] == "plan a trip"
    assert state.run["model"] == "m1"
    assert state.run["error_count"] == 0


def test_details_updated_ignores_bad_fields():
    bad = Event("details_updated", {"node_id": "a", "node": "not a dict", "run": ["x"]}, run_id="r",
                event_id="e9", timestamp="2025-01-01T00:00:05Z")
    before = fold("r", _events()[:2])
    after = fold("r", _events()[:2] + [bad])
    assert after.nodes["a"]["task_goal"] == before.nodes["a"]["task_goal"] == "agent"
    assert after.run["task"] == "span name"


def test_store_projection_and_rebuild_agree(tmp_path):
    with open_store(tmp_path / "f.db") as store:
        store.append(_events())
        node = {n["node_id"]: n for n in store.nodes("r")}["a"]
        assert node["task_goal"] == "planner"
        assert node["metadata"]["input"] == "plan a trip"
        assert store.run("r")["task"] == "plan a trip"
        replay = store.state_at("r", store.last_position())
        assert replay.nodes["a"]["task_goal"] == "planner"
        assert replay.run["task"] == "plan a trip"
