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

SAMPLE = Path("/work/shared/samples/recursive-agent-run.jsonl")
if not SAMPLE.exists():  # a fresh clone carries its own copy
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
