"""One-line human summaries of events, shared by `agenttui tail` and the inspector.

Payloads come from agents and may hold anything, including terminal escape sequences: every string
that leaves this module has its control characters made visible, so printing it can never move
the cursor, change colours or clear the screen.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import orjson

from agenttui.store import Event
from agenttui.terminal_text import escape_controls

#: Longest summary returned (characters), so one event stays one line.
MAX_SUMMARY = 200

def safe_text(value: Any, limit: int | None = None) -> str:
    """`value` as one printable line: controls shown as \\xNN, newlines as spaces, cut at `limit`."""
    return escape_controls(value, limit)


#: The pseudo-run of the events sent with a null run_id: it has no status and no clock of its own.
UNASSIGNED = "unassigned"
#: What the unassigned pseudo-run is, where a run's status would be.
UNASSIGNED_LABEL = "events without a run id"


def has_clock(run_id: str | None) -> bool:
    """Whether a run has a status and an elapsed time (the unassigned pseudo-run has neither)."""
    return run_id != UNASSIGNED


def parse_ts(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_elapsed(seconds: float | None) -> str:
    """h:mm:ss (mm:ss under an hour); an en dash when unknown."""
    if seconds is None or seconds < 0:
        return "–"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def elapsed_of(run: dict[str, Any], now: datetime | None, as_of: str | None = None) -> float | None:
    """Seconds from the run's start to its end, to `as_of` (replay), or to `now` while running:
    the one duration the inspector's header and `agenttui stats` show (the agent's own
    run_finished.duration_seconds may count something else)."""
    start = parse_ts(run.get("start_time"))
    if start is None:
        return None
    if as_of is not None:
        end = parse_ts(as_of)
    elif run.get("end_time"):
        end = parse_ts(run.get("end_time"))
    elif run.get("status") == "running" and now is not None:
        end = now
    else:
        end = parse_ts(run.get("updated_at"))
    return (end - start).total_seconds() if end else None


def _short(value: Any, limit: int = 60) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = orjson.dumps(value).decode()
    return safe_text(value, limit)


def _secs(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.2f}s" if value < 100 else f"{value:.0f}s"
    return ""


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


NidOf = Callable[[str], "str | None"]


def node_label(node_id: Any, nid_of: NidOf | None = None) -> str:
    """The node's hierarchical id ("1.2") when known, else the start of its id."""
    if not node_id:
        return ""
    node_id = node_id if isinstance(node_id, str) else str(node_id)
    if nid_of is not None:
        nid = nid_of(node_id)
        if nid:
            return safe_text(nid, 24)
    return safe_text(node_id[:8])


def summarize(event: Event, nid_of: NidOf | None = None, *, include_node: bool = True) -> str:
    """A one-line description of `event`, e.g. "1.2 READY -> DOING" or "m-large 1.95s 2306+147 tok".

    nid_of maps a node id to its hierarchical nid when the caller knows it (the store's nodes
    table, the TUI's folded state); without it nodes are named by the start of their id.
    include_node=False drops the leading label of the event's own node, for views that show the
    node in a column of its own.
    """
    p = event.payload if isinstance(event.payload, dict) else {}
    fn = _SUMMARIZERS.get(event.event_type)
    try:
        text = fn(p, event, lambda n: node_label(n, nid_of)) if fn else _generic(p)
    except Exception:  # a payload of unexpected shape must still get a line
        text = _generic(p)
    if not include_node and event.node_id:
        own = node_label(event.node_id, nid_of)
        if own and text.startswith(own + " "):
            text = text[len(own) + 1:]
    return safe_text(text, MAX_SUMMARY)


def _generic(p: dict[str, Any]) -> str:
    if not p:
        return ""
    return _short(p, MAX_SUMMARY)


def _run_started(p, e, label):
    cfg = p.get("config") if isinstance(p.get("config"), dict) else {}
    inp = p.get("input_data")
    task = p.get("task")
    if task is None and isinstance(inp, dict):
        data = inp.get("data")
        task = data.get("prompt") if isinstance(data, dict) else inp.get("prompt")
    elif task is None and isinstance(inp, str):
        task = inp
    model = f"(model {_short(cfg.get('model'), 30)})" if cfg.get("model") else ""
    return _join("run started:", _short(task, 80), model,
                 f"mode {_short(p.get('run_mode'), 20)}" if p.get("run_mode") else "")


