"""The SQLite backend: one file, WAL, append-only events with projections kept in the same transaction.

Only what is SQLite's own lives here: opening and migrating the file, the one connection and its
lock, BEGIN IMMEDIATE transactions, the insert fast path (positions from sqlite_sequence, an
optimistic duplicate check), the upserts that spare indexed columns, retention's permission to
delete, and `data_version` (the live signal). Everything else is store.base.BaseStore.

Writers serialise on SQLite's write lock (BEGIN IMMEDIATE), so positions are assigned and committed
in one order: a reader that follows `id > last_seen` never skips an event that commits late.
"""
from __future__ import annotations

import atexit
import itertools
import operator
import os
import random
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import orjson

from .base import DEFAULT_SNAPSHOT_EVERY, BaseStore, Item, hash_stored_events
from .chain import chained_hash
from .envelope import DEFAULT_MAX_PAYLOAD_BYTES, now_timestamp
from .errors import (
    ConcurrencyError, ImmutableEventError, NotAStoreError, SchemaError, SchemaTooNewError, StoreLockedError,
)
from .fold import EDGE_COLUMNS, FOLD_VERSION, NODE_COLUMNS, RUN_COLUMNS, RunState
from .rows import AppendResult, casefold_text, content_stats, row_values
from . import search_blocks
from .snapshots import encode_delta, snapshot_in_parts
from .schema import APPLICATION_ID, HASH_CHAIN_VERSION, MIGRATIONS, SCHEMA_VERSION, V3_RESTORE_UPDATE_GUARD
from .upcast import UpcasterRegistry, upcasters as default_upcasters

if TYPE_CHECKING:
    from .bulk import PendingProjections

#: SQLite page cache per connection (MB), for writers and for read-only readers.
WRITER_CACHE_MB = 64
READER_CACHE_MB = 8
#: Seconds a writer waits, retrying, for other writers to release the write lock before it gives
#: up with StoreLockedError. SQLite's own busy handler waits only busy_timeout_ms per attempt, and
#: ten importers committing 10,000-row transactions keep one another waiting longer than that.
DEFAULT_LOCK_TIMEOUT = 120.0
#: The oldest schema a read-only reader (the inspector) can use as it is, without migrating it.
READABLE_SINCE_VERSION = 1
#: Seconds between two checkpoints of the writer's background checkpointer (see _Checkpointer).
CHECKPOINT_INTERVAL = 0.02
#: The writer's own automatic checkpoint (SQLite's wal_autocheckpoint, in WAL pages): where the WAL
#: starts over while appends keep coming (see _Checkpointer). Up to ~45 MB of WAL beside the file;
#: batch-100 appends A/B against 4,000 pages: 1.04-1.12x the throughput (fewer stalls of the writer).
WAL_RESTART_FRAMES = 10000
#: An append of at least this many events inserts them with multi-row statements (insert_rows): 8%
#: less CPU an event at ~1,100 (an OTLP request's spans), 6% at 512, none at 256, and more below,
#: where compiling a statement per batch size costs more than executemany's per-row work (OTel
#: events, interleaved A/B, load 4.4-5.2).
MULTI_ROW_EVENTS = 512
_INSERT_EVENT_SQL = ("INSERT INTO events (id, event_id, run_id, seq, event_type, timestamp, payload, node_id, "
                     "metadata, created_at, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    """True when SQLite reads `path` as a database (a folder scan's test), judged through SQLite.

    Never by opening the file in Python: closing that descriptor would drop every POSIX lock this
    process holds on the file, and an open store of the same file would then miss later commits
    (see `SQLiteStore._connect`). An empty file is not one yet.
    """
    try:
        if os.path.getsize(path) == 0:
            return False
        # immutable: no locks, no -wal/-shm created next to a file that is only being looked at
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except (OSError, sqlite3.Error):
        return False
    try:
        conn.execute("PRAGMA schema_version").fetchone()
        return True
    except sqlite3.Error as exc:  # locked or busy is still a database
        return "file is not a database" not in str(exc)
    finally:
        conn.close()



def _upsert_sql(table: str, columns: Sequence[str], key: Sequence[str], indexed: Sequence[str]) -> str:
    """An upsert that updates a row in place and leaves its `indexed` columns out of the update.

    Not INSERT OR REPLACE: that deletes and re-inserts the row, rewriting every index entry of it.
    And SQLite rewrites an index entry whenever its column is SET, even to the same value (twice
    the WAL pages, measured), so the rarely changing indexed columns get their own guarded UPDATE
    (_fix_keys_sql) instead. See benchmarks/README.md for what this saves per commit.
    """
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key and c not in indexed))


def _fix_keys_sql(table: str, key: Sequence[str], indexed: Sequence[str]) -> str:
    """Set a stored row's indexed columns only where they differ (a no-op read otherwise)."""
    return (f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in indexed)} "
            f"WHERE {' AND '.join(f'{k} = ?' for k in key)} AND ({' OR '.join(f'{c} IS NOT ?' for c in indexed)})")


