"""`agenttui report`: a run's post-mortem as a Document (Markdown, HTML or text).

Sections, in the order a reader asks: the task, the outcome, the duration, the totals, the plan
tree with statuses, the errors (node and message), the slowest calls, where the time went (per
model and tool, the critical path), the decisions with their reasoning, and the artifacts.
The figures are the run summary's; errors, decisions and artifacts are paged reads of just those
event types.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from agenttui.store import EventFilter
from agenttui.summary import UNASSIGNED_LABEL, has_clock

from .document import Code, Document, Heading, Items, Para, Table
from .stats import PAGE, FAILED_STATES, RunSummary, sparkline

#: Nodes listed in the plan tree, errors, decisions and artifacts before "and N more".
MAX_TREE = 2000
MAX_ITEMS = 200
#: Characters of an artifact's content quoted.
ARTIFACT_PREVIEW = 1200


def seconds(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    m, s = divmod(value, 60)
    if m < 120:
        return f"{int(m)} min {s:.0f} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m)} min"


def _n(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _events(store: Any, run_id: str, types: tuple[str, ...]) -> Iterator[Any]:
    return store.iter_events(EventFilter(run_id=run_id, types=types), batch=PAGE)


@dataclass
class ErrorRow:
    node: str
    kind: str
    message: str
    timestamp: str


def read_errors(store: Any, summary: RunSummary) -> list[ErrorRow]:
    """Every error event of the run, with the node it happened at."""
    tree = summary.tree
    out: list[ErrorRow] = []
    types = ("run_error", "llm_call_completed", "tool_returned", "node_status_changed", "step_finished")
    for e in _events(store, tree.run_id, types):
        p = e.payload if isinstance(e.payload, dict) else {}
        node = tree.label(e.node_id or p.get("node_id"))
        t = e.event_type
        if t == "run_error":
            out.append(ErrorRow(node, f"run error {p.get('error_type') or ''}".strip(),
                                str(p.get("error_message") or p.get("error_type") or "(no message)"), e.timestamp))
        elif t == "llm_call_completed" and p.get("error"):
            out.append(ErrorRow(node, f"LLM {p.get('model') or ''}".strip(), str(p["error"]), e.timestamp))
        elif t == "tool_returned":
            state = p.get("state")
            failed = isinstance(state, str) and state.upper() in FAILED_STATES
            if p.get("error") or failed:
                name = p.get("api_name") or p.get("tool_name") or "tool"
                out.append(ErrorRow(node, f"tool {name}", str(p.get("error") or f"state {state}"), e.timestamp))
        elif t in ("node_status_changed", "step_finished"):
            status = p.get("new_status") if t == "node_status_changed" else p.get("status_after")
            if status == "FAILED" and not any(r.node == node and r.kind == "node failed" for r in out[-3:]):
                goal = tree.nodes.get(e.node_id or "", {}).get("task_goal")
                out.append(ErrorRow(node, "node failed", str(goal or "status FAILED"), e.timestamp))
    return out


def build_report(store: Any, summary: RunSummary) -> Document:
    tree = summary.tree
    run = summary.run
    d = summary.to_dict()
    doc = Document(f"Post-mortem: run {tree.run_id}")

    doc.add(Heading(1, "Task"), Para(run.get("task") or "(the run did not say: no run_started with a task)"))

    status = run.get("status") or "unknown"
    outcomes = {"completed": "Completed", "error": "Failed",
                "running": "Not finished (still running, or the agent stopped without a final event)"}
    outcome = outcomes.get(status, status)
    doc.add(Heading(1, "Outcome"), Para(outcome + (f": {run['error_message']}" if run.get("error_message") else ".")))

    doc.add(Heading(1, "Duration"), Table(("", ""), [
        ("started", run.get("start_time") or "-"), ("ended", run.get("end_time") or "-"),
        ("wall time (first to last event)", seconds(d["wall_seconds"])),
        ("duration the agent reported", seconds(run.get("duration_seconds")) if run.get("end_time") else "-"),
    ]))

    totals = [("events", _n(run.get("event_count"))), ("nodes", _n(len(tree.nodes))),
              ("LLM calls", _n(run.get("llm_calls"))), ("tool calls", _n(run.get("tool_calls"))),
              ("errors", _n(run.get("error_count"))), ("tokens in", _n(run.get("prompt_tokens") or 0)),
              ("tokens out", _n(run.get("completion_tokens") or 0))]
    if summary.prices is not None:
        totals.append(("cost", f"{summary.total_cost:.4f} {summary.prices.currency}"
                       + (f" (no price for {', '.join(summary.unpriced)})" if summary.unpriced else "")))
    doc.add(Heading(1, "Totals"), Table(("", ""), totals, align_right=(1,)))

    doc.add(Heading(1, "Plan"))
    if d["plan_problems"]:
        doc.add(Para("The plan's edges are not a tree: " + "; ".join(d["plan_problems"]) + ".", emphasis=True))
    items = []
    for i, (node_id, depth) in enumerate(tree.walk()):
        if i >= MAX_TREE:
            items.append((0, f"… and {len(tree.nodes) - MAX_TREE:,} more nodes"))
            break
        n = tree.nodes[node_id]
        line = f"{n.get('node_nid') or node_id[:8]} [{n.get('status')}] {n.get('task_goal') or ''}"
        items.append((depth, line.rstrip()))
    doc.add(Items(items) if items else Para("No nodes."))

    doc.add(Heading(1, "Errors"))
    errors = read_errors(store, summary)
    if errors:
        rows = [(e.node or "-", e.kind, e.message, e.timestamp) for e in errors[:MAX_ITEMS]]
        doc.add(Table(("node", "what", "message", "when"), rows))
        if len(errors) > MAX_ITEMS:
            doc.add(Para(f"… and {len(errors) - MAX_ITEMS:,} more errors.", emphasis=True))
    else:
        doc.add(Para("No errors."))

    add_summary_sections(doc, summary)

    doc.add(Heading(1, "Decisions"))
    decisions = list(_limited(_events(store, tree.run_id, ("decision",))))
    if decisions:
        for e in decisions[:MAX_ITEMS]:
            p = e.payload if isinstance(e.payload, dict) else {}
            doc.add(Heading(2, f"{p.get('decision_type') or 'decision'}: {p.get('chosen_action') or '-'}"
                               + (f" (node {tree.label(e.node_id)})" if e.node_id else "")),
                    Para(f"Reasoning: {p.get('reasoning') or '(none given)'}"))
            if p.get("context"):
                doc.add(Para(f"Context: {p['context']}"))
        if len(decisions) > MAX_ITEMS:
            doc.add(Para(f"… and {len(decisions) - MAX_ITEMS:,} more decisions.", emphasis=True))
    else:
        doc.add(Para("No decisions were recorded."))

    doc.add(Heading(1, "Artifacts"))
    artifacts = list(_limited(_events(store, tree.run_id, ("artifact",))))
    if artifacts:
        for e in artifacts[:MAX_ITEMS]:
            p = e.payload if isinstance(e.payload, dict) else {}
            content = p.get("content")
            size = f", {len(content):,} characters" if isinstance(content, str) else ""
            doc.add(Heading(2, f"{p.get('artifact_type') or 'artifact'}: {p.get('path') or '(no path)'}"),
                    Para(f"Written at {e.timestamp}" + (f" by node {tree.label(e.node_id)}" if e.node_id else "")
                         + size + "."))
            if isinstance(content, str) and content:
                cut = content[:ARTIFACT_PREVIEW]
                doc.add(Code(cut + ("\n…" if len(content) > ARTIFACT_PREVIEW else "")))
    else:
        doc.add(Para("No artifacts were recorded."))
    return doc


def _limited(events: Iterator[Any], limit: int = MAX_ITEMS + 1) -> Iterator[Any]:
    for i, e in enumerate(events):
        if i >= limit:
            return
        yield e


def add_summary_sections(doc: Document, summary: RunSummary) -> None:
    """Slowest calls, per model and per tool, critical path, events per second (also `stats --run`)."""
    d = summary.to_dict()
    doc.add(Heading(1, "Slowest calls"))
    if d["slowest_calls"]:
        doc.add(Table(("kind", "name", "duration", "node", "error"),
                      [(c["kind"], c["name"], seconds(c["seconds"]), c["nid"] or "-", c["error"] or "")
                       for c in d["slowest_calls"]], align_right=(2,)))
    else:
        doc.add(Para("No timed calls."))
    doc.add(Heading(1, "Slowest nodes"))
    if d["slowest_nodes"]:
        doc.add(Table(("node", "status", "duration", "goal"),
                      [(n["nid"], n["status"] or "-", seconds(n["seconds"]), n["goal"] or "")
                       for n in d["slowest_nodes"]],
                      align_right=(2,)))
    else:
        doc.add(Para("No nodes."))
    for title, groups, kind in (("Models", d["models"], "model"), ("Tools", d["tools"], "tool")):
        doc.add(Heading(1, title))
        if not groups:
            doc.add(Para(f"No {kind} calls completed."))
            continue
        headers = [kind, "calls", "errors", "p50", "p95", "p99", "max"]
        if kind == "model":
            headers += ["tokens in", "tokens out"]
            if summary.prices is not None:
                headers.append(f"cost ({summary.prices.currency})")
        rows = []
        for g in groups:
            row = [g["name"], _n(g["count"]), _n(g["errors"]), *(seconds(g[k]) for k in ("p50", "p95", "p99", "max"))]
            if kind == "model":
                row += [_n(g["prompt_tokens"]), _n(g["completion_tokens"])]
                if summary.prices is not None:
                    row.append(f"{g['cost']:.4f}" if g.get("cost") is not None else "no price")
            rows.append(row)
        doc.add(Table(headers, rows, align_right=tuple(range(1, len(headers)))))
    doc.add(Heading(1, "Critical path"))
    if d["plan_problems"]:
        doc.add(Para("The plan's edges are not a tree: " + "; ".join(d["plan_problems"]) + ".", emphasis=True))
    if d["critical_path"]:
        doc.add(Para("The chain of nodes that took longest at each level, from the root down:"))
        doc.add(Table(("node", "status", "duration", "share of run", "goal"),
                      [(s["nid"] or "-", s["status"] or "-", seconds(s["seconds"]),
                        f"{s['share'] * 100:.1f}%" if s["share"] is not None else "-", s["goal"] or "")
                       for s in d["critical_path"]], align_right=(2, 3)))
    else:
        doc.add(Para("No nodes: no critical path."))
    rates = d["events_per_second"]["rates"]
    doc.add(Heading(1, "Events per second"))
    if rates:
        doc.add(Code(sparkline(rates)),
                Para(f"{len(rates)} buckets of {seconds(d['events_per_second']['bucket_seconds'])}; "
                     f"peak {max(rates):.2f} events/s."))
    else:
        doc.add(Para("Not enough timestamps for a rate."))


def build_stats(summary: RunSummary) -> Document:
    """The run summary alone (what `agenttui stats TARGET --run R` prints)."""
    run = summary.run
    clock = has_clock(summary.tree.run_id)  # (the unassigned pseudo-run: no status, no clock)
    doc = Document(f"Run {summary.tree.run_id}: {(run.get('status') or 'unknown') if clock else UNASSIGNED_LABEL}")
    d = summary.to_dict()
    head = [("task", run.get("task") or "-"), ("wall time", seconds(d["wall_seconds"]) if clock else "-"),
            ("events", _n(run.get("event_count"))), ("nodes", _n(len(summary.tree.nodes))),
            ("errors", _n(run.get("error_count"))),
            ("tokens in / out", f"{_n(run.get('prompt_tokens') or 0)} / {_n(run.get('completion_tokens') or 0)}")]
    if summary.prices is not None:
        head.append(("cost", f"{summary.total_cost:.4f} {summary.prices.currency}"
                     + (f" (no price for {', '.join(summary.unpriced)})" if summary.unpriced else "")))
    doc.add(Table(("", ""), head))
    add_summary_sections(doc, summary)
    return doc
