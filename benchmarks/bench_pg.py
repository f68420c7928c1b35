"""The PostgreSQL benchmark: each figure beside SQLite's, measured in the same run on the same rows.

    python benchmarks/bench_pg.py [--events 50000] [--quick] [--url postgresql://...]

Prints one JSON document on stdout (progress on stderr). Without --url it starts a throwaway
PostgreSQL server from the installed binaries (tests/pg_server.py), with fsync and synchronous
commit ON, so a commit costs what it costs on a real server; each store gets its own schema.

Sections:
  ingest      store.append in batches of 100 (time-ordered ids, as our Recorder makes them):
              SQLite vs PostgreSQL, plus a bare PostgreSQL baseline (COPY of the same rows into the
              same events table, one transaction per batch, no projections).
  append_one  one event per append, each its own durable commit: latency percentiles.
  queries     p95 of read-API calls on the ingested data (the TUI's and CLI's reads).
  live        a writer appends one event every 10 ms while a follower waits for the change signal
              and reads the new event: PostgreSQL's LISTEN/NOTIFY vs SQLite's file watching
              (watchfiles on the database folder, as `tail --follow` does). Latency from the
              start of append() to the follower holding the event, and from append()'s return
              (the commit) to it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import orjson  # noqa: E402

from _workload import RARE_TERM, workload  # noqa: E402
from agenttui.store import Event, EventFilter, SQLiteStore, now_timestamp  # noqa: E402
from agenttui.store.postgres import PostgresStore  # noqa: E402
from pg_server import LocalServer, Schemas, wait_until_ready  # noqa: E402

BATCH = 100


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def ms_summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(pct(ms, 95), 3),
            "max_ms": round(max(ms), 3), "n": len(ms)}


def batches_of(n_events: int, seed: int) -> list[list[dict[str, Any]]]:
    envs = list(workload(n_events, seed=seed, big_run_share=0.5, id_style="time"))
    return [envs[i:i + BATCH] for i in range(0, len(envs), BATCH)]


def as_events(batch: list[dict[str, Any]]) -> list[Event]:
    return [Event(event_type=d["event_type"], payload=d["payload"], run_id=d["run_id"] or "unassigned",
                  event_id=d["event_id"], timestamp=d["timestamp"]) for d in batch]


# ------------------------------------------------------------------------------------ ingest

def ingest(store: Any, batches: list[list[dict[str, Any]]]) -> float:
    events = [as_events(b) for b in batches]  # built outside the timing, as a Recorder holds them
    t = time.perf_counter()
    n = sum(store.append(b).stored for b in events)
    return n / (time.perf_counter() - t)


def bare_pg_copy(url: str, batches: list[list[dict[str, Any]]]) -> float:
    """The same rows COPYed into the same events table, a transaction per batch, nothing else."""
    import psycopg

    rows_per_batch = []
    position = 0
    seqs: dict[str, int] = {}
    created = now_timestamp()
    for b in batches:
        rows = []
        for d in b:
            position += 1
            run = d["run_id"] or "unassigned"
            seqs[run] = seqs.get(run, 0) + 1
            rows.append((position, d["event_id"], run, seqs[run], d["event_type"], d["timestamp"],
                         orjson.dumps(d["payload"]).decode(), None, None, created))
        rows_per_batch.append(rows)
    with psycopg.connect(url, autocommit=True) as conn:
        t = time.perf_counter()
        for rows in rows_per_batch:
            with conn.transaction(), conn.cursor().copy(
                    "COPY events (id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata, "
                    "created_at) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        return position / (time.perf_counter() - t)


# -------------------------------------------------------------------------------- append_one

def append_one(store: Any, n: int, seed: int) -> dict[str, float]:
    envs = list(workload(n, seed=seed, big_run_share=0.0, id_style="time"))
    events = as_events(envs)
    times = []
    for e in events:
        t = time.perf_counter()
        store.append(e)
        times.append(time.perf_counter() - t)
    return ms_summary(times)


# ----------------------------------------------------------------------------------- queries

def queries(store: Any, repeats: int, seed: int) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    runs = store.runs()
    big = max(runs, key=lambda r: r["event_count"])
    run_id, n = big["run_id"], big["event_count"]
    last = store.last_position()
    calls: dict[str, Callable[[], Any]] = {
        "events_page_of_run": lambda: store.events(run_id=run_id, after=rng.randrange(last), limit=100),
        "events_page_by_type": lambda: store.events(types=["llm_call_completed", "tool_returned"],
                                                    after=rng.randrange(last), limit=100),
        "events_page_backwards": lambda: store.events(run_id=run_id, before=rng.randrange(1, last + 1),
                                                      limit=100, order="desc"),
        "count_by_type_of_run": lambda: store.count_by_type(run_id=run_id),
        "search_rare_term": lambda: store.events(EventFilter(search=RARE_TERM), limit=100),
        "runs": lambda: store.runs(),
        "nodes_of_big_run": lambda: store.nodes(run_id),
        "read_after": lambda: store.read_after(rng.randrange(last), limit=1000),
        "state_at_random_position": lambda: store.state_at(run_id, big["first_position"] + rng.randrange(n)),
    }
    out = {}
    for name, call in calls.items():
        call()  # warm
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        out[name] = ms_summary(times)
    return out


# -------------------------------------------------------------------------------------- live

def live(writer: Any, wait: Callable[[int], None], reader: Any, n: int) -> dict[str, Any]:
    """Writer thread appends one event every 10 ms; the follower waits on `wait(last)` and reads."""
    started: dict[str, float] = {}
    committed: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()
    last = reader.last_position()
    prefix = f"live-{time.time_ns()}-"

    def follow() -> None:
        nonlocal last
        while len(seen) < n and not done.is_set():
            wait(last)
            for e in reader.read_after(last):
                if e.event_id.startswith(prefix):
                    seen[e.event_id] = time.perf_counter()
                last = e.position

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.3)
    for i in range(n):
        eid = f"{prefix}{i}"
        started[eid] = time.perf_counter()
        writer.append(Event(event_type="llm_call_started", payload={"i": i}, run_id="live", event_id=eid))
        committed[eid] = time.perf_counter()
        time.sleep(0.01)
    t.join(timeout=10)
    done.set()
    missing = n - len(seen)
    return {
        "append_to_visible": ms_summary([seen[k] - started[k] for k in seen]),
        "commit_to_visible": ms_summary([max(0.0, seen[k] - committed[k]) for k in seen]),
        "missed": missing,
    }


def sqlite_waiter(path: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    import watchfiles

    folder, base = os.path.split(os.path.abspath(path))
    stop = threading.Event()
    watcher = iter(watchfiles.watch(folder, watch_filter=lambda _c, p: os.path.basename(p).startswith(base),
                                    debounce=1, step=1, rust_timeout=200, yield_on_timeout=True,
                                    stop_event=stop, recursive=False))

    def wait(_last: int) -> None:
        next(watcher, None)

    return wait, stop.set


# -------------------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=50_000, help="events ingested per backend (default 50,000)")
    ap.add_argument("--quick", action="store_true", help="10,000 events and fewer repetitions")
    ap.add_argument("--url", help="use this PostgreSQL server (a database we may create schemas in)")
    args = ap.parse_args()
    n = 10_000 if args.quick else args.events
    repeats = 20 if args.quick else 50
    workdir = Path(tempfile.mkdtemp(prefix="agenttui-bench-pg-"))
    server = None
    schemas = None
    try:
        if args.url:
            url = args.url
            wait_until_ready(url)
        else:
            log("starting a durable PostgreSQL server (fsync on)")
            server = LocalServer(durable=True).start()
            url = server.url
            wait_until_ready(url)
        schemas = Schemas(url)
        batches = batches_of(n, seed=11)
        result: dict[str, Any] = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "events": sum(len(b) for b in batches), "batch": BATCH,
        }

        log(f"ingest: {result['events']:,} events in batches of {BATCH}")
        sqlite_store = SQLiteStore(workdir / "bench.db")
        pg_store = PostgresStore(schemas.create())
        bare_url = schemas.create()
        PostgresStore(bare_url).close()  # the same schema, for the bare COPY baseline
        rates = {"sqlite": ingest(sqlite_store, batches), "postgresql": ingest(pg_store, batches),
                 "postgresql_bare_copy": bare_pg_copy(bare_url, batches)}
        for k, v in rates.items():
            log(f"ingest: {k:22s} {v:,.0f} ev/s")
        result["ingest"] = {
            "events_per_s": {k: round(v) for k, v in rates.items()},
            "postgresql_vs_sqlite": round(rates["postgresql"] / rates["sqlite"], 3),
            "postgresql_vs_bare_copy": round(rates["postgresql"] / rates["postgresql_bare_copy"], 3),
        }

        log(f"queries: {repeats} calls each")
        result["queries"] = {"sqlite": queries(sqlite_store, repeats, 5), "postgresql": queries(pg_store, repeats, 5)}
        result["queries"]["p95_ms_side_by_side"] = {
            name: {"sqlite": result["queries"]["sqlite"][name]["p95_ms"],
                   "postgresql": result["queries"]["postgresql"][name]["p95_ms"]}
            for name in result["queries"]["sqlite"]}

        n_one = 100 if args.quick else 300
        log(f"append_one: {n_one} single-event durable commits")
        result["append_one"] = {"sqlite": append_one(sqlite_store, n_one, 21), "postgresql": append_one(pg_store, n_one, 21)}

        n_live = 50 if args.quick else 200
        log(f"live: {n_live} events, one every 10 ms")
        pg_reader = PostgresStore(pg_store.url, readonly=True)
        pg_live = live(pg_store, lambda last: pg_reader.wait_for_change(timeout=1.0, after=last), pg_reader, n_live)
        pg_reader.close()
        sqlite_reader = SQLiteStore(workdir / "bench.db", readonly=True)
        wait, stop = sqlite_waiter(str(workdir / "bench.db"))
        sqlite_live = live(sqlite_store, wait, sqlite_reader, n_live)
        stop()
        sqlite_reader.close()
        result["live"] = {"postgresql_listen_notify": pg_live, "sqlite_file_watch": sqlite_live,
                          "target": "commit by a writer -> visible: p95 <= 50 ms (TUI), <= 100 ms (issue 5)"}
        sqlite_store.close()
        pg_store.close()
        print(json.dumps(result, indent=2))
        return 0
    finally:
        if schemas is not None:
            schemas.close()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
