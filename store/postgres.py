"""The PostgreSQL backend: the store contract on a server many writers and readers share.

Only what is PostgreSQL's own lives here: the connection pool, transactions that lock the
position counter, COPY for inserts with the projection writes pipelined, migrations under an
advisory lock, retention's permission to delete, and LISTEN/NOTIFY as the live signal. The rest
(validation, the fold cache, snapshots, rebuild, retention, the read API) is store.base.BaseStore,
whose SQL (`?` placeholders, the subset both databases accept) runs here through _QmarkConnection;
the contract suite (tests/test_contract.py) checks that both backends behave the same.

Gapless reading: every write transaction first locks the one row of `events_head` (the position
counter), assigns its positions from it and commits before the next writer can take the lock. So
positions become visible in the order they were assigned: a reader following `id > last_seen` can
never see position 11 and later discover 10. (A sequence would hand out 10 and 11 to two
concurrent transactions that may commit in either order.) docs/postgres.md has the full argument.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.types.string import TextLoader
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        f"the PostgreSQL backend needs psycopg 3 and psycopg-pool ({exc.name} is missing): "
        "pip install 'agenttui[postgres]'") from exc

from .base import DEFAULT_SNAPSHOT_EVERY, BaseStore, Item, hash_stored_events
from .chain import event_hash
from .envelope import DEFAULT_MAX_PAYLOAD_BYTES, now_timestamp
from .errors import ConcurrencyError, ImmutableEventError, NotAStoreError, SchemaError, SchemaTooNewError
from .errors import StoreUnavailableError  # noqa: F401  (re-exported: it used to live here)
from .fold import EDGE_COLUMNS, NODE_COLUMNS, RUN_COLUMNS, RunState
from .pg_schema import HASH_CHAIN_VERSION, MIGRATION_LOCK_KEY, MIGRATIONS, NOTIFY_CHANNEL, OUR_TABLES, SCHEMA_VERSION
from .rows import AppendResult, content_stats, dump_json, row_values
from .upcast import UpcasterRegistry, upcasters as default_upcasters
from .urls import POSTGRES_URL_PREFIXES as URL_PREFIXES  # noqa: F401  (re-exported)
from .urls import is_postgres_url  # noqa: F401  (re-exported)

_EVENT_INSERT_COLUMNS = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata, created_at, hash"


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


class PostgresStore(BaseStore):
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
        self._init_shared(readonly=readonly, max_payload_bytes=max_payload_bytes,
                          upcasters=upcasters if upcasters is not None else default_upcasters,
                          snapshot_every=snapshot_every)
        self.connect_timeout = connect_timeout
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection | None = None
        self._raw: _QmarkConnection | None = None
        with self._connect() as conn:
            self._check_and_migrate(conn)
            schema = _scalar(conn, "SELECT current_schema()")
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
                    if v == HASH_CHAIN_VERSION:  # hash what is stored, the update guard lifted meanwhile
                        conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update")
                        hash_stored_events(_QmarkConnection(conn))
                        conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update")
                conn.execute("INSERT INTO store_meta (key, value) VALUES ('schema_version', %s) "
                             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(SCHEMA_VERSION),))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    def _create_schema_if_named(self, conn: psycopg.Connection) -> None:
        """A URL's search_path may name a schema that does not exist yet: create it (teams share
        one database by giving each store its own schema)."""
        if _scalar(conn, "SELECT current_schema()") is not None:
            return
        path = _scalar(conn, "SHOW search_path")
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

    # ------------------------------------------------------------------------------ transactions
    @contextmanager
    def _reading(self) -> Iterator["_QmarkConnection"]:
        with self._unavailable_as_error(), self._pool.connection() as conn:
            yield _QmarkConnection(conn)

    @contextmanager
    def _transaction(self) -> Iterator["_QmarkConnection"]:
        """A write transaction holding the position counter's lock from its first statement, so
        write transactions (appends, snapshots, rebuild, retention) run one at a time."""
        self._refuse_if_readonly()
        try:
            with self._unavailable_as_error(), self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT last_position FROM events_head FOR UPDATE")
                yield _QmarkConnection(conn)
        except BaseException as exc:
            self._forget_folds()
            if isinstance(exc, psycopg.errors.IntegrityConstraintViolation) and "append-only" in str(exc):
                raise ImmutableEventError(f"{self.path}: {str(exc).splitlines()[0]}") from None
            raise

    # ------------------------------------------------------------------------------- writing
    def _insert(self, tx: "_QmarkConnection", items: list[Item], expected_version: Any, result: AppendResult,
                *, check_existing: bool) -> None:
        """COPY the batch in; always checks for stored ids (one round trip with the runs' versions)."""
        conn = tx.raw
        # locked by _transaction until commit, so positions commit in the order assigned
        head = _scalar(conn, "SELECT last_position FROM events_head")
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
        for run_id, want in self._expected_versions(expected_version, run_ids).items():
            actual = versions.get(run_id, (0, 0))[0]
            if actual != want:
                raise ConcurrencyError(run_id, want, actual)
        states = {r: self._state_for_write(tx, r, versions.get(r, (0, 0))) for r in run_ids}

        created = now_timestamp()
        position = head
        seqs = {r: s.run["last_seq"] for r, s in states.items()}
        prevs = {r: self._chain_prev(tx, r, seq) for r, seq in seqs.items()}
        with conn.cursor().copy(f"COPY events ({_EVENT_INSERT_COLUMNS}) FROM STDIN") as copy:
            for e, pl in items:
                position += 1
                seqs[e.run_id] += 1
                e.position, e.seq = position, seqs[e.run_id]
                meta = dump_json(e.metadata)
                digest = prevs[e.run_id] = event_hash(prevs[e.run_id], position, e.event_id, e.run_id, e.seq,
                                                      e.event_type, e.timestamp, pl, e.node_id, meta, created)
                copy.write_row((position, e.event_id, e.run_id, e.seq, e.event_type, e.timestamp, pl, e.node_id,
                                meta, created, digest))
        for r, digest in prevs.items():
            self._heads[r] = (seqs[r], digest)

        dirty = self._fold_batch(states, items, run_ids)
        with conn.pipeline():  # the rest needs no answers: send it without waiting for each
            for run_id, state in states.items():
                self._write_projection(tx, state, dirty[run_id][0], dirty[run_id][1])
                self._maybe_snapshot(tx, state)
                result.versions[run_id] = state.run["last_seq"]
            conn.execute("UPDATE events_head SET last_position = %s RETURNING pg_notify(%s, %s)",
                         (position, self.channel, str(position)))  # the notification leaves on commit
        result.stored += len(items)
        result.first_position = head + 1
        result.last_position = position

    @staticmethod
    def _write_projection(tx: "_QmarkConnection", state: RunState, nodes: Iterable[str],
                          edges: Iterable[tuple[str, str]]) -> None:
        conn = tx.raw
        conn.execute(_RUN_UPSERT, text_row(row_values(state.run, RUN_COLUMNS)))
        with conn.cursor() as cur:
            node_rows = [text_row(row_values(state.nodes[n], NODE_COLUMNS)) for n in nodes]
            if node_rows:
                cur.executemany(_NODE_UPSERT, node_rows)
            edge_rows = [text_row(row_values(state.edges[k], EDGE_COLUMNS)) for k in edges]
            if edge_rows:
                cur.executemany(_EDGE_UPSERT, edge_rows)

    def _as_stored(self, state: RunState) -> RunState:
        """The fold as the projection tables hold it here: NUL written as the text \\u0000."""
        stored = RunState(state.run_id)
        stored.run = {k: text_value(v) for k, v in state.run.items()}
        stored.nodes = {text_value(k): {c: text_value(v) for c, v in n.items()} for k, n in state.nodes.items()}
        stored.edges = {(text_value(p), text_value(c)): {k: text_value(v) for k, v in e.items()}
                        for (p, c), e in state.edges.items()}
        return stored

    def _delete_events_before(self, tx: "_QmarkConnection", cutoff: str) -> None:
        """The DELETE; the delete trigger lets each row go because this transaction has already
        written the retention_log entry covering it (BaseStore.retention writes it first)."""
        tx.execute("DELETE FROM events WHERE timestamp < ?", (cutoff,))

    # ----------------------------------------------------------------------------- reading
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


def _scalar(conn: psycopg.Connection, sql: str) -> Any:
    """The first column of a query that always returns one row (a server setting, the one-row head table)."""
    row = conn.execute(sql).fetchone()
    if row is None:
        raise SchemaError(f"PostgreSQL returned no row for {sql!r}")
    return row[0]


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

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_qmark(sql), rows)

    @property
    def raw(self) -> psycopg.Connection:
        """The psycopg connection itself (`%s` placeholders, COPY, pipelines)."""
        return self._conn

    @property
    def closed(self) -> bool:
        """True once closed, or broken (psycopg marks a connection the server dropped as closed)."""
        return self._conn.closed

    def close(self) -> None:
        self._conn.close()


def text_value(value: Any) -> Any:
    """A projected text value PostgreSQL can store: its text type cannot hold NUL, so a payload
    string with NUL (copied into node_nid, task_goal, a status, an edge's node id ...) is written
    with each NUL as the six characters \\u0000, as JSON shows it. The event keeps the original
    (payloads are json), and rebuild writes the same, so `rebuild --check` stays clean."""
    return value.replace("\x00", "\\u0000") if type(value) is str and "\x00" in value else value


def text_row(values: Sequence[Any]) -> Sequence[Any]:
    """A projection row's parameters through text_value (the common row, without NUL, as it is)."""
    for v in values:
        if type(v) is str and "\x00" in v:
            return [text_value(x) for x in values]
    return values
