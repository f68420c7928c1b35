"""A pipelined load writes each run's projections once, from the final fold, instead of after every
batch. These loads make runs leave the window of held-back runs and come back, on an empty and on a
non-empty store, and check that the projections equal a fresh fold of the events."""
from __future__ import annotations

import io
import random

import orjson
import pytest

from agenttui.store import SQLiteStore, bulk
from agenttui.store.jsonl import import_jsonl


def _events(runs: int, per_run: int, seed: int) -> list[dict]:
    """Interleaved events of `runs` small plan runs: nodes created, started, finished, with edges."""
    rng = random.Random(seed)
    streams = []
    for r in range(runs):
        run_id = f"run-{seed}-{r}"
        evs = [{"event_type": "run_started", "run_id": run_id, "payload": {"task": f"task {r}"}}]
        for n in range(per_run):
            node = f"{run_id}-n{n}"
            parent = f"{run_id}-n{(n - 1) // 2}" if n else None
            evs.append({"event_type": "node_created", "run_id": run_id,
                        "payload": {"node_id": node, "node_nid": f"1.{n}", "task_goal": f"goal {n}",
                                    "node_type": "PLAN_NODE" if n < 3 else "EXECUTE_NODE",
                                    "outer_node_id": parent}})
            if parent:
                evs.append({"event_type": "edge_added", "run_id": run_id,
                            "payload": {"graph_owner_node_id": parent, "parent_node_id": parent,
                                        "child_node_id": node}})
            evs.append({"event_type": "node_status_changed", "run_id": run_id,
                        "payload": {"node_id": node, "old_status": "NOT_READY", "new_status": "DOING"}})
            evs.append({"event_type": "node_status_changed", "run_id": run_id,
                        "payload": {"node_id": node, "old_status": "DOING",
                                    "new_status": "FINISH" if n % 5 else "FAILED"}})
        evs.append({"event_type": "run_finished", "run_id": run_id, "payload": {"status": "completed"}})
        streams.append(evs)
    out: list[dict] = []
    while any(streams):
        s = rng.choice([s for s in streams if s])
        out.append(s.pop(0))
    for i, e in enumerate(out):
        e["event_id"] = f"e-{seed}-{i:06d}"
        e["timestamp"] = f"2026-01-01T00:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:06d}Z"
    return out


def _jsonl(events: list[dict]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(e) + b"\n" for e in events))


@pytest.mark.parametrize("window", [1, 3, bulk.PENDING_RUNS])
def test_runs_leaving_and_rejoining_the_window_end_consistent(tmp_path, monkeypatch, window):
    monkeypatch.setattr(bulk, "PENDING_RUNS", window)
    store = SQLiteStore(tmp_path / "run.db")
    events = _events(runs=3 * window + 5, per_run=12, seed=window)
    report = import_jsonl(store, _jsonl(events), batch_size=37)  # many batches, runs spread over them
    assert report.stored == len(events) and not report.errors
    assert store.check() == []
    runs = {r["run_id"]: r for r in store.runs()}
    assert len(runs) == 3 * window + 5
    assert all(r["status"] == "completed" and r["event_count"] == 12 * 4 - 1 + 2 for r in runs.values())
    failed = sum(1 for r in runs for n in store.nodes(r) if n["status"] == "FAILED")
    assert failed == len(runs) * 3  # nodes 0, 5 and 10 of each run
    assert sum(len(store.edges(r)) for r in runs) == len(runs) * 11


def test_a_load_into_a_store_with_events_continues_its_runs(tmp_path, monkeypatch):
    """Runs already in the store are read back from their projections, then held back like new ones."""
    monkeypatch.setattr(bulk, "PENDING_RUNS", 2)
    store = SQLiteStore(tmp_path / "run.db")
    events = _events(runs=9, per_run=10, seed=7)
    half = len(events) // 2
    assert import_jsonl(store, _jsonl(events[:half]), batch_size=25).stored == half
    report = import_jsonl(store, _jsonl(events[half:]), batch_size=25)
    assert report.stored == len(events) - half and not report.errors
    assert store.check() == []
    assert store.count_events() == len(events)


def test_a_failed_load_leaves_no_projection_behind(tmp_path, monkeypatch):
    """Held-back rows belong to the load's transaction: a failure at its end stores none of them."""
    store = SQLiteStore(tmp_path / "run.db")
    events = _events(runs=4, per_run=8, seed=3)

    def boom(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bulk.PipelinedLoad, "_finish", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_jsonl(store, _jsonl(events), batch_size=10)
    monkeypatch.undo()
    assert store.count_events() == 0 and store.runs() == []
    assert import_jsonl(store, _jsonl(events), batch_size=10).stored == len(events)
    assert store.check() == []
