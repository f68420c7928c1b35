"""The store benchmark: every figure beside a bare-SQLite baseline measured in the same run.

    python benchmarks/bench_store.py [--events 1000000] [--quick] [--rounds N] [--only SECTION] [--keep]
    python benchmarks/bench_store.py --only append --compare REVISION   # beside a git revision's store

Prints one JSON document on stdout (progress goes to stderr). Each figure carries its baseline, the
ratio, the target of the README's "Performance" table and whether it passed, because an absolute number
from a shared 2-core box means little on its own: the baseline, timed seconds apart on the same
machine and the same rows, is what makes it comparable. The two sides of the import and of the
batched append take turns part by part, and CPU-time rates are reported beside wall-clock ones, so
load from other processes lands on both sides alike (see benchmarks/README.md).

Sections:
  import       bulk JSONL import of N realistic events into an empty store (agenttui's import path),
               time-ordered ids and uuid4 ids apart, vs orjson.loads + executemany into the same
               events table and indexes, 10k-row transactions, no projections.
  append       store.append in batches of 100 with time-ordered ids vs bare executemany of the
               same batches.
  append_one   one event per append (a commit each, synchronous=NORMAL): latency percentiles,
               vs a bare INSERT + COMMIT.
  queries      p95 of each read-API call on the N-event database vs the hand-written SQL on a
               raw connection.
  state_at     p95 of state_at at random positions of the big run vs folding from zero.
  hash_chain   the cost of the tamper-evidence hash on append: store.append in batches of 100 with
               the chained SHA-256 vs the same store with the hash replaced by a constant, taking
               turns round by round (ratio = throughput with / without; the cost is 1 - ratio).

Databases and the JSONL file live in a temporary folder under /tmp, removed at the end (--keep
leaves it for inspection).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workload import COMMON_TERM, RARE_TERM, workload, write_jsonl  # noqa: E402
from agenttui.store import Event, RunState, SQLiteStore, parse_json_line  # noqa: E402
from agenttui.store.schema import MIGRATIONS, SCHEMA_VERSION  # noqa: E402
from agenttui.store.rows import EVENT_COLUMNS, row_to_event  # noqa: E402

BARE_TXN_ROWS = 10_000
IMPORT_BATCH = 5_000
APPEND_BATCH = 100


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): what the slowest q% of calls look like."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def r3(x: float) -> float:
    return round(x, 3)


def figure(value: float, baseline: float, *, unit: str, higher_is_better: bool,
           target: str | None = None, passed: bool | None = None, **extra: Any) -> dict[str, Any]:
    """One reported figure; ratio is always store/baseline (>1 means the store took more if a time)."""
    out: dict[str, Any] = {"value": r3(value), "baseline": r3(baseline), "unit": unit,
                           "ratio": r3(value / baseline) if baseline else None,
                           "higher_is_better": higher_is_better}
    if target is not None:
        out["target"] = target
        out["pass"] = passed
    out.update(extra)
    return out


# ------------------------------------------------------------------------------- bare SQLite

def _events_schema() -> list[str]:
    """The events table and its indexes exactly as the store creates them (no projections)."""
    from agenttui.store.sqlite import _split_sql

    stmts = []
    for v in range(1, SCHEMA_VERSION + 1):
        for s in _split_sql(MIGRATIONS[v]):
            head = " ".join(s.split()).upper()
            if head.startswith("CREATE TABLE EVENTS") or (head.startswith("CREATE") and " ON EVENTS(" in head.replace(" (", "(")):
                stmts.append(s)
    if not any("TABLE EVENTS" in " ".join(s.split()).upper() for s in stmts):
        raise RuntimeError("could not find the events table in the store's schema")
    return stmts


def bare_connect(path: str) -> sqlite3.Connection:
    """A connection set up like the store's (WAL, synchronous=NORMAL, same cache), events table only."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute(f"PRAGMA cache_size = {-1024 * 64}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone():
        for s in _events_schema():
            conn.execute(s)
    return conn