def _fix_keys_params(columns: Sequence[str], key: Sequence[str], indexed: Sequence[str]
                     ) -> Callable[[Sequence[Any]], tuple]:
    """Maps a row (in `columns` order) to _fix_keys_sql's parameters."""
    return operator.itemgetter(*[columns.index(c) for c in (*indexed, *key, *indexed)])


_RUN_KEY, _RUN_INDEXED = ("run_id",), ("start_time",)
_NODE_KEY, _NODE_INDEXED = ("run_id", "node_id"), ("node_nid", "outer_node_id")
_UPSERT_RUN_SQL = _upsert_sql("runs", RUN_COLUMNS, _RUN_KEY, _RUN_INDEXED)
_FIX_RUN_SQL = _fix_keys_sql("runs", _RUN_KEY, _RUN_INDEXED)
_fix_run_params = _fix_keys_params(RUN_COLUMNS, _RUN_KEY, _RUN_INDEXED)
_UPSERT_NODE_SQL = _upsert_sql("nodes", NODE_COLUMNS, _NODE_KEY, _NODE_INDEXED)
_FIX_NODE_SQL = _fix_keys_sql("nodes", _NODE_KEY, _NODE_INDEXED)
_fix_node_params = _fix_keys_params(NODE_COLUMNS, _NODE_KEY, _NODE_INDEXED)
#: Within one long transaction (a bulk load) an index entry rewritten many times costs no extra
#: WAL pages, so the bulk load upserts every column in one statement instead of fix + upsert.
_UPSERT_RUN_ALL_SQL = _upsert_sql("runs", RUN_COLUMNS, _RUN_KEY, ())
_UPSERT_NODE_ALL_SQL = _upsert_sql("nodes", NODE_COLUMNS, _NODE_KEY, ())
_UPSERT_EDGE_SQL = (
    f"INSERT INTO edges ({', '.join(EDGE_COLUMNS)}) VALUES ({','.join('?' * len(EDGE_COLUMNS))}) "
    "ON CONFLICT (run_id, parent_node_id, child_node_id) DO UPDATE SET parent_nid = excluded.parent_nid, "
    "child_nid = excluded.child_nid, metadata = excluded.metadata")


class _Checkpointer:
    """Copies the WAL into the database file from a thread of its own, so appends do not wait for it.

    With SQLite's default (wal_autocheckpoint = 1000) the commit that makes the WAL reach 1,000
    pages checkpoints it before returning: it copies them into the database and syncs the WAL and
    the file, two fsyncs on the appender's clock every few batches of 100 (a third of the batched
    append's wall time on this project's machine, measured). Here every commit of the writer wakes
    this thread, which runs a PASSIVE checkpoint (it never waits for a reader or a writer) through
    its own connection, at most once per CHECKPOINT_INTERVAL.

    A checkpoint that commits keep overtaking never lets the WAL start over (SQLite rewinds it at
    the first write transaction after one that caught up), so the writer's connection keeps an
    automatic checkpoint at WAL_RESTART_FRAMES: when the WAL reaches that size the committing
    writer copies the few frames the thread has not, and its next transaction rewinds the WAL. That
    also bounds the WAL if the thread cannot run at all.
    """

    def __init__(self, path: str) -> None:
        # the file the writer opened, whatever the working directory by the time the thread starts;
        # mode=rw: a file removed meanwhile is not created anew
        self.uri = f"{Path(path).resolve().as_uri()}?mode=rw"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _running_checkpointers.add(self)

    def committed(self) -> None:
        """After each commit of the writer's connection: the thread checkpoints soon."""
        if self._thread is None:
            if self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="agenttui checkpoints", daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.uri, uri=True, isolation_level=None)
        except sqlite3.Error:  # the writer's own automatic checkpoint stays
            return
        try:
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # another connection is checkpointing; a later commit wakes us
                    pass
                if self._stop.wait(CHECKPOINT_INTERVAL):
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be running) and close its connection."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


