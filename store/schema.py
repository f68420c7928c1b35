"""The SQLite schema, versioned with `PRAGMA user_version` and migrated forward on open.

Column names follow the recursive agent's storage guide (events, runs, nodes, edges and the two
views), so its queries, including the recursive node-tree query, run unchanged against our files.
"""
from __future__ import annotations

from . import search_blocks

SCHEMA_VERSION = 5
#: Marks a database as ours (`PRAGMA application_id`), "AgTu".
APPLICATION_ID = 0x41675475

_V1 = """
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- global position, never reused
    event_id    TEXT NOT NULL,
    run_id      TEXT NOT NULL,                      -- 'unassigned' when the agent sent null
    seq         INTEGER NOT NULL,                   -- per-run version, 1, 2, 3 ...
    event_type  TEXT NOT NULL,
    timestamp   TEXT NOT NULL,                      -- UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ
    payload     JSON NOT NULL,
    node_id     TEXT,
    metadata    JSON,
    created_at  TEXT NOT NULL                       -- when the store received it
);
CREATE UNIQUE INDEX idx_events_event_id ON events(event_id);
CREATE UNIQUE INDEX idx_events_run_seq ON events(run_id, seq);
CREATE INDEX idx_events_run_type ON events(run_id, event_type);
CREATE INDEX idx_events_node_id ON events(node_id);
CREATE INDEX idx_events_timestamp ON events(timestamp);

-- The log is append-only: the database itself refuses changes, except while audited retention
-- holds the guard row it inserts into retention_guard for the duration of its transaction.
CREATE TABLE retention_guard (token TEXT PRIMARY KEY);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM retention_guard)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is only allowed through audited retention');
END;

CREATE TABLE runs (
    run_id            TEXT PRIMARY KEY,
    start_time        TEXT NOT NULL,
    end_time          TEXT,
    status            TEXT NOT NULL,               -- running / completed / error
    total_steps       INTEGER,
    total_nodes       INTEGER,
    error_message     TEXT,
    root_node_id      TEXT,
    created_at        TEXT,
    updated_at        TEXT,
    task              TEXT,
    model             TEXT,
    run_mode          TEXT,
    event_count       INTEGER NOT NULL DEFAULT 0,
    last_seq          INTEGER NOT NULL DEFAULT 0,
    first_position    INTEGER,
    last_position     INTEGER,
    llm_calls         INTEGER NOT NULL DEFAULT 0,
    tool_calls        INTEGER NOT NULL DEFAULT 0,
    error_count       INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_seconds  REAL,
    metadata          JSON
);
CREATE INDEX idx_runs_start ON runs(start_time);

CREATE TABLE nodes (
    node_id           TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    node_nid          TEXT,                        -- hierarchical id "1.2.3"; NULL while pending
    node_type         TEXT,
    task_type         TEXT,
    task_goal         TEXT,
    status            TEXT NOT NULL,               -- PENDING until node_created arrives
    layer             INTEGER,
    outer_node_id     TEXT,
    root_node_id      TEXT,
    result            JSON,
    metadata          JSON,
    created_at        TEXT,
    updated_at        TEXT,
    pending           INTEGER NOT NULL DEFAULT 0,
    event_count       INTEGER NOT NULL DEFAULT 0,
    llm_calls         INTEGER NOT NULL DEFAULT 0,
    tool_calls        INTEGER NOT NULL DEFAULT 0,
    error_count       INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    first_position    INTEGER,
    last_position     INTEGER,
    PRIMARY KEY (run_id, node_id)
) WITHOUT ROWID;
CREATE INDEX idx_nodes_node_id ON nodes(node_id);
CREATE INDEX idx_nodes_nid ON nodes(node_nid);
CREATE INDEX idx_nodes_outer ON nodes(outer_node_id);

CREATE TABLE edges (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL,
    parent_node_id  TEXT NOT NULL,
    child_node_id   TEXT NOT NULL,
    parent_nid      TEXT,
    child_nid       TEXT,
    metadata        JSON,
    created_at      TEXT,
    UNIQUE (run_id, parent_node_id, child_node_id)
);
CREATE INDEX idx_edges_parent ON edges(parent_node_id);
CREATE INDEX idx_edges_child ON edges(child_node_id);

-- Checkpoints of the fold: state_at(N) loads the nearest one at or before N and folds the rest.
CREATE TABLE snapshots (
    run_id        TEXT NOT NULL,
    position      INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    fold_version  INTEGER NOT NULL,
    state         BLOB NOT NULL,                   -- the RunState, full or a delta (store/snapshots.py)
    created_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

-- Audited retention: one row per retention pass, with what it removed.
CREATE TABLE retention_log (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    executed_at       TEXT NOT NULL,
    executed_by       TEXT NOT NULL,
    max_age_days      INTEGER NOT NULL,
    cutoff            TEXT NOT NULL,
    events_deleted    INTEGER NOT NULL,
    runs_deleted      INTEGER NOT NULL,
    first_position    INTEGER,
    last_position     INTEGER,
    details           JSON
);

CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT);

CREATE VIEW node_status_history AS
SELECT
    e.node_id,
    e.run_id,
    e.timestamp,
    json_extract(e.payload, '$.old_status') AS old_status,
    json_extract(e.payload, '$.new_status') AS new_status,
    e.id AS position
FROM events e
WHERE e.event_type = 'node_status_changed'
ORDER BY e.timestamp;

CREATE VIEW node_execution_timeline AS
SELECT
    n.node_id,
    n.run_id,
    n.node_nid,
    n.task_type,
    n.task_goal,
    MIN(CASE WHEN e.event_type = 'node_created' THEN e.timestamp END) AS created_time,
    MIN(CASE WHEN e.event_type = 'step_started' THEN e.timestamp END) AS execution_start,
    MAX(CASE WHEN e.event_type = 'node_result_available' THEN e.timestamp END) AS completion_time
FROM nodes n
LEFT JOIN events e ON n.node_id = e.node_id AND n.run_id = e.run_id
GROUP BY n.node_id, n.run_id, n.node_nid, n.task_type, n.task_goal;
"""

