"""The SQLite backend: one file, WAL, append-only events with projections kept in the same transaction.

Writers serialise on SQLite's write lock (BEGIN IMMEDIATE), so positions are assigned and committed
in one order: a reader that follows `id > last_seen` never skips an event that commits late.
"""
from __future__ import annotations

import getpass
import operator
import os
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import orjson

from .envelope import (
    DEFAULT_MAX_PAYLOAD_BYTES, Event, EnvelopeError, dumps_payload, format_datetime, normalize_timestamp,
    now_timestamp, parse_envelope, validate_event,
)
from .errors import ConcurrencyError, NotAStoreError, SchemaError, SchemaTooNewError
from .fold import (
    EDGE_COLUMNS, FOLD_VERSION, JSON_COLUMNS, NODE_COLUMNS, RUN_COLUMNS, RunState, Touched, nid_key,
)
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from .upcast import UpcasterRegistry, upcasters as default_upcasters

EVENT_COLUMNS = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata"
#: Events folded between two snapshots of a run (at least; large states space them further apart).
DEFAULT_SNAPSHOT_EVERY = 10_000
#: SQLite page cache per connection (MB), for writers and for read-only readers.
WRITER_CACHE_MB = 64
READER_CACHE_MB = 8
#: The oldest schema a read-only reader (the inspector) can use as it is, without migrating it.
READABLE_SINCE_VERSION = 1
#: Runs whose folded state a writer keeps in memory between appends.
STATE_CACHE_RUNS = 8
_INSERT_EVENT_SQL = ("INSERT INTO events (id, event_id, run_id, seq, event_type, timestamp, payload, node_id, "
                     "metadata, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)")


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    """True when SQLite reads `path` as a database (a folder scan's test), judged through SQLite.

    Never by opening the file in Python: closing that descriptor would drop every POSIX lock this
    process holds on the file, and an open store of the same file would then miss later commits
    (see `SQLiteStore._connect`). An empty file is not one yet.
    """
    try:
        if os.path.getsize(path) == 0:
            return False
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
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


def _fix_keys_params(columns: Sequence[str], key: Sequence[str], indexed: Sequence[str]) -> Callable[[Sequence[Any]], tuple]:
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


@dataclass
class AppendResult:
    """What an append did: `stored` new events, `duplicates` skipped by event_id."""

    stored: int = 0
    duplicates: int = 0
    first_position: int | None = None
    last_position: int | None = None
    versions: dict[str, int] = field(default_factory=dict)  # run_id -> last seq after the append


@dataclass
class EventFilter:
    """The read API's filter; every field narrows, None means 'any'."""

    run_id: str | None = None
    types: Sequence[str] | None = None
    exclude_types: Sequence[str] | None = None
    node_id: str | None = None
    since: str | None = None  # timestamp, inclusive
    until: str | None = None  # timestamp, inclusive
    search: str | None = None  # case-insensitive substring of the payload JSON

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions and their parameters, in the SQL both backends accept (no bare 0/1 as booleans)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.run_id is not None:
            clauses.append("run_id = ?")
            params.append(self.run_id)
        if self.types is not None:
            types = list(self.types)
            if not types:
                clauses.append("1 = 0")
            else:
                clauses.append(f"event_type IN ({','.join('?' * len(types))})")
                params.extend(types)
        if self.exclude_types:
            clauses.append(f"event_type NOT IN ({','.join('?' * len(self.exclude_types))})")
            params.extend(self.exclude_types)
        if self.node_id is not None:
            clauses.append("node_id = ?")
            params.append(self.node_id)
        if self.since is not None:
            clauses.append("timestamp >= ?")
            params.append(normalize_timestamp(self.since, field_name="since"))
        if self.until is not None:
            clauses.append("timestamp <= ?")
            params.append(normalize_timestamp(self.until, field_name="until"))
        if self.search:
            # payloads are stored as JSON text: look for the term as JSON writes it, so quotes,
            # backslashes and newlines in it match what the agent sent
            term = orjson.dumps(self.search).decode()[1:-1]
            if term.isascii():  # LIKE folds ASCII case itself, and can stop at the first match fast
                clauses.append("payload LIKE ? ESCAPE '\\'")
            else:  # LIKE folds only ASCII: "CAFÉ" must find "café" too
                clauses.append("agenttui_casefold(payload) LIKE ? ESCAPE '\\'")
                term = term.casefold()
            params.append("%" + _like_escape(term) + "%")
        return (" AND ".join(clauses) or "1 = 1"), params


def _casefold(text: Any) -> Any:
    return text.casefold() if isinstance(text, str) else text


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dump_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _load_json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


_row_plans: dict[tuple[str, ...], tuple[Callable[[Mapping[str, Any]], tuple], tuple[int, ...]]] = {}


