"""Realistic, reproducible event streams for the store benchmark.

The benchmark must measure the store on what it will actually hold: runs of a recursive planning
agent (nested plan/execute nodes, ~15 events per node, LLM calls whose prompts and responses are a
few hundred bytes), in the wire format of /work/shared/samples/recursive-agent-run.jsonl. Synthetic
rows of constant size would flatter SQLite's B-trees and the fold alike.

Everything is driven by one `random.Random(seed)`, so two runs of the benchmark store identical
bytes and their figures are comparable. Event ids are uuid4-shaped (as external agents send them)
unless a caller asks for the store's time-ordered ids.
"""
from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import orjson

#: A word no generated text contains except in the rare events that carry it on purpose, so the
#: "rare term" search scans the whole table and returns only a handful of rows.
RARE_TERM = "quokka"
#: How often (1 in N LLM responses) the rare term is planted.
RARE_EVERY = 20_000
#: A term present in a large share of payloads (every `task_goal`/`node_goal` of a drafting node).
COMMON_TERM = "draft"

_WORDS = (
    "analyse the sources and summarise the findings for the section on market size revenue growth "
    "compare competitors check facts outline argument draft paragraph cite evidence verify numbers "
    "retrieve documents rank results extract quotes reason about constraints write conclusion plan "
    "subtasks refine query evaluate answer budget latency risk customer churn pricing model dataset"
).split()
_GOALS = ("plan outline", "draft section", "check facts", "retrieve sources", "summarise findings",
          "compare options", "write conclusion", "verify numbers")
_TASK_TYPES = ("COMPOSITION", "REASONING", "RETRIEVAL")
_TOOLS = (("search", "web.search"), ("fetch", "web.fetch"), ("python", "code.exec"), ("sql", "db.query"))
_MODELS = ("m-large", "m-small")


