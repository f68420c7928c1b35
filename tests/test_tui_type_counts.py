"""The inspector's per-type counts of a whole run come from the run's type index, never from a sort.

Counted up to a position (what the inspector asks for right after opening a run), SQLite planned
the query as a range of the events table's rowids and sorted every event of the run by type in
memory to group them (USE TEMP B-TREE FOR GROUP BY): +220 MB of RSS for a 4M-event run, the
inspector's peak. These check the plan SQLite makes for the statement the reader runs, and that
the counts stay exact.
"""
from __future__ import annotations

from pathlib import Path

from agenttui.store import SQLiteStore
from agenttui.tui.data.reader import InspectorReader

from tui_support import SAMPLE_RUN, sample_events


def _other(n: int) -> list[dict]:
    return [{"event_id": f"other-{i}", "run_id": "run-other", "event_type": "decision", "payload": {"i": i}}
            for i in range(n)]


def _store(tmp_path: Path) -> SQLiteStore:
    """The sample run with another run's events between its own, and the statistics a store that
    has been opened and closed a few times has (`PRAGMA optimize`), which is when the rowid range
    looks cheap to the planner."""
    events = sample_events()
    with SQLiteStore(tmp_path / "run.db") as writer:
        for k in range(0, len(events), 50):
            writer.append(events[k:k + 50])
            writer.append([dict(e, event_id=f"{e['event_id']}-{k}") for e in _other(20)])
        writer.connection.execute("ANALYZE")
    return SQLiteStore(tmp_path / "run.db", readonly=True)


def _statements(store: SQLiteStore, call: object) -> list[str]:
    seen: list[str] = []
    store.connection.set_trace_callback(seen.append)
    try:
        call()  # type: ignore[operator]
    finally:
        store.connection.set_trace_callback(None)
    return [s for s in seen if "GROUP BY event_type" in s]


def test_a_whole_runs_counts_up_to_a_position_walk_the_type_index_without_sorting(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        reader = InspectorReader(store)
        upto = reader.last_position(SAMPLE_RUN)
        for kwargs in ({"upto_position": upto}, {}):
            statements = _statements(store, lambda: reader.type_counts(SAMPLE_RUN, **kwargs))
            assert len(statements) == 1, statements
            plan = " | ".join(row[3] for row in store.connection.execute("EXPLAIN QUERY PLAN " + statements[0]))
            assert "idx_events_run_type" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
    finally:
        store.close()


def test_counts_up_to_a_position_are_exact(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        reader = InspectorReader(store)
        events = list(store.timeline(SAMPLE_RUN))
        for cut in (0, 1, 57, len(events) - 1):
            expected: dict[str, int] = {}
            for e in events[:cut + 1]:
                expected[e.event_type] = expected.get(e.event_type, 0) + 1
            assert reader.type_counts(SAMPLE_RUN, upto_position=events[cut].position) == expected
            late = reader.type_counts(SAMPLE_RUN, after_position=events[cut].position)
            assert sum(late.values()) == len(events) - cut - 1
    finally:
        store.close()