def _row_values(d: Mapping[str, Any], columns: Sequence[str]) -> tuple | list:
    """The SQL parameters of a projection row; JSON columns serialised (hot: once per dirty node)."""
    plan = _row_plans.get(columns)  # type: ignore[call-overload]
    if plan is None:
        cols = tuple(columns)
        plan = _row_plans[cols] = (operator.itemgetter(*cols),
                                   tuple(i for i, c in enumerate(cols) if c in JSON_COLUMNS))
    get, json_at = plan
    values = get(d)
    if not json_at:
        return values
    values = list(values)
    for i in json_at:
        v = values[i]
        if v is not None:
            values[i] = orjson.dumps(v).decode()
    return values


def _dict_from_row(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {c: (_load_json(v) if c in JSON_COLUMNS else v) for c, v in zip(columns, row)}


_new_event = object.__new__


#: Payload and metadata characters after which a page of stored events ends early (see _scan_batches).
PAGE_CHARS = 32 << 20


def row_to_event(row: Sequence[Any]) -> Event:
    """A stored row as an Event. Rows are already canonical, so Event's __post_init__ (which fills
    in ids, timestamps and node ids for new events) is skipped: replays read millions of these."""
    pos, event_id, run_id, seq, event_type, ts, payload, node_id, metadata = row
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = {"_unparseable_payload": payload}
    e = _new_event(Event)
    e.event_type = event_type
    e.payload = data if isinstance(data, dict) else {"value": data}
    e.run_id = run_id
    e.event_id = event_id
    e.timestamp = ts
    e.node_id = node_id
    e.metadata = None if metadata is None else _load_json(metadata)
    e.position = pos
    e.seq = seq
    return e


def _fix_node_id(event: Event) -> Event:
    """Kept for callers of the old row_to_event, which marked 'no node' with ''."""
    if event.node_id == "":
        event.node_id = None
    return event


class SQLiteStore:
    """The embedded default store. Thread-safe: one connection guarded by a lock.

    readonly=True opens the file with SQLite's read-only mode (the TUI's way): it never writes,
    never migrates and refuses to create a missing file.
    """

    backend = "sqlite"

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
    ) -> None:
        self.path = str(path)
        self.readonly = readonly
        self.max_payload_bytes = max_payload_bytes
        self.upcasters = upcasters if upcasters is not None else default_upcasters
        self.snapshot_every = snapshot_every
        self._lock = threading.RLock()
        self._states: OrderedDict[str, RunState] = OrderedDict()
        self._last_snapshot_seq: dict[str, int] = {}
        if cache_mb is None:
            # Writers keep hot index pages; a reader mostly scans (the inspector's fold reads a whole
            # run once), where a big private cache only doubles what the OS page cache already holds.
            cache_mb = READER_CACHE_MB if readonly else WRITER_CACHE_MB
        self._conn = self._connect(cache_mb, busy_timeout_ms)

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
            conn.create_function("agenttui_casefold", 1, _casefold, deterministic=True)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute(f"PRAGMA cache_size = {-1024 * int(cache_mb)}")
            conn.execute("PRAGMA temp_store = MEMORY")
            if not self.readonly:
                mode = _switch_to_wal(conn, busy_timeout_ms)
                if mode.lower() != "wal":
                    raise SchemaError(f"{self.path}: could not switch to WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._check_and_migrate(conn)
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
        conn.execute("BEGIN")
        try:
            version = self._judge(conn)
        finally:
            conn.execute("COMMIT")
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            if version >= READABLE_SINCE_VERSION:
                return  # an older schema reads the same; the next writer to open it migrates it
            raise NotAStoreError(f"{self.path}: not an agenttui store yet (no schema); a writer creates it")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._judge(conn)  # another process may have created or migrated it meanwhile
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _split_sql(MIGRATIONS[v]):
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

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
            if self._conn is not None:
                if not self.readonly:
                    try:
                        self._conn.execute("PRAGMA optimize")
                    except sqlite3.Error:
                        pass
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for read-only SQL by tools that know the schema."""
        return self._conn

    # ------------------------------------------------------------------------------- writing
    def append(
        self,
        events: Event | Mapping[str, Any] | Iterable[Event | Mapping[str, Any]],
        *,
        expected_version: int | Mapping[str, int] | None = None,
    ) -> AppendResult:
        """Append one event or a batch in one transaction, with projections updated in it.

        expected_version: the run's current version (last seq, 0 for a new run) as the writer last saw
        it; an int when the batch touches one run, else a mapping run_id -> version. If the run has
        moved on, ConcurrencyError is raised and nothing is written. Events whose event_id is already
        stored are skipped (idempotent retries); a batch made only of those succeeds unchecked.
        """
        if self.readonly:
            raise SchemaError(f"{self.path}: opened read-only")
        if isinstance(events, (Event, Mapping)):
            events = [events]
        batch: list[Event] = []
        payloads: list[str] = []
        max_bytes = self.max_payload_bytes
        for i, e in enumerate(events):  # one pass: this loop is per event on every write path
            try:
                e = validate_event(e) if isinstance(e, Event) else parse_envelope(e, strict=False)
            except EnvelopeError as exc:
                eid = e.event_id if isinstance(e, Event) else e.get("event_id") if isinstance(e, Mapping) else None
                shown = eid.encode("utf-8", "backslashreplace").decode() if isinstance(eid, str) else ""
                raise exc.at(f"event {i}" + (f" ({shown})" if shown else "")) from None
            try:
                payloads.append(dumps_payload(e.payload, max_bytes=max_bytes))
                if e.metadata is not None:  # checked like the payload: NaN would silently become null
                    dumps_payload(e.metadata, max_bytes=max_bytes, name="metadata")
            except EnvelopeError as exc:
                raise exc.at(f"event {i} ({e.event_id})") from None
            batch.append(e)
        with self._lock:
            return self._append_locked(batch, payloads, expected_version)

    def _append_locked(self, batch: list[Event], payloads: list[str],
                       expected_version: int | Mapping[str, int] | None) -> AppendResult:
        conn = self._conn
        result = AppendResult()
        # duplicates inside the batch: keep the first (the set tells in one C-level pass if any)
        items: list[tuple[Event, str]] = list(zip(batch, payloads))
        if len({e.event_id for e in batch}) != len(batch):
            seen: set[str] = set()
            items = []
            for e, pl in zip(batch, payloads):
                if e.event_id in seen:
                    result.duplicates += 1
                    continue
                seen.add(e.event_id)
                items.append((e, pl))
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                self._insert(items, expected_version, result, check_existing=False)
            except (sqlite3.IntegrityError, ConcurrencyError) as exc:
                # A stored event_id, or a version mismatch that may only be our own committed retry:
                # redo the batch without the events already stored before judging the version.
                if isinstance(exc, sqlite3.IntegrityError) and "event_id" not in str(exc):
                    raise
                # The transaction holds nothing but this batch, so rolling all of it back is what a
                # savepoint would do, without the savepoint's copy of every page the batch touches
                # (~3 us per event on a bulk import). The retry re-reads every run's version.
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                for e, _ in items:  # numbered by the rolled-back attempt: only stored events keep one
                    e.position = e.seq = None
                self._insert(items, expected_version, result, check_existing=True)
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._states.clear()  # the cache may hold folds of rows that were rolled back
            self._last_snapshot_seq.clear()
            raise
        return result

    def _insert(self, items: list[tuple[Event, str]], expected_version: Any, result: AppendResult,
                *, check_existing: bool) -> None:
        conn = self._conn
        if check_existing:
            existing: set[str] = set()
            ids = [e.event_id for e, _ in items]
            for i in range(0, len(ids), 5000):
                chunk = ids[i:i + 5000]
                existing.update(r[0] for r in conn.execute(
                    f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})", chunk))
            result.duplicates += len(existing)
            # a retry whose events are all stored still learns where its runs stand (runs that grow
            # below get their new version instead)
            for r in dict.fromkeys(e.run_id for e, _ in items):
                result.versions[r] = self._run_version(r)
            items = [(e, pl) for e, pl in items if e.event_id not in existing]
        if not items:
            return
        run_ids = list(dict.fromkeys(e.run_id for e, _ in items))
        states = {r: self._state_for_write(r) for r in run_ids}
        if expected_version is not None:
            expected = ({run_ids[0]: expected_version} if isinstance(expected_version, int)
                        else dict(expected_version))
            if isinstance(expected_version, int) and len(run_ids) > 1:
                raise ValueError("an int expected_version needs a batch of one run; pass a mapping")
            for r, v in expected.items():
                actual = states[r].run["last_seq"] if r in states else self._run_version(r)
                if actual != v:
                    raise ConcurrencyError(r, v, actual)
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        position = row[0] if row else 0
        created = now_timestamp()
        seqs = {r: s.run["last_seq"] for r, s in states.items()}
        rows = []
        add_row = rows.append
        dumps = orjson.dumps
        for e, pl in items:  # per event: locals only, no helper calls
            position += 1
            run_id = e.run_id
            seq = seqs[run_id] + 1
            seqs[run_id] = seq
            e.position = position
            e.seq = seq
            meta = e.metadata
            add_row((position, e.event_id, run_id, seq, e.event_type, e.timestamp, pl, e.node_id,
                     None if meta is None else dumps(meta).decode(), created))
        conn.executemany(_INSERT_EVENT_SQL, rows)
        # Fold in place; if anything below fails, _append_locked rolls back and drops the cached
        # states, so a fold of rows that never committed is never reused.
        dirty: dict[str, tuple[dict[str, None], dict[tuple[str, str], None]]] = {r: ({}, {}) for r in run_ids}
        upcast = self.upcasters.upcast if self.upcasters else None
        # dirty sets as ordered dicts: edges keep their first-seen order
        if len(run_ids) == 1:  # the usual batch: one run, so no per-event lookups
            apply = states[run_ids[0]].apply
            dn, de = dirty[run_ids[0]]
            for e, _ in items:
                t: Touched = apply(upcast(e) if upcast else e)
                for n in t.nodes:
                    dn[n] = None
                if t.edges:
                    for k in t.edges:
                        de[k] = None
        else:
            for e, _ in items:
                run_id = e.run_id
                t = states[run_id].apply(upcast(e) if upcast else e)
                if t.nodes or t.edges:
                    dn, de = dirty[run_id]
                    for n in t.nodes:
                        dn[n] = None
                    for k in t.edges:
                        de[k] = None
        for r in run_ids:
            self._write_projection(states[r], dirty[r][0], dirty[r][1])
            self._maybe_snapshot(states[r])
            result.versions[r] = states[r].run["last_seq"]
        result.stored += len(rows)
        result.first_position = rows[0][0]
        result.last_position = rows[-1][0]

    def _run_version(self, run_id: str) -> int:
        row = self._conn.execute("SELECT last_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row else 0

    def _state_for_write(self, run_id: str) -> RunState:
        """The run's current fold, from the cache if no other writer moved the run since."""
        # last_seq alone misses another connection's retention pass, which refolds a run to fewer
        # events at the same version; event_count catches that.
        row = self._conn.execute("SELECT last_seq, event_count FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        db_version, db_count = row if row else (0, 0)
        state = self._states.get(run_id)
        if state is None or state.run["last_seq"] != db_version or state.run["event_count"] != db_count:
            state = self._load_state(run_id)
            self._last_snapshot_seq[run_id] = self._conn.execute(
                "SELECT coalesce(max(seq), 0) FROM snapshots WHERE run_id = ?", (run_id,)).fetchone()[0]
        self._states[run_id] = state
        self._states.move_to_end(run_id)
        while len(self._states) > STATE_CACHE_RUNS:
            old, _ = self._states.popitem(last=False)
            self._last_snapshot_seq.pop(old, None)
        return state

    def _load_state(self, run_id: str) -> RunState:
        """Rebuild a RunState from the projection tables (they hold the whole fold)."""
        conn = self._conn
        state = RunState(run_id)
        row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return state
        state.run = _dict_from_row(RUN_COLUMNS, row)
        if state.run["metadata"] is None:
            state.run["metadata"] = {}
        state.position = state.run["last_position"] or 0
        for r in conn.execute(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ?", (run_id,)):
            n = _dict_from_row(NODE_COLUMNS, r)
            state.nodes[n["node_id"]] = n
        for r in conn.execute(f"SELECT {', '.join(EDGE_COLUMNS)} FROM edges WHERE run_id = ? ORDER BY id", (run_id,)):
            e = _dict_from_row(EDGE_COLUMNS, r)
            state.edges[(e["parent_node_id"], e["child_node_id"])] = e
        return state

    def _write_projection(self, state: RunState, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> None:
        conn = self._conn
        run_row = _row_values(state.run, RUN_COLUMNS)
        conn.execute(_FIX_RUN_SQL, _fix_run_params(run_row))  # first: the upsert leaves these alone
        conn.execute(_UPSERT_RUN_SQL, run_row)
        if nodes:
            all_nodes = state.nodes
            rows = [_row_values(all_nodes[n], NODE_COLUMNS) for n in nodes]
            conn.executemany(_FIX_NODE_SQL, map(_fix_node_params, rows))
            conn.executemany(_UPSERT_NODE_SQL, rows)
        if edges:
            ordered = list(edges)
            conn.executemany(
                f"INSERT INTO edges ({', '.join(EDGE_COLUMNS)}) VALUES ({','.join('?' * len(EDGE_COLUMNS))}) "
                "ON CONFLICT (run_id, parent_node_id, child_node_id) DO UPDATE SET parent_nid = excluded.parent_nid, "
                "child_nid = excluded.child_nid, metadata = excluded.metadata",
                [_row_values(state.edges[k], EDGE_COLUMNS) for k in ordered])

    def _maybe_snapshot(self, state: RunState, force: bool = False) -> None:
        last = self._last_snapshot_seq.get(state.run_id, 0)
        seq = state.run["last_seq"]
        interval = max(self.snapshot_every, 2 * len(state.nodes))
        if seq - last >= interval or (force and seq > last):
            blob = zlib.compress(orjson.dumps(state.to_dict()), 1)
            self._conn.execute(
                "INSERT OR REPLACE INTO snapshots (run_id, position, seq, fold_version, state, created_at) "
                "VALUES (?,?,?,?,?,?)", (state.run_id, state.position, seq, FOLD_VERSION, blob, now_timestamp()))
            self._last_snapshot_seq[state.run_id] = seq

    def snapshot(self, run_id: str) -> None:
        """Write a checkpoint of the run's current fold now (the store also does so periodically)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                state = self._state_for_write(run_id)
                self._maybe_snapshot(state, force=True)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------------ rebuild / check
    def fold_all(self, *, progress: Callable[[int, int], None] | None = None,
                 on_event: Callable[[RunState, Event], None] | None = None) -> dict[str, RunState]:
        """Fold the whole log from nothing, in position order (read-only).

        on_event(state, event) runs after each event is folded (rebuild uses it to checkpoint).
        """
        states: dict[str, RunState] = {}
        upcast = self.upcasters.upcast if self.upcasters else None
        total = self.count_events()
        done = 0
        for batch in self._scan_batches():
            for e in batch:
                s = states.get(e.run_id)
                if s is None:
                    s = states[e.run_id] = RunState(e.run_id)
                s.apply(upcast(e) if upcast else e)
                if on_event is not None:
                    on_event(s, e)
            done += len(batch)
            if progress:
                progress(done, total)
        return states

    def _scan_batches(self, run_id: str | None = None, size: int = 20_000) -> Iterator[list[Event]]:
        """Stored events (not upcast) in log order, or one run's in seq order: `size` rows a page,
        fewer once a page holds PAGE_CHARS of payload (a run of 10 MB artifacts is not read
        20,000 at a time)."""
        last = 0
        while True:
            with self._lock:
                if run_id is None:
                    cur = self._conn.execute(
                        f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, size))
                else:
                    cur = self._conn.execute(
                        f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (run_id, last, size))
                rows = []
                chars = 0
                for row in cur:
                    rows.append(row)
                    chars += len(row[6]) + len(row[8] or "")  # payload, metadata
                    if chars >= PAGE_CHARS:
                        break
                cur.close()
            if not rows:
                return
            last = rows[-1][0] if run_id is None else rows[-1][3]
            yield [_fix_node_id(row_to_event(r)) for r in rows]

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Recompute runs, nodes, edges and snapshots from the events, in one transaction."""
        if self.readonly:
            raise SchemaError(f"{self.path}: opened read-only")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table in ("runs", "nodes", "edges", "snapshots"):
                    conn.execute(f"DELETE FROM {table}")
                self._states.clear()
                self._last_snapshot_seq.clear()

                def checkpoint(s: RunState, e: Event) -> None:
                    if e.seq is not None and e.seq - self._last_snapshot_seq.get(e.run_id, 0) >= max(
                            self.snapshot_every, 2 * len(s.nodes)):
                        self._maybe_snapshot(s)

                states = self.fold_all(progress=progress, on_event=checkpoint)
                for s in states.values():
                    self._write_projection(s, list(s.nodes), list(s.edges))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._states.clear()
                self._last_snapshot_seq.clear()
                raise
        return {"runs": len(states), "nodes": sum(len(s.nodes) for s in states.values()),
                "edges": sum(len(s.edges) for s in states.values()),
                "events": sum(s.run["event_count"] for s in states.values())}

    def stored_state(self, run_id: str) -> RunState:
        """The run's projection rows as a RunState (what the tables hold now)."""
        with self._lock:
            return self._load_state(run_id)

    def check(self, *, progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Differences between the projection tables and a fresh fold of the events ([] = consistent)."""
        folded = self.fold_all(progress=progress)
        stored_ids = [r[0] for r in self._query("SELECT run_id FROM runs")]
        problems: list[str] = []
        for r in sorted(set(stored_ids) - set(folded)):
            problems.append(f"run {r!r}: in the runs table but has no events")
        for run_id, state in sorted(folded.items()):
            stored = self.stored_state(run_id)
            if run_id not in stored_ids:
                problems.append(f"run {run_id!r}: has events but no runs row")
                continue
            problems.extend(_diff_states(run_id, state, stored))
        return problems

    # ----------------------------------------------------------------------------- reading
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def events(
        self,
        filter: EventFilter | None = None,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = 100,
        order: str = "asc",
        **filter_kwargs: Any,
    ) -> list[Event]:
        """Events matching `filter` (or its fields as keywords), paged by position.

        after/before are exclusive position bounds. order="desc" with before=X pages backwards
        (newest first); order="asc" with after=X pages forwards.
        """
        f = filter or EventFilter(**filter_kwargs)
        where, params = f.where()
        direction = "DESC" if order.lower() == "desc" else "ASC"
        if f.run_id is not None and f.node_id is None and f.types is None:
            # Within one run seq order is position order, and (run_id, seq) is indexed: paging by
            # seq reads one window of the index instead of sorting the whole run by position.
            # (Types and nodes have their own indexes, already in position order within a value.)
            # The position bound stays too: a seq bound computed before a concurrent commit may
            # be looser than it (never tighter), and the position is what the caller asked for.
            if after is not None:
                where += " AND seq > ? AND id > ?"
                params.extend((self._seq_bound(f.run_id, after, "after"), after))
            if before is not None:
                where += " AND seq < ? AND id < ?"
                params.extend((self._seq_bound(f.run_id, before, "before"), before))
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY seq {direction}"
        else:
            if after is not None:
                where += " AND id > ?"
                params.append(after)
            if before is not None:
                where += " AND id < ?"
                params.append(before)
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY id {direction}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._read_event(r) for r in self._query(sql, params)]

    def _seq_bound(self, run_id: str, position: int, side: str) -> int:
        """The run's seq bound equivalent to an exclusive position bound (after/before)."""
        row = self._query("SELECT run_id, seq FROM events WHERE id = ?", (position,))
        if row and row[0][0] == run_id:
            return row[0][1]
        if side == "after":
            found = self._query("SELECT max(seq) FROM events WHERE run_id = ? AND id <= ?", (run_id, position))
            return found[0][0] or 0
        found = self._query("SELECT min(seq) FROM events WHERE run_id = ? AND id >= ?", (run_id, position))
        return found[0][0] if found[0][0] is not None else 2 ** 62

    def _read_event(self, row: Sequence[Any]) -> Event:
        e = _fix_node_id(row_to_event(row))
        return self.upcasters.upcast(e) if self.upcasters else e

    def iter_events(self, filter: EventFilter | None = None, *, after: int = 0, batch: int = 5000,
                    **filter_kwargs: Any) -> Iterator[Event]:
        """Every matching event in position order, fetched in batches (for export and replays)."""
        f = filter or EventFilter(**filter_kwargs)
        last = after
        while True:
            page = self.events(f, after=last, limit=batch)
            if not page:
                return
            yield from page
            last = page[-1].position  # type: ignore[assignment]

    def count_events(self, filter: EventFilter | None = None, **filter_kwargs: Any) -> int:
        f = filter or EventFilter(**filter_kwargs)
        where, params = f.where()
        return self._query(f"SELECT count(*) FROM events WHERE {where}", params)[0][0]

    def count_by_type(self, filter: EventFilter | None = None, **filter_kwargs: Any) -> dict[str, int]:
        f = filter or EventFilter(**filter_kwargs)
        where, params = f.where()
        rows = self._query(f"SELECT event_type, count(*) FROM events WHERE {where} GROUP BY event_type "
                           "ORDER BY count(*) DESC, event_type", params)
        return dict(rows)

    def get_event(self, event_id: str) -> Event | None:
        rows = self._query(f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?", (event_id,))
        return self._read_event(rows[0]) if rows else None

    def event_at(self, position: int) -> Event | None:
        rows = self._query(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", (position,))
        return self._read_event(rows[0]) if rows else None

    def event_by_seq(self, run_id: str, seq: int) -> Event | None:
        rows = self._query(f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq = ?", (run_id, seq))
        return self._read_event(rows[0]) if rows else None

    def timeline(self, run_id: str, *, batch: int = 20_000) -> Iterator[Event]:
        """A run's events in order (its per-run sequence), read `batch` rows at a time: a reader
        that keeps what it folds (the inspector's Timeline) wants small pages, or the pages'
        short-lived rows leave its long-lived objects scattered over twice the memory."""
        for page in self._scan_batches(run_id, batch):
            for e in page:
                yield self.upcasters.upcast(e) if self.upcasters else e

    def read_after(self, position: int, limit: int = 1000, filter: EventFilter | None = None) -> list[Event]:
        """The notification log: events after `position` in commit order (what tail readers follow)."""
        return self.events(filter, after=position, limit=limit)

    def last_position(self) -> int:
        return self._query("SELECT coalesce(max(id), 0) FROM events")[0][0]

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file (cheap change check)."""
        return self._query("PRAGMA data_version")[0][0]

    def runs(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs with their summary figures, most recent first."""
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY start_time DESC, run_id"
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_summary(_dict_from_row(RUN_COLUMNS, r)) for r in self._query(sql, params)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,))
        return _summary(_dict_from_row(RUN_COLUMNS, rows[0])) if rows else None

    def latest_run_id(self) -> str | None:
        rows = self._query("SELECT run_id FROM runs ORDER BY (run_id = 'unassigned'), last_position DESC LIMIT 1")
        return rows[0][0] if rows else None

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ?", (run_id,))
        nodes = [_dict_from_row(NODE_COLUMNS, r) for r in rows]
        nodes.sort(key=lambda n: nid_key(n["node_nid"]))
        return nodes

    def node(self, run_id: str, node_id: str) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ? AND node_id = ?",
                           (run_id, node_id))
        return _dict_from_row(NODE_COLUMNS, rows[0]) if rows else None

    def edges(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(f"SELECT {', '.join(EDGE_COLUMNS)} FROM edges WHERE run_id = ? ORDER BY id", (run_id,))
        return [_dict_from_row(EDGE_COLUMNS, r) for r in rows]

    def node_tree(self, run_id: str):
        """The run's node graph as a networkx DiGraph (parent -> child), node attributes = node row."""
        return state_graph(self.stored_state(run_id))

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

        exclude: event ids to leave out (counterfactual: "what if these had never happened").
        With a timestamp, the events of the run stamped at or before it are folded in log order.
        Snapshots make this fast anywhere: the nearest one before the point is the starting state.
        """
        excluded = set(exclude)
        upcast = self.upcasters.upcast if self.upcasters else None
        ts_limit = normalize_timestamp(timestamp, field_name="timestamp") if timestamp is not None else None
        with self._lock:
            limit_pos = position if position is not None else 2 ** 62
            start_before = limit_pos
            if excluded:
                rows = self._conn.execute(
                    f"SELECT min(id) FROM events WHERE event_id IN ({','.join('?' * len(excluded))})",
                    list(excluded)).fetchone()
                if rows[0] is not None:
                    start_before = min(start_before, rows[0] - 1)
            if ts_limit is not None:
                # snapshots are prefixes of the log: usable only up to the first event after ts_limit
                row = self._conn.execute(
                    "SELECT min(id) FROM events WHERE run_id = ? AND timestamp > ?", (run_id, ts_limit)).fetchone()
                if row[0] is not None:
                    start_before = min(start_before, row[0] - 1)
            snap = self._conn.execute(
                "SELECT seq, state FROM snapshots WHERE run_id = ? AND position <= ? AND fold_version = ? "
                "ORDER BY position DESC LIMIT 1", (run_id, start_before, FOLD_VERSION)).fetchone()
        if snap:
            state = RunState.from_dict(orjson.loads(zlib.decompress(snap[1])))
            from_seq = snap[0]
        else:
            state = RunState(run_id)
            from_seq = 0
        last_seq = from_seq
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? AND id <= ? ORDER BY seq LIMIT 20000",
                    (run_id, last_seq, limit_pos)).fetchall()
            if not rows:
                break
            last_seq = rows[-1][3]
            for r in rows:
                if (excluded and r[1] in excluded) or (ts_limit is not None and r[5] > ts_limit):
                    continue
                e = _fix_node_id(row_to_event(r))
                state.apply(upcast(e) if upcast else e)
        return state

    def position_at(self, run_id: str, timestamp: str) -> int | None:
        """The last position of the run stamped at or before `timestamp`."""
        ts = normalize_timestamp(timestamp)
        return self._query("SELECT max(id) FROM events WHERE run_id = ? AND timestamp <= ?", (run_id, ts))[0][0]

    # --------------------------------------------------------------------------- retention
    def retention(self, days: int, *, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """Delete events stamped more than `days` ago (0 keeps everything), audited.

        Runs left with no events are removed; runs that lost some events get their projections
        refolded from what remains, so rebuild --check still holds. The pass is logged in
        retention_log with who ran it and what went.
        """
        if self.readonly:
            raise SchemaError(f"{self.path}: opened read-only")
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
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                per_run = conn.execute(
                    "SELECT run_id, count(*), min(id), max(id) FROM events WHERE timestamp < ? GROUP BY run_id",
                    (cutoff,)).fetchall()
                if not per_run:
                    conn.execute("ROLLBACK")
                    return report
                token = f"retention-{os.getpid()}-{time.time_ns()}"
                conn.execute("INSERT INTO retention_guard (token) VALUES (?)", (token,))
                conn.execute("DELETE FROM events WHERE timestamp < ?", (cutoff,))
                conn.execute("DELETE FROM retention_guard WHERE token = ?", (token,))
                emptied, refolded = [], []
                for run_id, _, _, _ in per_run:
                    left = conn.execute("SELECT 1 FROM events WHERE run_id = ? LIMIT 1", (run_id,)).fetchone()
                    for table in ("runs", "nodes", "edges", "snapshots"):
                        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
                    self._states.pop(run_id, None)
                    self._last_snapshot_seq.pop(run_id, None)
                    if left is None:
                        emptied.append(run_id)
                        continue
                    refolded.append(run_id)
                    state = RunState(run_id)
                    upcast = self.upcasters.upcast if self.upcasters else None
                    for batch in self._scan_batches(run_id):
                        for e in batch:
                            state.apply(upcast(e) if upcast else e)
                    self._write_projection(state, list(state.nodes), list(state.edges))
                conn.execute(RETENTION_LOG_INSERT,
                             retention_log_row(report, per_run, emptied, refolded, executed_by, days, cutoff))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._states.clear()
                self._last_snapshot_seq.clear()
                raise
        report["executed_by"] = executed_by
        return report

    def retention_log(self) -> list[dict[str, Any]]:
        cols = ("id", "executed_at", "executed_by", "max_age_days", "cutoff", "events_deleted", "runs_deleted",
                "first_position", "last_position", "details")
        rows = self._query(f"SELECT {', '.join(cols)} FROM retention_log ORDER BY id")
        return [{c: (_load_json(v) if c == "details" else v) for c, v in zip(cols, r)} for r in rows]


# ------------------------------------------------------------------------------------ helpers

def _whoami() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{os.uname().nodename if hasattr(os, 'uname') else 'localhost'} pid {os.getpid()}"


def content_stats(q: Callable[[str], list[tuple]]) -> dict[str, Any]:
    """The figures of stats() that both backends count the same way, through their query function."""
    first_last = q("SELECT min(id), max(id), min(timestamp), max(timestamp), count(*) FROM events")[0]
    return {
        "events": first_last[4],
        "first_position": first_last[0],
        "last_position": first_last[1],
        "first_timestamp": first_last[2],
        "last_timestamp": first_last[3],
        "runs": q("SELECT count(*) FROM runs")[0][0],
        "nodes": q("SELECT count(*) FROM nodes")[0][0],
        "edges": q("SELECT count(*) FROM edges")[0][0],
        "snapshots": q("SELECT count(*) FROM snapshots")[0][0],
        "retention_passes": q("SELECT count(*) FROM retention_log")[0][0],
        "event_types": dict(q("SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY 2 DESC, 1")),
    }


RETENTION_LOG_INSERT = (
    "INSERT INTO retention_log (executed_at, executed_by, max_age_days, cutoff, events_deleted, runs_deleted, "
    "first_position, last_position, details) VALUES (?,?,?,?,?,?,?,?,?)")


def retention_log_row(report: dict[str, Any], per_run: Sequence[Sequence[Any]], emptied: list[str],
                      refolded: list[str], executed_by: str, days: int, cutoff: str) -> tuple:
    """Fill `report` from a retention pass's per-run (run_id, count, min id, max id) rows and return
    the audit row for retention_log (both backends log the same thing)."""
    report.update(
        events_deleted=sum(r[1] for r in per_run), runs_deleted=len(emptied), runs_refolded=len(refolded),
        first_position=min(r[2] for r in per_run), last_position=max(r[3] for r in per_run))
    details = {"per_run": {r[0]: r[1] for r in per_run}, "runs_deleted": emptied, "runs_refolded": refolded}
    return (now_timestamp(), executed_by, days, cutoff, report["events_deleted"], len(emptied),
            report["first_position"], report["last_position"], _dump_json(details))


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    if run.get("duration_seconds") is None and run.get("start_time"):
        end = run.get("end_time") or run.get("updated_at")
        if end:
            try:
                a = datetime.fromisoformat(run["start_time"].rstrip("Z"))
                b = datetime.fromisoformat(end.rstrip("Z"))
                run["duration_seconds"] = round((b - a).total_seconds(), 6)
            except ValueError:
                pass
    run["total_tokens"] = (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0)
    return run


def state_graph(state: RunState):
    """A RunState's nodes and edges as a networkx DiGraph."""
    import networkx as nx

    g = nx.DiGraph(run_id=state.run_id, root_node_id=state.run.get("root_node_id"))
    for node_id, n in state.nodes.items():
        g.add_node(node_id, **n)
    for (p, c), e in state.edges.items():
        g.add_edge(p, c, **e)
    return g


def _diff_states(run_id: str, folded: RunState, stored: RunState) -> list[str]:
    out: list[str] = []
    for col in RUN_COLUMNS:
        a, b = folded.run.get(col), stored.run.get(col)
        if a != b:
            out.append(f"run {run_id!r}: runs.{col} is {b!r} but the events give {a!r}")
    for nid in sorted(set(folded.nodes) | set(stored.nodes)):
        a, b = folded.nodes.get(nid), stored.nodes.get(nid)
        if a is None or b is None:
            out.append(f"run {run_id!r}: node {nid} {'missing from nodes' if b is None else 'not in the events'}")
            continue
        for col in NODE_COLUMNS:
            if a.get(col) != b.get(col):
                out.append(f"run {run_id!r}: nodes[{nid}].{col} is {b.get(col)!r} but the events give {a.get(col)!r}")
    for key in sorted(set(folded.edges) | set(stored.edges)):
        a, b = folded.edges.get(key), stored.edges.get(key)
        if a != b:
            out.append(f"run {run_id!r}: edge {key[0]}->{key[1]} is {b!r} but the events give {a!r}")
    return out


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> str:
    """PRAGMA journal_mode = WAL, retried: on a brand-new file several processes race to switch it,
    and SQLite answers the losers "database is locked" at once, without its busy handler."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


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