#: Every store's checkpointer, stopped at interpreter exit: a store never closed would otherwise
#: keep its thread's connection open to the end, and the writer's connection, closing, would not
#: be the last one, so it would leave its WAL beside the file.
_running_checkpointers: "weakref.WeakSet[_Checkpointer]" = weakref.WeakSet()


@atexit.register
def _stop_checkpointers() -> None:
    for checkpointer in list(_running_checkpointers):
        checkpointer.stop()


_RUN_START = RUN_COLUMNS.index("start_time")
_NODE_KEYS = operator.itemgetter(*[NODE_COLUMNS.index(c) for c in _NODE_INDEXED])
_NOT_STORED = object()


class _StoredKeys:
    """What a run's stored rows hold in the columns the upserts leave alone (_RUN_INDEXED,
    _NODE_INDEXED), as of `state`: taken from the state when it matches the projection tables
    (loaded from them, or a new run: nothing stored), then kept up to date by every plan built
    from it. Valid only with that very state object (see SQLiteStore._keys_of); a transaction that
    fails drops both (_forget_folds)."""

    __slots__ = ("state", "seq", "start_time", "nodes")

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.seq = state.run["last_seq"]  # the fold these keys match
        stored = self.seq > 0
        self.start_time: Any = state.run["start_time"] if stored else _NOT_STORED
        self.nodes: dict[str, tuple] = {n: (d["node_nid"], d["outer_node_id"]) for n, d in state.nodes.items()}

    def run_fix(self, run_row: Sequence[Any]) -> bool:
        """True when the run's stored row needs the guarded UPDATE before its upsert."""
        start, self.start_time = self.start_time, run_row[_RUN_START]
        return start is not _NOT_STORED and start != run_row[_RUN_START]

    def node_fixes(self, nodes: Iterable[str], rows: list) -> list:
        """The rows (of `nodes`, in order) stored with other indexed values than they now have (a
        node not stored yet is inserted whole by the upsert)."""
        known = self.nodes
        fixes = []
        for n, row in zip(nodes, rows):
            now = _NODE_KEYS(row)
            before = known.get(n)
            if before != now:
                if before is not None:
                    fixes.append(row)
                known[n] = now
        return fixes


