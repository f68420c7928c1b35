"""The PostgreSQL backend: the SQLite store's contract on a server many writers and readers share.

What is shared with SQLiteStore, and how: validation and serialisation of appended events
(`append`), and the read API's SQL (`events`, `runs`, `nodes`, ...) are SQLiteStore's own methods,
borrowed as they are. Both backends have the same tables and columns, that SQL sticks to the subset
both accept, and `_query` translates its `?` placeholders; so a read behaves the same on both by
construction, and the contract suite (tests/test_contract.py) checks it. What differs is here:
transactions, the position counter, COPY for inserts, snapshots in bytea, migrations under an
advisory lock, and LISTEN/NOTIFY as the live change signal.

Gapless reading: every append transaction first locks the one row of `events_head` (the position
counter), assigns its positions from it and commits before the next writer can take the lock. So
positions become visible in the order they were assigned: a reader following `id > last_seen` can
never see position 11 and later discover 10. (A sequence would hand out 10 and 11 to two
concurrent transactions that may commit in either order.) docs/postgres.md has the full argument.
"""
from __future__ import annotations

import os
import threading
import time
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import orjson

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.types.string import TextLoader
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        f"the PostgreSQL backend needs psycopg 3 and psycopg-pool ({exc.name} is missing): "
        "pip install 'agenttui[postgres]'") from exc

from .envelope import DEFAULT_MAX_PAYLOAD_BYTES, Event, EnvelopeError, format_datetime, normalize_timestamp, now_timestamp
from .errors import AgentTuiError, ConcurrencyError, NotAStoreError, SchemaError, SchemaTooNewError
from .fold import EDGE_COLUMNS, FOLD_VERSION, NODE_COLUMNS, RUN_COLUMNS, RunState, Touched
from .pg_schema import MIGRATION_LOCK_KEY, MIGRATIONS, NOTIFY_CHANNEL, OUR_TABLES, SCHEMA_VERSION
from .sqlite import (
    DEFAULT_SNAPSHOT_EVERY, EVENT_COLUMNS, STATE_CACHE_RUNS, AppendResult, SQLiteStore, _dict_from_row, _dump_json,
    RETENTION_LOG_INSERT, _fix_node_id, content_stats, _row_values, _whoami, retention_log_row, row_to_event,
)
from .upcast import UpcasterRegistry, upcasters as default_upcasters

URL_PREFIXES = ("postgresql://", "postgres://")
_EVENT_INSERT_COLUMNS = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata, created_at"


class StoreUnavailableError(AgentTuiError):
    """The PostgreSQL server cannot be reached (or refused us); the message names the server."""


def is_postgres_url(target: Any) -> bool:
    return isinstance(target, str) and target.startswith(URL_PREFIXES)


def display_url(url: str) -> str:
    """The URL without its password, for messages, logs and `stats`."""
    try:
        p = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise SchemaError(f"not a valid PostgreSQL URL: {exc}") from None
    user = f"{p['user']}@" if p.get("user") else ""
    port = f":{p['port']}" if p.get("port") else ""
    return f"postgresql://{user}{p.get('host') or 'localhost'}{port}/{p.get('dbname') or ''}"


def _upsert_sql(table: str, columns: Sequence[str], key: Sequence[str], update: Sequence[str] | None = None) -> str:
    update = [c for c in (update or columns) if c not in key]
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in update))


_RUN_UPSERT = _upsert_sql("runs", RUN_COLUMNS, ("run_id",))
_NODE_UPSERT = _upsert_sql("nodes", NODE_COLUMNS, ("run_id", "node_id"))
_EDGE_UPSERT = _upsert_sql("edges", EDGE_COLUMNS, ("run_id", "parent_node_id", "child_node_id"),
                           ("parent_nid", "child_nid", "metadata"))


