"""The one fold: events -> run, node and edge state.

Pure Python over plain dicts, no I/O. The store folds each appended batch with it inside the write
transaction, `rebuild` folds the whole log with it, and the TUI folds with it for the live view and
the time slider, so all of them agree by construction.

`apply` returns what it touched so callers can write (store) or record history (TUI) incrementally.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from .envelope import Event

#: Bump when the fold's output changes: stored snapshots of an older fold are ignored.
FOLD_VERSION = 1

RUN_COLUMNS = (
    "run_id", "start_time", "end_time", "status", "total_steps", "total_nodes", "error_message",
    "root_node_id", "created_at", "updated_at", "task", "model", "run_mode", "event_count", "last_seq",
    "first_position", "last_position", "llm_calls", "tool_calls", "error_count", "prompt_tokens",
    "completion_tokens", "duration_seconds", "metadata",
)
NODE_COLUMNS = (
    "node_id", "run_id", "node_nid", "node_type", "task_type", "task_goal", "status", "layer",
    "outer_node_id", "root_node_id", "result", "metadata", "created_at", "updated_at", "pending",
    "event_count", "llm_calls", "tool_calls", "error_count", "prompt_tokens", "completion_tokens",
    "first_position", "last_position",
)
EDGE_COLUMNS = ("run_id", "parent_node_id", "child_node_id", "parent_nid", "child_nid", "metadata", "created_at")
#: Columns holding JSON (dicts in state, text in SQL).
JSON_COLUMNS = frozenset({"metadata", "result"})

NODE_STATUSES = (
    "NOT_READY", "READY", "NEED_UPDATE", "FINAL_TO_FINISH", "NEED_POST_REFLECT", "FINISH",
    "PLAN_DONE", "DOING", "FAILED",
)
#: Status of a node we have only heard of (referenced before its node_created).
PENDING = "PENDING"
FAILED_TOOL_STATES = frozenset({"FAILED", "FAILURE", "ERROR", "TIMEOUT"})


def new_run(run_id: str) -> dict[str, Any]:
    run = dict.fromkeys(RUN_COLUMNS)
    run.update(run_id=run_id, status="running", event_count=0, last_seq=0, llm_calls=0, tool_calls=0,
               error_count=0, prompt_tokens=0, completion_tokens=0, metadata={})
    return run


def new_node(run_id: str, node_id: str, ts: str, position: int | None) -> dict[str, Any]:
    node = dict.fromkeys(NODE_COLUMNS)
    node.update(node_id=node_id, run_id=run_id, status=PENDING, pending=1, created_at=ts, updated_at=ts,
                event_count=0, llm_calls=0, tool_calls=0, error_count=0, prompt_tokens=0,
                completion_tokens=0, metadata={}, first_position=position, last_position=position)
    return node


@dataclass(slots=True)
class Touched:
    """What one event changed; `edges` are keys of new or changed edges."""

    run: bool = True
    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RunState:
    """State of one run as of `position` (the last event folded in)."""

    run_id: str
    run: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    position: int = 0

    def __post_init__(self) -> None:
        if not self.run:
            self.run = new_run(self.run_id)

    # -- folding ---------------------------------------------------------------------------
    def apply(self, event: Event) -> Touched:
        return apply_event(self, event)

    def apply_all(self, events: Iterable[Event]) -> "RunState":
        for e in events:
            apply_event(self, e)
        return self

    # -- copying and (de)serialising for snapshots -------------------------------------------
    def copy(self) -> "RunState":
        return RunState(self.run_id, copy.deepcopy(self.run), copy.deepcopy(self.nodes),
                        copy.deepcopy(self.edges), self.position)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "position": self.position,
            "run": self.run,
            "nodes": list(self.nodes.values()),
            "edges": list(self.edges.values()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunState":
        state = cls(data["run_id"], dict(data["run"]), position=data["position"])
        state.nodes = {n["node_id"]: n for n in data["nodes"]}
        state.edges = {(e["parent_node_id"], e["child_node_id"]): e for e in data["edges"]}
        return state

    def comparable(self) -> dict[str, Any]:
        """A canonical form for equality checks (rebuild --check, property tests)."""
        return {
            "run": self.run,
            "nodes": dict(sorted(self.nodes.items())),
            "edges": dict(sorted((f"{k[0]}->{k[1]}", v) for k, v in self.edges.items())),
        }

    # -- convenient reads ---------------------------------------------------------------------
    def children(self, node_id: str) -> list[str]:
        kids = [c for (p, c) in self.edges if p == node_id]
        return sorted(kids, key=lambda c: nid_key(self.nodes.get(c, {}).get("node_nid")))

    def roots(self) -> list[str]:
        has_parent = {c for (_, c) in self.edges}
        roots = [n for n in self.nodes if n not in has_parent]
        return sorted(roots, key=lambda n: nid_key(self.nodes[n].get("node_nid")))


def nid_key(nid: str | None) -> tuple:
    """Sort "1.10" after "1.9": hierarchical ids compare part by part, numbers as numbers.

    Nodes without an nid yet (pending) sort after every named one, so they never jump to the top.
    """
    if not nid:
        return ((2, ""),)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in str(nid).split("."))


# ------------------------------------------------------------------------------------ the fold

def _node(state: RunState, node_id: str, event: Event, touched: Touched) -> dict[str, Any]:
    node = state.nodes.get(node_id)
    if node is None:
        node = state.nodes[node_id] = new_node(state.run_id, node_id, event.timestamp, event.position)
    if not touched.nodes or touched.nodes[-1] != node_id:
        if node_id not in touched.nodes:
            touched.nodes.append(node_id)
    return node


#: SQLite INTEGER range: a count beyond it cannot be stored, so the fold treats it as garbage.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
#: Headroom so sums of many in-range counts stay storable.
_COUNT_MAX = 1 << 53


def _int(value: Any) -> int | None:
    """An integer payload field the projections can store, else None (JSON allows any size)."""
    if isinstance(value, int) and not isinstance(value, bool) and _INT_MIN <= value <= _INT_MAX:
        return value
    return None


def _num(value: Any) -> int:
    """A count (tokens, steps, nodes): anything else, or absurdly large, counts as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value == value and abs(value) < _COUNT_MAX:
        value = int(value)
    if isinstance(value, int) and -_COUNT_MAX <= value <= _COUNT_MAX:
        return value
    return 0


