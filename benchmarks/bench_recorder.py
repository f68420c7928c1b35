"""Benchmark: what recording costs an agent, beside the same loop without recording, in the same run.

    python benchmarks/bench_recorder.py [--calls 20000] [--repeats 5]

Prints one JSON object:
  tool_call     an instrumented function called in a loop (2 events per call)
  agent_step    one step of a typical agent: a node, a tool call, an LLM call and a decision (10 events)
For each: per-iteration time with and without recording (medians over interleaved repeats), the
added latency, the part of it the Recorder itself costs (the same loop into a store that discards
batches; the rest is the store's commit work, done by the flusher thread on the same interpreter),
events/s the agent records (its own loop time) and events/s committed (including the final flush,
i.e. the rate the store sustains behind the agent). The *_cpu_* figures are the agent thread's CPU
time: on a loaded machine wall times stretch, CPU times much less.
  logging_json  the same loops writing the same events (same fields) through plain `logging` with a JSON
                formatter to a file, the reference of the README's Performance table: recorder_vs_logging = recorded time /
                logging time per iteration (target <= 1.0), and the same ratio of agent-thread CPU time
  visibility    record -> visible in another connection (ms), the "on disk within 50 ms" promise,
                with the agent idle between events (waiting on a model, as agents mostly do)
  visibility_busy_agent  the same with the agent's thread busy in Python (an agent process writes,
                this process polls; latency measured from the event's own timestamp)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import time
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agenttui import Recorder  # noqa: E402
from agenttui.store import SQLiteStore  # noqa: E402


def tool(query: str, limit: int = 3) -> dict:
    return {"query": query, "hits": limit}


def fake_llm(prompt: str) -> str:
    return prompt[::-1]


def loop_plain(n: int) -> None:
    for i in range(n):
        tool("agent observability", limit=i & 7)


def loop_recorded(run: Recorder, n: int) -> None:
    wrapped = run.instrument(tool)
    for i in range(n):
        wrapped("agent observability", limit=i & 7)


def step_plain(n: int) -> None:
    for i in range(n):
        tool("agent observability", limit=i & 7)
        fake_llm("summarise the sources")


def step_recorded(run: Recorder, n: int) -> None:
    wrapped = run.instrument(tool)
    for i in range(n):
        with run.node("step", task_type="RETRIEVAL"):
            wrapped("agent observability", limit=i & 7)
            with run.llm_call("m", "summarise the sources") as call:
                call.complete(fake_llm("summarise the sources"), prompt_tokens=12, completion_tokens=4)
            run.decision("next", chosen_action="continue")


class JsonFormatter(logging.Formatter):
    """What a JSON log line usually holds: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"timestamp": self.formatTime(record), "level": record.levelname, "logger": record.name,
                           "event": record.getMessage(), **record.__dict__.get("fields", {})}, default=repr)


def json_logger(path: Path) -> logging.Logger:
    logger = logging.getLogger(f"bench.{path.stem}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return logger


def close_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)


def loop_logged(log: logging.Logger, n: int) -> None:
    """The tool call as two log records with the fields the Recorder's two events carry."""
    for i in range(n):
        t0 = time.perf_counter()
        log.info("tool_invoked", extra={"fields": {"tool_name": "tool", "api_name": "__main__.tool", "args": {
            "query": "agent observability", "limit": i & 7}, "args_summary": f"query='agent observability', "
            f"limit={i & 7}"}})
        result = tool("agent observability", limit=i & 7)
        log.info("tool_returned", extra={"fields": {"tool_name": "tool", "state": "SUCCESS", "result": result,
                                                    "duration_seconds": time.perf_counter() - t0}})


def step_logged(log: logging.Logger, n: int) -> None:
    """The agent step as the same ten records the Recorder writes for it."""
    for i in range(n):
        node = {"node_id": f"n{i}", "node_goal": "step"}
        log.info("node_created", extra={"fields": {**node, "task_type": "RETRIEVAL", "layer": 1}})
        log.info("node_added", extra={"fields": node})
        log.info("edge_added", extra={"fields": {**node, "parent_node_id": "root"}})
        log.info("node_status_changed", extra={"fields": {**node, "old_status": "NOT_READY", "new_status": "DOING"}})
        loop_logged(log, 1)
        log.info("llm_call_started", extra={"fields": {"model": "m", "prompt": "summarise the sources"}})
        response = fake_llm("summarise the sources")
        log.info("llm_call_completed", extra={"fields": {"model": "m", "response": response, "token_usage": {
            "prompt_tokens": 12, "completion_tokens": 4}}})
        log.info("decision", extra={"fields": {"decision_type": "next", "chosen_action": "continue"}})
        log.info("node_status_changed", extra={"fields": {**node, "old_status": "DOING", "new_status": "FINISH"}})


class DiscardStore:
    """Accepts batches and drops them: isolates the Recorder's own cost from the store's commits."""

    path = None

    def append(self, events: Any) -> None:
        return None


