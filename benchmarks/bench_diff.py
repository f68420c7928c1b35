"""Diff benchmark: two ~100k-event runs of the recursive agent, compared.

    python benchmarks/bench_diff.py                 # prints JSON
    python benchmarks/bench_diff.py --events 50000 --repeat 5

Run B is run A (same seed) with the changes a prompt change would make halfway through: one
tool argument changed, one node's subtree of events removed (a skipped step), a few statuses
flipped to FAILED near the end. Measured, as medians of --repeat rounds, in fresh processes' terms
(new store connections each round):
- first_screen_s: from nothing to the compare app's first paint of the aligned trees (Pilot);
  target <= 2 s.
- json_s: what `agenttui diff --json` does: open both sides, pair trees, read and pair both runs'
  steps, find the first divergence, serialise; target <= 5 s.
- baseline_read_s: the floor both stand on, measured in the same run: reading every event of
  both runs through the store's paging API and nothing else.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workload import generate_run  # noqa: E402

from agenttui.compare import Comparison, Side  # noqa: E402
from agenttui.store import EventFilter, SQLiteStore, parse_envelope  # noqa: E402


def make_runs(path: Path, n_events: int, seed: int) -> None:
    a = list(generate_run(seed, n_events, run_id="A", id_style="time"))
    b = [dict(e, payload=dict(e["payload"])) for e in generate_run(seed, n_events, run_id="B", id_style="time")]
    for i, e in enumerate(b):
        e["event_id"] = f"b-{i:08d}"
    tools = [i for i, e in enumerate(b) if e["event_type"] == "tool_invoked"]
    b[tools[len(tools) // 2]]["payload"]["args_summary"] += " (changed)"
    # drop one execute node's step (its step_started .. its last status change)
    starts = [i for i, e in enumerate(b) if e["event_type"] == "step_started"]
    s = starts[len(starts) * 3 // 5]
    node = b[s]["payload"]["node_id"]
    end = max(i for i in range(s, min(len(b), s + 60)) if b[i]["payload"].get("node_id") == node)
    b = b[:s - 1] + b[end + 1:]
    for e in b[-len(b) // 10:]:
        if e["event_type"] == "node_status_changed" and e["payload"]["new_status"] == "FINISH" and hash(e["event_id"]) % 7 == 0:
            e["payload"]["new_status"] = "FAILED"
    with SQLiteStore(path) as store:
        for events in (a, b):
            for i in range(0, len(events), 20_000):
                store.append([parse_envelope(x) for x in events[i:i + 20_000]])


def read_all(path: Path) -> float:
    t = time.perf_counter()
    with SQLiteStore(path, readonly=True) as store:
        for run in ("A", "B"):
            after = 0
            while True:
                page = store.events(EventFilter(run_id=run), after=after, limit=5000)
                if not page:
                    break
                after = page[-1].position
    return time.perf_counter() - t


def json_result(path: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    with SQLiteStore(path, readonly=True) as store:
        cmp = Comparison.of_trees(Side.load(store, "A", "A"), Side.load(store, "B", "B"))
        cmp.load_steps()
        text = json.dumps(cmp.to_dict())
    return time.perf_counter() - t, json.loads(text)


async def first_screen(path: Path) -> float:
    from agenttui.tui.screens.compare import AlignedTree, CompareApp

    t = time.perf_counter()
    store = SQLiteStore(path, readonly=True)
    cmp = Comparison.of_trees(Side.load(store, "A", "A"), Side.load(store, "B", "B"))
    app = CompareApp(cmp)
    painted = None
    async with app.run_test(size=(160, 50)) as pilot:
        while painted is None:
            tree = app.query_one(AlignedTree)
            if tree.size.height and tree.virtual_size.height == len(cmp.pairs):
                painted = time.perf_counter() - t
            else:
                await pilot.pause(0.005)
        app.workers.cancel_all()
    store.close()
    return painted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=108_000, help="events asked of the generator per run (~100k made)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "diff.db"
        t = time.perf_counter()
        make_runs(path, args.events, args.seed)
        setup = time.perf_counter() - t
        with SQLiteStore(path, readonly=True) as store:
            sizes = {r: store.run(r)["event_count"] for r in ("A", "B")}
        base = [read_all(path) for _ in range(args.repeat)]
        js = [json_result(path) for _ in range(args.repeat)]
        screens = [asyncio.run(first_screen(path)) for _ in range(args.repeat)]
    result = js[-1][1]
    out = {
        "events": sizes, "setup_s": round(setup, 2), "repeat": args.repeat,
        "baseline_read_s": round(statistics.median(base), 3),
        "json_s": round(statistics.median(t for t, _ in js), 3),
        "first_screen_s": round(statistics.median(screens), 3),
        "json_vs_baseline": round(statistics.median(t for t, _ in js) / statistics.median(base), 2),
        "targets": {"first_screen_s": 2.0, "json_s": 5.0},
        "met": {"first_screen": statistics.median(screens) <= 2.0, "json": statistics.median(t for t, _ in js) <= 5.0},
        "found": {"first_divergence": result["first_divergence"]["description"] if result["first_divergence"] else None,
                  "removed_nodes": len(result["nodes"]["removed"]), "changed_nodes": len(result["nodes"]["changed"]),
                  "new_errors": len(result["new_errors"])},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