def _str(value: Any) -> str | None:
    """Text of a payload field, as it reads once stored: the append path folds the caller's Python
    objects (a datetime, an Enum, a tuple) while a rebuild folds their JSON, so convert like JSON."""
    return None if value is None else _text(value)


def _text(value: Any) -> str:
    """`_str` of a value already known not to be None."""
    if isinstance(value, str):
        return value
    try:
        value = orjson.loads(orjson.dumps(value))
    except (TypeError, ValueError):
        pass
    return value if isinstance(value, str) else str(value)


def _edge(state: RunState, parent: str, child: str, event: Event, touched: Touched,
          parent_nid: Any = None, child_nid: Any = None, meta: dict | None = None) -> None:
    key = (parent, child)
    edge = state.edges.get(key)
    changed = edge is None
    if edge is None:
        edge = state.edges[key] = {
            "run_id": state.run_id, "parent_node_id": parent, "child_node_id": child,
            "parent_nid": None, "child_nid": None, "metadata": {}, "created_at": event.timestamp,
        }
    if parent_nid is not None and edge["parent_nid"] != _str(parent_nid):
        edge["parent_nid"] = _str(parent_nid)
        changed = True
    if child_nid is not None and edge["child_nid"] != _str(child_nid):
        edge["child_nid"] = _str(child_nid)
        changed = True
    if meta:
        for k, v in meta.items():
            if edge["metadata"].get(k) != v:
                edge["metadata"] = {**edge["metadata"], k: v}  # copy-on-write: history may share it
                changed = True
    if edge["parent_nid"] is None or edge["child_nid"] is None:
        pn = state.nodes.get(parent, {}).get("node_nid")
        cn = state.nodes.get(child, {}).get("node_nid")
        if edge["parent_nid"] is None and pn:
            edge["parent_nid"] = pn
            changed = True
        if edge["child_nid"] is None and cn:
            edge["child_nid"] = cn
            changed = True
    if changed and key not in touched.edges:
        touched.edges.append(key)