class SQLiteStore(BaseStore):
    """The embedded default store. Thread-safe: one connection guarded by a lock.

    readonly=True opens the file with SQLite's read-only mode (the TUI's way): it never writes,
    never migrates and refuses to create a missing file.
    """

    backend = "sqlite"
    _optimistic_insert = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        upcasters: UpcasterRegistry | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        cache_mb: int | None = None,
        busy_timeout_ms: int = 5000,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.path = str(path)
        # A reader never queues behind writers for long: the inspector opens with a 250 ms busy
        # timeout so its UI thread shows "locked, retrying" instead of freezing.
        self.lock_timeout = min(lock_timeout, busy_timeout_ms / 1000) if readonly else lock_timeout
        self._deleting = False  # True only while retention deletes (agenttui_retention_allowed)
        self._block_tails = search_blocks.BlockTails()
        #: per run: (the state, position and seq of this writer's last checkpoint of it, the node and
        #: edge keys the fold touched since) - what the next delta checkpoint holds (see _delta_row)
        self._delta_from: dict[str, tuple[RunState, int, int, dict[str, None], dict[tuple[str, str], None]]] = {}
        #: per run: the indexed columns of its stored rows, as this writer last wrote them (see _StoredKeys)
        self._stored_keys: dict[str, _StoredKeys] = {}
        self._init_shared(readonly=readonly, max_payload_bytes=max_payload_bytes,
                          upcasters=upcasters if upcasters is not None else default_upcasters,
                          snapshot_every=snapshot_every)
        if cache_mb is None:
            # Writers keep hot index pages; a reader mostly scans (the inspector's fold reads a whole
            # run once), where a big private cache only doubles what the OS page cache already holds.
            cache_mb = READER_CACHE_MB if readonly else WRITER_CACHE_MB
        self._conn = self._connect(cache_mb, busy_timeout_ms)
        self._checkpointer = None if readonly else _Checkpointer(self.path)

    # ------------------------------------------------------------------ opening and migration
    def _connect(self, cache_mb: int, busy_timeout_ms: int) -> sqlite3.Connection:
        p = Path(self.path)
        if p.is_dir():
            raise NotAStoreError(f"{self.path}: is a directory, not an agenttui database file")
        # The header is judged by SQLite itself (SQLITE_NOTADB below), never by reading the file here:
        # closing any descriptor of the file drops every POSIX lock this process holds on it, so a
        # writer in another process that closes next finds no reader, checkpoints and deletes the
        # -wal and -shm under our open connections, which then never see a commit again (issue 11).
        # SQLite's own descriptors are safe: it keeps them open while a connection holds a lock.
        exists = p.exists() and p.stat().st_size > 0
        if not exists and self.readonly:
            raise FileNotFoundError(f"{self.path}: no such database")
        conn: sqlite3.Connection | None = None
        try:
            if self.readonly:
                conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True,
                                       isolation_level=None, check_same_thread=False)
            else:
                if p.parent and not p.parent.exists():
                    p.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.create_function("agenttui_casefold", 1, casefold_text, deterministic=True)
            # retention's permission to delete events: only this connection, only inside a pass
            conn.create_function("agenttui_retention_allowed", 0, lambda: 1 if self._deleting else 0)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # The first statement reads the schema, which a writer creating or bulk-loading the file
            # can hold up past busy_timeout: waited for like every other lock (nobody sees "locked").
            self._retrying(lambda: conn.execute(f"PRAGMA cache_size = {-1024 * int(cache_mb)}"))
            conn.execute("PRAGMA temp_store = MEMORY")
            if not self.readonly:
                mode = self._retrying(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
                if mode.lower() != "wal":
                    raise SchemaError(f"{self.path}: could not switch to WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
                # the _Checkpointer's thread checkpoints; the writer only when the WAL must start over
                conn.execute(f"PRAGMA wal_autocheckpoint = {int(WAL_RESTART_FRAMES)}")
            self._retrying(lambda: self._check_and_migrate(conn))  # idempotent: it judges the file anew
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and "file is not a database" in str(exc):
                raise NotAStoreError(f"{self.path}: not a SQLite database (wrong file header)") from None
            if isinstance(exc, sqlite3.DatabaseError) and "malformed" in str(exc):
                raise NotAStoreError(f"{self.path}: not a usable SQLite database ({exc})") from None
            raise
        return conn

    def _check_and_migrate(self, conn: sqlite3.Connection) -> None:
        # One read transaction: a process creating the schema right now must not be seen half-way
        # (its tables without its user_version), or its new store would look like someone else's.
        with self._retrying_transaction(conn, "DEFERRED"):
            version = self._judge(conn)
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            if version >= READABLE_SINCE_VERSION:
                return  # an older schema reads the same; the next writer to open it migrates it
            raise NotAStoreError(f"{self.path}: not an agenttui store yet (no schema); a writer creates it")
        with self._retrying_transaction(conn):
            version = self._judge(conn)  # another process may have created or migrated it meanwhile
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _split_sql(MIGRATIONS[v]):
                    conn.execute(statement)
                if v == HASH_CHAIN_VERSION:  # the update guard is down until this step is done
                    hash_stored_events(conn)
                    for statement in _split_sql(V3_RESTORE_UPDATE_GUARD):
                        conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _judge(self, conn: sqlite3.Connection) -> int:
        """The file's schema version, or the error that says why it is not a store we can open."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        # Ownership first: another program's database with a high user_version is not "too new".
        if app_id != APPLICATION_ID and (app_id != 0 or version > 0):
            raise NotAStoreError(f"{self.path}: a SQLite database, but not an agenttui store")
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(self.path, version, SCHEMA_VERSION)
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]:
            raise NotAStoreError(f"{self.path}: a SQLite database with other tables, not an agenttui store")
        return version

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:  # first: the last connection to close ends the WAL
                self._checkpointer.stop()
            if self._conn is not None:
                if not self.readonly:
                    try:
                        self._conn.execute("PRAGMA optimize")
                    except sqlite3.Error:
                        pass
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for read-only SQL by tools that know the schema."""
        return self._conn

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._refuse_if_readonly()
        with self._lock:
            try:
                with self._retrying_transaction(self._conn) as conn:
                    yield conn
            except BaseException as exc:
                self._forget_folds()
                if isinstance(exc, sqlite3.IntegrityError) and "append-only" in str(exc):
                    raise ImmutableEventError(f"{self.path}: {exc}") from None
                raise
            if self._checkpointer is not None:
                self._checkpointer.committed()

    def _retrying(self, action: Callable[[], Any]) -> Any:
        """Run `action` until no other writer's lock is in the way, for up to lock_timeout seconds.

        SQLite waits busy_timeout_ms itself; some lock waits it answers at once without its busy
        handler (switching a new file to WAL, WAL recovery), and a long queue of writers outlasts
        one busy timeout. Backs off from 5 ms to 200 ms, with jitter so waiting writers spread out.
        """
        start = time.monotonic()
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_lock_error(exc):
                    raise
                waited = time.monotonic() - start
                if waited >= self.lock_timeout:
                    if self.readonly:  # a reader says what SQLite said ("database is locked") and retries
                        raise
                    raise StoreLockedError(self.path, waited) from None
                time.sleep(min(delay * (0.5 + random.random()), max(0.0, self.lock_timeout - waited)))
                delay = min(delay * 2, 0.2)

    @contextmanager
    def _retrying_transaction(self, conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """BEGIN `mode` ... COMMIT, or ROLLBACK if the block raises (the connection is otherwise in
        autocommit mode). Only BEGIN is retried: IMMEDIATE takes the write lock there or not at
        all, so nothing inside the block waits for it, and no work is ever redone."""
        outside = not conn.in_transaction  # (else BEGIN fails, and the transaction is not ours to end)
        try:
            # BEGIN inside the try: a KeyboardInterrupt (Ctrl-C, a SIGTERM handler that raises it)
            # landing just after BEGIN returned used to leave the connection in a transaction that
            # nothing ended, and every later BEGIN failed ("within a transaction")
            self._retrying(lambda: conn.execute(f"BEGIN {mode}"))
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if outside and conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # already rolled back by SQLite itself (e.g. disk full)
                    pass
            raise

    # ------------------------------------------------------------------------------- writing
    def _is_stored_id_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "event_id" in str(exc)

    def _insert(self, conn: sqlite3.Connection, items: list[Item], expected_version: Any, result: AppendResult,
                *, check_existing: bool) -> None:
        if check_existing:
            existing = stored_ids(conn, [e.event_id for e, _ in items])
            result.duplicates += len(existing)
            # a retry whose events are all stored still learns where its runs stand (runs that grow
            # below get their new version instead)
            for r in dict.fromkeys(e.run_id for e, _ in items):
                result.versions[r] = self._run_version(conn, r)
            items = [(e, pl) for e, pl in items if e.event_id not in existing]
        if not items:
            return
        run_ids = list(dict.fromkeys(e.run_id for e, _ in items))
        states = {r: self._state_for_write(conn, r) for r in run_ids}
        for r, v in self._expected_versions(expected_version, run_ids).items():
            actual = states[r].run["last_seq"] if r in states else self._run_version(conn, r)
            if actual != v:
                raise ConcurrencyError(r, v, actual)
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        heads = {r: (s.run["last_seq"], self._chain_prev(conn, r, s.run["last_seq"])) for r, s in states.items()}
        seq_before = {r: h[0] for r, h in heads.items()}
        done = AppendResult()  # counted into `result` once the statements ran (a failure is retried)
        for sql, rows in self._write_plan(items, run_ids, states, heads, row[0] if row else 0, done):
            if len(rows) >= MULTI_ROW_EVENTS and sql is _INSERT_EVENT_SQL:
                insert_rows(conn, sql, rows)
            else:
                conn.executemany(sql, rows)
        blocks = self._block_tails.rows_for_batch(conn, _positions_and_payloads(items, run_ids, seq_before, done))
        if blocks:
            conn.executemany(search_blocks.INSERT_SQL, blocks)
        self._heads.update(heads)
        result.stored += done.stored
        result.versions.update(done.versions)
        result.first_position, result.last_position = done.first_position, done.last_position

    def _write_plan(self, items: list[Item], run_ids: list[str], states: Mapping[str, RunState],
                    heads: dict[str, tuple[int, bytes]], position: int, result: AppendResult, *,
                    bulk: bool = False, pending: "PendingProjections | None" = None) -> list[tuple[str, list]]:
        """Number, hash and fold a batch of new events: the statements that store it, in order.

        heads: per run, (last seq, hash of that event) before the batch; updated to after it.
        pending: a bulk load's projections not written yet; the batch's touched nodes and edges
        join them instead of being written now (the load writes each once, see PendingProjections).
        Nothing here touches the database, so a bulk load can compute the next batch's plan
        while another thread executes this one.
        """
        created = now_timestamp()
        rows: list[tuple[Any, ...]] = []
        add_row = rows.append
        dumps = orjson.dumps
        chain = chained_hash
        # per event: locals only, no helper calls but the hash, whose input is the row's first ten columns
        if len(run_ids) == 1:  # the usual batch: one run, its seq and chain in locals
            run_id = run_ids[0]
            seq, prev = heads[run_id]
            for e, pl in items:
                position += 1
                seq += 1
                e.position = position
                e.seq = seq
                meta = e.metadata
                hashed = (position, e.event_id, run_id, seq, e.event_type, e.timestamp, pl, e.node_id,
                          None if meta is None else dumps(meta).decode(), created)
                prev = chain(prev, hashed)
                add_row(hashed + (prev,))
            heads[run_id] = (seq, prev)
        else:
            seqs = {r: h[0] for r, h in heads.items()}
            prevs = {r: h[1] for r, h in heads.items()}
            for e, pl in items:
                position += 1
                run_id = e.run_id
                seq = seqs[run_id] + 1
                seqs[run_id] = seq
                e.position = position
                e.seq = seq
                meta = e.metadata
                hashed = (position, e.event_id, run_id, seq, e.event_type, e.timestamp, pl, e.node_id,
                          None if meta is None else dumps(meta).decode(), created)
                digest = prevs[run_id] = chain(prevs[run_id], hashed)
                add_row(hashed + (digest,))
            for r in seqs:
                heads[r] = (seqs[r], prevs[r])
        plan: list[tuple[str, list]] = [(_INSERT_EVENT_SQL, rows)]
        keys = {r: self._keys_of(states[r]) for r in run_ids} if pending is None and not bulk else {}
        # Folded `snapshot_every` events at a time, each piece followed by the checkpoint it makes due:
        # a batch of 20,000 events got one checkpoint at its end, so a replay window late in a run
        # appended that way folded up to 20,000 events where the policy promises 10,000.
        step = max(1, self.snapshot_every)
        dirty: dict[str, tuple[dict[str, None], dict[tuple[str, str], None]]] = {r: ({}, {}) for r in run_ids}
        for start in range(0, len(items), step):
            piece = self._fold_batch(states, items[start:start + step] if len(items) > step else items, run_ids)
            for r in run_ids:
                nodes, edges = piece[r]
                dirty[r][0].update(nodes)
                dirty[r][1].update(edges)
                state = states[r]
                snapshot = self._snapshot_row(state)
                if snapshot is not None:
                    self._delta_from[r] = (state, state.position, state.run["last_seq"], {}, {})
                else:
                    snapshot = self._delta_row(state, nodes, edges)
                if snapshot is not None:
                    plan.extend(snapshot_in_parts(snapshot))
        for r in run_ids:
            if pending is None:
                plan.extend(self._projection_plan(states[r], dirty[r][0], dirty[r][1], bulk=bulk, stored=keys.get(r)))
            else:
                pending.add(states[r], dirty[r][0], dirty[r][1])
            result.versions[r] = states[r].run["last_seq"]
        result.stored += len(rows)
        if result.first_position is None:
            result.first_position = rows[0][0]
        result.last_position = rows[-1][0]
        return plan

    def _write_snapshot(self, tx: Any, row: tuple) -> None:
        for sql, rows in snapshot_in_parts(row):
            tx.executemany(sql, rows)

    def _delta_row(self, state: RunState, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple | None:
        """A delta checkpoint (store/snapshots.py) of the run every `snapshot_every` events between
        its full ones: the rows the fold touched since this writer's previous checkpoint of it.

        Full checkpoints of a big tree are spaced by twice its node count (58k nodes: 117k events
        apart), so a replay window late in a big run folded up to that many events; a delta costs
        only what changed (tens of KB), so the appends keep one every 10k events. Only from a
        checkpoint this writer wrote with this very state: after a reload (another writer moved the
        run) or a rollback, it waits for its next full one."""
        track = self._delta_from.get(state.run_id)
        if track is None or track[0] is not state:
            self._delta_from.pop(state.run_id, None)
            return None
        _, prev_position, prev_seq, touched_nodes, touched_edges = track
        touched_nodes.update(dict.fromkeys(nodes))
        touched_edges.update(dict.fromkeys(edges))
        seq = state.run["last_seq"]
        if seq - prev_seq < self.snapshot_every:
            return None
        blob = encode_delta(state, prev_position, touched_nodes, touched_edges)
        self._delta_from[state.run_id] = (state, state.position, seq, {}, {})
        return (state.run_id, state.position, seq, FOLD_VERSION, blob, now_timestamp())

    def _keys_of(self, state: RunState) -> "_StoredKeys":
        """The run's _StoredKeys, started anew from `state` unless this writer's last plan for the run
        was built from this very state object, folded no further since (a state is replaced whenever
        it may differ from what is stored: another writer's commit, a rollback; and a bulk load folds
        without these plans), so that `state` is what the projection tables hold, as the fold cache
        itself assumes (_state_for_write)."""
        keys = self._stored_keys.get(state.run_id)
        if keys is None or keys.state is not state or keys.seq != state.run["last_seq"]:
            keys = self._stored_keys[state.run_id] = _StoredKeys(state)
        return keys

    @staticmethod
    def _projection_plan(state: RunState, nodes: Iterable[str], edges: Iterable[tuple[str, str]], *,
                         bulk: bool = False, stored: "_StoredKeys | None" = None) -> list[tuple[str, list]]:
        """The statements that upsert the run's row and the named node and edge rows (bulk: one
        upsert of every column per table, see _UPSERT_NODE_ALL_SQL). stored: what the run's rows
        hold in their indexed columns, so the guarded UPDATE of them (_FIX_NODE_SQL) is sent only
        for rows stored with other values (a no-op read otherwise, ~6 us a node); updated here."""
        run_row = row_values(state.run, RUN_COLUMNS)
        if stored is not None:
            stored.seq = state.run["last_seq"]
        if bulk:
            plan: list[tuple[str, list]] = [(_UPSERT_RUN_ALL_SQL, [run_row])]
        elif stored is None or stored.run_fix(run_row):
            plan = [(_FIX_RUN_SQL, [_fix_run_params(run_row)]),  # first: the upsert leaves these alone
                    (_UPSERT_RUN_SQL, [run_row])]
        else:
            plan = [(_UPSERT_RUN_SQL, [run_row])]
        if nodes:
            all_nodes = state.nodes
            rows = [row_values(all_nodes[n], NODE_COLUMNS) for n in nodes]
            if bulk:
                plan.append((_UPSERT_NODE_ALL_SQL, rows))
            else:
                fix = list(map(_fix_node_params, rows if stored is None else stored.node_fixes(nodes, rows)))
                if fix:
                    plan.append((_FIX_NODE_SQL, fix))
                plan.append((_UPSERT_NODE_SQL, rows))
        if edges:
            plan.append((_UPSERT_EDGE_SQL, [row_values(state.edges[k], EDGE_COLUMNS) for k in edges]))
        return plan

    def _write_projection(self, conn: sqlite3.Connection, state: RunState, nodes: Iterable[str],
                          edges: Iterable[tuple[str, str]]) -> None:
        for sql, rows in self._projection_plan(state, nodes, edges):
            conn.executemany(sql, rows)

    def bulk(self, *, atomic: bool = True, optimistic: bool = True) -> Any:
        if atomic and optimistic and self.path not in ("", ":memory:") and not self.path.startswith("file:"):
            from .bulk import PipelinedLoad

            self._refuse_if_readonly()
            return PipelinedLoad(self)
        return super().bulk(atomic=atomic, optimistic=optimistic)

    def _forget_folds(self) -> None:
        super()._forget_folds()
        self._block_tails.clear()
        self._delta_from.clear()
        self._stored_keys.clear()

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """BaseStore.rebuild, then every run's search blocks recomputed (store/search_blocks.py), in a
        transaction of their own: a store written before schema 4 gets them for its old runs."""
        counts = super().rebuild(progress=progress)
        with self._lock, self._transaction() as tx:
            counts["search_blocks"] = search_blocks.rebuild(tx)
        return counts

    def _delete_events_before(self, tx: sqlite3.Connection, cutoff: str) -> None:
        """The DELETE, with agenttui_retention_allowed() answering 1 for its duration only: the
        permission is a function of this connection (which the store's lock keeps to this one
        statement), not a row another connection could write."""
        self._deleting = True
        try:
            tx.execute("DELETE FROM events WHERE timestamp < ?", (cutoff,))
        finally:
            self._deleting = False
        # a search block with some of its events left still holds all their trigrams (a superset
        # only adds candidates); one with none left is dropped
        tx.execute("DELETE FROM search_blocks WHERE NOT EXISTS (SELECT 1 FROM events WHERE events.id BETWEEN "
                   "search_blocks.first_position AND search_blocks.last_position "
                   "AND events.run_id = search_blocks.run_id)")

    # ----------------------------------------------------------------------------- reading
    def stats(self) -> dict[str, Any]:
        """Storage figures: sizes, counts, span, schema."""
        q = self._query
        file_bytes = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        wal = self.path + "-wal"
        return {
            "path": os.path.abspath(self.path),
            "backend": self.backend,
            "schema_version": q("PRAGMA user_version")[0][0],
            "sqlite_version": sqlite3.sqlite_version,
            "journal_mode": q("PRAGMA journal_mode")[0][0],
            "file_bytes": file_bytes,
            "wal_bytes": os.path.getsize(wal) if os.path.exists(wal) else 0,
            "page_size": q("PRAGMA page_size")[0][0],
            "page_count": q("PRAGMA page_count")[0][0],
            "freelist_pages": q("PRAGMA freelist_count")[0][0],
            **content_stats(q),
        }

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file (cheap change check)."""
        return self._query("PRAGMA data_version")[0][0]


# ------------------------------------------------------------------------------------ helpers

#: Bound parameters per statement at most (SQLite's default limit is 32,766; ours may be higher).
_MAX_PARAMETERS = 32_000


def insert_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """executemany's rows as a few multi-row INSERTs (an upsert's ON CONFLICT clause kept), a
    statement holding thousands of rows: bound in one go and run with the GIL released until it is
    done, where executemany resets, binds and steps SQLite once per row."""
    head, rest = sql.split(" VALUES ", 1)
    end = rest.index(")") + 1
    values, tail = rest[:end], rest[end:]  # tail: an upsert's ON CONFLICT clause
    per_statement = max(1, _MAX_PARAMETERS // values.count("?"))
    for i in range(0, len(rows), per_statement):
        chunk = rows[i:i + per_statement]
        conn.execute(f"{head} VALUES {','.join([values] * len(chunk))}{tail}",
                     list(itertools.chain.from_iterable(chunk)))


def stored_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """Which of `ids` the events table holds (chunks of 5,000 parameters)."""
    found: set[str] = set()
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        found.update(r[0] for r in conn.execute(
            f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})", chunk))
    return found


def _positions_and_payloads(items: list[Item], run_ids: list[str], seq_before: dict[str, int],
                            done: AppendResult) -> dict[str, tuple[int, list[int], list[str]]]:
    """Per run, (last seq before the batch, positions, payloads) of a batch numbered by _write_plan,
    for BlockTails.rows_for_batch; a one-run batch's positions are one range."""
    if len(run_ids) == 1:
        first, last = done.first_position or 0, done.last_position or 0
        return {run_ids[0]: (seq_before[run_ids[0]], list(range(first, last + 1)), [pl for _, pl in items])}
    out: dict[str, tuple[int, list[int], list[str]]] = {r: (seq_before[r], [], []) for r in run_ids}
    for e, pl in items:
        _, positions, payloads = out[e.run_id]
        positions.append(e.position or 0)
        payloads.append(pl)
    return out


# SQLite's primary result codes; the sqlite3 module names them only from Python 3.11, as it does sqlite_errorcode
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock), whatever the extended code."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (triggers hold ';' inside BEGIN ... END)."""
    statements, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        text = "\n".join(buf)
        if line.rstrip().endswith(";") and sqlite3.complete_statement(text):
            if text.strip():
                statements.append(text)
            buf = []
    if "\n".join(buf).strip():
        statements.append("\n".join(buf))
    return statements
