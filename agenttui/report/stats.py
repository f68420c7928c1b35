"""The run summary: where the time and the tokens of one run went.

Every figure comes from the store, not from refolding the run: the node rows and totals are the
projections, the per-model and per-tool figures one paged read of just the call-completion events
(the (run_id, event_type) index serves it), and the events-per-second curve a binary search of the
run's per-run sequence at each bucket boundary (a few hundred indexed lookups whatever the run's
size, instead of reading every event).

Percentiles are nearest-rank: p95 is the smallest latency at least 95% of the calls did not exceed,
always a latency that really occurred.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterable, Sequence

from agenttui.compare.tree import PlanTree, parse_time, seconds_between
from agenttui.store import EventFilter

from .critical_path import GraphShape, PathStep, critical_path, graph_shape, plan_graph, run_wall_seconds
from .prices import PriceTable

PERCENTILES = (50, 95, 99)
#: Calls and nodes listed as the slowest.
TOP = 10
#: Buckets of the events-per-second sparkline.
BUCKETS = 60
#: Events read per page.
PAGE = 5000
#: Tool states that mean a failed call (as the fold counts errors).
FAILED_STATES = frozenset({"FAILED", "FAILURE", "ERROR", "TIMEOUT"})
CALL_TYPES = ("llm_call_completed", "tool_returned", "step_started")


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class CallGroup:
    """Calls of one model or one tool."""

    name: str
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None

    def latency(self, p: float) -> float | None:
        return percentile(self.latencies, p)

    @property
    def max_latency(self) -> float | None:
        return self.latencies[-1] if self.latencies else None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "count": self.count, "errors": self.errors,
               **{f"p{p}": self.latency(p) for p in PERCENTILES}, "max": self.max_latency,
               "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}
        if self.cost is not None:
            out["cost"] = round(self.cost, 6)
        return out


@dataclass
class Call:
    kind: str  # "llm" or "tool"
    name: str
    seconds: float
    node_id: str | None
    position: int
    error: str | None


@dataclass
class RunSummary:
    tree: PlanTree
    models: list[CallGroup]
    tools: list[CallGroup]
    slowest_calls: list[Call]
    slowest_nodes: list[tuple[str, float]]
    critical: list[PathStep]
    shape: GraphShape
    rate: list[int]
    bucket_seconds: float
    event_types: dict[str, int]
    prices: PriceTable | None = None
    unpriced: list[str] = field(default_factory=list)

    @property
    def run(self) -> dict[str, Any]:
        return self.tree.run

    @property
    def total_cost(self) -> float | None:
        if self.prices is None:
            return None
        return sum(g.cost or 0.0 for g in self.models)

    def to_dict(self) -> dict[str, Any]:
        t = self.tree
        run = self.run
        out: dict[str, Any] = {
            "run_id": t.run_id, "status": run.get("status"), "task": run.get("task"),
            "start_time": run.get("start_time"), "end_time": run.get("end_time"),
            "duration_seconds": run.get("duration_seconds"), "wall_seconds": run_wall_seconds(run),
            "events": run.get("event_count"),
            "nodes": len(t.nodes), "llm_calls": run.get("llm_calls"), "tool_calls": run.get("tool_calls"),
            "errors": run.get("error_count"), "prompt_tokens": run.get("prompt_tokens") or 0,
            "completion_tokens": run.get("completion_tokens") or 0,
            "models": [g.to_dict() for g in self.models], "tools": [g.to_dict() for g in self.tools],
            "slowest_calls": [{"kind": c.kind, "name": c.name, "seconds": c.seconds, "nid": t.label(c.node_id),
                               "position": c.position, "error": c.error} for c in self.slowest_calls],
            "slowest_nodes": [{"nid": t.label(n), "goal": t.nodes[n].get("task_goal"), "seconds": s,
                               "status": t.nodes[n].get("status")} for n, s in self.slowest_nodes],
            "critical_path": [{"nid": s.nid, "goal": s.goal, "status": s.status, "seconds": s.seconds,
                               "share": s.share} for s in self.critical],
            "plan_is_tree": self.shape.is_tree, "plan_problems": self.shape.problems(t),
            "events_per_second": {"bucket_seconds": self.bucket_seconds,
                                  "rates": [round(n / self.bucket_seconds, 3) if self.bucket_seconds else 0
                                            for n in self.rate]},
            "event_types": self.event_types,
        }
        if self.prices is not None:
            out["cost"] = {"currency": self.prices.currency, "total": round(self.total_cost or 0.0, 6),
                           "unpriced_models": self.unpriced}
        return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return float(value)


def _tokens(usage: Any, key: str) -> int:
    v = usage.get(key) if isinstance(usage, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


@dataclass
class Calls:
    models: dict[str, CallGroup]
    tools: dict[str, CallGroup]
    slowest: list[Call]
    started: dict[str, str]  # node id -> timestamp of its first step


def read_calls(store: Any, run_id: str) -> Calls:
    """Per model and per tool groups, the slowest calls and when each node's first step began,
    from one paged read of the completions and step starts."""
    started: dict[str, str] = {}
    models: dict[str, CallGroup] = {}
    tools: dict[str, CallGroup] = {}
    slow: list[tuple[float, int, Call]] = []
    for e in store.iter_events(EventFilter(run_id=run_id, types=CALL_TYPES), batch=PAGE):
        p = e.payload if isinstance(e.payload, dict) else {}
        if e.event_type == "step_started":
            if e.node_id and e.node_id not in started:
                started[e.node_id] = e.timestamp
            continue
        if e.event_type == "llm_call_completed":
            name = str(p.get("model") or "(no model)")
            g = models.get(name) or models.setdefault(name, CallGroup(name))
            g.prompt_tokens += _tokens(p.get("token_usage"), "prompt_tokens")
            g.completion_tokens += _tokens(p.get("token_usage"), "completion_tokens")
            error = p.get("error")
            kind = "llm"
        else:
            name = str(p.get("api_name") or p.get("tool_name") or "(no tool name)")
            g = tools.get(name) or tools.setdefault(name, CallGroup(name))
            state = p.get("state")
            error = p.get("error") or (state if isinstance(state, str) and state.upper() in FAILED_STATES else None)
            kind = "tool"
        g.count += 1
        if error:
            g.errors += 1
        secs = _number(p.get("duration_seconds"))
        if secs is not None:
            g.latencies.append(secs)
            call = Call(kind, name, secs, e.node_id, e.position, str(error) if error else None)
            item = (secs, -e.position, call)
            if len(slow) < TOP:
                heapq.heappush(slow, item)
            elif item[:2] > slow[0][:2]:
                heapq.heapreplace(slow, item)
    for g in (*models.values(), *tools.values()):
        g.latencies.sort()
    return Calls(models, tools, [c for _, _, c in sorted(slow, key=lambda x: (-x[0], -x[1]))], started)


def node_seconds(tree: PlanTree, started: dict[str, str]) -> dict[str, float]:
    """Each node's time from its first step (else its creation) to its last event.

    Creation is not the start: the planner creates all children of a plan at once and runs them
    one after another, so the last child would otherwise count all its siblings' time as its own.
    """
    out = {}
    for node_id, row in tree.nodes.items():
        secs = seconds_between(started.get(node_id) or row.get("created_at"), row.get("updated_at"))
        if secs is not None:
            out[node_id] = secs
    return out


def event_rate(store: Any, run: dict[str, Any], buckets: int = BUCKETS) -> tuple[list[int], float]:
    """Events per bucket over the run's time span, and the bucket width in seconds.

    Seq k of a run is its k-th event; the count up to a time is the last seq stamped at or before
    it, found by bisection over event_by_seq (an indexed lookup each).
    """
    start, end = parse_time(run.get("start_time")), parse_time(run.get("updated_at") or run.get("end_time"))
    total = run.get("last_seq") or run.get("event_count") or 0
    if start is None or end is None or total <= 0:
        return [], 0.0
    span = (end - start).total_seconds()
    if span <= 0:
        return [total], 0.0
    buckets = max(1, min(buckets, total))
    width = span / buckets
    cache: dict[int, Any] = {}

    def time_of(seq: int) -> Any:
        if seq not in cache:
            e = store.event_by_seq(run["run_id"], seq)
            cache[seq] = parse_time(e.timestamp) if e is not None else None
        return cache[seq]

    def count_until(t: Any) -> int:
        lo, hi = 0, total  # invariant: seq lo is at or before t (0: none), seq hi+1 is after
        while lo < hi:
            mid = (lo + hi + 1) // 2
            tm = time_of(mid)
            if tm is not None and tm <= t:
                lo = mid
            else:
                hi = mid - 1
        return lo

    marks = [0] + [count_until(start + timedelta(seconds=width * (i + 1))) for i in range(buckets - 1)] + [total]
    return [max(0, b - a) for a, b in zip(marks, marks[1:])], width


def summarize_run(store: Any, run_id: str, *, prices: PriceTable | None = None,
                  progress: Callable[[str], None] | None = None) -> RunSummary:
    """The whole summary of one run (what `agenttui stats --run`, the panel and the report show)."""
    tree = PlanTree.load(store, run_id)
    calls = read_calls(store, run_id)
    models, tools, slow = calls.models, calls.tools, calls.slowest
    seconds = node_seconds(tree, calls.started)
    slowest_nodes = heapq.nlargest(TOP, seconds.items(), key=lambda x: (x[1], x[0]))
    g = plan_graph(tree)
    shape = graph_shape(g)
    rate, width = event_rate(store, tree.run)
    unpriced: list[str] = []
    if prices is not None:
        for m in models.values():
            m.cost = prices.cost(m.name, m.prompt_tokens, m.completion_tokens)
            if m.cost is None:
                unpriced.append(m.name)

    def order(gs: Iterable[CallGroup]) -> list[CallGroup]:
        return sorted(gs, key=lambda g: (-g.count, g.name))

    return RunSummary(tree, order(models.values()), order(tools.values()), slow, slowest_nodes,
                      critical_path(tree, seconds, g), shape, rate, width,
                      store.count_by_type(EventFilter(run_id=run_id)), prices, unpriced)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1) + 0.5))] if v else " "
                   for v in values)
