"""The PostgreSQL schema: the SQLite schema's tables and columns, in PostgreSQL's types.

Same names everywhere (events, runs, nodes, edges, snapshots, retention_log, store_meta and the
two views), so queries written against one backend read the other. The differences, and why:

- Text columns use the "C" collation: ORDER BY and range filters then compare bytes, as SQLite
  does, whatever locale the database was created with (a team server is often en_US.UTF-8).
- payload/metadata are `json`, not `jsonb`: json keeps the exact text the store serialised (key
  order, `\\u0000` escapes that jsonb refuses), so an event reads back byte for byte and an export
  from either backend is identical. `->>`/`->` still work for ad-hoc queries.
- Positions come from `events_head`, a one-row counter every append locks first; see
  PostgresStore.append for why this lock, and not a sequence, is what keeps readers gapless.
- The append-only rule is a statement trigger, including TRUNCATE (which row triggers miss).

The schema version lives in store_meta('schema_version'); migrations run under an advisory lock.
"""
from __future__ import annotations

SCHEMA_VERSION = 3
#: pg_advisory_lock key held while migrating ("AgTu" as in SQLite's application_id).
MIGRATION_LOCK_KEY = 0x41675475
#: The channel appends NOTIFY on commit; the payload is the last position written.
NOTIFY_CHANNEL = "agenttui_events"

_V1 = r"""
CREATE TABLE events (
    id          BIGINT PRIMARY KEY,                 -- global position, never reused
    event_id    TEXT COLLATE "C" NOT NULL,
    run_id      TEXT COLLATE "C" NOT NULL,          -- 'unassigned' when the agent sent null
    seq         BIGINT NOT NULL,                    -- per-run version, 1, 2, 3 ...
    event_type  TEXT COLLATE "C" NOT NULL,
    timestamp   TEXT COLLATE "C" NOT NULL,          -- UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ
    payload     JSON NOT NULL,
    node_id     TEXT COLLATE "C",
    metadata    JSON,
    created_at  TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX idx_events_event_id ON events(event_id);
CREATE UNIQUE INDEX idx_events_run_seq ON events(run_id, seq);
CREATE INDEX idx_events_run_type ON events(run_id, event_type);
CREATE INDEX idx_events_node_id ON events(node_id);
CREATE INDEX idx_events_timestamp ON events(timestamp);

CREATE TABLE events_head (
    singleton     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last_position BIGINT NOT NULL
);
INSERT INTO events_head (singleton, last_position) VALUES (TRUE, 0);

CREATE TABLE retention_guard (token TEXT PRIMARY KEY);

-- The read API's SQL is shared with SQLite and searches with `payload LIKE ? ESCAPE '\'`; this
-- operator gives json that LIKE with SQLite's meaning (ASCII case-insensitive) on the stored text.
CREATE FUNCTION agenttui_json_like(json, text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT $1::text COLLATE "C" ILIKE $2 $$;
CREATE OPERATOR ~~ (LEFTARG = json, RIGHTARG = text, FUNCTION = agenttui_json_like);

CREATE FUNCTION agenttui_events_append_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM retention_guard) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'events are append-only: DELETE is only allowed through audited retention'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION agenttui_events_append_only();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION agenttui_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION agenttui_events_append_only();

CREATE TABLE runs (
    run_id            TEXT COLLATE "C" PRIMARY KEY,
    start_time        TEXT COLLATE "C" NOT NULL,
    end_time          TEXT COLLATE "C",
    status            TEXT NOT NULL,
    total_steps       BIGINT,
    total_nodes       BIGINT,
    error_message     TEXT,
    root_node_id      TEXT COLLATE "C",
    created_at        TEXT COLLATE "C",
    updated_at        TEXT COLLATE "C",
    task              TEXT,
    model             TEXT,
    run_mode          TEXT,
    event_count       BIGINT NOT NULL DEFAULT 0,
    last_seq          BIGINT NOT NULL DEFAULT 0,
    first_position    BIGINT,
    last_position     BIGINT,
    llm_calls         BIGINT NOT NULL DEFAULT 0,
    tool_calls        BIGINT NOT NULL DEFAULT 0,
    error_count       BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    duration_seconds  DOUBLE PRECISION,
    metadata          JSON
);
CREATE INDEX idx_runs_start ON runs(start_time);
CREATE INDEX idx_runs_last_position ON runs(last_position);

CREATE TABLE nodes (
    node_id           TEXT COLLATE "C" NOT NULL,
    run_id            TEXT COLLATE "C" NOT NULL,
    node_nid          TEXT COLLATE "C",
    node_type         TEXT,
    task_type         TEXT,
    task_goal         TEXT,
    status            TEXT NOT NULL,
    layer             BIGINT,
    outer_node_id     TEXT COLLATE "C",
    root_node_id      TEXT COLLATE "C",
    result            JSON,
    metadata          JSON,
    created_at        TEXT COLLATE "C",
    updated_at        TEXT COLLATE "C",
    pending           BIGINT NOT NULL DEFAULT 0,
    event_count       BIGINT NOT NULL DEFAULT 0,
    llm_calls         BIGINT NOT NULL DEFAULT 0,
    tool_calls        BIGINT NOT NULL DEFAULT 0,
    error_count       BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    first_position    BIGINT,
    last_position     BIGINT,
    PRIMARY KEY (run_id, node_id)
);
CREATE INDEX idx_nodes_node_id ON nodes(node_id);
CREATE INDEX idx_nodes_nid ON nodes(node_nid);
CREATE INDEX idx_nodes_outer ON nodes(outer_node_id);

CREATE TABLE edges (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    run_id          TEXT COLLATE "C" NOT NULL,
    parent_node_id  TEXT COLLATE "C" NOT NULL,
    child_node_id   TEXT COLLATE "C" NOT NULL,
    parent_nid      TEXT COLLATE "C",
    child_nid       TEXT COLLATE "C",
    metadata        JSON,
    created_at      TEXT COLLATE "C",
    UNIQUE (run_id, parent_node_id, child_node_id)
);
CREATE INDEX idx_edges_parent ON edges(parent_node_id);
CREATE INDEX idx_edges_child ON edges(child_node_id);

CREATE TABLE snapshots (
    run_id        TEXT COLLATE "C" NOT NULL,
    position      BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    fold_version  INTEGER NOT NULL,
    state         BYTEA NOT NULL,                   -- zlib-compressed JSON of the RunState
    created_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);

CREATE TABLE retention_log (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    executed_at       TEXT NOT NULL,
    executed_by       TEXT NOT NULL,
    max_age_days      INTEGER NOT NULL,
    cutoff            TEXT NOT NULL,
    events_deleted    BIGINT NOT NULL,
    runs_deleted      BIGINT NOT NULL,
    first_position    BIGINT,
    last_position     BIGINT,
    details           JSON
);

CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT);

CREATE VIEW node_status_history AS
SELECT
    e.node_id,
    e.run_id,
    e.timestamp,
    e.payload ->> 'old_status' AS old_status,
    e.payload ->> 'new_status' AS new_status,
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

#: MIGRATIONS[v] takes a database at version v-1 to version v (each runs as one statement batch).
# v2: the retention audit trail is as immutable as the events it accounts for.
_V2 = """
CREATE FUNCTION agenttui_retention_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'retention_log is an audit trail: % is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER retention_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON retention_log
    FOR EACH STATEMENT EXECUTE FUNCTION agenttui_retention_log_immutable();

