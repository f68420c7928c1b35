"""An import into an empty store keeps the indexes whose keys arrive in order and builds the others
at the end: whichever it chose, the store ends with every index, consistent projections, and a
repeated id still refused."""
from __future__ import annotations

import io
import sqlite3
import uuid
from pathlib import Path

import orjson
import pytest

from agenttui.store import SQLiteStore, bulk
from agenttui.store.ids import new_event_id
from agenttui.store.jsonl import import_jsonl


def _events(n: int, runs: int, ordered: bool) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"event_id": new_event_id() if ordered else str(uuid.uuid4()), "run_id": f"run-{i % runs}",
                    "event_type": ("node_created", "node_status_changed", "llm_call_started")[i % 3],
                    "timestamp": f"2026-01-01T00:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:06d}Z",
                    "payload": {"node_id": f"n{i % 50}", "new_status": "DOING", "model": "m"}})
    return out


def _indexes(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                            "ORDER BY name").fetchall()


@pytest.mark.parametrize("ordered, runs, rebuilt", [
    (True, 1, {"idx_events_node_id"}),
    (False, 1, {"idx_events_node_id", "idx_events_event_id"}),
    (True, 40, {"idx_events_node_id", "idx_events_run_seq", "idx_events_run_type"}),
])
def test_an_import_into_an_empty_store_ends_with_every_index(tmp_path, monkeypatch, ordered, runs, rebuilt):
    built: list[str] = []
    finish = bulk.PipelinedLoad._finish

    def recording(self):
        built.extend(sql.split()[2] if sql.split()[1] == "INDEX" else sql.split()[3] for sql in self._indexes)
        return finish(self)

    monkeypatch.setattr(bulk.PipelinedLoad, "_finish", recording)
    events = _events(3000, runs, ordered)
    fresh = tmp_path / "fresh.db"
    SQLiteStore(fresh).close()
    path = tmp_path / "loaded.db"
    with SQLiteStore(path) as store:
        report = import_jsonl(store, io.BytesIO(b"".join(orjson.dumps(e) + b"\n" for e in events)), batch_size=200)
        assert report.stored == 3000 and not report.errors
        assert store.check() == []
        assert store.get_event(events[1234]["event_id"]).seq == 1234 // runs + 1
    assert _indexes(path) == _indexes(fresh)
    assert {name for name in built if name.startswith("idx_events")} == rebuilt


def test_a_repeated_id_is_refused_with_the_id_index_kept_during_the_load(tmp_path):
    """Time-ordered ids keep the unique id index as the load goes: a repeat across batches is
    caught by it at once, the load rolled back and redone with checks, the repeat stored once."""
    events = _events(1000, 1, True)
    data = b"".join(orjson.dumps(e) + b"\n" for e in events + [events[3], events[500]])
    path = tmp_path / "rep.db"
    with SQLiteStore(path) as store:
        report = import_jsonl(store, io.BytesIO(data), batch_size=100)
        assert (report.stored, report.duplicates) == (1000, 2)
        assert store.count_events() == 1000 and store.check() == []