def _qmark(sql: str) -> str:
    """SQLite-style `?` placeholders -> psycopg's `%s` (our shared SQL has no `?` or `%` literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore:
    """The team store: same API and guarantees as SQLiteStore, on a PostgreSQL database.

    Thread-safe: reads take a connection from a psycopg_pool pool; appends are serialised by the
    database (see the module docstring), so any number of processes may write.
    readonly=True never writes or migrates (every session is read-only) and refuses a database
    that has no agenttui schema yet.
    """

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        upcasters: UpcasterRegistry | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.path = display_url(url)  # the name messages use (as SQLiteStore.path), without secrets
        self.readonly = readonly
        self.max_payload_bytes = max_payload_bytes
        self.upcasters = upcasters if upcasters is not None else default_upcasters
        self.snapshot_every = snapshot_every
        self.connect_timeout = connect_timeout
        self._lock = threading.RLock()  # guards the fold cache below, as in SQLiteStore
        self._states: OrderedDict[str, RunState] = OrderedDict()
        self._last_snapshot_seq: dict[str, int] = {}
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection | None = None
        self._raw: _QmarkConnection | None = None
        with self._connect() as conn:
            self._check_and_migrate(conn)
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
        # NOTIFY channels are per database: stores in other schemas of it must not wake us
        self.channel = NOTIFY_CHANNEL if schema == "public" else f"{NOTIFY_CHANNEL}.{schema}"
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), timeout=connect_timeout, kwargs=self._connect_kwargs(),
            configure=self._configure, open=False, name=f"agenttui {self.path}")
        self._pool.open()
        try:
            self._pool.wait(timeout=connect_timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreUnavailableError(f"{self.path}: no connection within {connect_timeout:g} s") from None

    # ------------------------------------------------------------------ connecting and migration
    def _connect_kwargs(self) -> dict[str, Any]:
        return {"autocommit": True, "connect_timeout": max(1, round(self.connect_timeout)),
                "application_name": "agenttui"}

    def _configure(self, conn: psycopg.Connection) -> None:
        # json columns come back as the stored text: the shared row decoders parse it with orjson,
        # exactly as they parse SQLite's JSON text
        conn.adapters.register_loader("json", TextLoader)
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")

    def _connect(self) -> psycopg.Connection:
        """A connection outside the pool (migration, LISTEN, raw SQL), configured like pooled ones."""
        try:
            conn = psycopg.connect(self.url, **self._connect_kwargs())
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailableError(f"{self.path}: cannot connect to PostgreSQL: {reason}") from None
        self._configure(conn)
        return conn

    def _schema_version(self, conn: psycopg.Connection) -> int:
        # only the schema we would create tables in counts (others on the search_path are not ours)
        found = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(%s)", (list(OUR_TABLES),))}
        present = [t for t in OUR_TABLES if t in found]
        version = None
        if "store_meta" in present:
            row = conn.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else None
        if version is None:
            if present:
                raise NotAStoreError(
                    f"{self.path}: the database already has table(s) {', '.join(present)} that are not an "
                    "agenttui store; use another database, or another schema with "
                    "?options=-csearch_path%3Dagenttui in the URL")
            return 0
        return version

    def _check_and_migrate(self, conn: psycopg.Connection) -> None:
        version = self._schema_version(conn)
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(self.path, version, SCHEMA_VERSION)
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            if version >= 1:
                return  # an older schema reads the same (bar non-ASCII search); a writer migrates it
            raise NotAStoreError(f"{self.path}: not an agenttui store yet (no schema); a writer creates it")
        # Two processes opening a new database at once: the second waits here, then finds the
        # schema in place. The lock is per database and released even if we crash (session ends).
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            self._create_schema_if_named(conn)
            version = self._schema_version(conn)
            if version > SCHEMA_VERSION:
                raise SchemaTooNewError(self.path, version, SCHEMA_VERSION)
            with conn.transaction():
                for v in range(version + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[v])
                conn.execute("INSERT INTO store_meta (key, value) VALUES ('schema_version', %s) "
                             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(SCHEMA_VERSION),))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    def _create_schema_if_named(self, conn: psycopg.Connection) -> None:
        """A URL's search_path may name a schema that does not exist yet: create it (teams share
        one database by giving each store its own schema)."""
        if conn.execute("SELECT current_schema()").fetchone()[0] is not None:
            return
        path = conn.execute("SHOW search_path").fetchone()[0]
        first = next((p.strip() for p in path.split(",") if p.strip() and p.strip() != '"$user"'), None)
        if first is None:
            raise SchemaError(f"{self.path}: search_path {path!r} names no schema to create the store in")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {first}")

    def close(self) -> None:
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self._pool.close()

    __enter__ = SQLiteStore.__enter__
    __exit__ = SQLiteStore.__exit__

    @contextmanager
    def connection_from_pool(self) -> Iterator[psycopg.Connection]:
        """A pooled psycopg connection (autocommit, `%s` placeholders) for SQL of your own."""
        with self._pool.connection() as conn:
            yield conn

    @property
    def connection(self) -> "_QmarkConnection":
        """A connection that runs the SQL written for SQLiteStore.connection (`?` placeholders).

        Tools that read the shared schema directly (the TUI's windowed queries) work on both
        backends through it. One per store, for one thread at a time, as SQLite's is.
        """
        if self._raw is None or self._raw.closed:  # reconnect after a server restart dropped it
            self._raw = _QmarkConnection(self._connect())
        return self._raw

    # ------------------------------------------------------------------------------- writing
    #: Validation and serialisation are backend-neutral; `_append_locked` below does the writing.
    append = SQLiteStore.append

    def _append_locked(self, batch: list[Event], payloads: list[str],
                       expected_version: int | Mapping[str, int] | None) -> AppendResult:
        result = AppendResult()
        unique: dict[str, tuple[Event, str]] = {}
        for i, (e, pl) in enumerate(zip(batch, payloads)):
            if "\x00" in e.event_type:  # PostgreSQL text cannot hold NUL (ids are checked upstream)
                raise EnvelopeError("event_type contains a NUL character", field="event_type",
                                    where=f"event {i} ({e.event_id})")
            unique.setdefault(e.event_id, (e, pl))
        result.duplicates = len(batch) - len(unique)
        try:
            with self._unavailable_as_error(), self._pool.connection() as conn, conn.transaction():
                self._write(conn, list(unique.values()), expected_version, result)
        except BaseException:
            self._forget_folds()  # the cache may hold folds of rows that were rolled back
            raise
        return result

    def _forget_folds(self) -> None:
        self._states.clear()
        self._last_snapshot_seq.clear()

    def _write(self, conn: psycopg.Connection, items: list[tuple[Event, str]], expected_version: Any,
               result: AppendResult) -> None:
        # The serialisation point: held until commit, so positions commit in the order assigned.
        head = conn.execute("SELECT last_position FROM events_head FOR UPDATE").fetchone()[0]
        # After the lock, one round trip for both: which ids are stored, and where the runs are.
        mapping = {} if expected_version is None or isinstance(expected_version, int) else dict(expected_version)
        stored: set[str] = set()
        versions: dict[str, tuple[int, int]] = {}
        for kind, key, last_seq, count in conn.execute(
                "SELECT 'event', event_id, 0, 0 FROM events WHERE event_id = ANY(%s) UNION ALL "
                "SELECT 'run', run_id, last_seq, event_count FROM runs WHERE run_id = ANY(%s)",
                ([e.event_id for e, _ in items], list({*(e.run_id for e, _ in items), *mapping}))):
            if kind == "event":
                stored.add(key)
            else:
                versions[key] = (last_seq, count)
        if stored:
            result.duplicates += len(stored)
            items = [(e, pl) for e, pl in items if e.event_id not in stored]
        if not items:  # an idempotent retry of a committed batch succeeds, whatever its expectation
            return
        run_ids = list(dict.fromkeys(e.run_id for e, _ in items))
        expected = mapping
        if isinstance(expected_version, int):
            if len(run_ids) > 1:
                raise ValueError("an int expected_version needs a batch of one run; pass a mapping")
            expected = {run_ids[0]: expected_version}
        for run_id, want in expected.items():
            actual = versions.get(run_id, (0, 0))[0]
            if actual != want:
                raise ConcurrencyError(run_id, want, actual)
        states = {r: self._state_for_write(conn, r, versions.get(r, (0, 0))) for r in run_ids}

        created = now_timestamp()
        position = head
        seqs = {r: s.run["last_seq"] for r, s in states.items()}
        with conn.cursor().copy(f"COPY events ({_EVENT_INSERT_COLUMNS}) FROM STDIN") as copy:
            for e, pl in items:
                position += 1
                seqs[e.run_id] += 1
                e.position, e.seq = position, seqs[e.run_id]
                copy.write_row((position, e.event_id, e.run_id, e.seq, e.event_type, e.timestamp, pl, e.node_id,
                                _dump_json(e.metadata), created))

        upcast = self.upcasters.upcast if self.upcasters else None
        dirty_nodes: dict[str, dict[str, None]] = {r: {} for r in run_ids}
        dirty_edges: dict[str, dict[tuple[str, str], None]] = {r: {} for r in run_ids}
        for e, _ in items:
            touched: Touched = states[e.run_id].apply(upcast(e) if upcast else e)
            dirty_nodes[e.run_id].update(dict.fromkeys(touched.nodes))
            dirty_edges[e.run_id].update(dict.fromkeys(touched.edges))
        with conn.pipeline():  # the rest needs no answers: send it without waiting for each
            for run_id, state in states.items():
                self._write_projection(conn, state, dirty_nodes[run_id], dirty_edges[run_id])
                self._maybe_snapshot(conn, state)
                result.versions[run_id] = state.run["last_seq"]
            conn.execute("UPDATE events_head SET last_position = %s RETURNING pg_notify(%s, %s)",
                         (position, self.channel, str(position)))  # the notification leaves on commit
        result.stored += len(items)
        result.first_position = head + 1
        result.last_position = position

    def _state_for_write(self, conn: psycopg.Connection, run_id: str, db: tuple[int, int]) -> RunState:
        """The run's fold: cached unless another writer (or a retention pass) moved the run since."""
        state = self._states.get(run_id)
        if state is None or (state.run["last_seq"], state.run["event_count"]) != tuple(db):
            state = self._load_state(conn, run_id)
            self._last_snapshot_seq[run_id] = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM snapshots WHERE run_id = %s", (run_id,)).fetchone()[0]
        self._states[run_id] = state
        self._states.move_to_end(run_id)
        while len(self._states) > STATE_CACHE_RUNS:
            evicted, _ = self._states.popitem(last=False)
            self._last_snapshot_seq.pop(evicted, None)
        return state

    @staticmethod
    def _load_state(conn: psycopg.Connection, run_id: str) -> RunState:
        """The run's projection rows as a RunState (they hold the whole fold)."""
        state = RunState(run_id)
        row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        if row is None:
            return state
        state.run = _dict_from_row(RUN_COLUMNS, row)
        state.run["metadata"] = state.run["metadata"] or {}
        state.position = state.run["last_position"] or 0
        for r in conn.execute(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = %s", (run_id,)):
            node = _dict_from_row(NODE_COLUMNS, r)
            state.nodes[node["node_id"]] = node
        for r in conn.execute(f"SELECT {', '.join(EDGE_COLUMNS)} FROM edges WHERE run_id = %s ORDER BY id",
                              (run_id,)):
            edge = _dict_from_row(EDGE_COLUMNS, r)
            state.edges[(edge["parent_node_id"], edge["child_node_id"])] = edge
        return state

    @staticmethod
    def _write_projection(conn: psycopg.Connection, state: RunState, nodes: Iterable[str],
                          edges: Iterable[tuple[str, str]]) -> None:
        conn.execute(_RUN_UPSERT, _row_values(state.run, RUN_COLUMNS))
        with conn.cursor() as cur:
            node_rows = [_row_values(state.nodes[n], NODE_COLUMNS) for n in nodes]
            if node_rows:
                cur.executemany(_NODE_UPSERT, node_rows)
            edge_rows = [_row_values(state.edges[k], EDGE_COLUMNS) for k in edges]
            if edge_rows:
                cur.executemany(_EDGE_UPSERT, edge_rows)

    def _maybe_snapshot(self, conn: psycopg.Connection, state: RunState, force: bool = False) -> None:
        seq = state.run["last_seq"]
        since = seq - self._last_snapshot_seq.get(state.run_id, 0)
        if since <= 0 or (not force and since < max(self.snapshot_every, 2 * len(state.nodes))):
            return
        conn.execute(
            "INSERT INTO snapshots (run_id, position, seq, fold_version, state, created_at) VALUES (%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (run_id, position) DO UPDATE SET seq = EXCLUDED.seq, fold_version = EXCLUDED.fold_version, "
            "state = EXCLUDED.state, created_at = EXCLUDED.created_at",
            (state.run_id, state.position, seq, FOLD_VERSION, zlib.compress(orjson.dumps(state.to_dict()), 1),
             now_timestamp()))
        self._last_snapshot_seq[state.run_id] = seq

    def snapshot(self, run_id: str) -> None:
        """Write a checkpoint of the run's current fold now (the store also does so periodically)."""
        self._refuse_if_readonly()
        with self._lock, self._pool.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT last_position FROM events_head FOR UPDATE")
                    row = conn.execute("SELECT last_seq, event_count FROM runs WHERE run_id = %s", (run_id,)).fetchone()
                    self._maybe_snapshot(conn, self._state_for_write(conn, run_id, row or (0, 0)), force=True)
            except BaseException:
                self._forget_folds()
                raise

    def _refuse_if_readonly(self) -> None:
        if self.readonly:
            raise SchemaError(f"{self.path}: opened read-only")

    # ------------------------------------------------------------------------ rebuild / check
    def _scan_batches(self, run_id: str | None = None, size: int = 20_000, *,
                      conn: psycopg.Connection | None = None) -> Iterator[list[Event]]:
        """Stored events (not upcast) in log order, or one run's in seq order, a page at a time."""
        if conn is None:
            with self._pool.connection() as own:
                yield from self._scan_batches(run_id, size, conn=own)
            return
        if run_id is None:
            sql, key, params = f"SELECT {EVENT_COLUMNS} FROM events WHERE id > %s ORDER BY id LIMIT %s", 0, ()
        else:
            sql, key, params = (f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = %s AND seq > %s "
                                "ORDER BY seq LIMIT %s", 3, (run_id,))
        last = 0
        while True:
            rows = conn.execute(sql, (*params, last, size)).fetchall()
            if not rows:
                return
            last = rows[-1][key]
            yield [_fix_node_id(row_to_event(r)) for r in rows]

    fold_all = SQLiteStore.fold_all
    check = SQLiteStore.check
    node_tree = SQLiteStore.node_tree

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Recompute runs, nodes, edges and snapshots from the events, in one transaction."""
        self._refuse_if_readonly()
        states: dict[str, RunState] = {}
        done = 0
        with self._lock, self._pool.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT last_position FROM events_head FOR UPDATE")  # no append meanwhile
                    for table in ("runs", "nodes", "edges", "snapshots"):
                        conn.execute(f"DELETE FROM {table}")
                    self._forget_folds()
                    upcast = self.upcasters.upcast if self.upcasters else None
                    total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                    for batch in self._scan_batches(conn=conn):
                        for e in batch:
                            state = states.get(e.run_id)
                            if state is None:
                                state = states[e.run_id] = RunState(e.run_id)
                            state.apply(upcast(e) if upcast else e)
                            self._maybe_snapshot(conn, state)
                        done += len(batch)
                        if progress:
                            progress(done, total)
                    for state in states.values():
                        self._write_projection(conn, state, list(state.nodes), list(state.edges))
            except BaseException:
                self._forget_folds()
                raise
        return {"runs": len(states), "nodes": sum(len(s.nodes) for s in states.values()),
                "edges": sum(len(s.edges) for s in states.values()), "events": done}

    def stored_state(self, run_id: str) -> RunState:
        """The run's projection rows as a RunState (what the tables hold now)."""
        with self._pool.connection() as conn:
            return self._load_state(conn, run_id)

    # ----------------------------------------------------------------------------- reading
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run read SQL written for both backends (`?` placeholders), as SQLiteStore._query does."""
        with self._unavailable_as_error(), self._pool.connection() as conn:
            return conn.execute(_qmark(sql), params).fetchall()

    @contextmanager
    def _unavailable_as_error(self) -> Iterator[None]:
        """A server that went away (restart, network) becomes one clear error, not a driver traceback;
        the pool drops the broken connection, so the next call reconnects."""
        try:
            yield
        except PoolTimeout:
            raise StoreUnavailableError(f"{self.path}: no connection to PostgreSQL within "
                                        f"{self.connect_timeout:g} s") from None
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailableError(f"{self.path}: lost the connection to PostgreSQL: {reason}") from None

    # The read API: SQLiteStore's methods, running their SQL through `_query` above.
    events = SQLiteStore.events
    _seq_bound = SQLiteStore._seq_bound
    _read_event = SQLiteStore._read_event
    iter_events = SQLiteStore.iter_events
    count_events = SQLiteStore.count_events
    count_by_type = SQLiteStore.count_by_type
    get_event = SQLiteStore.get_event
    event_at = SQLiteStore.event_at
    event_by_seq = SQLiteStore.event_by_seq
    timeline = SQLiteStore.timeline
    read_after = SQLiteStore.read_after
    last_position = SQLiteStore.last_position
    runs = SQLiteStore.runs
    run = SQLiteStore.run
    latest_run_id = SQLiteStore.latest_run_id
    nodes = SQLiteStore.nodes
    node = SQLiteStore.node
    edges = SQLiteStore.edges
    position_at = SQLiteStore.position_at
    retention_log = SQLiteStore.retention_log

    def data_version(self) -> int:
        """Changes whenever events are appended or retention runs (the cheap 'anything new?' check)."""
        row = self._query("SELECT (SELECT last_position FROM events_head), "
                          "(SELECT count(*) FROM retention_log)")[0]
        return row[0] * 1_000_003 + row[1]

    def stats(self) -> dict[str, Any]:
        """Storage figures: sizes, counts, span, schema (the SQLite store's keys where they apply)."""
        with self._pool.connection() as conn, conn.transaction():
            q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
            tables = ("events", "runs", "nodes", "edges", "snapshots", "retention_log")
            table_bytes = {t: q(f"SELECT pg_total_relation_size(to_regclass('{t}'))")[0][0] or 0 for t in tables}
            info = conn.info
            return {
                "path": self.path,
                "backend": self.backend,
                "schema_version": self._schema_version(conn),
                "server_version": q("SHOW server_version")[0][0],
                "database": info.dbname,
                "database_bytes": q("SELECT pg_database_size(current_database())")[0][0],
                "table_bytes": table_bytes,
                "file_bytes": sum(table_bytes.values()),
                **content_stats(q),
            }

    # --------------------------------------------------------------------- temporal queries
    def state_at(
        self,
        run_id: str,
        position: int | None = None,
        *,
        timestamp: str | None = None,
        exclude: Iterable[str] = (),
    ) -> RunState:
        """The run's projected state as of a position (inclusive) or a timestamp.

        exclude: event ids to leave out (counterfactual). A snapshot is a prefix of the log, so the
        starting one must lie before the first event that is excluded or past the timestamp.
        """
        excluded = list(dict.fromkeys(exclude))
        upcast = self.upcasters.upcast if self.upcasters else None
        ts_limit = normalize_timestamp(timestamp, field_name="timestamp") if timestamp is not None else None
        upto = position if position is not None else 2 ** 62
        with self._pool.connection() as conn, conn.transaction():  # one snapshot of the data throughout
            usable = upto
            if excluded:
                first = conn.execute("SELECT min(id) FROM events WHERE event_id = ANY(%s)", (excluded,)).fetchone()[0]
                usable = min(usable, first - 1) if first is not None else usable
            if ts_limit is not None:
                first = conn.execute("SELECT min(id) FROM events WHERE run_id = %s AND timestamp > %s",
                                     (run_id, ts_limit)).fetchone()[0]
                usable = min(usable, first - 1) if first is not None else usable
            snap = conn.execute(
                "SELECT seq, state FROM snapshots WHERE run_id = %s AND position <= %s AND fold_version = %s "
                "ORDER BY position DESC LIMIT 1", (run_id, usable, FOLD_VERSION)).fetchone()
            state = RunState.from_dict(orjson.loads(zlib.decompress(snap[1]))) if snap else RunState(run_id)
            after_seq = snap[0] if snap else 0
            conditions = ["run_id = %s", "seq > %s", "id <= %s"]
            params: list[Any] = [run_id, 0, upto]
            if excluded:
                conditions.append("NOT (event_id = ANY(%s))")
                params.append(excluded)
            if ts_limit is not None:
                conditions.append("timestamp <= %s")
                params.append(ts_limit)
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT 20000"
            while True:
                params[1] = after_seq
                rows = conn.execute(sql, params).fetchall()
                if not rows:
                    return state
                after_seq = rows[-1][3]
                for r in rows:
                    e = _fix_node_id(row_to_event(r))
                    state.apply(upcast(e) if upcast else e)

    # --------------------------------------------------------------------------- retention
    def retention(self, days: int, *, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """Delete events stamped more than `days` ago (0 keeps everything), audited in retention_log.

        Runs left with no events are removed; the others are refolded from what remains, so
        check() still holds. Appends wait for the pass (it holds the position lock).
        """
        self._refuse_if_readonly()
        if days < 0:
            raise ValueError("days must be >= 0 (0 keeps events forever)")
        now = now or datetime.now(timezone.utc)
        executed_by = actor or _whoami()
        report: dict[str, Any] = {"days": days, "events_deleted": 0, "runs_deleted": 0, "runs_refolded": 0,
                                  "cutoff": None}
        if days == 0:
            return report
        cutoff = format_datetime(now - timedelta(days=days))
        report["cutoff"] = cutoff
        upcast = self.upcasters.upcast if self.upcasters else None
        with self._lock, self._pool.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT last_position FROM events_head FOR UPDATE")
                    per_run = conn.execute(
                        "SELECT run_id, count(*), min(id), max(id) FROM events WHERE timestamp < %s "
                        "GROUP BY run_id ORDER BY run_id", (cutoff,)).fetchall()
                    if not per_run:
                        return report
                    token = f"retention-{os.getpid()}-{time.time_ns()}"
                    conn.execute("INSERT INTO retention_guard (token) VALUES (%s)", (token,))
                    conn.execute("DELETE FROM events WHERE timestamp < %s", (cutoff,))
                    conn.execute("DELETE FROM retention_guard WHERE token = %s", (token,))
                    emptied, refolded = [], []
                    for run_id, *_ in per_run:
                        for table in ("runs", "nodes", "edges", "snapshots"):
                            conn.execute(f"DELETE FROM {table} WHERE run_id = %s", (run_id,))
                        self._states.pop(run_id, None)
                        self._last_snapshot_seq.pop(run_id, None)
                        state = RunState(run_id)
                        for batch in self._scan_batches(run_id, conn=conn):
                            for e in batch:
                                state.apply(upcast(e) if upcast else e)
                        if not state.run["event_count"]:
                            emptied.append(run_id)
                            continue
                        refolded.append(run_id)
                        self._write_projection(conn, state, list(state.nodes), list(state.edges))
                    conn.execute(RETENTION_LOG_INSERT.replace("?", "%s"),
                                 retention_log_row(report, per_run, emptied, refolded, executed_by, days, cutoff))
            except BaseException:
                self._forget_folds()
                raise
        report["executed_by"] = executed_by
        return report

    # ----------------------------------------------------------------------- the live signal
    def _listening(self) -> psycopg.Connection:
        if self._listener is None or self._listener.closed:
            conn = self._connect()
            conn.execute(f"LISTEN {_ident(self.channel)}")
            self._listener = conn
        return self._listener

    def wait_for_change(self, timeout: float | None = None, *, after: int | None = None) -> int | None:
        """Block until an append commits (or `timeout` seconds pass); the newest position announced.

        Pass `after`, the last position you have read: a commit past it that landed before the
        call (even before the first call started listening) returns at once, and announcements
        of positions you already have are skipped instead of waking you for nothing.
        Commits between calls are not lost (they wait on the listening connection); a burst
        that has arrived wakes you once, with its highest position. Returns None on timeout.
        Positions are a wake-up hint: read_after(last) is the truth.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._listen_lock:
            conn = self._listening()
            if after is not None:
                head = self._query("SELECT last_position FROM events_head")[0][0]
                if head > after:
                    self._drain(conn)  # announcements up to `head` are covered by this answer
                    return head
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                # everything already received comes at once (stop_after stops after that read)
                got = list(conn.notifies(timeout=remaining, stop_after=1))
                if not got:
                    return None
                newest = max((_position_of(n) or 0 for n in got), default=0)
                newest = max(newest, self._drain(conn))
                if after is None or newest > after:
                    return newest

    @staticmethod
    def _drain(conn: psycopg.Connection) -> int:
        """Consume announcements already received; the highest position among them (0 if none)."""
        return max((_position_of(n) or 0 for n in conn.notifies(timeout=0)), default=0)

    def listen(self, callback: Callable[[int], Any] | None = None, *, poll: float = 0.5):
        """Follow commits as they happen; no commit after this call returns is missed.

        Without a callback: an iterator of announced positions (close() it when done). With one:
        calls callback(position) on a daemon thread and returns a handle whose stop() ends it.
        Each listener has its own connection, so it never delays the store's queries.
        """
        conn = self._connect()
        conn.execute(f"LISTEN {_ident(self.channel)}")  # before returning: the caller may commit next
        if callback is None:
            return self._notifications(conn, threading.Event(), poll)
        stop = threading.Event()

        def run() -> None:
            for position in self._notifications(conn, stop, poll):
                callback(position)

        thread = threading.Thread(target=run, name=f"agenttui listen {self.path}", daemon=True)
        thread.start()
        return _ListenHandle(stop, thread)

    @staticmethod
    def _notifications(conn: psycopg.Connection, stop: threading.Event, poll: float) -> Iterator[int]:
        try:
            while not stop.is_set():
                for n in conn.notifies(timeout=poll):
                    position = _position_of(n)
                    if position is not None:
                        yield position
                    if stop.is_set():
                        return
        finally:
            conn.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _position_of(notify: Any) -> int | None:
    if notify is None:
        return None
    try:
        return int(notify.payload)
    except (TypeError, ValueError):
        return None


class _ListenHandle:
    def __init__(self, stop: threading.Event, thread: threading.Thread) -> None:
        self._stop = stop
        self.thread = thread

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        self.thread.join(timeout)


class _QmarkConnection:
    """Runs SQLite-flavoured read SQL (`?` placeholders) on a PostgreSQL connection."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._conn.execute(_qmark(sql), list(params))

    @property
    def closed(self) -> bool:
        """True once closed, or broken (psycopg marks a connection the server dropped as closed)."""
        return self._conn.closed

    def close(self) -> None:
        self._conn.close()
