"""Small recursive-agent runs built from a plan spec, for the compare, stats and report tests.

A spec is a list of nodes in plan order: {"nid": "0.2", "goal": ..., "tools": [(name, args)], ...}.
The events follow the real agent's shape (node_created + edge_added under the parent, a step per
node with an LLM call, tool calls, a result, the final status), so alignment and summaries are
tested on what they will meet, and a variant differs from the base only where the test says.
"""
from __future__ import annotations

import copy
import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

BASE = [
    {"nid": "0", "goal": "Write a report on otters", "type": "PLAN_NODE"},
    {"nid": "0.1", "goal": "Find sources about otter habitats", "tools": [("web.search", "otter habitats")]},
    {"nid": "0.2", "goal": "Summarise the diet of otters", "tools": [("web.fetch", "https://x/diet")]},
    {"nid": "0.3", "goal": "Check population numbers", "tools": [("db.query", "select count(*) from otters")]},
    {"nid": "0.4", "goal": "Write the conclusion"},
]


def variant(**changes: Any) -> list[dict[str, Any]]:
    """BASE with nodes replaced by nid: variant(**{"0.2": {...}}) merges into that node."""
    spec = copy.deepcopy(BASE)
    for node in spec:
        node.update(changes.get(node["nid"], {}))
    return spec


def _node_id(run_id: str, nid: str) -> str:
    return hashlib.sha1(f"{run_id}/{nid}".encode()).hexdigest()[:32]


def agent_run(run_id: str, spec: list[dict[str, Any]], *, start: str = "2026-03-01T09:00:00",
              run_error: str | None = None) -> list[dict[str, Any]]:
    """The envelopes of one run executing `spec` depth-first (children listed after their parent)."""
    t = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    out: list[dict[str, Any]] = []
    ids = {n["nid"]: _node_id(run_id, n["nid"]) for n in spec}
    kids: dict[str, list[dict[str, Any]]] = {}
    for n in spec[1:]:
        kids.setdefault(n["nid"].rsplit(".", 1)[0], []).append(n)
    step = 0

    def ev(event_type: str, payload: dict[str, Any], seconds: float = 0.1) -> None:
        nonlocal t
        t += timedelta(seconds=seconds)
        out.append({"event_id": f"{run_id}-{len(out):05d}", "run_id": run_id, "event_type": event_type,
                    "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "payload": payload})

    def created(n: dict[str, Any], parent: str | None) -> None:
        ev("node_created", {"node_id": ids[n["nid"]], "node_nid": n["nid"], "node_type": n.get("type", "EXECUTE_NODE"),
                            "task_type": "RETRIEVAL", "task_goal": n["goal"], "layer": n["nid"].count("."),
                            "outer_node_id": ids[parent] if parent else None, "root_node_id": ids[spec[0]["nid"]]})
        if parent:
            ev("edge_added", {"graph_owner_node_id": ids[parent], "parent_node_id": ids[parent],
                              "child_node_id": ids[n["nid"]], "parent_node_nid": parent, "child_node_nid": n["nid"]})

    def run(n: dict[str, Any]) -> None:
        nonlocal step
        step += 1
        node_id = ids[n["nid"]]
        ev("step_started", {"step": step, "node_id": node_id, "node_goal": n["goal"]})
        ev("node_status_changed", {"node_id": node_id, "old_status": "READY", "new_status": "DOING"})
        model = n.get("model", "m-large")
        ev("llm_call_started", {"model": model, "agent_class": "Executor", "node_id": node_id,
                                "prompt": [{"role": "user", "content": n.get("prompt", f"Do: {n['goal']}")}]})
        pt, ct = n.get("tokens", (100, 20))
        llm = {"model": model, "node_id": node_id, "duration_seconds": n.get("llm_seconds", 1.0),
               "response": n.get("response", f"answer for {n['goal']}"),
               "token_usage": {"prompt_tokens": pt, "completion_tokens": ct}}
        if n.get("llm_error"):
            llm["error"] = n["llm_error"]
        ev("llm_call_completed", llm, seconds=n.get("llm_seconds", 1.0))
        for name, args in n.get("tools", ()):
            ev("tool_invoked", {"tool_name": name, "api_name": name, "args_summary": args, "node_id": node_id})
            ret = {"tool_name": name, "api_name": name, "state": "SUCCESS", "node_id": node_id,
                   "duration_seconds": n.get("tool_seconds", 0.5), "result_summary": f"{name} ok"}
            if n.get("tool_error"):
                ret.update(state="FAILED", error=n["tool_error"])
            ev("tool_returned", ret, seconds=n.get("tool_seconds", 0.5))
        for kid in kids.get(n["nid"], ()):
            created(kid, n["nid"])
        for kid in kids.get(n["nid"], ()):
            run(kid)
        status = n.get("status", "FINISH")
        ev("node_result_available", {"node_id": node_id, "action_name": "execute",
                                     "result_summary": n.get("result", f"done: {n['goal']}")})
        ev("step_finished", {"step": step, "node_id": node_id, "status_after": status, "action_name": "execute"})
        ev("node_status_changed", {"node_id": node_id, "old_status": "DOING", "new_status": status})

    ev("run_started", {"input_data": {"data": {"prompt": spec[0]["goal"]}}, "config": {"model": "m-large"}})
    created(spec[0], None)
    run(spec[0])
    if run_error:
        ev("run_error", {"error_type": "AgentError", "error_message": run_error, "node_id": ids[spec[0]["nid"]]})
    else:
        ev("run_finished", {"total_steps": step, "duration_seconds": None})
    return out


def store_with(path: Any, **runs: list[dict[str, Any]]) -> Any:
    """A SQLite store at `path` holding each run_id=spec (or a list of envelopes) given."""
    from agenttui.store import SQLiteStore, parse_envelope

    store = SQLiteStore(path)
    for run_id, spec in runs.items():
        events = spec if spec and "event_type" in spec[0] else agent_run(run_id, spec)
        store.append([parse_envelope(e) for e in events])
    return store
