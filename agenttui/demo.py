"""A simulated recursive planning agent, for demos, tests and benchmarks.

It emits exactly the event types and payload shapes of the real agent the README's envelope table lists: a root
task planned into sub-tasks ("1", "1.2", "1.2.3" ...), execute nodes that call an LLM and tools,
status changes through NOT_READY/READY/DOING/PLAN_DONE/FINAL_TO_FINISH/FINISH, failures with
retries, decisions and artifacts, and a run_finished or run_error at the end.

`generate_run` is pure (no store, no clock unless you omit `start`): the same seed gives the same
run, so tests can rely on it and benchmarks can make a million realistic events quickly.
`write_live` paces a run into a store so a viewer sees it grow.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from agenttui.store import Event, new_event_id, normalize_timestamp, now_timestamp

#: Average events one node produces; sizes the plan tree when only an event count is asked for.
EVENTS_PER_NODE = 18
DEFAULT_RATE = 50.0

_TOPICS = [
    "battery recycling in the EU", "the history of the printing press", "urban heat islands",
    "open-source licensing", "coral reef restoration", "small modular reactors", "sleep and memory",
    "supply chains for rare earths", "the economics of remote work", "antibiotic resistance",
]
_VERBS = ["Survey", "Draft", "Check", "Summarise", "Compare", "Collect", "Outline", "Review", "Analyse", "Verify"]
_OBJECTS = [
    "primary sources", "recent statistics", "the main arguments", "counter-examples", "expert opinions",
    "the regulatory context", "key definitions", "open questions", "a timeline", "the cost figures",
]
_TOOLS = [
    ("search", "web.search"), ("fetch", "web.fetch"), ("python", "code.run"), ("scholar", "papers.search"),
    ("calculator", "math.eval"),
]
_TOOL_ERRORS = ["timeout after 30s", "HTTP 503 Service Unavailable", "connection reset by peer", "rate limited (429)"]
_LLM_ERRORS = ["rate limited (429): retry after 2s", "context length exceeded", "upstream timeout (504)"]
_WORDS = ("the results indicate that most sources agree on the main points while a few disagree on "
          "figures and dates so a careful comparison is needed before writing the final section").split()


@dataclass
class _Node:
    node_id: str
    nid: str
    node_type: str
    task_type: str
    goal: str
    layer: int
    outer: "_Node | None"
    budget: int  # descendants this node may still create
    status: str = "NOT_READY"
    n_children: int = 0
    failed_children: list["_Node"] = field(default_factory=list)


class _Simulation:
    """Emits one run into `self.out` a task at a time; generate_run drains it as a stream."""

    root: _Node  # the run's first node: run() creates it before any task reads it

    def __init__(self, seed: int, n_events: int | None, n_nodes: int | None, run_id: str | None,
                 start_us: int, id_style: str) -> None:
        if id_style not in ("time", "uuid4"):
            raise ValueError(f"id_style must be 'time' or 'uuid4', not {id_style!r}")
        self.rng = random.Random(seed)
        self.id_rng = random.Random(seed * 7919 + 17)  # ids never change the run's content
        self.id_style = id_style
        self.run_id = run_id or f"demo-{seed}-{self.rng.getrandbits(32):08x}"
        self.t = start_us
        self.n_events = n_events
        self.emitted = 0
        self.out: list[Event] = []
        self.step = 0
        self.llm_calls = 0
        self.tool_calls = 0
        self.nodes = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.start_us = start_us
        self.unrecovered: list[_Node] = []
        self.topic = self.rng.choice(_TOPICS)
        self.model = self.rng.choice(["demo-large", "demo-xl"])
        self.small_model = "demo-small"
        if n_nodes is not None:
            self.node_budget = max(1, n_nodes)
        elif n_events is not None:
            self.node_budget = max(1, n_events // EVENTS_PER_NODE)
        else:
            self.node_budget = self.rng.randint(25, 45)
        self._ts_second = -1
        self._ts_prefix = ""
        self._id_ms = -1
        self._id_counter = 0

    # -------------------------------------------------------------------- ids and timestamps
    def _timestamp(self) -> str:
        sec, micro = divmod(self.t, 1_000_000)
        if sec != self._ts_second:
            self._ts_second = sec
            self._ts_prefix = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._ts_prefix}.{micro:06d}Z"

    def _event_id(self) -> str:
        bits = self.id_rng.getrandbits(128)
        if self.id_style == "uuid4":
            value = (bits & ~(0xF << 76) & ~(0x3 << 62)) | (0x4 << 76) | (0b10 << 62)
        else:  # UUIDv7 of the simulated time, as our own Recorder makes them
            ms = self.t // 1000
            self._id_counter = self._id_counter + 1 if ms == self._id_ms else 0
            self._id_ms = ms
            value = ((ms << 80) | (0x7 << 76) | ((self._id_counter & 0xFFF) << 64) | (0b10 << 62)
                     | (bits & ((1 << 62) - 1)))
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _node_id(self) -> str:
        return f"{self.id_rng.getrandbits(128):032x}"

    def emit(self, event_type: str, payload: dict[str, Any], gap_ms: tuple[float, float] = (1, 60),
             run_id: str = "") -> None:
        self.t += int(self.rng.uniform(*gap_ms) * 1000)
        self.out.append(Event(event_type=event_type, payload=payload,
                              run_id=self.run_id if run_id == "" else run_id,
                              event_id=self._event_id(), timestamp=self._timestamp()))
        self.emitted += 1

    # --------------------------------------------------------------------------- building blocks
    def text(self, n_words: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(n_words))

    def goal(self, nid: str) -> str:
        return f"{self.rng.choice(_VERBS)} {self.rng.choice(_OBJECTS)} on {self.topic} ({nid})"

    def status(self, node: _Node, new: str) -> None:
        self.emit("node_status_changed", {"node_id": node.node_id, "node_goal": node.goal, "old_status": node.status,
                                          "new_status": new, "step": self.step})
        node.status = new

    def llm_call(self, node: _Node, agent_class: str, prompt: str, *, may_fail: bool = True) -> None:
        cheap = agent_class in ("Reflector", "Aggregator") and self.rng.random() < 0.5
        model = self.small_model if cheap else self.model
        attempts = 0
        while True:
            attempts += 1
            self.llm_calls += 1
            self.emit("llm_call_started", {
                "agent_class": agent_class, "model": model,
                "prompt": [{"role": "system", "content": f"You are the {agent_class} of a recursive planning agent."},
                           {"role": "user", "content": prompt}],
                "prompt_preview": prompt[:80], "node_id": node.node_id, "step": self.step})
            duration = round(self.rng.lognormvariate(0.5, 0.6), 3)
            if may_fail and attempts < 3 and self.rng.random() < 0.04:
                self.emit("llm_call_completed", {
                    "agent_class": agent_class, "model": model, "duration_seconds": duration, "response": None,
                    "result_summary": "error", "error": self.rng.choice(_LLM_ERRORS), "node_id": node.node_id,
                    "step": self.step}, gap_ms=(duration * 1000, duration * 1000 + 20))
                continue
            pt, ct = self.rng.randint(400, 4000), self.rng.randint(40, 900)
            self.prompt_tokens += pt
            self.completion_tokens += ct
            response = self.text(self.rng.randint(12, 40))
            self.emit("llm_call_completed", {
                "agent_class": agent_class, "model": model, "duration_seconds": duration, "response": response,
                "result_summary": response[:60] + "...", "token_usage": {"prompt_tokens": pt, "completion_tokens": ct},
                "node_id": node.node_id, "step": self.step}, gap_ms=(duration * 1000, duration * 1000 + 20))
            return

    def tool_call(self, node: _Node) -> None:
        tool_name, api_name = self.rng.choice(_TOOLS)
        args = f"query={self.rng.choice(_OBJECTS)!r}"
        for attempt in range(3):
            self.tool_calls += 1
            self.emit("tool_invoked", {"tool_name": tool_name, "api_name": api_name, "args_summary": args,
                                       "node_id": node.node_id, "step": self.step})
            duration = round(self.rng.uniform(0.05, 3.0), 3)
            gap = (duration * 1000, duration * 1000 + 10)
            if attempt < 2 and self.rng.random() < 0.08:
                self.emit("tool_returned", {"tool_name": tool_name, "api_name": api_name, "state": "FAILED",
                                            "duration_seconds": duration, "result_summary": "",
                                            "error": self.rng.choice(_TOOL_ERRORS), "node_id": node.node_id,
                                            "step": self.step}, gap_ms=gap)
                continue
            self.emit("tool_returned", {"tool_name": tool_name, "api_name": api_name, "state": "SUCCESS",
                                        "duration_seconds": duration,
                                        "result_summary": f"{self.rng.randint(1, 12)} results: {self.text(6)}...",
                                        "node_id": node.node_id, "step": self.step}, gap_ms=gap)
            return

    def create_node(self, outer: _Node | None, index: int, budget: int) -> _Node:
        nid = "0" if outer is None else (str(index) if outer.nid == "0" else f"{outer.nid}.{index}")
        layer = 0 if outer is None else outer.layer + 1
        node = _Node(self._node_id(), nid, "PLAN_NODE" if budget > 0 else "EXECUTE_NODE",
                     self.rng.choice(["COMPOSITION", "REASONING", "RETRIEVAL"]), self.goal(nid), layer, outer, budget)
        root = node if outer is None else self.root
        self.nodes += 1
        self.emit("node_created", {
            "node_id": node.node_id, "node_nid": nid, "node_type": node.node_type, "task_type": node.task_type,
            "task_goal": node.goal, "layer": layer, "outer_node_id": outer.node_id if outer else None,
            "root_node_id": root.node_id, "initial_parent_nids": [outer.nid] if outer else [], "step": self.step})
        if outer is not None:
            self.emit("node_added", {"graph_owner_node_id": outer.node_id, "added_node_id": node.node_id,
                                     "added_node_nid": nid}, gap_ms=(0.1, 5))
            self.emit("edge_added", {"graph_owner_node_id": outer.node_id, "parent_node_id": outer.node_id,
                                     "child_node_id": node.node_id, "parent_node_nid": outer.nid,
                                     "child_node_nid": nid}, gap_ms=(0.1, 5))
        return node

    def begin_step(self, node: _Node) -> None:
        self.step += 1
        self.emit("step_started", {"step": self.step, "node_id": node.node_id, "node_goal": node.goal,
                                   "root_id": self.root.node_id}, gap_ms=(20, 400))

    def end_step(self, node: _Node, action: str, started_us: int) -> None:
        self.emit("step_finished", {"step": self.step, "node_id": node.node_id, "action_name": action,
                                    "status_after": node.status,
                                    "duration_seconds": round((self.t - started_us) / 1e6 + 0.01, 3)})

    # -------------------------------------------------------------------------------- tasks
    def plan(self, node: _Node, stack: list[tuple[str, _Node]]) -> None:
        started = self.t
        self.begin_step(node)
        if node.status in ("FINISH", "FAILED"):  # a new planning round on a finished node
            self.status(node, "NEED_UPDATE")
        else:
            self.status(node, "READY")
        self.status(node, "DOING")
        self.llm_call(node, "Planner", f"Break down: {node.goal}")
        k = min(node.budget, self.rng.randint(2, 5 if node.budget < 200 else 7))
        share = node.budget - k
        weights = [self.rng.random() + 0.2 for _ in range(k)]
        total_w = sum(weights)
        budgets = [int(share * w / total_w) for w in weights]
        for i in range(share - sum(budgets)):
            budgets[i % k] += 1
        for i in range(k):  # a plan of one sub-task is not a plan: give that node to a sibling
            if budgets[i] == 1 and k > 1:
                budgets[i] = 0
                budgets[max(range(k), key=budgets.__getitem__)] += 1
        first = node.n_children + 1
        plan: list[dict[str, Any]] = [{"id": f"{node.nid}.{first + i}" if node.nid != "0" else str(first + i),
                 "goal": "", "task_type": "COMPOSITION", "dependency": []} for i in range(k)]
        children = []
        for i in range(k):
            child = self.create_node(node, first + i, budgets[i])
            plan[i]["goal"] = child.goal
            plan[i]["task_type"] = child.task_type
            if i:
                plan[i]["dependency"] = [plan[i - 1]["id"]]
            children.append(child)
        node.n_children += k
        node.budget = 0
        self.emit("plan_received", {"node_id": node.node_id, "raw_plan": plan})
        self.emit("inner_graph_built", {"node_id": node.node_id, "node_count": k, "edge_count": k - 1,
                                        "node_ids": [c.node_id for c in children]})
        if self.rng.random() < 0.3:
            self.emit("decision", {"decision_type": "plan_strategy", "node_id": node.node_id,
                                   "context": f"{k} sub-tasks for {node.goal}",
                                   "reasoning": "independent sub-tasks first, synthesis last",
                                   "chosen_action": "execute sequentially"})
        self.status(node, "PLAN_DONE")
        self.emit("node_result_available", {"node_id": node.node_id, "action_name": "plan",
                                            "result_summary": f"planned {k} sub-tasks"})
        self.end_step(node, "plan", started)
        stack.append(("aggregate", node))
        for child in reversed(children):
            stack.append(("visit", child))

    def execute(self, node: _Node) -> None:
        started = self.t
        self.begin_step(node)
        self.status(node, "READY")
        self.status(node, "DOING")
        for attempt in range(2):
            for _ in range(self.rng.randint(1, 2)):
                self.llm_call(node, "Executor", f"Do: {node.goal}")
            n_tools = self.rng.randint(1, 3) if node.task_type == "RETRIEVAL" else self.rng.randint(0, 1)
            for _ in range(n_tools):
                self.tool_call(node)
            if self.rng.random() < 0.05:
                self.status(node, "FAILED")
                self.emit("node_result_available", {"node_id": node.node_id, "action_name": "execute",
                                                    "result_summary": "failed: the tool results were unusable"})
                if attempt == 0 and self.rng.random() < 0.6:
                    self.emit("decision", {"decision_type": "retry", "node_id": node.node_id,
                                           "context": f"{node.nid} failed", "reasoning": "a transient tool error",
                                           "chosen_action": "retry the node"})
                    self.status(node, "READY")
                    self.status(node, "DOING")
                    continue
                self.unrecovered.append(node)
                if node.outer is not None:
                    node.outer.failed_children.append(node)
                self.end_step(node, "execute", started)
                return
            break
        if self.rng.random() < 0.15:
            self.status(node, "NEED_POST_REFLECT")
            self.llm_call(node, "Reflector", f"Check the answer to: {node.goal}", may_fail=False)
        if node.task_type == "COMPOSITION" and self.rng.random() < 0.3:
            content = self.text(self.rng.randint(30, 80))
            self.emit("artifact", {"artifact_type": "markdown", "node_id": node.node_id,
                                   "path": f"out/section-{node.nid}.md", "content": content})
        self.status(node, "FINISH")
        self.emit("node_result_available", {"node_id": node.node_id, "action_name": "execute",
                                            "result_summary": f"done: {node.goal[:60]}"})
        self.end_step(node, "execute", started)

    def aggregate(self, node: _Node) -> None:
        started = self.t
        self.begin_step(node)
        self.status(node, "FINAL_TO_FINISH")
        self.llm_call(node, "Aggregator", f"Combine the results for: {node.goal}")
        if node.failed_children and self.rng.random() < 0.5:
            self.status(node, "FAILED")
            self.unrecovered.append(node)
            if node.outer is not None:
                node.outer.failed_children.append(node)
            summary = f"failed: {len(node.failed_children)} sub-task(s) failed"
        else:
            self.status(node, "FINISH")
            summary = f"combined {node.n_children} results"
        self.emit("node_result_available", {"node_id": node.node_id, "action_name": "aggregate",
                                            "result_summary": summary})
        self.end_step(node, "aggregate", started)

    # --------------------------------------------------------------------------------- the run
    def run(self) -> Iterator[Event]:
        limit = self.n_events
        self.emit("run_started", {
            "input_data": {"filename": "task.jsonl", "data": {"prompt": f"Write a report on {self.topic}"}},
            "config": {"model": self.model, "engine_backend": "simulated", "max_depth": 12},
            "run_mode": "report"}, gap_ms=(0, 1))
        self.root = self.create_node(None, 0, self.node_budget - 1)
        stack: list[tuple[str, _Node]] = [("visit", self.root)]
        while True:
            while stack:
                kind, node = stack.pop()
                if kind == "aggregate":
                    self.aggregate(node)
                elif node.budget > 0:
                    self.plan(node, stack)
                else:
                    self.execute(node)
                if limit is not None and self.emitted >= limit - 1:
                    yield from self._drain(limit - 1)
                    yield from self._finish(cut=True)
                    return
                yield from self._drain()
            if limit is None:
                break
            # events remain: the agent re-plans the root for another round, as NEED_UPDATE does
            self.root.budget = max(1, (limit - self.emitted) // EVENTS_PER_NODE)
            stack.append(("visit", self.root))
        yield from self._finish(cut=False)

    def _drain(self, upto: int | None = None) -> Iterator[Event]:
        out = self.out
        if upto is not None:
            keep = len(out) - (self.emitted - upto)
            del out[max(keep, 0):]
            self.emitted = upto
        self.out = []
        yield from out

    def _finish(self, cut: bool) -> Iterator[Event]:
        duration = round((self.t - self.start_us) / 1e6, 3)
        if self.root.status == "FAILED" and not cut:
            bad = self.unrecovered[0]
            self.emit("run_error", {
                "error_type": "NodeFailedError",
                "error_message": f"node {bad.nid} failed and could not be recovered: {bad.goal}",
                "stack_trace": ("Traceback (most recent call last):\n  File \"agent/executor.py\", line 212, in run\n"
                                "    result = node.execute()\nNodeFailedError: " + bad.goal),
                "node_id": bad.node_id, "step": self.step})
        else:
            self.emit("run_finished", {
                "total_steps": self.step, "duration_seconds": duration, "total_nodes": self.nodes,
                "total_llm_calls": self.llm_calls, "total_tool_calls": self.tool_calls,
                "token_usage_summary": {"prompt_tokens": self.prompt_tokens,
                                        "completion_tokens": self.completion_tokens,
                                        "total_tokens": self.prompt_tokens + self.completion_tokens}})
        yield from self._drain()


def generate_run(
    seed: int = 0,
    n_events: int | None = None,
    n_nodes: int | None = None,
    run_id: str | None = None,
    start: str | datetime | None = None,
    *,
    id_style: str = "time",
) -> Iterator[Event]:
    """Stream one simulated run as Events (no store, no I/O).

    n_events: exactly this many events (the agent re-plans until it has used them, then stops with
    run_finished); n_nodes: size of the initial plan tree; neither: a run of 25-45 nodes.
    start: the first timestamp (default: now). id_style: "time" for UUIDv7 ids (our Recorder's),
    "uuid4" for random ids as external agents send them. The same arguments give the same events.
    """
    if n_events is not None and n_events < 3:
        raise ValueError("n_events must be at least 3 (run_started, the root node, the final event)")
    if start is None:
        start_us = time.time_ns() // 1000
    else:
        ts = normalize_timestamp(start, field_name="start")
        dt = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        start_us = int(dt.timestamp()) * 1_000_000 + dt.microsecond
    return _Simulation(seed, n_events, n_nodes, run_id, start_us, id_style).run()


@dataclass
class DemoResult:
    """What write_live wrote: the run, how many events, and whether it was stopped early."""

    run_id: str
    events: int = 0
    interrupted: bool = False


def write_live(
    store: Any,
    *,
    seed: int = 0,
    rate: float = DEFAULT_RATE,
    n_events: int | None = None,
    n_nodes: int | None = None,
    run_id: str | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    max_batch: int = 5000,
) -> DemoResult:
    """Write a simulated run into `store` at `rate` events/s (0: as fast as possible).

    Paced events are stamped with the wall clock and committed in small batches, so a viewer sees
    the run grow in real time. If `stop` is set or Ctrl-C arrives, the run is closed with a
    run_error saying so, rather than left looking as if it were still running.
    """
    if rate < 0:
        raise ValueError("rate must be >= 0 events per second")
    if run_id is None:
        run_id = f"demo-{datetime.now(timezone.utc):%m%d-%H%M%S}-{random.getrandbits(16):04x}-s{seed}"
    result = DemoResult(run_id)
    stop = stop or threading.Event()
    pending: list[Event] = []

    def flush() -> None:
        if pending:
            store.append(pending)
            result.events += len(pending)
            pending.clear()
            if on_progress:
                on_progress(result.events)

    t0 = time.monotonic()
    try:
        for i, event in enumerate(generate_run(seed, n_events=n_events, n_nodes=n_nodes, run_id=run_id)):
            if stop.is_set():
                result.interrupted = True
                break
            if rate > 0:
                wait = t0 + i / rate - time.monotonic()
                if wait > 0.005:
                    flush()
                    if stop.wait(wait):
                        result.interrupted = True
                        break
                event.timestamp = now_timestamp()
                event.event_id = new_event_id()
            pending.append(event)
            if len(pending) >= max_batch:
                flush()
        flush()
    except KeyboardInterrupt:
        result.interrupted = True
        flush()
    if result.interrupted:
        store.append(Event(event_type="run_error", run_id=run_id, payload={
            "error_type": "Interrupted", "error_message": "the demo agent was stopped before the run ended",
            "stack_trace": ""}))
        result.events += 1
    return result