def _uuid4(rng: random.Random) -> str:
    v = rng.getrandbits(128)
    v = (v & ~(0xF << 76)) | (0x4 << 76)
    v = (v & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{v:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Clock:
    """Monotonic event timestamps, a few tens of milliseconds apart, in the store's wire form."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.t = start

    def tick(self) -> str:
        self.t += timedelta(microseconds=self.rng.randrange(2_000, 120_000))
        return self.t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate_run(
    seed: int,
    n_events: int,
    *,
    run_id: str | None = None,
    start: datetime | None = None,
    id_style: str = "uuid4",
) -> Iterator[dict[str, Any]]:
    """Yield the envelopes (dicts) of one recursive agent run of about `n_events` events.

    The run plans depth-first like the real agent: a plan node creates its children (node_created,
    node_added, edge_added), executes them in order, then reports its own result. Plan nodes keep
    being made while the event budget allows, so big runs get deep, wide trees (~15 events per
    node); the run ends with run_finished (or run_error, 1 run in 10).
    """
    if id_style not in ("uuid4", "time"):
        raise ValueError(f"id_style must be 'uuid4' or 'time', got {id_style!r}")
    rng = random.Random(seed)
    clock = _Clock(rng, start or datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
    if id_style == "time":
        from agenttui.store import new_event_id as make_id
    else:
        def make_id() -> str:
            return _uuid4(rng)
    run_id = run_id or f"run-{seed:04d}-{rng.getrandbits(32):08x}"
    emitted = 0
    step = 0

    def ev(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal emitted
        emitted += 1
        return {"event_id": make_id(), "timestamp": clock.tick(), "event_type": event_type,
                "payload": payload, "run_id": run_id}

    def text(lo: int, hi: int) -> str:
        n = rng.randrange(lo, hi)
        words = [rng.choice(_WORDS) for _ in range(n)]
        if rng.randrange(RARE_EVERY) == 0:
            words[rng.randrange(n)] = RARE_TERM
        return " ".join(words)

    def llm(node_id: str, goal: str, agent: str) -> Iterator[dict[str, Any]]:
        model = rng.choice(_MODELS)
        prompt = f"You are the {agent}. Task: {goal}. Context: {text(20, 60)}"
        yield ev("llm_call_started", {"agent_class": agent, "model": model,
                                      "prompt": [{"role": "system", "content": "Be precise."},
                                                 {"role": "user", "content": prompt}],
                                      "prompt_preview": prompt[:80], "node_id": node_id, "step": step})
        failed = rng.random() < 0.02
        payload: dict[str, Any] = {
            "agent_class": agent, "model": model, "duration_seconds": round(rng.uniform(0.2, 9.0), 3),
            "response": text(30, 90), "result_summary": text(4, 10) + "...", "node_id": node_id, "step": step,
            "token_usage": {"prompt_tokens": rng.randrange(300, 4000), "completion_tokens": rng.randrange(50, 900)},
        }
        if failed:
            payload["error"] = "RateLimitError: 429 Too Many Requests"
        yield ev("llm_call_completed", payload)

    budget_nodes = max(1, n_events // 15)
    made = 1  # nodes created so far (the root counts)

    def node_created(node_id: str, nid: str, node_type: str, goal: str, layer: int,
                     outer: str | None, root: str) -> dict[str, Any]:
        return ev("node_created", {
            "node_id": node_id, "node_nid": nid, "node_type": node_type, "task_type": rng.choice(_TASK_TYPES),
            "task_goal": goal, "layer": layer, "outer_node_id": outer, "root_node_id": root,
            "initial_parent_nids": [nid.rsplit(".", 1)[0]] if "." in nid else [], "step": step})

    def status(node_id: str, goal: str, old: str, new: str) -> dict[str, Any]:
        return ev("node_status_changed", {"node_id": node_id, "node_goal": goal, "old_status": old,
                                          "new_status": new, "step": step})

    def run_node(node_id: str, nid: str, goal: str, layer: int, root: str, is_plan: bool) -> Iterator[dict[str, Any]]:
        nonlocal step, made
        step += 1
        yield status(node_id, goal, "NOT_READY", "READY")
        yield ev("step_started", {"step": step, "node_id": node_id, "node_goal": goal, "root_id": root})
        yield status(node_id, goal, "READY", "DOING")
        if is_plan:
            yield from llm(node_id, goal, "Planner")
            width = rng.randrange(3, 7)
            kids = []
            for i in range(1, width + 1):
                kid_goal = f"Goal {nid}.{i}: {rng.choice(_GOALS)} {text(3, 8)}"
                kids.append((_uuid4(rng).replace("-", ""), f"{nid}.{i}", kid_goal))
            yield ev("plan_received", {"node_id": node_id, "raw_plan": [
                {"id": k[1], "goal": k[2], "task_type": rng.choice(_TASK_TYPES), "dependency": []} for k in kids]})
            plan_kids = []
            for kid_id, kid_nid, kid_goal in kids:
                made += 1
                kid_plan = made + 4 * len(plan_kids) < budget_nodes and layer < 12 and rng.random() < 0.45
                plan_kids.append(kid_plan)
                yield node_created(kid_id, kid_nid, "PLAN_NODE" if kid_plan else "EXECUTE_NODE", kid_goal,
                                   layer + 1, node_id, root)
                yield ev("node_added", {"graph_owner_node_id": node_id, "added_node_id": kid_id,
                                        "added_node_nid": kid_nid})
                yield ev("edge_added", {"graph_owner_node_id": node_id, "parent_node_id": node_id,
                                        "child_node_id": kid_id, "parent_node_nid": nid, "child_node_nid": kid_nid})
            yield ev("inner_graph_built", {"node_id": node_id, "node_count": len(kids), "edge_count": len(kids) - 1,
                                           "node_ids": [k[0] for k in kids]})
            yield status(node_id, goal, "DOING", "PLAN_DONE")
            for (kid_id, kid_nid, kid_goal), kid_plan in zip(kids, plan_kids):
                yield from run_node(kid_id, kid_nid, kid_goal, layer + 1, root, kid_plan)
            step += 1
            yield from llm(node_id, goal, "Aggregator")
            final = "FINISH"
        else:
            for _ in range(rng.randrange(1, 3)):
                yield from llm(node_id, goal, "Executor")
            if rng.random() < 0.6:
                tool, api = rng.choice(_TOOLS)
                yield ev("tool_invoked", {"tool_name": tool, "api_name": api, "args_summary": text(3, 8),
                                          "node_id": node_id, "step": step})
                bad = rng.random() < 0.03
                yield ev("tool_returned", {"tool_name": tool, "api_name": api, "state": "FAILED" if bad else "SUCCESS",
                                           "duration_seconds": round(rng.uniform(0.05, 3.0), 3),
                                           "result_summary": text(5, 15), "node_id": node_id, "step": step,
                                           **({"error": "TimeoutError: tool call exceeded 30 s"} if bad else {})})
            final = "FAILED" if rng.random() < 0.01 else "FINISH"
        yield ev("node_result_available", {"node_id": node_id, "action_name": "aggregate" if is_plan else "execute",
                                           "result_summary": f"done: {goal[:60]} {text(5, 20)}"})
        yield ev("step_finished", {"step": step, "node_id": node_id, "action_name": "execute", "status_after": final,
                                   "duration_seconds": round(rng.uniform(0.5, 30.0), 2)})
        yield status(node_id, goal, "DOING", final)

    task = f"Write a report on {text(4, 9)}"
    yield ev("run_started", {"input_data": {"filename": "task.jsonl", "data": {"prompt": task}},
                             "config": {"model": "m-large", "engine_backend": "x", "max_depth": 12},
                             "run_mode": "report"})
    root = _uuid4(rng).replace("-", "")
    root_goal = f"Goal 0: {task}"
    yield node_created(root, "0", "PLAN_NODE", root_goal, 0, None, root)
    yield from run_node(root, "0", root_goal, 0, root, True)
    if rng.random() < 0.1:
        yield ev("run_error", {"error_type": "AgentError", "error_message": "node failed after 3 retries",
                               "stack_trace": "Traceback (most recent call last): ...", "node_id": root, "step": step})
    else:
        yield ev("run_finished", {"total_steps": step, "duration_seconds": round(emitted * 0.05, 2),
                                  "total_nodes": made, "total_llm_calls": 0, "total_tool_calls": 0,
                                  "token_usage_summary": {}})


def workload(n_events: int, *, seed: int = 7, big_run_share: float = 0.4,
             id_style: str = "uuid4") -> Iterator[dict[str, Any]]:
    """About `n_events` envelopes: one big run (`big_run_share` of them), then runs of 2k-40k events.

    A few events with ``run_id: null`` come first, as the reference agent sends before it has a run id.
    Stops at exactly `n_events`, so the last run may be cut short (as a crashed agent's would be).
    """
    rng = random.Random(seed)
    count = 0
    start = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    for i in range(min(5, n_events)):
        count += 1
        yield {"event_id": _uuid4(rng), "timestamp": (start + timedelta(milliseconds=i)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"), "event_type": "llm_call_started",
            "payload": {"agent_class": "Bootstrap", "model": "m-small",
                        "prompt": [{"role": "user", "content": f"warm up {i}"}], "prompt_preview": "warm up"},
            "run_id": None}
    sizes = [max(1, int(n_events * big_run_share))] if big_run_share > 0 else []
    k = 0
    while count < n_events:
        size = sizes[k] if k < len(sizes) else rng.randrange(2_000, 40_000)
        for env in generate_run(seed * 1000 + k, size, start=start + timedelta(hours=k), id_style=id_style):
            yield env
            count += 1
            if count >= n_events:
                return
        k += 1


def write_jsonl(paths: str | list[str], n_events: int, **kwargs: Any) -> int:
    """Write `workload(n_events)` as JSONL, split evenly over `paths` in order; returns total bytes.

    Several parts let a benchmark interleave two importers part by part, so both see the same
    machine load (on a shared box, load drifts over the minutes one import takes).
    """
    files = [paths] if isinstance(paths, str) else list(paths)
    per_part = -(-n_events // len(files))
    size = 0
    events = workload(n_events, **kwargs)
    for path in files:
        with open(path, "wb") as fh:
            written = 0
            while written < per_part:
                buf = [orjson.dumps(env) for env in itertools.islice(events, min(10_000, per_part - written))]
                if not buf:
                    break
                chunk = b"\n".join(buf) + b"\n"
                fh.write(chunk)
                size += len(chunk)
                written += len(buf)
    return size
