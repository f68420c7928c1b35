"""Kill-9 harness: run a writer in a child process, SIGKILL it at a seeded random moment, audit the file.

Children come from a forkserver that has already imported agenttui, so each writer starts in
milliseconds instead of the ~0.5 s an interpreter start costs: that is what lets 50+ kills fit in
well under a minute on two cores. A child is still a separate process with its own SQLite
connection, killed by the kernel exactly as `kill -9` would kill `agenttui import`.

Each child replaces `SQLiteStore.append` with a witness that does two things around the real call:
- stamps every event it is about to store with a batch marker (`metadata.crash_batch`, and the
  number of events the batch stores in `metadata.crash_batch_size`), so a batch that became
  partially visible shows up as a group with fewer members than its size says;
- after the call returns (the transaction has committed), appends the stored event ids to the
  witness file with one write(2). The kernel keeps that line even if the process dies a
  microsecond later, so every id in the file was committed before the kill.

`audit` then checks the database: integrity_check, the witness ids all present, every batch
complete, the projections equal to a fresh fold (what `agenttui rebuild --check` runs), and
positions and per-run sequences gapless (so the next writer continued exactly where the last
commit ended).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import orjson

MARK = "crash_batch"
MARK_SIZE = "crash_batch_size"
#: Modules the forkserver imports once, so that forked writers start without import cost.
PRELOAD = ["agenttui.cli", "agenttui.store", "agenttui.recording.recorder", "agenttui.serve.app",
           "agenttui.serve.bridge", "redis.asyncio", "crash_harness"]

_context: Any = None


def context() -> Any:
    """The forkserver context (created once per test session, with agenttui preloaded)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


# ------------------------------------------------------------------------------ inside the child

def install_witness(witness_path: str) -> None:
    """Wrap SQLiteStore.append in this (child) process: mark batches, log what committed."""
    from agenttui.store import Event
    from agenttui.store.sqlite import SQLiteStore

    real_append = SQLiteStore.append
    fd = os.open(witness_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def witnessed_append(self: SQLiteStore, events: Any, **kwargs: Any) -> Any:
        batch = [events] if isinstance(events, (Event, Mapping)) else list(events)
        ids = [e.event_id if isinstance(e, Event) else e.get("event_id") for e in batch]
        known = {i for i in ids if i}
        if known:
            stored_before = {r[0] for r in self._query(
                f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(known))})", list(known))}
        else:
            stored_before = set()
        seen: set[str] = set()
        fresh = []
        for i, eid in enumerate(ids):
            if eid and (eid in stored_before or eid in seen):
                continue
            if eid:
                seen.add(eid)
            fresh.append(i)
        marker = {MARK: uuid.uuid4().hex, MARK_SIZE: len(fresh)}
        for i in fresh:
            e = batch[i]
            if isinstance(e, Event):
                e.metadata = {**(e.metadata or {}), **marker}
            else:
                batch[i] = {**e, "metadata": {**(e.get("metadata") or {}), **marker}}
        result = real_append(self, batch, **kwargs)
        stored = [batch[i].event_id if isinstance(batch[i], Event) else batch[i]["event_id"] for i in fresh]
        os.write(fd, orjson.dumps({"batch": marker[MARK], "ids": stored}) + b"\n")
        return result

    SQLiteStore.append = witnessed_append  # type: ignore[method-assign]