INSERT_SQL = ("INSERT INTO events (event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata, "
              "created_at) VALUES (?,?,?,?,?,?,?,?,?)")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bare_import(conn: sqlite3.Connection, jsonl: str, seqs: dict[str, int]) -> int:
    """The baseline importer: orjson (as the store uses), a per-run sequence, executemany in 10k-row
    transactions."""
    created = _now()
    rows: list[tuple] = []
    n = 0
    loads = orjson.loads

    def dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

    def flush() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_SQL, rows)
        conn.execute("COMMIT")
        rows.clear()

    with open(jsonl, "rb") as fh:
        for line in fh:
            d = loads(line)
            run_id = d.get("run_id") or "unassigned"
            seq = seqs.get(run_id, 0) + 1
            seqs[run_id] = seq
            p = d["payload"]
            meta = d.get("metadata")
            rows.append((d["event_id"], run_id, seq, d["event_type"], d["timestamp"], dumps(p),
                         d.get("node_id") or p.get("node_id"), None if meta is None else dumps(meta), created))
            if len(rows) >= BARE_TXN_ROWS:
                n += len(rows)
                flush()
    if rows:
        n += len(rows)
        flush()
    return n


# ----------------------------------------------------------------------------- store import

def store_import(store: SQLiteStore, jsonl: str) -> int:
    """agenttui's own JSONL import path: store/jsonl.py when present, else parse + append batches."""
    if importlib.util.find_spec("agenttui.store.jsonl") is not None:
        from agenttui.store import jsonl as jsonl_mod

        fn = getattr(jsonl_mod, "import_jsonl", None)
        if fn is not None:
            with open(jsonl, "rb") as fh:
                report = fn(store, fh)
            stored = getattr(report, "stored", None)
            if stored is None and isinstance(report, dict):
                stored = report.get("stored")
            if getattr(report, "errors", None) or (isinstance(report, dict) and report.get("errors")):
                raise RuntimeError(f"import reported errors: {str(report)[:500]}")
            return int(stored) if stored is not None else store.count_events()
    n = 0
    batch: list[Event] = []
    with open(jsonl, "rb") as fh:
        for line in fh:
            batch.append(parse_json_line(line))
            if len(batch) >= IMPORT_BATCH:
                n += store.append(batch).stored
                batch = []
    if batch:
        n += store.append(batch).stored
    return n


def import_path_name() -> str:
    if importlib.util.find_spec("agenttui.store.jsonl") is not None:
        from agenttui.store import jsonl as jsonl_mod

        if hasattr(jsonl_mod, "import_jsonl"):
            return "agenttui.store.jsonl.import_jsonl"
    return f"parse_json_line + SQLiteStore.append in batches of {IMPORT_BATCH}"


def _import_round(who: str, db: Path, jsonl: Path) -> tuple[int, float, float]:
    """One whole-file import into a fresh database: (events stored, wall s, CPU s)."""
    _remove_db(db)
    c, t = time.process_time(), time.perf_counter()
    if who == "bare":
        conn = bare_connect(str(db))
        n = bare_import(conn, str(jsonl), {})
        conn.close()
    else:
        store = SQLiteStore(db)
        n = store_import(store, str(jsonl))
        store.close()
    return n, time.perf_counter() - t, time.process_time() - c


