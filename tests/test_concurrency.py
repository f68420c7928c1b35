"""Several writer processes on one file: nothing lost, nothing doubled, every loser told so.

The lockstep phase makes contention certain (all writers hold the same expected version, exactly one
can win each round); the free phase is a realistic read-retry loop. A reader follows the log meanwhile.
"""
from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import orjson

from agenttui.store import SQLiteStore

from store_fixtures import contended_writer, ev, raw_rows

WRITERS = 4
ROUNDS = 12
FREE_BATCHES = 15


def _follow(path: str, stop: threading.Event, seen: list[int]) -> None:
    """What `agenttui tail --follow` does: read everything after the last position seen."""
    reader = SQLiteStore(path, readonly=True)
    last = 0
    while True:
        done = stop.is_set()  # read once more after the writers finished, then stop
        for e in reader.read_after(last, limit=50):
            seen.append(e.position)
            last = e.position
        if done:
            break
        stop.wait(0.005)
    reader.close()


def test_writer_processes_lose_nothing_and_duplicate_nothing(tmp_path):
    path = str(tmp_path / "contended.db")
    SQLiteStore(path).close()  # schema in place before anyone races
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    stop = threading.Event()
    seen: list[int] = []
    follower = threading.Thread(target=_follow, args=(path, stop, seen), daemon=True)
    follower.start()

    procs = [ctx.Process(target=contended_writer, args=(path, w, ROUNDS, FREE_BATCHES, barrier, results))
             for w in range(WRITERS)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    stop.set()
    follower.join(timeout=30)

    assert [r["unexpected"] for r in reports] == [[]] * WRITERS
    # lockstep: exactly one winner per round, every other attempt got ConcurrencyError
    assert sum(r["lockstep_wins"] for r in reports) == ROUNDS
    assert sum(r["lockstep_conflicts"] for r in reports) == ROUNDS * (WRITERS - 1)
    # nobody else writes a writer's own run, so those never conflict
    assert sum(r["own_run_conflicts"] for r in reports) == 0
    free_conflicts = sum(r["free_conflicts"] for r in reports)
    print(f"free-running phase: {free_conflicts} ConcurrencyErrors retried")

    store = SQLiteStore(path)
    stored_ids = [r[0] for r in raw_rows(store, "SELECT event_id FROM events ORDER BY id")]
    reported = [i for r in reports for i in r["stored"]]
    assert sorted(stored_ids) == sorted(reported)  # nothing lost, nothing a loser thought it wrote
    assert len(set(stored_ids)) == len(stored_ids)

    shared = raw_rows(store, "SELECT seq, event_id FROM events WHERE run_id = 'shared' ORDER BY seq")
    per_batch = sum(1 + b % 3 for b in range(FREE_BATCHES))
    assert len(shared) == 2 * ROUNDS + WRITERS * per_batch
    assert [s for s, _ in shared] == list(range(1, len(shared) + 1))
    for w in range(WRITERS):
        own = raw_rows(store, "SELECT seq FROM events WHERE run_id = ? ORDER BY seq", (f"own-{w}",))
        assert [s for (s,) in own] == list(range(1, FREE_BATCHES + 1))
    # a batch is never interleaved with another writer's events
    tags = [eid.rsplit("-", 1)[0] for _, eid in shared]
    runs_of_tags = [t for i, t in enumerate(tags) if i == 0 or tags[i - 1] != t]
    assert len(runs_of_tags) == len(set(runs_of_tags))

    positions = [r[0] for r in raw_rows(store, "SELECT id FROM events ORDER BY id")]
    assert positions == list(range(1, len(positions) + 1))
    assert store.run("shared")["event_count"] == len(shared) == store.run("shared")["last_seq"]
    assert store.check() == []

    # the follower saw every event exactly once, in position order
    assert seen == positions
    assert not [p for p, n in Counter(seen).items() if n > 1]
    store.close()


def test_threads_sharing_one_store_serialise_cleanly(tmp_path):
    """The store is thread-safe: one connection behind a lock, no lost or doubled events."""
    from store_fixtures import ev

    store = SQLiteStore(tmp_path / "threads.db")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(30):
                store.append([ev("x", run_id=f"t{t % 2}", event_id=f"t{t}-{i}-{k}") for k in range(2)])
                store.events(run_id=f"t{t % 2}", limit=5, order="desc")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert store.count_events() == 4 * 30 * 2
    for run in ("t0", "t1"):
        seqs = [e.seq for e in store.timeline(run)]
        assert seqs == list(range(1, 121))
    assert store.check() == []


def test_processes_creating_the_same_new_file_at_once_all_succeed(tmp_path):
    """Writers started together on a missing file: one creates the schema, none mistakes it for foreign."""
    from store_fixtures import open_and_append

    ctx = multiprocessing.get_context("spawn")
    for attempt in range(2):
        path = str(tmp_path / f"fresh{attempt}.db")
        barrier = ctx.Barrier(WRITERS)
        results = ctx.Queue()
        procs = [ctx.Process(target=open_and_append, args=(path, w, barrier, results)) for w in range(WRITERS)]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        assert outcomes == [(w, None) for w in range(WRITERS)]
        store = SQLiteStore(path)
        assert store.count_events() == WRITERS and store.check() == []
        store.close()


def test_ten_writer_processes_at_once_all_finish_and_nobody_sees_locked(tmp_path):
    """Importers holding 10,000-row transactions, batch writers and per-event writers, all at once
    on one file: every process exits 0, no message mentions a lock, every event is stored once."""
    import os
    import subprocess
    import sys

    path = str(tmp_path / "ten.db")
    tests_dir = os.path.dirname(__file__)
    lines_per_import = 12_000
    writers: list[tuple[list[str], int]] = []
    for k in range(3):
        src = tmp_path / f"import{k}.jsonl"
        with open(src, "wb") as f:
            for i in range(lines_per_import):
                f.write(orjson.dumps(ev("step_started", f"imp{k}", event_id=f"imp{k}-{i}", step=i)) + b"\n")
        writers.append(([sys.executable, "-m", "agenttui", "import", path, str(src)], lines_per_import))
    for worker, (mode, count) in enumerate([("batch", 1200)] * 4 + [("single", 60)] * 3):
        code = (f"import sys; sys.path.insert(0, {tests_dir!r}); from store_fixtures import eager_writer; "
                f"eager_writer({path!r}, {worker}, {mode!r}, {count})")
        writers.append(([sys.executable, "-c", code], count))
    assert len(writers) == 10
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for cmd, _ in writers]
    outcomes = [(p.wait(timeout=600), p.stderr.read().decode()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _ in outcomes] == [0] * 10, outcomes
    assert not any("locked" in err.lower() for _, err in outcomes), outcomes
    with SQLiteStore(path) as store:
        assert store.count_events() == sum(n for _, n in writers)
        assert store.check() == []


def test_a_writer_that_waited_too_long_gives_up_clearly_and_stores_nothing(tmp_path):
    import sqlite3

    from agenttui.store import StoreLockedError

    path = str(tmp_path / "held.db")
    SQLiteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program keeps the write lock
    store = SQLiteStore(path, busy_timeout_ms=20, lock_timeout=0.5)
    try:
        try:
            store.append(ev("run_started", "held"))
        except StoreLockedError as exc:
            assert "locked for" in str(exc) and "stored nothing" in str(exc) and path in str(exc)
        else:
            raise AssertionError("append went through a held write lock")
        holder.execute("ROLLBACK")
        assert store.count_events() == 0
        assert store.append(ev("run_started", "held")).stored == 1  # the lock is free: it works again
    finally:
        holder.close()
        store.close()