-- Search folds non-ASCII case like SQLite's agenttui_casefold ("CAFÉ" finds "café"): ICU's root
-- collation knows Unicode case; without ICU, lower() of the server's ctype is the best there is.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        EXECUTE 'CREATE FUNCTION agenttui_casefold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE '
                'AS $f$ SELECT lower($1 COLLATE "und-x-icu") $f$';
    ELSE
        EXECUTE 'CREATE FUNCTION agenttui_casefold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE '
                'AS $f$ SELECT lower($1) $f$';
    END IF;
END
$do$;
CREATE FUNCTION agenttui_casefold(json) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT agenttui_casefold($1::text) $$;
"""

# v3: tamper evidence, and a permission to delete that is not a row any connection can write.
# - events.hash chains each event to the previous one of its run (store/chain.py); the store hashes
#   the events already stored right after this script (HASH_CHAIN_VERSION), in its transaction,
#   with the update guard disabled for that one statement batch.
# - DELETE on events is allowed row by row only when this very transaction has written a
#   retention_log entry whose cutoff covers the row (xmin of the log row = this transaction).
#   retention_log is itself immutable, so whoever deletes leaves a permanent audit entry: the
#   permission is an audit record, not a token to insert and remove again. (A superuser or the
#   table owner can still disable triggers; the hash chains make that evident.)
_V3 = r"""
ALTER TABLE events ADD COLUMN hash BYTEA;
ALTER TABLE retention_log ADD COLUMN cut_at JSON;
DROP TRIGGER events_no_delete ON events;
DROP TABLE retention_guard;
CREATE OR REPLACE FUNCTION agenttui_events_append_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE FUNCTION agenttui_events_delete_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM retention_log
               WHERE xmin = pg_current_xact_id()::xid AND OLD.timestamp < cutoff) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'events are append-only: DELETE is only allowed through audited retention'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION agenttui_events_delete_guard();
"""
#: The migration after whose script the stored events are hashed.
HASH_CHAIN_VERSION = 3

MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3}

#: Tables whose presence without our version row means "some other application's database".
OUR_TABLES = ("events", "runs", "nodes", "edges", "snapshots", "store_meta")