def _quiet(log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


def run_cli(witness_path: str, log_path: str, argv: Sequence[str]) -> None:
    """A child running `agenttui ARGV` (import, serve) through the real command-line entry point."""
    _quiet(log_path)
    install_witness(witness_path)
    from agenttui.cli import main

    code = main(list(argv))
    sys.stdout.flush()
    os._exit(code)


def run_import(witness_path: str, log_path: str, argv: Sequence[str], batch_size: int) -> None:
    """`agenttui import` with small batches, so a short file still spans many transactions."""
    import functools

    import agenttui.store.jsonl as jsonl

    jsonl.import_jsonl = functools.partial(jsonl.import_jsonl, batch_size=batch_size)
    run_cli(witness_path, log_path, argv)


def run_recorder(witness_path: str, log_path: str, db: str, run_id: str, seed: int) -> None:
    """An agent recording through the Recorder (background flusher) until it is killed."""
    import random

    _quiet(log_path)
    install_witness(witness_path)
    from agenttui import Recorder

    rng = random.Random(seed)
    run = Recorder(db, task="crash test agent", run_id=run_id, flush_interval=0.002).start()
    double = run.instrument(lambda x: x * 2, name="double")
    i = 0
    while True:
        with run.node(f"step {seed}.{i}", task_type="REASONING"):
            with run.llm_call("model-x", prompt=f"think {i}") as call:
                call.complete(f"answer {i}", prompt_tokens=3, completion_tokens=5)
            double(i)
            if rng.random() < 0.2:
                run.decision("branch", context={"i": i}, reasoning="coin", chosen_action="go")
        i += 1
        if i % 25 == 0:
            time.sleep(0.001)


# ------------------------------------------------------------------------------ in the test process

@dataclass
class KillLog:
    """What a series of trials did: kills that landed in a live writer, and writers that finished first."""

    kills: int = 0
    finished: int = 0
    delays: list[float] = field(default_factory=list)


def witnessed_ids(witness_path: Path) -> list[str]:
    """Every id the killed writers reported committed (a torn last line cannot occur: one write(2))."""
    if not witness_path.exists():
        return []
    out: list[str] = []
    for line in witness_path.read_bytes().splitlines():
        out.extend(orjson.loads(line)["ids"])
    return out


def witness_lines(witness_path: Path) -> int:
    try:
        return witness_path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_after(proc: Any, witness_path: Path, delay: float, *, started_lines: int,
               ready_timeout: float = 30.0) -> bool:
    """Wait until the writer has committed once in this trial, let it run `delay` s more, SIGKILL it.

    Returns True if the signal hit a live writer, False if it had already exited on its own.
    """
    deadline = time.monotonic() + ready_timeout
    while witness_lines(witness_path) <= started_lines and proc.is_alive():
        if time.monotonic() > deadline:
            raise AssertionError(f"writer made no commit within {ready_timeout:g}s (guards a hang only)")
        time.sleep(0.002)
    time.sleep(delay)
    alive = proc.is_alive()
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode is not None, "the writer did not die"
    if alive and proc.exitcode != -signal.SIGKILL:
        alive = False  # it finished between the check and the signal
    return alive


def audit(db: Path, witness_path: Path, *, what: str) -> dict[str, int]:
    """Every promise a crash must keep, checked on the file as the killed writer left it.

    Returns per-run last seq, for the caller to check that the next writer continues from there.
    """
    from agenttui.store import SQLiteStore

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"{what}: integrity_check"
        rows = conn.execute("SELECT id, event_id, run_id, seq, metadata FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    stored = {r[1] for r in rows}
    missing = [i for i in witnessed_ids(witness_path) if i not in stored]
    assert not missing, f"{what}: {len(missing)} committed events lost, e.g. {missing[:3]}"
    sizes: dict[str, int] = {}
    members: Counter[str] = Counter()
    for _, event_id, _, _, meta in rows:
        m = orjson.loads(meta) if meta else {}
        assert MARK in m, f"{what}: event {event_id} was stored without passing the witness"
        members[m[MARK]] += 1
        sizes[m[MARK]] = m[MARK_SIZE]
    partial = {b: (members[b], sizes[b]) for b in members if members[b] != sizes[b]}
    assert not partial, f"{what}: partially visible batches (stored, size): {list(partial.values())[:3]}"
    positions = [r[0] for r in rows]
    assert positions == list(range(1, len(rows) + 1)), f"{what}: positions have a gap"
    seqs: dict[str, list[int]] = {}
    for _, _, run_id, seq, _ in rows:
        seqs.setdefault(run_id, []).append(seq)
    for run_id, s in seqs.items():
        assert sorted(s) == list(range(1, len(s) + 1)), f"{what}: run {run_id} has a seq gap or duplicate"
        assert s == sorted(s), f"{what}: run {run_id} seqs not in position order"
    with SQLiteStore(db) as store:  # a writer open: recovers the WAL like the next writer would
        problems = store.check()
    assert problems == [], f"{what}: rebuild --check finds {problems[:3]}"
    return {run_id: len(s) for run_id, s in seqs.items()}


def continued(before: Mapping[str, int], db: Path, *, what: str) -> None:
    """The first event a new writer stored in a run follows that run's last committed seq."""
    conn = sqlite3.connect(db)
    try:
        for run_id, last in before.items():
            row = conn.execute("SELECT seq FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT 1",
                               (run_id, last)).fetchone()
            assert row is None or row[0] == last + 1, f"{what}: run {run_id} jumped from {last} to {row[0]}"
    finally:
        conn.close()


def trials(n_kills: int, *, seed: int, max_delay: float, start: Callable[[int], Any], witness_path: Path,
           db: Path, what: str, max_trials: int | None = None) -> KillLog:
    """Start writers one after another and SIGKILL each at a seeded random moment, auditing after each."""
    import random

    rng = random.Random(seed)
    log = KillLog()
    before: dict[str, int] = {}
    trial = 0
    limit = max_trials if max_trials is not None else n_kills * 3
    while log.kills < n_kills:
        assert trial < limit, f"{what}: only {log.kills} of {n_kills} kills landed in {limit} writers"
        delay = rng.uniform(0.0, max_delay)
        lines = witness_lines(witness_path)
        proc = start(trial)
        if kill_after(proc, witness_path, delay, started_lines=lines):
            log.kills += 1
            log.delays.append(delay)
        else:
            log.finished += 1
        label = f"{what} trial {trial} (kill after {delay * 1000:.0f} ms)"
        continued(before, db, what=label)
        before = audit(db, witness_path, what=label)
        trial += 1
    return log
