"""Shared helpers for the store tests: the real sample run, event builders and store openers.

Kept out of conftest.py (which the CLI tests own) so the store suite stands on its own.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from agenttui.store import Event, SQLiteStore, parse_json_line
from agenttui.store.envelope import format_datetime

#: The real recursive agent's run in its exact wire format (the repository's copy of the shared sample).
SAMPLE = Path(__file__).parent / "data" / "recursive-agent-run.jsonl"
SAMPLE_RUN = "run-0000-940eee3c"

_counter = itertools.count(1)
_BASE_TIME = datetime(2025, 4, 17, 12, 0, 0, tzinfo=timezone.utc)


def sample_lines() -> list[bytes]:
    return [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]


def sample_events() -> list[Event]:
    return [parse_json_line(line) for line in sample_lines()]


def sample_dicts() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in sample_lines()]


def open_store(tmp_path: Path, name: str = "store.db", **kwargs: Any) -> SQLiteStore:
    return SQLiteStore(tmp_path / name, **kwargs)


def loaded_store(tmp_path: Path, name: str = "sample.db", **kwargs: Any) -> SQLiteStore:
    store = open_store(tmp_path, name, **kwargs)
    store.append(sample_events())
    return store


def ev(event_type: str, run_id: str | None = "r1", *, event_id: str | None = None, ts: str | None = None,
       node_id: str | None = None, metadata: dict | None = None, **payload: Any) -> dict[str, Any]:
    """An envelope dict with a unique id and a strictly increasing timestamp unless given."""
    n = next(_counter)
    env: dict[str, Any] = {
        "event_id": event_id or f"ev-{n:08d}",
        "run_id": run_id,
        "event_type": event_type,
        "timestamp": ts or format_datetime(_BASE_TIME + timedelta(milliseconds=n)),
        "payload": payload,
    }
    if node_id is not None:
        env["node_id"] = node_id
    if metadata is not None:
        env["metadata"] = metadata
    return env


def raw_rows(store: SQLiteStore, sql: str, params: tuple = ()) -> list[tuple]:
    return store.connection.execute(sql, params).fetchall()


# ------------------------------------------------------------- worker processes (spawn-safe)

def contended_writer(path: str, worker: int, rounds: int, free_batches: int, barrier, results) -> None:
    """A writer process for the concurrency tests: lockstep rounds, then a free-running phase.

    Lives here, not in the test module, so spawned children import it without importing pytest tests.
    Reports wins, ConcurrencyError losses and anything unexpected through `results`.
    """
    from agenttui.store import ConcurrencyError

    report = {"worker": worker, "lockstep_wins": 0, "lockstep_conflicts": 0, "free_conflicts": 0,
              "own_run_conflicts": 0, "unexpected": [], "stored": []}
    store = SQLiteStore(path, busy_timeout_ms=30_000)

    def version(run_id: str) -> int:
        run = store.run(run_id)
        return run["last_seq"] if run else 0

    def batch(tag: str, size: int) -> list[dict]:
        return [ev("tool_invoked", run_id="shared", event_id=f"{tag}-{k}", worker=worker) for k in range(size)]

    try:
        for r in range(rounds):  # everyone reads the same version, then everyone tries: one wins
            expected = version("shared")
            barrier.wait()
            events = batch(f"w{worker}-lock{r}", 2)
            try:
                store.append(events, expected_version=expected)
                report["lockstep_wins"] += 1
                report["stored"].extend(e["event_id"] for e in events)
            except ConcurrencyError:
                report["lockstep_conflicts"] += 1
        barrier.wait()
        for b in range(free_batches):  # read-retry loop until this batch lands
            events = batch(f"w{worker}-free{b}", 1 + b % 3)
            while True:
                try:
                    store.append(events, expected_version=version("shared"))
                    break
                except ConcurrencyError:
                    report["free_conflicts"] += 1
            report["stored"].extend(e["event_id"] for e in events)
            own = [ev("llm_call_started", run_id=f"own-{worker}", event_id=f"w{worker}-own{b}")]
            try:
                store.append(own, expected_version=version(f"own-{worker}"))
            except ConcurrencyError:
                report["own_run_conflicts"] += 1
            report["stored"].append(own[0]["event_id"])
    except Exception as exc:  # reported, so the test fails with the reason instead of hanging
        report["unexpected"].append(f"{type(exc).__name__}: {exc}")
        barrier.abort()
    finally:
        store.close()
        results.put(report)


def open_and_append(path: str, worker: int, barrier, results) -> None:
    """Open a store that may not exist yet, at the same instant as other processes, and append."""
    try:
        barrier.wait()
        store = SQLiteStore(path, busy_timeout_ms=30_000)
        store.append(ev("x", run_id=f"p{worker}", event_id=f"open-{worker}"))
        store.close()
        results.put((worker, None))
    except Exception as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}"))


def eager_writer(path: str, worker: int, mode: str, count: int) -> None:
    """A writer process for the ten-writers test, with SQLite's own busy wait cut to 20 ms so that
    only the store's retrying keeps it from failing with "database is locked".

    mode "batch": `count` events in batches of 200 through one store; "single": one event per
    open/append/close, the way a per-event hook writes.
    """
    from agenttui.store import SQLiteStore

    events = [ev("tool_invoked", f"w{worker}", event_id=f"w{worker}-{i}", tool_name="t") for i in range(count)]
    if mode == "batch":
        with SQLiteStore(path, busy_timeout_ms=20) as store:
            for i in range(0, count, 200):
                store.append(events[i:i + 200])
    else:
        for e in events:
            with SQLiteStore(path, busy_timeout_ms=20) as store:
                store.append(e)