def bench_import(workdir: Path, n_events: int, rounds: int) -> tuple[dict[str, Any], Path]:
    """`agenttui import` of a whole file into an empty store vs the bare loop into an empty events
    table, for time-ordered and uuid4 ids, in the same run. Rounds alternate who goes first (load
    on a shared machine drifts); every round starts from a fresh file, so each side imports the
    whole file (the store's bulk load builds its secondary indexes at the end, as it does for any
    import into an empty store). Medians over rounds."""
    out: dict[str, Any] = {}
    store_db = workdir / "store.db"
    for style in ("time", "uuid4"):
        jsonl = workdir / f"events-{style}.jsonl"
        log(f"import[{style}]: writing {n_events:,} events as JSONL ...")
        size = write_jsonl(str(jsonl), n_events, id_style=style)
        runs: dict[str, list[tuple[float, float]]] = {"store": [], "bare": []}
        for r in range(rounds):
            for who in (("bare", "store") if r % 2 == 0 else ("store", "bare")):
                db = (workdir / f"import-{who}.db") if who == "bare" or style == "time" else store_db
                n, wall, cpu = _import_round(who, db, jsonl)
                if n != n_events:
                    raise RuntimeError(f"{who} import stored {n} events, expected {n_events}")
                runs[who].append((wall, cpu))
            log(f"import[{style}] round {r + 1}/{rounds}: store {n_events / runs['store'][-1][0]:,.0f} ev/s, "
                f"bare {n_events / runs['bare'][-1][0]:,.0f} ev/s")
        _remove_db(workdir / "import-bare.db")
        _remove_db(workdir / "import-store.db")
        jsonl.unlink()
        sw = statistics.median(w for w, _ in runs["store"])
        bw = statistics.median(w for w, _ in runs["bare"])
        sc = statistics.median(c for _, c in runs["store"])
        bc = statistics.median(c for _, c in runs["bare"])
        s, b = n_events / sw, n_events / bw
        out[f"{style}_ids"] = figure(
            s, b, unit="events/s", higher_is_better=True, target=">= 1.0x baseline", passed=s >= b,
            round_ratios=[r3(bb[0] / ss[0]) for ss, bb in zip(runs["store"], runs["bare"])], rounds=rounds,
            jsonl_bytes=size, cpu_events_per_s=round(n_events / sc), cpu_baseline=round(n_events / bc),
            cpu_ratio=r3(bc / sc), path=import_path_name(),
            baseline_path="orjson.loads + orjson.dumps(payload) + executemany, 10k-row transactions, "
                          "events table and its indexes only, same PRAGMAs as the store, same file system")
    return out, store_db


# ---------------------------------------------------------------------------- batched append

def _make_batches(n_events: int, seed: int) -> list[list[dict[str, Any]]]:
    envs = list(workload(n_events, seed=seed, big_run_share=0.0, id_style="time"))
    return [envs[i:i + APPEND_BATCH] for i in range(0, len(envs), APPEND_BATCH)]


def _events_of(batch: list[dict[str, Any]], event_class: Any = Event) -> list[Event]:
    return [event_class(event_type=d["event_type"], payload=d["payload"], run_id=d["run_id"] or "unassigned",
                        event_id=d["event_id"], timestamp=d["timestamp"]) for d in batch]


def load_store_at(revision: str, workdir: Path) -> Any:
    """The store package (store/) as it was at a git revision, importable beside the current one
    (as agenttui_store_at_revision), for --compare: the old and the new store in the same run."""
    import subprocess
    import tarfile

    root = Path(__file__).resolve().parent.parent
    dest = workdir / "compare"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", revision, "store"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(dest)
    name = "agenttui_store_at_revision"
    spec = importlib.util.spec_from_file_location(name, dest / "store" / "__init__.py",
                                                  submodule_search_locations=[str(dest / "store")])
    if spec is None or spec.loader is None:
        raise RuntimeError(f"no store package at {revision}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def bare_append_batches(conn: sqlite3.Connection, batches: Iterable[list[Event]], seqs: dict[str, int]) -> int:
    created = _now()

    def dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

    n = 0
    for batch in batches:
        rows = []
        for e in batch:
            seq = seqs.get(e.run_id, 0) + 1
            seqs[e.run_id] = seq
            rows.append((e.event_id, e.run_id, seq, e.event_type, e.timestamp, dumps(e.payload), e.node_id,
                         None if e.metadata is None else dumps(e.metadata), created))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_SQL, rows)
        conn.execute("COMMIT")
        n += len(rows)
    return n


