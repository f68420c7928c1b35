"""Audited retention: the one way events leave the store, logged and leaving projections consistent."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agenttui.store import SQLiteStore

from store_fixtures import ev, loaded_store, open_store, raw_rows, sample_dicts

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


def old_and_new(store: SQLiteStore) -> tuple[list[dict], list[dict]]:
    """Run 'old' entirely in January, run 'mixed' straddling the cutoff, run 'new' in May."""
    old = [ev("node_created", run_id="old", node_id="o1", node_nid="1", ts="2025-01-02T00:00:00Z"),
           ev("llm_call_started", run_id="old", node_id="o1", ts="2025-01-02T00:00:01Z")]
    mixed_old = [
        ev("node_created", run_id="mixed", node_id="m1", node_nid="1", ts="2025-01-03T00:00:00Z"),
        ev("tool_invoked", run_id="mixed", node_id="m1", ts="2025-01-03T00:00:01Z"),
        ev("edge_added", run_id="mixed", parent_node_id="m1", child_node_id="m2", ts="2025-01-03T00:00:02Z"),
    ]
    mixed_new = [
        ev("node_created", run_id="mixed", node_id="m2", node_nid="1.1", outer_node_id="m1", ts="2025-05-20T00:00:00Z"),
        ev("llm_call_started", run_id="mixed", node_id="m2", ts="2025-05-20T00:00:01Z"),
    ]
    new = [ev("run_started", run_id="new", ts="2025-05-30T00:00:00Z")]
    store.append(old + mixed_old)
    store.append(mixed_new + new)
    return old + mixed_old, mixed_new + new


def test_zero_days_keeps_everything(tmp_path):
    store = loaded_store(tmp_path)
    report = store.retention(0, now=NOW)
    assert report["events_deleted"] == 0 and report["runs_deleted"] == 0
    assert store.count_events() == len(sample_dicts())
    assert store.retention_log() == []


def test_negative_days_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="between 0 and"):
        open_store(tmp_path).retention(-1)


@pytest.mark.parametrize("days", [10 ** 6, 999_999_999, 10 ** 12, 10 ** 30])
def test_days_beyond_the_calendar_is_a_value_error_naming_the_range(tmp_path, days):
    """Not OverflowError from datetime arithmetic: the message says what range works."""
    store = open_store(tmp_path)
    store.append(sample_dicts())
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match=r"between 0 and 739,616 .*year 1\), got "):
        store.retention(days, now=now)
    assert store.count_events() == len(sample_dicts())
    assert store.retention_log() == []
    assert store.retention(739_616, now=now)["cutoff"] == "0001-01-01T00:00:00.000000Z"


def test_retention_deletes_old_events_removes_empty_runs_and_refolds_the_rest(tmp_path):
    store = open_store(tmp_path, snapshot_every=1)
    gone, kept = old_and_new(store)
    mixed_version = store.run("mixed")["last_seq"]
    report = store.retention(30, now=NOW, actor="tester")
    assert report["events_deleted"] == len(gone) and report["runs_deleted"] == 1 and report["runs_refolded"] == 1
    assert report["cutoff"] == "2025-05-02T00:00:00.000000Z" and report["executed_by"] == "tester"

    assert {e.event_id for e in store.events(limit=None)} == {e["event_id"] for e in kept}
    assert store.run("old") is None and store.nodes("old") == [] and store.edges("old") == []
    mixed = store.run("mixed")
    assert mixed["event_count"] == 2 and mixed["tool_calls"] == 0 and mixed["llm_calls"] == 1
    assert mixed["last_seq"] == mixed_version  # versions never go backwards: writers keep working
    assert store.node("mixed", "m1")["status"] == "PENDING"  # its node_created went with the old events
    assert raw_rows(store, "SELECT count(*) FROM snapshots WHERE run_id = 'old'")[0][0] == 0
    assert store.check() == []

    store.append(ev("x", run_id="mixed", ts="2025-05-25T00:00:00Z"), expected_version=mixed_version)
    assert store.check() == []
    store.rebuild()
    assert store.check() == []


def test_retention_is_logged_with_who_when_and_what(tmp_path):
    store = open_store(tmp_path)
    gone, _ = old_and_new(store)
    cut_hash = raw_rows(store, "SELECT hash FROM events WHERE run_id = 'mixed' AND seq = 3")[0][0]
    store.retention(30, now=NOW, actor="ops@example")
    (entry,) = store.retention_log()
    assert entry["executed_by"] == "ops@example"
    assert entry["max_age_days"] == 30 and entry["cutoff"] == "2025-05-02T00:00:00.000000Z"
    assert entry["events_deleted"] == len(gone) and entry["runs_deleted"] == 1
    assert (entry["first_position"], entry["last_position"]) == (1, len(gone))
    assert entry["details"] == {"per_run": {"old": 2, "mixed": 3}, "runs_deleted": ["old"],
                                "runs_refolded": ["mixed"]}
    assert entry["cut_at"] == {"mixed": [[3, cut_hash.hex()]]}
    assert store.verify() == []  # the chain of "mixed" resumes at the hash retention recorded
    assert entry["executed_at"].endswith("Z")
    assert store.stats()["retention_passes"] == 1


def test_retention_names_the_user_by_default(tmp_path):
    store = open_store(tmp_path)
    old_and_new(store)
    report = store.retention(30, now=NOW)
    assert "pid" in report["executed_by"] and store.retention_log()[0]["executed_by"] == report["executed_by"]


def test_retention_with_nothing_old_deletes_nothing(tmp_path):
    store = open_store(tmp_path)
    old_and_new(store)
    report = store.retention(365, now=NOW)
    assert report["events_deleted"] == 0
    assert store.count_events() == 8


def test_positions_are_never_reused_after_retention(tmp_path):
    store = open_store(tmp_path)
    old_and_new(store)
    last = store.last_position()
    store.retention(30, now=NOW)
    store.append(ev("x", run_id="old"))  # a run that was removed can start again
    assert store.last_position() == last + 1
    assert store.run("old")["event_count"] == 1
    assert store.check() == []


def test_retention_by_another_connection_does_not_confuse_a_writer(tmp_path):
    writer = open_store(tmp_path, "shared.db")
    old_and_new(writer)
    writer.append(ev("x", run_id="mixed", ts="2025-05-25T00:00:00Z"))  # the writer now caches the run's fold
    other = open_store(tmp_path, "shared.db")
    other.retention(30, now=NOW)  # same run version, fewer events
    writer.append(ev("x", run_id="mixed", ts="2025-05-26T00:00:00Z"))
    assert writer.run("mixed")["event_count"] == 4
    assert writer.check() == []


def test_delete_outside_retention_is_still_refused_afterwards(tmp_path):
    import sqlite3

    store = open_store(tmp_path)
    old_and_new(store)
    store.retention(30, now=NOW)
    assert raw_rows(store, "SELECT count(*) FROM sqlite_master WHERE name = 'retention_guard'")[0][0] == 0
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.connection.execute("DELETE FROM events")
