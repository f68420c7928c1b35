"""Replay benchmark: load a long run into a History, query states anywhere, paint a 10k-node tree.

    python benchmarks/bench_replay.py                      # 1M events, 10k nodes (prints JSON)
    python benchmarks/bench_replay.py --events 200000 --tracemalloc

What it measures, and why this way:
- `extend`: events folded and recorded per second, CPU time only (event generation excluded), in
  the 20k-event batches `load_history` uses. CPU time rather than wall time because the machine
  is shared; both are printed.
- memory: RSS growth over the load (an upper bound: the allocator keeps freed batch memory) and,
  with --tracemalloc (slower), the bytes the History itself holds at the end.
- queries at random indices: run_at, node_at, children_at of the root, roots_at, state_at, and
  what the slider asks for (density, index_at_bucket): microseconds each.
- the 10,000-node tree's first paint through Textual's Pilot, for a realistic tree (fan-out 3-6)
  and for the worst case (one level of 10,000 children, all shown).

The run is synthetic but shaped like the recursive agent's: a plan tree of `--nodes` nodes, each
executed node doing LLM and tool calls until the run has `--events` events.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Iterator

from agenttui.store import Event
from agenttui.tui.history import History

_BASE = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def synthetic_run(n_events: int, n_nodes: int, *, seed: int = 7, flat: bool = False,
                  run_id: str = "bench") -> Iterator[Event]:
    """A plan tree of n_nodes (fan-out 3-6, or one flat level), padded with LLM/tool calls to n_events."""
    rng = random.Random(seed)
    clock = _BASE
    position = 0

    def ev(event_type: str, node_id: str | None = None, **payload) -> Event:
        nonlocal position, clock
        position += 1
        clock += timedelta(microseconds=rng.randrange(2_000, 120_000))
        if node_id is not None:
            payload["node_id"] = node_id
        return Event(event_type, payload, run_id=run_id, event_id=f"e{position}", node_id=node_id,
                     timestamp=clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), position=position, seq=position)

    # the tree: breadth-first ids with nids, parents before children
    nodes: list[tuple[str, str, str | None]] = [("n0", "0", None)]
    frontier = [0]
    while len(nodes) < n_nodes:
        parent = frontier.pop(0) if not flat else 0
        width = n_nodes - 1 if flat else rng.randrange(3, 7)
        for k in range(1, width + 1):
            if len(nodes) >= n_nodes:
                break
            pid, pnid, _ = nodes[parent]
            nodes.append((f"n{len(nodes)}", f"{pnid}.{k}", pid))
            frontier.append(len(nodes) - 1)
    per_node = max(0, (n_events - 6 * n_nodes - 2) // n_nodes)
    yield ev("run_started", input_data={"data": {"prompt": "benchmark"}}, config={"model": "m"})
    for node_id, nid, parent in nodes:
        yield ev("node_created", node_id, node_nid=nid, node_type="PLAN_NODE", task_type="REASONING",
                 task_goal=f"Goal {nid}: analyse the sources and summarise", layer=nid.count("."),
                 outer_node_id=parent)
        if parent is not None:
            yield ev("edge_added", None, parent_node_id=parent, child_node_id=node_id, graph_owner_node_id=parent)
    for node_id, nid, _ in nodes:
        yield ev("node_status_changed", node_id, new_status="READY", old_status="NOT_READY")
        yield ev("node_status_changed", node_id, new_status="DOING", old_status="READY")
        for k in range(per_node):
            if k % 5 == 4:
                yield ev("tool_invoked", node_id, tool_name="search", args_summary="q")
            elif k % 2 == 0:
                yield ev("llm_call_started", node_id, model="m", prompt_preview="p")
            else:
                yield ev("llm_call_completed", node_id, token_usage={"prompt_tokens": rng.randrange(300, 4000),
                                                                     "completion_tokens": rng.randrange(50, 900)},
                         **({"error": "RateLimitError"} if rng.random() < 0.01 else {}))
        yield ev("node_status_changed", node_id, new_status="FAILED" if rng.random() < 0.01 else "FINISH")
    yield ev("run_finished", total_steps=len(nodes), total_nodes=len(nodes))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def load(n_events: int, n_nodes: int, *, flat: bool = False, batch: int = 20_000,
         trace: bool = False) -> tuple[History, dict]:
    gc.collect()
    rss0 = _rss_mb()
    if trace:
        tracemalloc.start()
    timeline = History("bench")
    cpu = wall = 0.0
    chunk: list[Event] = []
    for event in synthetic_run(n_events, n_nodes, flat=flat):
        chunk.append(event)
        if len(chunk) >= batch:
            c, w = time.process_time(), time.perf_counter()
            timeline.extend(chunk)
            cpu += time.process_time() - c
            wall += time.perf_counter() - w
            chunk = []
    c, w = time.process_time(), time.perf_counter()
    timeline.extend(chunk)
    cpu += time.process_time() - c
    wall += time.perf_counter() - w
    chunk = []
    gc.collect()
    figures = {
        "events": len(timeline), "nodes": len(timeline.node_ids()),
        "extend_cpu_s": round(cpu, 2), "extend_wall_s": round(wall, 2),
        "extend_events_per_s_cpu": round(len(timeline) / cpu), "rss_growth_mb": round(_rss_mb() - rss0, 1),
    }
    if trace:
        figures["timeline_bytes_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
        tracemalloc.stop()
    return timeline, figures


def query_costs(timeline: History, reps: int = 2000) -> dict:
    rng = random.Random(1)
    n = len(timeline)
    idx = [rng.randrange(n) for _ in range(reps)]
    ids = timeline.node_ids()
    root = timeline.roots_at(n - 1)[0]

    def cost(fn, count: int = reps) -> float:
        c = time.process_time()
        for k in range(count):
            fn(k)
        return round((time.process_time() - c) / count * 1e6, 1)

    state_ms = []
    for k in range(5):
        c = time.process_time()
        timeline.state_at_index(idx[k])
        state_ms.append((time.process_time() - c) * 1e3)
    return {
        "run_at_us": cost(lambda k: timeline.run_at(idx[k])),
        "node_at_us": cost(lambda k: timeline.node_at(ids[(k * 7919) % len(ids)], idx[k])),
        "children_at_root_us": cost(lambda k: timeline.children_at(root, idx[k])),
        "roots_at_us": cost(lambda k: timeline.roots_at(idx[k])),
        "density_200_us": cost(lambda k: timeline.axis.density(200), 50),
        "index_at_bucket_us": cost(lambda k: timeline.axis.index_at_bucket(k % 200, 200)),
        "state_at_ms_median": round(statistics.median(state_ms), 1),
    }


async def _paint(timeline: History, figures: dict | None = None) -> float:
    from textual.app import App

    from agenttui.tui.components import NodeTree, TimeSlider

    class Bench(App):
        def compose(self):
            yield NodeTree()
            yield TimeSlider(timeline)

    app = Bench()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(NodeTree)
        gc.collect()
        c = time.process_time()
        tree.show(timeline, None)
        await pilot.pause()
        [tree.render_line(y) for y in range(tree.size.height)]
        paint = round((time.process_time() - c) * 1e3, 1)
        if figures is not None:
            slider = app.query_one(TimeSlider)
            c = time.process_time()
            for _ in range(20):  # a live batch arrived: the slider recounts its columns once
                slider._columns_key = None
                slider.render_line(0)
            figures["slider_recount_ms_cpu"] = round((time.process_time() - c) / 20 * 1e3, 2)
            rng = random.Random(2)
            steps = []
            for _ in range(50):  # what a slider step costs the tree: show at a random index
                c = time.process_time()
                tree.show(timeline, rng.randrange(len(timeline)))
                [tree.render_line(y) for y in range(tree.size.height)]
                steps.append((time.process_time() - c) * 1e3)
            figures["tree_step_ms_cpu_median"] = round(statistics.median(steps), 2)
            figures["tree_step_ms_cpu_max"] = round(max(steps), 2)
        return paint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also count the History's own bytes (slower)")
    args = parser.parse_args()
    timeline, figures = load(args.events, args.nodes, trace=args.tracemalloc)
    figures.update(query_costs(timeline))
    figures["tree_first_paint_ms_cpu"] = asyncio.run(_paint(timeline, figures))
    del timeline
    flat, _ = load(2 * args.nodes + 10, args.nodes, flat=True)
    figures["flat_tree_first_paint_ms_cpu"] = asyncio.run(_paint(flat))
    print(json.dumps({"benchmark": "replay", **figures}, indent=2))


if __name__ == "__main__":
    main()