def bench_append(workdir: Path, n_events: int, rounds: int, compare: Any = None,
                 revision: str | None = None) -> dict[str, Any]:
    """store.append vs bare executemany, batch by batch, taking turns in `rounds` rounds. compare: a
    store package from another revision (load_store_at), a third contender in the same turns."""
    log(f"append: {n_events:,} events in batches of {APPEND_BATCH}, time-ordered ids, {rounds} rounds")
    batches = _make_batches(n_events, seed=100)
    per_round = -(-len(batches) // rounds)
    store_db, bare_db = workdir / "append-store.db", workdir / "append-bare.db"
    stores = {"store": (SQLiteStore(store_db), Event)}
    if compare is not None:
        stores["compare"] = (compare.SQLiteStore(workdir / "append-compare.db"), compare.Event)
    conn = bare_connect(str(bare_db))
    seqs: dict[str, int] = {}
    sides = ["bare", *stores]
    times: dict[str, list[float]] = {k: [] for k in sides}
    cpu = dict.fromkeys(sides, 0.0)
    counts = dict.fromkeys(sides, 0)
    for i in range(rounds):
        chunk = batches[i * per_round:(i + 1) * per_round]
        if not chunk:
            break
        for who in sides[i % len(sides):] + sides[:i % len(sides)]:  # who goes first rotates
            # fresh objects: the store sets position/seq on them
            events = [_events_of(b, stores[who][1] if who in stores else Event) for b in chunk]
            c, t = time.process_time(), time.perf_counter()
            if who == "bare":
                n = bare_append_batches(conn, events, seqs)
            else:
                n = 0
                for b in events:
                    n += stores[who][0].append(b).stored
            times[who].append(time.perf_counter() - t)
            cpu[who] += time.process_time() - c
            counts[who] += n
    for st, _ in stores.values():
        st.close()
    conn.close()
    for db in (store_db, bare_db, workdir / "append-compare.db"):
        _remove_db(db)
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"the appenders stored different numbers of events: {counts}")
    n = counts["store"]
    s, b = n / sum(times["store"]), n / sum(times["bare"])
    round_ratios = [tb / ts for ts, tb in zip(times["store"], times["bare"])]
    log(f"append: store {s:,.0f} ev/s, bare {b:,.0f} ev/s")
    extra: dict[str, Any] = {}
    if compare is not None:
        o = n / sum(times["compare"])
        log(f"append: the store at {revision} {o:,.0f} ev/s")
        extra["vs_compare"] = {
            "revision": revision, "compare_events_per_s": r3(o), "ratio": r3(s / o),
            "median_round_ratio": r3(statistics.median(tc / ts for ts, tc in zip(times["store"], times["compare"]))),
            "compare_vs_baseline": r3(o / b), "cpu_ratio": r3(cpu["compare"] / cpu["store"]),
            "cpu_us_per_event": r3(cpu["store"] / n * 1e6), "compare_cpu_us_per_event": r3(cpu["compare"] / n * 1e6)}
    return {**extra,
        "throughput": figure(s, b, unit="events/s", higher_is_better=True, target=">= 40000 events/s",
                             passed=s >= 40_000, cpu_events_per_s=round(n / cpu["store"]),
                             cpu_baseline=round(n / cpu["bare"]), cpu_ratio=r3(cpu["bare"] / cpu["store"])),
        "vs_baseline": {"ratio": r3(s / b), "target": ">= 0.9x baseline", "pass": s / b >= 0.9,
                        "median_round_ratio": r3(statistics.median(round_ratios)),
                        "round_ratios": [r3(x) for x in round_ratios]},
        "events": n, "batch": APPEND_BATCH, "rounds": rounds,
        "baseline_path": "orjson.dumps(payload) + executemany per batch of 100, one transaction each",
    }