def _run_finished(p, e, label):
    parts = ["run finished:"]
    for key, name in (("total_steps", "steps"), ("total_nodes", "nodes"), ("total_llm_calls", "LLM calls"),
                      ("total_tool_calls", "tool calls")):
        if p.get(key) is not None:
            parts.append(f"{_short(p[key], 12)} {name},")
    usage = p.get("token_usage_summary")
    if isinstance(usage, dict) and usage:
        parts.append(f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tok,")
    parts.append(_secs(p.get("duration_seconds")))
    return " ".join(parts).rstrip(",")


def _run_error(p, e, label):
    where = label(p.get("node_id") or e.node_id)
    return _join("run error:", where, f"{_short(p.get('error_type'), 40)}:", _short(p.get("error_message"), 120))


def _step_started(p, e, label):
    return _join(label(p.get("node_id") or e.node_id), f"step {_short(p.get('step'), 10)}:",
                 _short(p.get("node_goal"), 100))


def _step_finished(p, e, label):
    return _join(label(p.get("node_id") or e.node_id), f"step {_short(p.get('step'), 10)}:",
                 _short(p.get("action_name"), 30), "->", _short(p.get("status_after"), 20),
                 _secs(p.get("duration_seconds")))


def _node_created(p, e, label):
    nid = _short(p.get("node_nid"), 24) or label(p.get("node_id") or e.node_id)
    return _join(nid, _short(p.get("node_type"), 20), _short(p.get("task_type"), 20) + ":",
                 _short(p.get("task_goal"), 100))


def _node_status_changed(p, e, label):
    return _join(label(p.get("node_id") or e.node_id), _short(p.get("old_status"), 20) or "?", "->",
                 _short(p.get("new_status"), 20))


def _node_result(p, e, label):
    return _join(label(p.get("node_id") or e.node_id), _short(p.get("action_name"), 30) + ":",
                 _short(p.get("result_summary"), 120))


def _plan_received(p, e, label):
    plan = p.get("raw_plan") if isinstance(p.get("raw_plan"), list) else []
    goals = "; ".join(_short(s.get("goal"), 40) for s in plan[:3] if isinstance(s, dict))
    more = f" (+{len(plan) - 3})" if len(plan) > 3 else ""
    return _join(label(p.get("node_id") or e.node_id), f"plan of {len(plan)}:", goals + more)


def _node_added(p, e, label):
    child = _short(p.get("added_node_nid"), 24) or label(p.get("added_node_id"))
    return _join(label(p.get("graph_owner_node_id")), "+", child)


def _edge_added(p, e, label):
    parent = _short(p.get("parent_node_nid"), 24) or label(p.get("parent_node_id"))
    child = _short(p.get("child_node_nid"), 24) or label(p.get("child_node_id"))
    return _join(parent, "->", child)


def _inner_graph(p, e, label):
    return _join(label(p.get("node_id") or e.node_id), f"inner graph {_short(p.get('node_count'), 10)} nodes",
                 f"{_short(p.get('edge_count'), 10)} edges")


def _llm_started(p, e, label):
    return _join(_short(p.get("agent_class"), 30), _short(p.get("model"), 40) + ":",
                 _short(p.get("prompt_preview"), 100))


def _tokens(usage: Any) -> str:
    if not isinstance(usage, dict):
        return ""
    return f"{_short(usage.get('prompt_tokens', 0), 12)}+{_short(usage.get('completion_tokens', 0), 12)} tok"


def _llm_completed(p, e, label):
    text = _join(_short(p.get("model"), 40), _secs(p.get("duration_seconds")), _tokens(p.get("token_usage")))
    if p.get("error"):
        return _join(text, "ERROR:", _short(p.get("error"), 100))
    return text


def _tool_invoked(p, e, label):
    name = _short(p.get("api_name") or p.get("tool_name"), 40)
    return f"{name}({_short(p.get('args_summary'), 100)})"


def _tool_returned(p, e, label):
    text = _join(_short(p.get("api_name") or p.get("tool_name"), 40), _short(p.get("state"), 20),
                 _secs(p.get("duration_seconds")))
    if p.get("error"):
        return _join(text, "ERROR:", _short(p.get("error"), 100))
    return _join(text + ":", _short(p.get("result_summary"), 100))


def _decision(p, e, label):
    return _join(_short(p.get("decision_type"), 30) + ":", _short(p.get("chosen_action"), 60),
                 f"({_short(p.get('reasoning'), 80)})" if p.get("reasoning") else "")


def _artifact(p, e, label):
    content = p.get("content")
    size = f"{len(content):,} chars" if isinstance(content, str) else ""
    return _join(_short(p.get("artifact_type"), 30), _short(p.get("path"), 100), size)


_SUMMARIZERS: dict[str, Callable[[dict[str, Any], Event, Callable[[Any], str]], str]] = {
    "run_started": _run_started,
    "run_finished": _run_finished,
    "run_error": _run_error,
    "step_started": _step_started,
    "step_finished": _step_finished,
    "node_created": _node_created,
    "node_status_changed": _node_status_changed,
    "node_result_available": _node_result,
    "plan_received": _plan_received,
    "node_added": _node_added,
    "edge_added": _edge_added,
    "inner_graph_built": _inner_graph,
    "llm_call_started": _llm_started,
    "llm_call_completed": _llm_completed,
    "tool_invoked": _tool_invoked,
    "tool_returned": _tool_returned,
    "decision": _decision,
    "artifact": _artifact,
}
