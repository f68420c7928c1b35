"""N writer processes appending to one SQLite file at once: total throughput and append latency.

    python benchmarks/bench_writers.py [--writers 1,2,4,10] [--events 20000] [--batch 50] [--out FILE]

Each writer is its own process with its own store (as separate agents or importers are), appends
`--events` events of its own run in batches of `--batch` through `store.append`, and times every
call, waits for the write lock included. All writers start together (a barrier), so the lock is
contended for the whole measurement. Printed as JSON per N: total events/s over the wall time of
the slowest writer, the p50/p95/max latency of one append call, and how many writers failed (the
store promises none: writers wait and retry instead of raising "database is locked"). The
baseline is N=1 in the same run; `throughput_vs_1` and `p95_vs_1` compare against it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agenttui.store import SQLiteStore  # noqa: E402


def _writer(path: str, worker: int, events: int, batch: int, barrier: Any, results: Any) -> None:
    envs = [{"event_id": f"w{worker}-{i:07d}", "run_id": f"writer-{worker}", "event_type": "tool_invoked",
             "payload": {"tool_name": "search", "args_summary": f"query {i}", "node_id": f"n{i % 50}"}}
            for i in range(events)]
    latencies: list[float] = []
    error = None
    try:
        with SQLiteStore(path) as store:
            barrier.wait()
            start = time.perf_counter()
            for i in range(0, events, batch):
                t = time.perf_counter()
                store.append(envs[i:i + batch])
                latencies.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - start
    except Exception as exc:  # reported, not raised: the point is to count failures
        error = f"{type(exc).__name__}: {exc}"
        elapsed = 0.0
    results.put({"worker": worker, "latencies": latencies, "elapsed": elapsed, "error": error})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(n: int, events: int, batch: int, workdir: str) -> dict[str, Any]:
    path = os.path.join(workdir, f"writers-{n}.db")
    SQLiteStore(path).close()  # the schema exists before the race; the race is for the write lock
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, w, events, batch, barrier, results)) for w in range(n)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for r in reports for x in r["latencies"]]
    wall = max(r["elapsed"] for r in reports)
    with SQLiteStore(path, readonly=True) as store:
        stored = store.count_events()
    return {
        "writers": n,
        "events_stored": stored,
        "events_expected": n * events,
        "failed_writers": [r["error"] for r in reports if r["error"]],
        "wall_seconds": round(wall, 3),
        "total_events_per_second": round(stored / wall) if wall else None,
        "append_p50_ms": round(_percentile(latencies, 0.50) * 1000, 3),
        "append_p95_ms": round(_percentile(latencies, 0.95) * 1000, 3),
        "append_max_ms": round(max(latencies) * 1000, 3) if latencies else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writers", default="1,2,4,10", help="comma-separated writer counts")
    ap.add_argument("--events", type=int, default=20_000, help="events per writer")
    ap.add_argument("--batch", type=int, default=50, help="events per append call")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    counts = [int(x) for x in args.writers.split(",")]
    with tempfile.TemporaryDirectory(prefix="agenttui-writers-") as workdir:
        rows = [measure(n, args.events, args.batch, workdir) for n in counts]
    base = next((r for r in rows if r["writers"] == 1), rows[0])
    for r in rows:
        r["throughput_vs_1"] = round(r["total_events_per_second"] / base["total_events_per_second"], 3)
        r["p95_vs_1"] = round(r["append_p95_ms"] / base["append_p95_ms"], 3)
    report = {"benchmark": "concurrent SQLite writers", "events_per_writer": args.events, "batch": args.batch,
              "cpus": os.cpu_count(), "baseline": "1 writer, same run", "results": rows,
              "all_finished": all(not r["failed_writers"] and r["events_stored"] == r["events_expected"]
                                  for r in rows)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