def apply_event(state: RunState, event: Event) -> Touched:
    """Fold one event into `state`. Unknown types only count; bad payload fields are ignored."""
    touched = Touched()
    run = state.run
    p = event.payload
    et = event.event_type
    ts = event.timestamp
    position = event.position
    if position is not None:
        state.position = position
        if run["first_position"] is None:
            run["first_position"] = position
        run["last_position"] = position
    run["event_count"] += 1
    seq = event.seq
    run["last_seq"] = seq if seq is not None else run["last_seq"] + 1
    if run["start_time"] is None:
        run["start_time"] = ts
        run["created_at"] = ts
    updated = run["updated_at"]
    if updated is None or ts > updated:
        run["updated_at"] = ts

    node = None
    node_id = event.node_id
    if node_id:  # _node inlined (once per event): `touched` is new, so the node is not in it yet
        node = state.nodes.get(node_id)
        if node is None:
            node = state.nodes[node_id] = new_node(state.run_id, node_id, ts, position)
        touched.nodes.append(node_id)
        node["event_count"] += 1
        node["last_position"] = position
        if ts > (node["updated_at"] or ""):
            node["updated_at"] = ts

    if et == "run_started":
        run["start_time"] = ts
        cfg = p.get("config")
        if isinstance(cfg, dict) and cfg.get("model") is not None:
            run["model"] = _str(cfg.get("model"))
        if p.get("run_mode") is not None:
            run["run_mode"] = _str(p.get("run_mode"))
        task = p.get("task")
        if task is None:
            inp = p.get("input_data")
            if isinstance(inp, dict):
                data = inp.get("data")
                task = data.get("prompt") if isinstance(data, dict) else inp.get("prompt")
            elif isinstance(inp, str):
                task = inp
        if task is not None:
            run["task"] = _text(task)[:2000]
        if run["status"] != "running" and run["end_time"] is None:
            run["status"] = "running"
    elif et == "run_finished":
        run["status"] = "completed"
        run["end_time"] = ts
        if "total_steps" in p:
            run["total_steps"] = _num(p.get("total_steps"))
        if "total_nodes" in p:
            run["total_nodes"] = _num(p.get("total_nodes"))
        d = p.get("duration_seconds")
        if isinstance(d, (int, float)) and not isinstance(d, bool):
            run["duration_seconds"] = float(d)
    elif et == "run_error":
        run["status"] = "error"
        run["end_time"] = ts
        run["error_count"] += 1
        msg = p.get("error_message") or p.get("error_type")
        run["error_message"] = _str(msg)
        if node is not None:
            node["error_count"] += 1
    elif et in ("step_started", "step_finished"):
        step = _int(p.get("step"))
        if step is not None:
            run["total_steps"] = max(run["total_steps"] or 0, step)
        if et == "step_started" and node is not None and node["task_goal"] is None and p.get("node_goal"):
            node["task_goal"] = _str(p.get("node_goal"))
        if et == "step_finished" and node is not None and isinstance(p.get("status_after"), str):
            _set_status(node, p["status_after"], run)
    elif et == "node_created":
        nid = event.node_id or _str(p.get("node_id"))
        if nid:
            if node is None:
                node = _node(state, nid, event, touched)
            was_pending = node["pending"]
            node["pending"] = 0
            if was_pending:
                node["created_at"] = ts
                run["total_nodes"] = (run["total_nodes"] or 0) + 1
            for col in ("node_nid", "node_type", "task_type", "task_goal", "outer_node_id", "root_node_id"):
                if p.get(col) is not None:
                    node[col] = _str(p.get(col))
            if _int(p.get("layer")) is not None:
                node["layer"] = p["layer"]
            if node["status"] == PENDING:
                node["status"] = _str(p.get("status")) or "NOT_READY"
            if run["root_node_id"] is None:
                if node["outer_node_id"] is None:
                    run["root_node_id"] = nid
                elif node["root_node_id"]:
                    run["root_node_id"] = node["root_node_id"]
            outer = node["outer_node_id"]
            if outer and outer != nid:
                _node(state, outer, event, touched)
                _edge(state, outer, nid, event, touched, state.nodes[outer].get("node_nid"), node["node_nid"])
    elif et == "node_status_changed":
        if node is not None and isinstance(p.get("new_status"), str):
            _set_status(node, p["new_status"], run)
            if node["task_goal"] is None and p.get("node_goal"):
                node["task_goal"] = _str(p.get("node_goal"))
    elif et == "node_result_available":
        if node is not None:
            node["result"] = {"action_name": p.get("action_name"), "result_summary": p.get("result_summary")}
    elif et == "plan_received":
        if node is not None and isinstance(p.get("raw_plan"), (list, tuple)):  # a tuple is stored as a list
            node["metadata"] = {**node["metadata"], "plan_size": len(p["raw_plan"])}
    elif et == "node_added":
        added = _str(p.get("added_node_id"))
        if added:
            added_node = _node(state, added, event, touched)
            if added_node["node_nid"] is None and p.get("added_node_nid") is not None:
                added_node["node_nid"] = _str(p.get("added_node_nid"))
            owner = _str(p.get("graph_owner_node_id"))
            if owner and owner != added:
                _node(state, owner, event, touched)
                if added_node["outer_node_id"] is None:
                    added_node["outer_node_id"] = owner
    elif et == "edge_added":
        parent, child = _str(p.get("parent_node_id")), _str(p.get("child_node_id"))
        if parent and child and parent != child:
            pn = _node(state, parent, event, touched)
            cn = _node(state, child, event, touched)
            if pn["node_nid"] is None and p.get("parent_node_nid") is not None:
                pn["node_nid"] = _str(p.get("parent_node_nid"))
            if cn["node_nid"] is None and p.get("child_node_nid") is not None:
                cn["node_nid"] = _str(p.get("child_node_nid"))
            owner = p.get("graph_owner_node_id")
            _edge(state, parent, child, event, touched, p.get("parent_node_nid"), p.get("child_node_nid"),
                  {"graph_owner_node_id": owner} if owner else None)
    elif et == "inner_graph_built":
        if node is not None:
            node["metadata"] = {**node["metadata"], "inner_node_count": p.get("node_count"),
                                "inner_edge_count": p.get("edge_count")}
    elif et == "details_updated":  # fields only known later (an OpenTelemetry span's end)
        r = p.get("run")
        if isinstance(r, dict):
            if r.get("task") is not None:
                run["task"] = _text(r["task"])[:2000]
            if r.get("model") is not None:
                run["model"] = _str(r["model"])
        n = p.get("node")
        if node is not None and isinstance(n, dict):
            for col in ("task_goal", "node_type", "task_type"):
                if n.get(col) is not None:
                    node[col] = _str(n[col])
            if isinstance(n.get("metadata"), dict) and n["metadata"]:
                node["metadata"] = {**node["metadata"], **n["metadata"]}
    elif et == "llm_call_started":
        run["llm_calls"] += 1
        if node is not None:
            node["llm_calls"] += 1
    elif et == "llm_call_completed":
        usage = p.get("token_usage")
        if isinstance(usage, dict):
            pt, ct = _num(usage.get("prompt_tokens")), _num(usage.get("completion_tokens"))
            run["prompt_tokens"] += pt
            run["completion_tokens"] += ct
            if node is not None:
                node["prompt_tokens"] += pt
                node["completion_tokens"] += ct
        if p.get("error"):
            run["error_count"] += 1
            if node is not None:
                node["error_count"] += 1
    elif et == "tool_invoked":
        run["tool_calls"] += 1
        if node is not None:
            node["tool_calls"] += 1
    elif et == "tool_returned":
        state_str = p.get("state")
        if p.get("error") or (isinstance(state_str, str) and state_str.upper() in FAILED_TOOL_STATES):
            run["error_count"] += 1
            if node is not None:
                node["error_count"] += 1
    return touched


def _set_status(node: dict[str, Any], status: str, run: dict[str, Any]) -> None:
    if status == "FAILED" and node["status"] != "FAILED":
        run["error_count"] += 1
        node["error_count"] += 1
    node["status"] = status


def fold(run_id: str, events: Iterable[Event]) -> RunState:
    """Fold a run's events from nothing."""
    return RunState(run_id).apply_all(events)
