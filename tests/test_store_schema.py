"""Opening files: new, current, too new, foreign, missing, read-only; pragmas the store relies on."""
from __future__ import annotations

import sqlite3

import pytest

from agenttui.store import NotAStoreError, ReadOnlyStoreError, SchemaError, SchemaTooNewError, SQLiteStore, open_store
from agenttui.store.schema import APPLICATION_ID, SCHEMA_VERSION

from store_fixtures import ev, loaded_store, raw_rows, sample_dicts


def pragma(store: SQLiteStore, name: str):
    return store.connection.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_new_file_gets_the_current_schema(tmp_path):
    store = SQLiteStore(tmp_path / "sub" / "dir" / "new.db")
    assert pragma(store, "user_version") == SCHEMA_VERSION
    assert pragma(store, "application_id") == APPLICATION_ID
    tables = {r[0] for r in store.connection.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
    assert {"events", "runs", "nodes", "edges", "snapshots", "retention_log", "node_status_history",
            "node_execution_timeline"} <= tables


def test_guide_column_names_exist(tmp_path):
    store = SQLiteStore(tmp_path / "cols.db")

    def columns(table):
        return {r[1] for r in store.connection.execute(f"PRAGMA table_info({table})")}

    assert {"event_id", "run_id", "event_type", "timestamp", "payload", "node_id", "seq", "metadata"} <= columns("events")
    assert {"run_id", "start_time", "end_time", "status", "total_steps", "total_nodes", "error_message",
            "root_node_id"} <= columns("runs")
    assert {"node_id", "run_id", "node_nid", "node_type", "task_type", "task_goal", "status", "layer",
            "outer_node_id", "root_node_id", "result", "metadata"} <= columns("nodes")
    assert {"run_id", "parent_node_id", "child_node_id", "parent_nid", "child_nid", "metadata"} <= columns("edges")


def test_wal_synchronous_normal_busy_timeout_and_cache(tmp_path):
    store = SQLiteStore(tmp_path / "p.db", cache_mb=32, busy_timeout_ms=1234)
    assert pragma(store, "journal_mode") == "wal"
    assert pragma(store, "synchronous") == 1  # NORMAL
    assert pragma(store, "busy_timeout") == 1234
    assert pragma(store, "cache_size") == -32 * 1024


def test_reopening_keeps_the_data(tmp_path):
    loaded_store(tmp_path).close()
    again = SQLiteStore(tmp_path / "sample.db")
    assert again.count_events() == len(sample_dicts())
    assert again.check() == []


def test_a_newer_schema_is_a_clear_error(tmp_path):
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    for readonly in (False, True):
        with pytest.raises(SchemaTooNewError) as info:
            SQLiteStore(path, readonly=readonly)
        message = str(info.value)
        assert "schema version 99" in message and f"supports up to {SCHEMA_VERSION}" in message
        assert "upgrade agenttui" in message and str(path) in message
        assert (info.value.found, info.value.supported) == (99, SCHEMA_VERSION)


def test_a_non_sqlite_file_is_not_a_store(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    for readonly in (False, True):
        with pytest.raises(NotAStoreError, match="not a SQLite database"):
            SQLiteStore(path, readonly=readonly)
    assert path.read_text().startswith("these are my notes")  # and it was not touched


def test_a_tiny_non_sqlite_file_is_not_a_store(tmp_path):
    path = tmp_path / "tiny.db"
    path.write_bytes(b"\x00\x01")
    with pytest.raises(NotAStoreError):
        SQLiteStore(path)


def test_a_corrupt_sqlite_file_is_not_a_store(tmp_path):
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(NotAStoreError):
        SQLiteStore(path)


def test_a_sqlite_file_with_foreign_tables_is_not_a_store(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    for readonly in (False, True):
        with pytest.raises(NotAStoreError, match="other tables|not an agenttui store"):
            SQLiteStore(path, readonly=readonly)
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]  # untouched
    conn.close()


def test_another_programs_versioned_database_is_not_called_too_new(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE settings (k TEXT, v TEXT)")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    with pytest.raises(NotAStoreError, match="not an agenttui store"):
        SQLiteStore(path)


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(NotAStoreError, match="directory"):
        SQLiteStore(tmp_path)


def test_readonly_open_of_a_missing_file(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(FileNotFoundError, match="missing.db"):
        SQLiteStore(path, readonly=True)
    assert not path.exists()


def test_readonly_store_reads_but_cannot_write(tmp_path):
    loaded_store(tmp_path).close()
    ro = SQLiteStore(tmp_path / "sample.db", readonly=True)
    assert ro.count_events() == len(sample_dicts())
    for action in (lambda: ro.append(ev("x")), ro.rebuild, lambda: ro.retention(1), lambda: ro.snapshot("r1")):
        with pytest.raises(ReadOnlyStoreError, match="read-only") as raised:
            action()
        assert not isinstance(raised.value, SchemaError)  # the file is fine; the handle is read-only
    ro.close()


def test_readonly_sees_a_writers_new_events(tmp_path):
    writer = SQLiteStore(tmp_path / "live.db")
    writer.append(ev("x"))
    reader = SQLiteStore(tmp_path / "live.db", readonly=True)
    assert reader.count_events() == 1
    writer.append(ev("x"))
    assert reader.count_events() == 2
    assert [e.position for e in reader.read_after(1)] == [2]


def test_open_store_targets(tmp_path, monkeypatch):
    assert open_store(tmp_path / "a.db").backend == "sqlite"
    assert open_store(f"sqlite:///{tmp_path / 'b.db'}").path == str(tmp_path / "b.db")
    monkeypatch.setenv("AGENTTUI_DB", str(tmp_path / "c.db"))
    assert open_store().path == str(tmp_path / "c.db")
    monkeypatch.delenv("AGENTTUI_DB")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SchemaError, match="AGENTTUI_DB"):
        open_store()


def test_two_writers_opening_a_new_file_at_once_agree(tmp_path):
    path = tmp_path / "race.db"
    a = SQLiteStore(path)
    b = SQLiteStore(path)  # migration already done: must just open
    a.append(ev("x"))
    assert b.count_events() == 1


def test_a_version_1_file_is_migrated_on_open_and_gains_the_audit_triggers(tmp_path):
    """Migrations run forward on open: a v1 file (no retention_log guard) is upgraded in place."""
    import sqlite3

    from agenttui.store.schema import APPLICATION_ID as APP, MIGRATIONS
    from agenttui.store.sqlite import _split_sql

    path = tmp_path / "v1.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for statement in _split_sql(MIGRATIONS[1]):
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 1")
    raw.execute(f"PRAGMA application_id = {APP}")
    raw.execute("INSERT INTO retention_log (executed_at, executed_by, max_age_days, cutoff, events_deleted, "
                "runs_deleted) VALUES ('2025-01-01T00:00:00.000000Z', 'old', 7, '2024-12-25T00:00:00.000000Z', 0, 0)")
    raw.close()
    store = SQLiteStore(path)
    assert pragma(store, "user_version") == SCHEMA_VERSION == 5
    assert store.retention_log()[0]["executed_by"] == "old"
    with pytest.raises(sqlite3.DatabaseError, match="audit trail"):
        store.connection.execute("DELETE FROM retention_log")
    store.close()


def test_a_read_only_reader_opens_an_older_schema_without_migrating_it(tmp_path):
    """The inspector opens read-only: a file last written by an older agenttui must still open."""
    import sqlite3

    from agenttui.store.schema import APPLICATION_ID as APP, MIGRATIONS
    from agenttui.store.sqlite import _split_sql

    path = tmp_path / "v1.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    for statement in _split_sql(MIGRATIONS[1]):
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 1")
    raw.execute(f"PRAGMA application_id = {APP}")
    raw.close()
    reader = SQLiteStore(path, readonly=True)
    assert reader.count_events() == 0 and reader.runs() == []
    assert pragma(reader, "user_version") == 1  # untouched: readers never migrate
    reader.close()


def test_a_version_2_store_gets_its_events_hashed_by_the_migration(tmp_path):
    """Opening a v2 file with a writer hashes every stored event in the migration's transaction,
    the same chains the append would have computed; then verify() finds them intact."""
    import sqlite3

    store = loaded_store(tmp_path, "v2.db")
    store.append([ev("step_started", "other", step=i) for i in range(5)])
    appended = dict(raw_rows(store, "SELECT id, hash FROM events"))
    store.close()
    raw = sqlite3.connect(tmp_path / "v2.db", isolation_level=None)  # back to what v2 looked like
    raw.execute("DROP TRIGGER events_no_update")
    raw.execute("DROP TRIGGER events_no_delete")
    raw.execute("ALTER TABLE events DROP COLUMN hash")
    raw.execute("ALTER TABLE retention_log DROP COLUMN cut_at")
    raw.execute("CREATE TABLE retention_guard (token TEXT PRIMARY KEY)")
    raw.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN "
                "SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END")
    raw.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events WHEN NOT EXISTS "
                "(SELECT 1 FROM retention_guard) BEGIN SELECT RAISE(ABORT, 'append-only'); END")
    raw.execute("PRAGMA user_version = 2")
    raw.close()
    ro = SQLiteStore(tmp_path / "v2.db", readonly=True)  # a reader neither migrates nor can verify yet
    with pytest.raises(SchemaError, match="predates hash chains"):
        ro.verify()
    assert ro.retention_log() == [] and ro.count_events() == len(appended)  # but it reads as before
    ro.close()
    with SQLiteStore(tmp_path / "v2.db") as migrated:
        assert pragma(migrated, "user_version") == SCHEMA_VERSION
        assert dict(raw_rows(migrated, "SELECT id, hash FROM events")) == appended
        assert migrated.verify() == [] and migrated.last_verify["events"] == len(appended)
        with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE"):
            migrated.connection.execute("UPDATE events SET payload = '{}' WHERE id = 1")