def measure(name: str, plain: Callable[[int], None], recorded: Callable[[Recorder, int], None],
            logged: Callable[[logging.Logger, int], None], n: int, repeats: int, workdir: Path) -> dict[str, Any]:
    plain(min(n, 1000))  # warm up every path
    warm_log = json_logger(workdir / f"warm-{name}.log")
    logged(warm_log, min(n, 1000))
    close_logger(warm_log)
    with Recorder(workdir / f"warm-{name}.db", task="warm") as run:
        recorded(run, min(n, 1000))
    base_times, rec_times, commit_times, events, discard_times = [], [], [], [], []
    rec_cpu, discard_cpu, log_times, log_cpu = [], [], [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        plain(n)
        base_times.append(time.perf_counter() - t0)
        logger = json_logger(workdir / f"{name}-{r}.log")
        c0, t0 = time.thread_time(), time.perf_counter()
        logged(logger, n)
        log_times.append(time.perf_counter() - t0)
        log_cpu.append(time.thread_time() - c0)
        close_logger(logger)
        run = Recorder(workdir / f"{name}-{r}.db", task=name).start()
        start_events = sum(run.stats()["counts"].values())
        c0, t0 = time.thread_time(), time.perf_counter()
        recorded(run, n)
        c1, t1 = time.thread_time(), time.perf_counter()
        rec_cpu.append(c1 - c0)
        run.flush()
        t2 = time.perf_counter()
        recorded_events = sum(run.stats()["counts"].values()) - start_events
        run.finish()
        with Recorder(DiscardStore(), task=name) as discard:
            c3, t3 = time.thread_time(), time.perf_counter()
            recorded(discard, n)
            discard_times.append(time.perf_counter() - t3)
            discard_cpu.append(time.thread_time() - c3)
        rec_times.append(t1 - t0)
        commit_times.append(t2 - t0)
        events.append(recorded_events)
    base = statistics.median(base_times) / n
    rec = statistics.median(rec_times) / n
    ev = statistics.median(events)
    return {
        "iterations": n,
        "events_per_iteration": ev / n,
        "plain_us_per_iteration": round(base * 1e6, 3),
        "recorded_us_per_iteration": round(rec * 1e6, 3),
        "added_latency_us_per_iteration": round((rec - base) * 1e6, 3),
        "recorder_only_us_per_iteration": round((statistics.median(discard_times) / n - base) * 1e6, 3),
        # CPU time of the agent's thread: what recording costs it in work, whatever the machine's load
        "recorded_cpu_us_per_iteration": round(statistics.median(rec_cpu) / n * 1e6, 3),
        "recorder_only_cpu_us_per_iteration": round(statistics.median(discard_cpu) / n * 1e6, 3),
        "logging_json_us_per_iteration": round(statistics.median(log_times) / n * 1e6, 3),
        "logging_json_cpu_us_per_iteration": round(statistics.median(log_cpu) / n * 1e6, 3),
        "recorder_vs_logging": round(statistics.median(rec_times) / statistics.median(log_times), 2),
        "recorder_vs_logging_cpu": round(statistics.median(rec_cpu) / statistics.median(log_cpu), 2),
        "events_per_s_recorded": round(ev / statistics.median(rec_times)),
        "events_per_s_committed": round(ev / statistics.median(commit_times)),
    }


def visibility(workdir: Path, samples: int) -> dict[str, Any]:
    db = workdir / "visibility.db"
    latencies = []
    with Recorder(db, task="visibility") as run:
        run.flush()
        reader = SQLiteStore(db, readonly=True)
        for i in range(samples):
            time.sleep(0.02)  # an idle flusher: a lone event is the worst case
            t0 = time.perf_counter()
            event_id = run.decision("probe", context=i)
            while reader.get_event(event_id) is None:
                time.sleep(0.0002)
                if time.perf_counter() - t0 > 5:
                    raise RuntimeError("an event did not become visible within 5 s")
            latencies.append((time.perf_counter() - t0) * 1000)
        reader.close()
    latencies.sort()
    return {"samples": samples, "flush_interval_ms": run.flush_interval * 1000,
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "max_ms": round(latencies[-1], 2)}


_BUSY_AGENT = """
import sys, time
from agenttui import Recorder
run = Recorder(sys.argv[1], task="busy agent").start()
run.flush()
print("ready", flush=True)
end = time.time() + float(sys.argv[2])
i = 0
while time.time() < end:
    run.event("tick", i=i)
    t = time.perf_counter()
    while time.perf_counter() - t < 0.05:  # 50 ms of pure-Python work holding the GIL
        pass
    i += 1
run.finish()
"""


def visibility_busy(workdir: Path, seconds: float) -> dict[str, Any]:
    """Record -> visible when the agent's own thread is CPU-bound (the flusher must win the GIL)."""
    db = workdir / "busy.db"
    proc = subprocess.Popen([sys.executable, "-c", _BUSY_AGENT, str(db), str(seconds)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    proc.stdout.readline()
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    seen, latencies = 0, []
    while proc.poll() is None:
        rows = conn.execute("SELECT id, timestamp FROM events WHERE event_type = 'tick' AND id > ?",
                            (seen,)).fetchall()
        now = time.time()
        for pos, ts in rows:
            seen = pos
            stamped = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
            latencies.append((now - stamped) * 1000)
        time.sleep(0.001)
    conn.close()
    proc.stdout.close()
    latencies.sort()
    return {"samples": len(latencies), "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2), "max_ms": round(latencies[-1], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="loop iterations per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--visibility-samples", type=int, default=40)
    parser.add_argument("--busy-seconds", type=float, default=3.0,
                        help="how long the CPU-bound agent of visibility_busy_agent runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        workdir = Path(tmp)
        result = {
            "benchmark": "recorder",
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "tool_call": measure("tool_call", loop_plain, loop_recorded, loop_logged, args.calls, args.repeats, workdir),
            "agent_step": measure("agent_step", step_plain, step_recorded, step_logged, max(1, args.calls // 5),
                                  args.repeats, workdir),
            "visibility": visibility(workdir, args.visibility_samples),
            "visibility_busy_agent": visibility_busy(workdir, args.busy_seconds),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