# v2: the retention audit trail is as immutable as the events it accounts for.
_V2 = """
CREATE TRIGGER retention_log_no_update BEFORE UPDATE ON retention_log
BEGIN
    SELECT RAISE(ABORT, 'retention_log is an audit trail: UPDATE is not allowed');
END;
CREATE TRIGGER retention_log_no_delete BEFORE DELETE ON retention_log
BEGIN
    SELECT RAISE(ABORT, 'retention_log is an audit trail: DELETE is not allowed');
END;
"""

# v3: tamper evidence, and a permission to delete that no other connection can grant itself.
# - events.hash chains each event to the previous one of its run (store/chain.py). The migration
#   hashes the events already stored (HASH_CHAIN_VERSION below: the store runs that step in
#   Python between this script and V3_RESTORE_UPDATE_GUARD, in the same transaction).
# - Retention's permission used to be a row in retention_guard, which any connection could insert.
#   Now it is agenttui_retention_allowed(), an SQL function the store registers on its own
#   connections and answers 1 only inside an audited retention pass. Other programs' connections
#   do not have the function, so their DELETE fails ("no such function") whatever they write.
_V3 = """
DROP TRIGGER events_no_update;
DROP TRIGGER events_no_delete;
DROP TABLE retention_guard;
ALTER TABLE events ADD COLUMN hash BLOB;
-- per run, [seq, hex hash] of each deleted event whose successor stays: where its chain resumes
ALTER TABLE retention_log ADD COLUMN cut_at JSON;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN agenttui_retention_allowed() IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is only allowed through audited retention');
END;
"""
V3_RESTORE_UPDATE_GUARD = """
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;
"""
#: The migration after whose script the stored events are hashed (then V3_RESTORE_UPDATE_GUARD).
HASH_CHAIN_VERSION = 3

# v4: the search pre-filter's trigram bitmaps, block by block, written by the writers (search_blocks.py)
_V4 = search_blocks.TABLE_SQL + ";\n"

# v5: the rows of a big full snapshot stored apart, a few MB a row (store/snapshots.py PART_BYTES):
# read as one value, a 4M-event run's 41 MB snapshot was held twice (SQLite's copy and Python's)
# at the inspector's peak. A snapshot replaced or deleted takes its parts with it.
_V5 = """
CREATE TABLE IF NOT EXISTS snapshot_parts (
    run_id    TEXT NOT NULL,
    position  INTEGER NOT NULL,
    part      INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (run_id, position, part)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS snapshot_parts_replaced AFTER UPDATE OF state ON snapshots
BEGIN
    DELETE FROM snapshot_parts WHERE run_id = old.run_id AND position = old.position;
END;
CREATE TRIGGER IF NOT EXISTS snapshot_parts_deleted AFTER DELETE ON snapshots
BEGIN
    DELETE FROM snapshot_parts WHERE run_id = old.run_id AND position = old.position;
END;
"""

#: MIGRATIONS[v] takes a database at version v-1 to version v.
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5}

PROJECTION_TABLES = ("runs", "nodes", "edges", "snapshots")
