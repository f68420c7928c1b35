"""The `agenttui serve` benchmark: stream -> committed store throughput, stream -> WebSocket latency.

    python benchmarks/bench_serve.py [--events 50000] [--latency-events 2000] [--rate 500] [--quick]

Prints one JSON document on stdout (progress on stderr). Needs redis-server on $PATH; it starts a
private one on a free loopback port (no persistence) and removes everything it made at the end.

throughput   N realistic envelopes (uuid4 ids, as external agents send them) are put in the stream
             first; an in-process server then drains them through its consumer group into a fresh
             SQLite store: events/s from first read to last commit+ack. Baselines from the same run:
             `store_only` (the same JSON parsed and appended with store.append in batches of the
             same size, no Redis) and `redis_only` (XREADGROUP + XACK of the same entries, no
             parsing, no store).
             Serve can be no faster than the slower of the two; the ratio says how close it gets.
latency      `agenttui serve` runs as its own process with one WebSocket client in this one; entries
             are XADDed one at a time at --rate per second and each is timed from just before its
             XADD to its arrival at the client (commit included). Baseline: the same pacing from
             XADD to a plain blocking XREAD in this process, the floor Redis itself sets.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
import redis  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from _workload import workload  # noqa: E402
from agenttui.serve.app import ServeApp  # noqa: E402
from agenttui.serve.config import ServeConfig  # noqa: E402
from agenttui.store import SQLiteStore, parse_json_line  # noqa: E402

STREAM = "agent_events"
BATCH = 500


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"p50": round(percentile(ms, 50), 3), "p95": round(percentile(ms, 95), 3),
            "p99": round(percentile(ms, 99), 3), "max": round(max(ms), 3), "mean": round(statistics.fmean(ms), 3)}


class RedisServer:
    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("bench_serve: redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(workdir), "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def fill_stream(url: str, stream: str, payloads: list[bytes]) -> None:
    client = redis.Redis.from_url(url)
    for i in range(0, len(payloads), 2000):
        pipe = client.pipeline(transaction=False)
        for p in payloads[i:i + 2000]:
            pipe.xadd(stream, {"json_payload": p})
        pipe.execute()
    client.close()


# ------------------------------------------------------------------------------ throughput

def bench_store_only(workdir: Path, payloads: list[bytes]) -> float:
    """The same JSON parsed and appended in batches of the same size, with no Redis in between."""
    with SQLiteStore(workdir / "store_only.db") as store:
        t0 = time.perf_counter()
        for i in range(0, len(payloads), BATCH):
            store.append([parse_json_line(p) for p in payloads[i:i + BATCH]])
        return len(payloads) / (time.perf_counter() - t0)


def bench_redis_only(url: str, n: int) -> float:
    client = redis.Redis.from_url(url)
    client.xgroup_create(STREAM, "bare", id="0")
    done = 0
    t0 = time.perf_counter()
    while done < n:
        reply = client.xreadgroup("bare", "bare-1", {STREAM: ">"}, count=BATCH)
        entries = reply[0][1]
        client.xack(STREAM, "bare", *[eid for eid, _ in entries])
        done += len(entries)
    rate = n / (time.perf_counter() - t0)
    client.close()
    return rate


async def bench_serve_drain(workdir: Path, url: str, n: int) -> tuple[float, float]:
    cfg = ServeConfig(db=str(workdir / "serve.db"), redis_url=url, stream=STREAM, group="serve",
                      consumer="bench", ws_host=None, batch_size=BATCH)
    app = ServeApp(cfg)
    t0 = time.perf_counter()
    await app.start()
    while app.bridge.stats.stored + app.bridge.stats.duplicates < n:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - t0
    app.request_stop("benchmark done")
    await app.wait()
    return n / elapsed, elapsed


# --------------------------------------------------------------------------------- latency

def start_serve_process(workdir: Path, url: str) -> tuple[subprocess.Popen, str, Path]:
    log_path = workdir / "serve-latency.log"
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "agenttui", "serve", "--redis", url, "--stream", "latency",
                                 "--db", str(workdir / "latency.db"), "--ws", "127.0.0.1:0", "--log-format", "json"],
                                stdout=fh, stderr=fh)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        urls = [line["url"] for line in lines if line.get("message") == "websocket feed listening"]
        if urls and any(line.get("message") == "connected to redis" for line in lines):
            return proc, urls[0], log_path
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"bench_serve: serve did not start:\n{log_path.read_text()}")


def latency_envelope(i: int) -> bytes:
    return orjson.dumps({"event_id": f"lat-{i:07d}", "run_id": "latency-run", "event_type": "llm_call_completed",
                         "timestamp": "2026-03-01T09:00:00.000000Z",
                         "payload": {"agent_class": "Executor", "model": "m-large", "duration_seconds": 0.8,
                                     "response": "x" * 300, "bench_seq": i}})


async def bench_latency(workdir: Path, url: str, n: int, rate: float) -> dict[str, Any]:
    proc, ws_url, _ = start_serve_process(workdir, url)
    sent: dict[str, float] = {}
    lat: list[float] = []
    r = aioredis.Redis.from_url(url)
    try:
        async with connect(ws_url) as ws:
            await asyncio.sleep(0.2)  # let the server register the subscription

            async def receive() -> None:
                while len(lat) < n:
                    msg = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                    lat.append(time.perf_counter() - sent[msg["event_id"]])

            receiver = asyncio.create_task(receive())
            interval = 1 / rate
            start = time.perf_counter()
            for i in range(n):
                body = latency_envelope(i)
                sent[f"lat-{i:07d}"] = time.perf_counter()
                await r.xadd("latency", {"json_payload": body})
                delay = start + (i + 1) * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await receiver
    finally:
        await r.aclose()
        proc.terminate()
        proc.wait(30)
    return summary_ms(lat)


async def bench_redis_floor(url: str, n: int, rate: float) -> dict[str, Any]:
    writer = aioredis.Redis.from_url(url)
    reader = aioredis.Redis.from_url(url)
    sent: list[float] = []
    lat: list[float] = []
    await writer.xadd("floor", {"x": b"0"})
    last_id = (await reader.xrevrange("floor", count=1))[0][0]

    async def receive() -> None:
        nonlocal last_id
        while len(lat) < n:
            reply = await reader.xread({"floor": last_id}, block=5000, count=100)
            now = time.perf_counter()
            for _, entries in reply:
                for eid, fields in entries:
                    lat.append(now - sent[int(fields[b"i"])])
                    last_id = eid

    receiver = asyncio.create_task(receive())
    interval = 1 / rate
    start = time.perf_counter()
    for i in range(n):
        sent.append(time.perf_counter())
        await writer.xadd("floor", {"i": str(i), "json_payload": latency_envelope(i)})
        delay = start + (i + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await receiver
    await writer.aclose()
    await reader.aclose()
    return summary_ms(lat)


# ------------------------------------------------------------------------------------ main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="events drained in the throughput section")
    parser.add_argument("--latency-events", type=int, default=2_000, help="events timed in the latency section")
    parser.add_argument("--rate", type=float, default=500.0, help="entries per second in the latency section")
    parser.add_argument("--quick", action="store_true", help="10k / 500 events: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.latency_events = 10_000, 500
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="agenttui-bench-serve-"))
    server = RedisServer(workdir)
    try:
        log(f"generating {args.events:,} envelopes")
        payloads = [orjson.dumps(env) for env in workload(args.events)]
        fill_stream(server.url, STREAM, payloads)
        log("store-only baseline")
        store_only = bench_store_only(workdir, payloads)
        log("redis-only baseline")
        redis_only = bench_redis_only(server.url, len(payloads))
        log("serve drain")
        serve_rate, serve_s = asyncio.run(bench_serve_drain(workdir, server.url, len(payloads)))
        log(f"latency: {args.latency_events:,} entries at {args.rate:g}/s")
        floor = asyncio.run(bench_redis_floor(server.url, args.latency_events, args.rate))
        latency = asyncio.run(bench_latency(workdir, server.url, args.latency_events, args.rate))
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    bound = min(store_only, redis_only)
    result = {
        "benchmark": "agenttui serve",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
        "throughput": {
            "events": len(payloads),
            "batch_size": BATCH,
            "serve_events_per_s": round(serve_rate),
            "serve_seconds": round(serve_s, 3),
            "baseline_store_only_events_per_s": round(store_only),
            "baseline_redis_only_events_per_s": round(redis_only),
            "ratio_vs_slower_baseline": round(serve_rate / bound, 3),
        },
        "latency_ms": {
            "events": args.latency_events,
            "rate_per_s": args.rate,
            "stream_entry_to_websocket_client": latency,
            "baseline_xadd_to_xread": floor,
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