def bench_hash_chain(workdir: Path, n_events: int, rounds: int) -> dict[str, Any]:
    """store.append with the chain hash vs with a constant in its place, rounds taking turns."""
    import agenttui.store.sqlite as sqlite_backend

    log(f"hash_chain: {n_events:,} events in batches of {APPEND_BATCH}, {rounds} rounds")
    batches = _make_batches(n_events, seed=400)
    per_round = -(-len(batches) // rounds)
    real_hash = sqlite_backend.chained_hash
    constant = bytes(32)
    stores = {"chained": SQLiteStore(workdir / "chain-on.db"), "constant": SQLiteStore(workdir / "chain-off.db")}
    times: dict[str, list[float]] = {"chained": [], "constant": []}
    counts = {"chained": 0, "constant": 0}
    try:
        for i in range(rounds):
            chunk = batches[i * per_round:(i + 1) * per_round]
            if not chunk:
                break
            for who in (("constant", "chained") if i % 2 == 0 else ("chained", "constant")):
                sqlite_backend.chained_hash = real_hash if who == "chained" else (lambda *a: constant)
                events = [_events_of(b) for b in chunk]
                t = time.perf_counter()
                for b in events:
                    counts[who] += stores[who].append(b).stored
                times[who].append(time.perf_counter() - t)
    finally:
        sqlite_backend.chained_hash = real_hash
        for name, st in stores.items():
            st.close()
            _remove_db(workdir / f"chain-{'on' if name == 'chained' else 'off'}.db")
    with_hash, without = counts["chained"] / sum(times["chained"]), counts["constant"] / sum(times["constant"])
    round_ratios = [tc / th for th, tc in zip(times["chained"], times["constant"])]
    log(f"hash_chain: {with_hash:,.0f} ev/s with the chain, {without:,.0f} ev/s without")
    return {
        "throughput": figure(with_hash, without, unit="events/s", higher_is_better=True, target=None, passed=None),
        "cost_share": r3(1 - with_hash / without),
        "median_round_ratio": r3(statistics.median(round_ratios)),
        "hash_us_per_event": r3((sum(times["chained"]) - sum(times["constant"])) / counts["chained"] * 1e6),
        "events": counts["chained"], "batch": APPEND_BATCH, "rounds": rounds,
        "baseline_path": "the same store.append with chained_hash replaced by a constant "
                         "(no SHA-256, no JSON of the row)",
    }


# ------------------------------------------------------------------------- one-event append

def bench_append_one(workdir: Path, n_calls: int, prefill: int) -> dict[str, Any]:
    """Latency of appending one event with its own durable commit, on a store already holding data."""
    log(f"append_one: {n_calls:,} single-event appends (after {prefill:,} prefilled events)")
    envs = list(workload(prefill + n_calls, seed=300, big_run_share=0.0, id_style="time"))
    pre, timed = envs[:prefill], envs[prefill:]
    results: dict[str, list[float]] = {}
    for who in ("bare", "store"):
        db = workdir / f"one-{who}.db"
        singles = _events_of(timed)
        lat: list[float] = []
        lat_cpu: list[float] = []
        if who == "bare":
            conn = bare_connect(str(db))
            seqs: dict[str, int] = {}
            bare_append_batches(conn, [_events_of(pre[i:i + 1000]) for i in range(0, len(pre), 1000)], seqs)
            for e in singles:
                c, t = time.process_time(), time.perf_counter()
                bare_append_batches(conn, [[e]], seqs)
                lat.append(time.perf_counter() - t)
                lat_cpu.append(time.process_time() - c)
            conn.close()
        else:
            store = SQLiteStore(db)
            for i in range(0, len(pre), 1000):
                store.append(_events_of(pre[i:i + 1000]))
            for e in singles:
                c, t = time.process_time(), time.perf_counter()
                store.append(e)
                lat.append(time.perf_counter() - t)
                lat_cpu.append(time.process_time() - c)
            store.close()
        results[who] = [x * 1000 for x in lat]
        results[who + "_cpu"] = [x * 1000 for x in lat_cpu]
        log(f"append_one: {who:5s} p50 {pct(results[who], 50):.3f} ms, p95 {pct(results[who], 95):.3f} ms")
        _remove_db(db)
    s, b = results["store"], results["bare"]
    return {
        "p50_ms": figure(pct(s, 50), pct(b, 50), unit="ms", higher_is_better=False),
        "p95_ms": figure(pct(s, 95), pct(b, 95), unit="ms", higher_is_better=False, target="p95 <= 1 ms",
                         passed=pct(s, 95) <= 1.0, cpu_p95_ms=r3(pct(results["store_cpu"], 95)),
                         cpu_baseline_p95_ms=r3(pct(results["bare_cpu"], 95))),
        "p99_ms": figure(pct(s, 99), pct(b, 99), unit="ms", higher_is_better=False),
        "calls": n_calls, "prefilled_events": prefill, "synchronous": "NORMAL",
    }


# ---------------------------------------------------------------------------------- queries

def _time_calls(fn: Callable[[Any], Any], params: Sequence[Any]) -> list[float]:
    fn(params[0])  # warm the statement cache and the pages it touches
    out = []
    for p in params:
        t = time.perf_counter()
        fn(p)
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench_queries(db: Path, repeats: int, scan_repeats: int) -> tuple[dict[str, Any], dict[str, Any]]:
    store = SQLiteStore(db, readonly=True)
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    raw.execute(f"PRAGMA cache_size = {-1024 * 64}")
    rng = random.Random(42)
    big_run, first_pos, last_pos, n_big = raw.execute(
        "SELECT run_id, first_position, last_position, event_count FROM runs ORDER BY event_count DESC LIMIT 1"
    ).fetchone()
    max_pos = raw.execute("SELECT max(id) FROM events").fetchone()[0]
    node_ids = [r[0] for r in raw.execute("SELECT node_id FROM nodes WHERE run_id = ?", (big_run,))]
    types = [r[0] for r in raw.execute("SELECT DISTINCT event_type FROM events WHERE run_id = ?", (big_run,))]
    ev_ids = [raw.execute("SELECT event_id FROM events WHERE id = ?", (rng.randrange(1, max_pos + 1),)).fetchone()[0]
              for _ in range(repeats)]

    def ts_at(pos: int) -> str:
        return raw.execute("SELECT timestamp FROM events WHERE id >= ? ORDER BY id LIMIT 1", (pos,)).fetchone()[0]

    def rpos(lo: int = 1, hi: int = max_pos) -> int:
        return rng.randrange(lo, hi + 1)

    page = 100
    cols = EVENT_COLUMNS
    q = lambda sql, p: raw.execute(sql, p).fetchall()  # noqa: E731
    windows = []
    for _ in range(repeats):
        a = rpos(first_pos, last_pos)
        since = ts_at(a)
        until = ts_at(min(a + 2000, last_pos))
        windows.append((since, until))

    cases: list[tuple[str, Sequence[Any], Callable[[Any], Any], Callable[[Any], Any], str]] = [
        ("run", [rpos(first_pos, last_pos) for _ in range(repeats)],
         lambda p: store.events(run_id=big_run, after=p, limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?", (big_run, p, page)),
         "events(run_id=big run, after=random position, limit=100)"),
        ("types", [(rng.sample(types, 2), rpos()) for _ in range(repeats)],
         lambda p: store.events(types=p[0], after=p[1], limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE event_type IN (?,?) AND id > ? ORDER BY id LIMIT ?",
                     (*p[0], p[1], page)),
         "events(types=[2 random types], after=random position, limit=100)"),
        ("run_and_type", [(rng.choice(types), rpos(first_pos, last_pos)) for _ in range(repeats)],
         lambda p: store.events(run_id=big_run, types=[p[0]], after=p[1], limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE run_id = ? AND event_type IN (?) AND id > ? ORDER BY id LIMIT ?",
                     (big_run, p[0], p[1], page)),
         "events(run_id=big run, types=[random type], after=random position, limit=100)"),
        ("node", [rng.choice(node_ids) for _ in range(repeats)],
         lambda p: store.events(node_id=p, limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE node_id = ? ORDER BY id LIMIT ?", (p, page)),
         "events(node_id=random node of the big run, limit=100)"),
        ("time_range", windows,
         lambda p: store.events(since=p[0], until=p[1], limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE timestamp >= ? AND timestamp <= ? ORDER BY id LIMIT ?",
                     (p[0], p[1], page)),
         "events(since, until = a window of ~2000 events of the big run, limit=100)"),
        ("search_common", [COMMON_TERM] * scan_repeats,
         lambda p: store.events(search=p, limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE payload LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
                     (f"%{p}%", page)),
         f"events(search={COMMON_TERM!r}, limit=100): a term in many payloads"),
        ("search_rare", [RARE_TERM] * scan_repeats,
         lambda p: store.events(search=p, limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE payload LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
                     (f"%{p}%", page)),
         f"events(search={RARE_TERM!r}, limit=100): a term in a handful of payloads (full scan)"),
        ("page_forward", [rpos() for _ in range(repeats)],
         lambda p: store.events(after=p, limit=page),
         lambda p: q(f"SELECT {cols} FROM events WHERE id > ? ORDER BY id LIMIT ?", (p, page)),
         "events(after=random position, limit=100)"),
        ("page_backward", [rpos() for _ in range(repeats)],
         lambda p: store.events(before=p, limit=page, order="desc"),
         lambda p: q(f"SELECT {cols} FROM events WHERE id < ? ORDER BY id DESC LIMIT ?", (p, page)),
         "events(before=random position, order='desc', limit=100)"),
        ("count_by_type", [big_run] * scan_repeats,
         lambda p: store.count_by_type(run_id=p),
         lambda p: q("SELECT event_type, count(*) FROM events WHERE run_id = ? GROUP BY event_type", (p,)),
         "count_by_type(run_id=big run)"),
        ("count_by_type_all", [None] * scan_repeats,
         lambda p: store.count_by_type(),
         lambda p: q("SELECT event_type, count(*) FROM events GROUP BY event_type", ()),
         "count_by_type() over every event"),
        ("get_event", ev_ids,
         lambda p: store.get_event(p),
         lambda p: q(f"SELECT {cols} FROM events WHERE event_id = ?", (p,)),
         "get_event(random event_id)"),
        ("runs", [None] * repeats,
         lambda p: store.runs(),
         lambda p: q("SELECT * FROM runs ORDER BY start_time DESC", ()),
         "runs()"),
        ("node_tree", [big_run] * scan_repeats,
         lambda p: store.node_tree(p),
         lambda p: (q("SELECT * FROM nodes WHERE run_id = ?", (p,)), q("SELECT * FROM edges WHERE run_id = ?", (p,))),
         f"node_tree(big run: {len(node_ids):,} nodes) as a networkx DiGraph"),
    ]
    out: dict[str, Any] = {}
    for name, params, store_fn, bare_fn, what in cases:
        s = _time_calls(store_fn, params)
        b = _time_calls(bare_fn, params)
        out[name] = figure(pct(s, 95), pct(b, 95), unit="ms (p95)", higher_is_better=False,
                           p50=r3(pct(s, 50)), baseline_p50=r3(pct(b, 50)), calls=len(params), query=what)
        log(f"queries: {name:18s} p95 {pct(s, 95):8.2f} ms   bare {pct(b, 95):8.2f} ms")
    ctx = {"db_events": max_pos, "big_run": big_run, "big_run_events": n_big,
           "big_run_nodes": len(node_ids), "first_position": first_pos, "last_position": last_pos}
    store.close()
    raw.close()
    return out, ctx


def bench_state_at(db: Path, ctx: dict[str, Any], repeats: int, fold_repeats: int) -> dict[str, Any]:
    store = SQLiteStore(db, readonly=True)
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    rng = random.Random(7)
    run = ctx["big_run"]
    positions = [rng.randrange(ctx["first_position"], ctx["last_position"] + 1) for _ in range(repeats)]

    def fold_from_zero(pos: int) -> RunState:
        state = RunState(run)
        last = 0
        while True:
            rows = raw.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? AND id <= ? "
                               "ORDER BY seq LIMIT 20000", (run, last, pos)).fetchall()
            if not rows:
                return state
            last = rows[-1][3]
            for r in rows:
                e = row_to_event(r)
                if e.node_id == "":
                    e.node_id = None
                state.apply(e)

    # the answers must agree, or the timing compares different work
    check = positions[0]
    if store.state_at(run, check).comparable() != fold_from_zero(check).comparable():
        raise RuntimeError(f"state_at({check}) differs from a fold from zero")
    s = _time_calls(lambda p: store.state_at(run, p), positions)
    b = _time_calls(fold_from_zero, positions[:fold_repeats])
    snaps = raw.execute("SELECT count(*) FROM snapshots WHERE run_id = ?", (run,)).fetchone()[0]
    log(f"state_at: p95 {pct(s, 95):.1f} ms (p50 {pct(s, 50):.1f}), fold from zero p95 {pct(b, 95):.1f} ms")
    store.close()
    raw.close()
    return figure(pct(s, 95), pct(b, 95), unit="ms (p95)", higher_is_better=False, p50=r3(pct(s, 50)),
                  baseline_p50=r3(pct(b, 50)), calls=len(positions), baseline_calls=fold_repeats,
                  snapshots_of_run=snaps, run_events=ctx["big_run_events"],
                  baseline_what="RunState folded from the run's first event up to the position")


# ------------------------------------------------------------------------------------- main

def _remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(str(db) + suffix)
        except FileNotFoundError:
            pass


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "cpus": os.cpu_count(),
            "platform": platform.platform(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=None, help="events to import (default 1,000,000; --quick 100,000)")
    ap.add_argument("--quick", action="store_true", help="a smaller run (under 2 minutes) for a quick check")
    ap.add_argument("--rounds", type=int, default=None,
                    help="whole-file imports per side and id style, alternating who goes first "
                         "(default 1; --quick 3)")
    ap.add_argument("--only", action="append",
                    choices=["import", "append", "append_one", "queries", "state_at", "hash_chain"],
                    help="run only these sections (queries and state_at need import)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (path printed on stderr)")
    ap.add_argument("--compare", metavar="REVISION",
                    help="append: also the store/ package of this git revision, taking turns with the current "
                         "one and the bare loop (an A/B of a change in the same run)")
    args = ap.parse_args(argv)
    n = args.events or (100_000 if args.quick else 1_000_000)
    if n < 1000:
        ap.error("--events must be at least 1000")
    only = set(args.only or ["import", "append", "append_one", "queries", "state_at", "hash_chain"])
    if only & {"queries", "state_at"}:
        only.add("import")
    workdir = Path(tempfile.mkdtemp(prefix="agenttui-bench-", dir="/tmp"))
    log(f"working in {workdir}")
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "benchmark": "agenttui store", "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": "quick" if args.quick else "full", "events": n, "machine": _machine(),
        "notes": "values are medians over runs (throughput) or percentiles over calls (latency); "
                 "ratio = value / baseline, measured seconds apart in the same process",
    }
    try:
        if "import" in only:
            doc["import"], store_db = bench_import(workdir, n, args.rounds or (3 if args.quick else 1))
        if "append" in only:
            compare = load_store_at(args.compare, workdir) if args.compare else None
            doc["append_batch100"] = bench_append(workdir, 30_000 if args.quick else 200_000, 10, compare,
                                                  args.compare)
        if "hash_chain" in only:
            doc["hash_chain"] = bench_hash_chain(workdir, 30_000 if args.quick else 200_000, 10)
        if "append_one" in only:
            doc["append_one"] = bench_append_one(workdir, 2_000 if args.quick else 5_000,
                                                 10_000 if args.quick else 50_000)
        if "queries" in only:
            doc["queries"], ctx = bench_queries(store_db, 30 if args.quick else 50, 5 if args.quick else 9)
            doc["dataset"] = ctx
        if "state_at" in only:
            doc["state_at"] = bench_state_at(store_db, ctx, 20 if args.quick else 30, 3 if args.quick else 5)
        doc["summary"] = _summary(doc)
    finally:
        doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        doc["seconds"] = round(time.perf_counter() - started, 1)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(doc, indent=2))
    return 0


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Every figure that has a target, with pass/fail, in one place."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            if "pass" in node:
                out[prefix] = {"pass": node["pass"], "target": node.get("target"),
                               "value": node.get("value", node.get("ratio"))}
            for k, v in node.items():
                if isinstance(v, dict):
                    walk(f"{prefix}.{k}" if prefix else k, v)

    for key in ("import", "append_batch100", "append_one", "queries", "state_at"):
        if key in doc:
            walk(key, doc[key])
    out["all_pass"] = all(v["pass"] for v in out.values() if isinstance(v, dict))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
