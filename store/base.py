"""What both backends do the same way: validation, the fold cache, snapshots, rebuild, retention,
temporal queries and the read API, written once over a small set of backend hooks.

A backend supplies only what differs (see the "backend hooks" section of BaseStore): how to get a
connection for a few reads (`_reading`), how to run a write transaction (`_transaction`), how to
insert a batch and write projection rows (its SQL dialect and fast paths), how retention is
allowed to delete, and its live signal. Every connection the hooks yield runs SQL with `?`
placeholders and returns cursors with fetchone/fetchall, so the SQL below is written once; it
sticks to the subset both SQLite and PostgreSQL accept, and the contract suite checks that.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .envelope import Event, EnvelopeError, dumps_payload, format_datetime, normalize_timestamp, now_timestamp
from .envelope import canonical_payloads, parse_envelope, validate_event
from .chain import GENESIS, HASHED_COLUMNS, ChainBreak, cut_points, row_hash, verify_rows
from .errors import ConcurrencyError, ReadOnlyStoreError, SchemaError
from .fold import EDGE_COLUMNS, FOLD_VERSION, NODE_COLUMNS, RUN_COLUMNS, RunState, Touched, apply_event, nid_key
from .rows import (
    EVENT_COLUMNS, PAGE_CHARS, PROJECTION_TABLES, RETENTION_LOG_INSERT, AppendResult, EventFilter, diff_states,
    dict_from_row, fix_node_id, load_json, retention_log_row, row_to_event, run_summary, state_graph, whoami,
)
from .snapshots import SNAPSHOT_UPSERT, encode_full, load_snapshot, write_snapshots
from .snapshots import decode_snapshot  # noqa: F401 (re-exported for callers of store.base)
from .upcast import UpcasterRegistry

#: Events folded between two snapshots of a run (at least; large states space them further apart).
DEFAULT_SNAPSHOT_EVERY = 10_000
#: Runs whose folded state a writer keeps in memory between appends.
STATE_CACHE_RUNS = 8
_RETENTION_LOG_COLUMNS = ("id", "executed_at", "executed_by", "max_age_days", "cutoff", "events_deleted",
                          "runs_deleted", "first_position", "last_position", "details", "cut_at")

#: (event, its payload serialised as stored)
Item = tuple[Event, str]


class BaseStore:
    """The shared half of SQLiteStore and PostgresStore (see store.protocol.EventStore for the contract).

    Thread-safe: `_lock` guards the fold cache (and, for SQLite, the one connection). The fold
    cache keeps the folded state of the last few runs written, so an append folds only its own
    events; it is checked against the runs row (last_seq and event_count) in every write
    transaction, so another process's append or retention pass is never folded over.
    """

    backend: str
    path: str
    readonly: bool
    max_payload_bytes: int
    upcasters: UpcasterRegistry | None
    snapshot_every: int

    def _init_shared(self, *, readonly: bool, max_payload_bytes: int, upcasters: UpcasterRegistry | None,
                     snapshot_every: int) -> None:
        self.readonly = readonly
        self.max_payload_bytes = max_payload_bytes
        self.upcasters = upcasters
        self.snapshot_every = snapshot_every
        self._lock = threading.RLock()
        self._states: OrderedDict[str, RunState] = OrderedDict()
        self._last_snapshot_seq: dict[str, int] = {}
        #: run_id -> (seq, hash) of the run's newest event, for chaining the next one
        self._heads: dict[str, tuple[int, bytes]] = {}
        #: what the last verify() checked: events, runs, and each intact run's head hash
        self.last_verify: dict[str, Any] = {}

    # ================================================================== backend hooks
    def _reading(self) -> AbstractContextManager[Any]:
        """A connection for a few read statements (`?` placeholders), released after the block."""
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Any]:
        """A write transaction that excludes every other writer until it ends: commits when the
        block ends, rolls back (and forgets the fold cache) when it raises."""
        raise NotImplementedError

    def _insert(self, tx: Any, items: list[Item], expected_version: int | Mapping[str, int] | None,
                result: AppendResult, *, check_existing: bool) -> None:
        """Insert a batch with its positions, seqs and projections (see _append_items)."""
        raise NotImplementedError

    def _write_projection(self, tx: Any, state: RunState, nodes: Iterable[str],
                          edges: Iterable[tuple[str, str]]) -> None:
        """Upsert the run's row and the named node and edge rows from `state`."""
        raise NotImplementedError

    def _delete_events_before(self, tx: Any, cutoff: str) -> None:
        """Delete the events stamped before `cutoff`, with the permission only retention holds."""
        raise NotImplementedError

    #: True when `_insert(check_existing=False)` skips the duplicate check (SQLite's fast path):
    #: a stored id then fails the batch, which is redone once with the check.
    _optimistic_insert = False

    def _is_stored_id_error(self, exc: BaseException) -> bool:
        """True when `exc` is the unique-index refusal of an event_id that is already stored."""
        return False

    # ================================================================== lifetime
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "BaseStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _refuse_if_readonly(self) -> None:
        if self.readonly:
            raise ReadOnlyStoreError(self.path)

    def _forget_folds(self) -> None:
        """Drop the fold cache: after a rollback it may hold folds of rows that never committed."""
        self._states.clear()
        self._last_snapshot_seq.clear()
        self._heads.clear()

    # ================================================================== writing
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
        self._refuse_if_readonly()
        batch, payloads = self._prepare(events)
        with self._lock:
            return self._append_items(batch, payloads, expected_version)

    def _prepare(self, events: Event | Mapping[str, Any] | Iterable[Event | Mapping[str, Any]], *,
                 validated: bool = False) -> tuple[list[Event], list[str]]:
        """Validate a batch and serialise its payloads, before any SQL: a refusal (EnvelopeError
        naming "event i (id)") leaves an open transaction untouched, so a bulk load can skip that
        event and go on. validated=True: the events were decoded from JSON text by parse_json_line,
        which ran validate_event's checks already and cannot yield NaN or Infinity (the payload is
        still serialised and sized)."""
        if isinstance(events, (Event, Mapping)):
            events = [events]
        elif not isinstance(events, list):
            events = list(events)
        max_bytes = self.max_payload_bytes
        fast = canonical_payloads(events, max_bytes, from_json=validated)
        if fast is not None:  # every event as it would leave the loop below
            return list(events), fast  # (a copy: a caller may reuse its list while a bulk load holds this one)
        batch: list[Event] = []
        payloads: list[str] = []
        for i, item in enumerate(events):  # one pass: this loop is per event on every write path
            from_json = False
            if validated and isinstance(item, Event):
                e, from_json = item, True
            else:  # a mapping is parsed even when the caller said validated: it has no Event's fields yet
                try:
                    e = validate_event(item) if isinstance(item, Event) else parse_envelope(item, strict=False)
                except EnvelopeError as exc:
                    eid = (item.event_id if isinstance(item, Event)
                           else item.get("event_id") if isinstance(item, Mapping) else None)
                    shown = eid.encode("utf-8", "backslashreplace").decode() if isinstance(eid, str) else ""
                    raise exc.at(f"event {i}" + (f" ({shown})" if shown else "")) from None
            try:
                payloads.append(dumps_payload(e.payload, max_bytes=max_bytes, from_json=from_json))
                if e.metadata is not None:  # checked like the payload: NaN would silently become null
                    dumps_payload(e.metadata, max_bytes=max_bytes, name="metadata", from_json=from_json)
            except EnvelopeError as exc:
                raise exc.at(f"event {i} ({e.event_id})") from None
            batch.append(e)
        return batch, payloads

    @staticmethod
    def _unique_items(batch: list[Event], payloads: list[str], result: AppendResult) -> list[Item]:
        """The batch as items without its repeated event ids (the first of each kept, the rest counted)."""
        items: list[Item] = list(zip(batch, payloads))
        if len({e.event_id for e in batch}) == len(batch):  # one C-level pass tells if any repeat
            return items
        seen: set[str] = set()
        items = []
        for e, pl in zip(batch, payloads):
            if e.event_id in seen:
                result.duplicates += 1
                continue
            seen.add(e.event_id)
            items.append((e, pl))
        return items

    def _append_items(self, batch: list[Event], payloads: list[str],
                      expected_version: int | Mapping[str, int] | None) -> AppendResult:
        result = AppendResult()
        items = self._unique_items(batch, payloads, result)
        if not self._optimistic_insert:
            with self._transaction() as tx:
                self._insert(tx, items, expected_version, result, check_existing=True)
            return result
        try:
            with self._transaction() as tx:
                self._insert(tx, items, expected_version, result, check_existing=False)
        except Exception as exc:
            # A stored event_id, or a version mismatch that may only be our own committed retry:
            # redo the batch without the events already stored before judging the version. The
            # first transaction held nothing but this batch, so rolling all of it back is what a
            # savepoint would do, without the savepoint's copy of every page the batch touches
            # (~3 us per event on a bulk import).
            if not (isinstance(exc, ConcurrencyError) or self._is_stored_id_error(exc)):
                raise
            for e, _ in items:  # numbered by the rolled-back attempt: only stored events keep one
                e.position = e.seq = None
            with self._transaction() as tx:
                self._insert(tx, items, expected_version, result, check_existing=True)
        return result

    # ------------------------------------------------------------------ bulk loads
    def bulk(self, *, atomic: bool = True, optimistic: bool = True) -> AbstractContextManager[Any]:
        """A session for appending many batches (an import): `session.append(events)` per batch.

        atomic=True: every batch goes into one transaction, committed when the block ends; if the
        block raises, nothing of it is stored (readers see the whole load at once, at its commit).
        atomic=False: each batch commits on its own, as `append` does (for streaming files too big
        to hold in one transaction). optimistic: the backend may skip per-batch duplicate checks
        against events stored earlier in the same session, raising BulkConflict (nothing stored)
        if it meets one, so the caller can redo the load with optimistic=False.
        """
        from .bulk import CommittedBatches, HeldTransaction

        self._refuse_if_readonly()
        if not atomic:
            return CommittedBatches(self)
        return HeldTransaction(self)

    def _fold_batch(self, states: Mapping[str, RunState], items: list[Item], run_ids: list[str]
                    ) -> dict[str, tuple[dict[str, None], dict[tuple[str, str], None]]]:
        """Fold the batch into the runs' cached states; per run, the nodes and edges it touched
        (ordered dicts: edges keep their first-seen order). If the transaction fails later,
        `_transaction` drops the cache, so a fold of rows that never committed is never reused."""
        dirty: dict[str, tuple[dict[str, None], dict[tuple[str, str], None]]] = {r: ({}, {}) for r in run_ids}
        upcast = self.upcasters.upcast if self.upcasters else None
        if len(run_ids) == 1:  # the usual batch: one run, so no per-event lookups
            state = states[run_ids[0]]
            dn, de = dirty[run_ids[0]]
            for e, _ in items:  # apply_event, not state.apply: the same fold, one call fewer an event
                t: Touched = apply_event(state, upcast(e) if upcast else e)
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
        return dirty

    @staticmethod
    def _expected_versions(expected_version: int | Mapping[str, int] | None, run_ids: list[str]) -> dict[str, int]:
        if expected_version is None:
            return {}
        if isinstance(expected_version, int):
            if len(run_ids) > 1:
                raise ValueError("an int expected_version needs a batch of one run; pass a mapping")
            return {run_ids[0]: expected_version}
        return dict(expected_version)

    def _run_version(self, tx: Any, run_id: str) -> int:
        row = tx.execute("SELECT last_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row else 0

    def _state_for_write(self, tx: Any, run_id: str, db: Sequence[int] | None = None) -> RunState:
        """The run's current fold, from the cache if no other writer moved the run since.

        db: the run's (last_seq, event_count) if the caller has read them already. last_seq alone
        misses another connection's retention pass, which refolds a run to fewer events at the
        same version; event_count catches that.
        """
        if db is None:
            row = tx.execute("SELECT last_seq, event_count FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            db = row if row else (0, 0)
        state = self._states.get(run_id)
        if state is None or (state.run["last_seq"], state.run["event_count"]) != tuple(db):
            state = self._load_state(tx, run_id)
            self._last_snapshot_seq[run_id] = tx.execute(
                "SELECT coalesce(max(seq), 0) FROM snapshots WHERE run_id = ?", (run_id,)).fetchone()[0]
        self._states[run_id] = state
        self._states.move_to_end(run_id)
        while len(self._states) > STATE_CACHE_RUNS:
            old, _ = self._states.popitem(last=False)
            self._last_snapshot_seq.pop(old, None)
            self._heads.pop(old, None)
        return state

    def _chain_prev(self, tx: Any, run_id: str, last_seq: int) -> bytes:
        """The hash the run's next event chains to: that of its event `last_seq` (GENESIS for a new run)."""
        if last_seq == 0:
            return GENESIS
        head = self._heads.get(run_id)
        if head is not None and head[0] == last_seq:
            return head[1]
        row = tx.execute("SELECT hash FROM events WHERE run_id = ? AND seq = ?", (run_id, last_seq)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else GENESIS  # verify reports an unhashed row

    @staticmethod
    def _load_state(tx: Any, run_id: str) -> RunState:
        """Rebuild a RunState from the projection tables (they hold the whole fold)."""
        state = RunState(run_id)
        row = tx.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return state
        state.run = dict_from_row(RUN_COLUMNS, row)
        if state.run["metadata"] is None:
            state.run["metadata"] = {}
        state.position = state.run["last_position"] or 0
        for r in tx.execute(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ?", (run_id,)).fetchall():
            n = dict_from_row(NODE_COLUMNS, r)
            state.nodes[n["node_id"]] = n
        for r in tx.execute(f"SELECT {', '.join(EDGE_COLUMNS)} FROM edges WHERE run_id = ? ORDER BY id",
                            (run_id,)).fetchall():
            e = dict_from_row(EDGE_COLUMNS, r)
            state.edges[(e["parent_node_id"], e["child_node_id"])] = e
        return state

    def _maybe_snapshot(self, tx: Any, state: RunState, force: bool = False) -> None:
        """Checkpoint the run's fold when `snapshot_every` events (or twice its node count, so a
        huge tree is not re-serialised too often) have been folded since the last checkpoint."""
        row = self._snapshot_row(state, force)
        if row is not None:
            self._write_snapshot(tx, row)

    def _write_snapshot(self, tx: Any, row: tuple) -> None:
        """Store a snapshot row (SNAPSHOT_UPSERT's parameters) in transaction `tx`: as it is here;
        the SQLite store keeps a big one's rows apart (store.snapshots.snapshot_in_parts)."""
        tx.execute(SNAPSHOT_UPSERT, row)

    def _snapshot_row(self, state: RunState, force: bool = False) -> tuple | None:
        """The parameters of _SNAPSHOT_UPSERT when the run is due a checkpoint (see _maybe_snapshot)."""
        last = self._last_snapshot_seq.get(state.run_id, 0)
        seq = state.run["last_seq"]
        since = seq - last
        if since <= 0 or (not force and since < max(self.snapshot_every, 2 * len(state.nodes))):
            return None
        self._last_snapshot_seq[state.run_id] = seq
        # in the form a replay reads a row at a time: ~0.2 s more than one JSON document for a 50k-node
        # tree (~2 us an event of the appends between two such checkpoints), where a window opening at
        # the run's end then reads its header (~0.17 s) instead of scanning the document (~0.9 s)
        return (state.run_id, state.position, seq, FOLD_VERSION, encode_full(state), now_timestamp())

    def snapshot(self, run_id: str) -> None:
        """Write a checkpoint of the run's current fold now (the store also does so periodically)."""
        self._refuse_if_readonly()
        with self._lock, self._transaction() as tx:
            self._maybe_snapshot(tx, self._state_for_write(tx, run_id), force=True)

    def nearest_snapshot(self, run_id: str, *, seq: int, cache: dict[Any, RunState] | None = None
                         ) -> tuple[int, RunState] | None:
        """(seq, state) of the run's newest readable snapshot at or before its event `seq`, None if
        none: where a replay of the run can start (cache: see store.snapshots.load_snapshot)."""
        with self._reading() as conn:
            return load_snapshot(conn, run_id, seq=seq, cache=cache)

    def write_snapshots(self, *, every: int | None = None, run_ids: Iterable[str] | None = None,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Checkpoint each run at least every `every` events, off the append path (store/snapshots.py:
        `agenttui rebuild --snapshots`), so a state anywhere is a snapshot plus a short fold."""
        kwargs = {} if every is None else {"every": every}
        return write_snapshots(self, run_ids=run_ids, progress=progress, **kwargs)

    # ================================================================== rebuild / check
    def fold_all(self, *, progress: Callable[[int, int], None] | None = None,
                 on_event: Callable[[RunState, Event], None] | None = None, tx: Any = None) -> dict[str, RunState]:
        """Fold the whole log from nothing, in position order (read-only).

        on_event(state, event) runs after each event is folded (rebuild uses it to checkpoint).
        tx: read through this transaction's connection (rebuild folds what it is about to write).
        """
        states: dict[str, RunState] = {}
        upcast = self.upcasters.upcast if self.upcasters else None
        if tx is None:
            total = self.count_events()
        else:
            total = tx.execute("SELECT count(*) FROM events").fetchone()[0]
        done = 0
        for batch in self._scan_batches(tx=tx):
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

    def _scan_batches(self, run_id: str | None = None, size: int = 20_000, *, tx: Any = None
                      ) -> Iterator[list[Event]]:
        """Stored events (not upcast) in log order, or one run's in seq order: `size` rows a page,
        fewer once a page holds PAGE_CHARS of payload (a run of 10 MB artifacts is not read
        20,000 at a time)."""
        params: tuple[str, ...]
        if run_id is None:
            sql, key, params = f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", 0, ()
        else:
            sql, key, params = (f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? "
                                "ORDER BY seq LIMIT ?", 3, (run_id,))
        last = 0
        while True:
            with self._reading() if tx is None else _as_context(tx) as conn:
                cur = conn.execute(sql, (*params, last, size))
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
            last = rows[-1][key]
            yield [fix_node_id(row_to_event(r)) for r in rows]

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Recompute runs, nodes, edges and snapshots from the events, in one transaction."""
        self._refuse_if_readonly()
        with self._lock, self._transaction() as tx:
            for table in PROJECTION_TABLES:
                tx.execute(f"DELETE FROM {table}")
            self._forget_folds()
            states = self.fold_all(progress=progress, on_event=lambda s, e: self._maybe_snapshot(tx, s), tx=tx)
            for s in states.values():
                self._write_projection(tx, s, list(s.nodes), list(s.edges))
        return {"runs": len(states), "nodes": sum(len(s.nodes) for s in states.values()),
                "edges": sum(len(s.edges) for s in states.values()),
                "events": sum(s.run["event_count"] for s in states.values())}

    def stored_state(self, run_id: str) -> RunState:
        """The run's projection rows as a RunState (what the tables hold now)."""
        with self._reading() as conn:
            return self._load_state(conn, run_id)

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
            problems.extend(diff_states(run_id, self._as_stored(state), stored))
        return problems

    def _as_stored(self, state: RunState) -> RunState:
        """A folded state as this backend's projection tables hold it (the identity here)."""
        return state

    # ================================================================== reading
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run read SQL (`?` placeholders) and fetch every row."""
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

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
        e = fix_node_id(row_to_event(row))
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

    def runs(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs with their summary figures, most recent first."""
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY start_time DESC, run_id"
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [run_summary(dict_from_row(RUN_COLUMNS, r)) for r in self._query(sql, params)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,))
        return run_summary(dict_from_row(RUN_COLUMNS, rows[0])) if rows else None

    def latest_run_id(self) -> str | None:
        rows = self._query("SELECT run_id FROM runs ORDER BY (run_id = 'unassigned'), last_position DESC LIMIT 1")
        return rows[0][0] if rows else None

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ?", (run_id,))
        nodes = [dict_from_row(NODE_COLUMNS, r) for r in rows]
        nodes.sort(key=lambda n: nid_key(n["node_nid"]))
        return nodes

    def node(self, run_id: str, node_id: str) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = ? AND node_id = ?",
                           (run_id, node_id))
        return dict_from_row(NODE_COLUMNS, rows[0]) if rows else None

    def edges(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(f"SELECT {', '.join(EDGE_COLUMNS)} FROM edges WHERE run_id = ? ORDER BY id", (run_id,))
        return [dict_from_row(EDGE_COLUMNS, r) for r in rows]

    def node_tree(self, run_id: str):
        """The run's node graph as a networkx DiGraph (parent -> child), node attributes = node row."""
        return state_graph(self.stored_state(run_id))

    # ================================================================== temporal queries
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
        A snapshot is a prefix of the log, so it must lie before the first event that is
        excluded or stamped past the timestamp.
        """
        excluded = list(dict.fromkeys(exclude))
        upcast = self.upcasters.upcast if self.upcasters else None
        ts_limit = normalize_timestamp(timestamp, field_name="timestamp") if timestamp is not None else None
        limit_pos = position if position is not None else 2 ** 62
        start_before = limit_pos
        with self._reading() as conn:
            for i in range(0, len(excluded), 5000):
                chunk = excluded[i:i + 5000]
                first = conn.execute(f"SELECT min(id) FROM events WHERE event_id IN ({','.join('?' * len(chunk))})",
                                     chunk).fetchone()[0]
                if first is not None:
                    start_before = min(start_before, first - 1)
            if ts_limit is not None:
                first = conn.execute("SELECT min(id) FROM events WHERE run_id = ? AND timestamp > ?",
                                     (run_id, ts_limit)).fetchone()[0]
                if first is not None:
                    start_before = min(start_before, first - 1)
            snap = load_snapshot(conn, run_id, start_before)
        state = snap[1] if snap else RunState(run_id)
        last_seq = snap[0] if snap else 0
        skip = set(excluded)
        while True:
            rows = self._query(f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? AND id <= ? "
                               "ORDER BY seq LIMIT 20000", (run_id, last_seq, limit_pos))
            if not rows:
                return state
            last_seq = rows[-1][3]
            for r in rows:
                if (skip and r[1] in skip) or (ts_limit is not None and r[5] > ts_limit):
                    continue
                e = fix_node_id(row_to_event(r))
                state.apply(upcast(e) if upcast else e)

    def position_at(self, run_id: str, timestamp: str) -> int | None:
        """The last position of the run stamped at or before `timestamp`."""
        ts = normalize_timestamp(timestamp)
        return self._query("SELECT max(id) FROM events WHERE run_id = ? AND timestamp <= ?", (run_id, ts))[0][0]

    # ================================================================== retention
    def retention(self, days: int, *, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """Delete events stamped more than `days` ago (0 keeps everything), audited.

        Runs left with no events are removed; runs that lost some events get their projections
        refolded from what remains, so check() still holds. The pass is logged in retention_log
        with who ran it and what went, in the same transaction; writers wait for it.
        """
        self._refuse_if_readonly()
        now = now or datetime.now(timezone.utc)
        # the cutoff must be a date: back to year 1 at most (timedelta itself stops at 999,999,999 days)
        max_days = (now - datetime(1, 1, 1, tzinfo=now.tzinfo or timezone.utc)).days
        if not 0 <= days <= max_days:
            raise ValueError(f"days must be between 0 and {max_days:,} (0 keeps events forever; "
                             f"{max_days:,} reaches back to the year 1), got {days:,}")
        executed_by = actor or whoami()
        report: dict[str, Any] = {"days": days, "events_deleted": 0, "runs_deleted": 0, "runs_refolded": 0,
                                  "cutoff": None}
        if days == 0:
            return report
        cutoff = format_datetime(now - timedelta(days=days))
        report["cutoff"] = cutoff
        upcast = self.upcasters.upcast if self.upcasters else None
        with self._lock, self._transaction() as tx:
            per_run = tx.execute(
                "SELECT run_id, count(*), min(id), max(id) FROM events WHERE timestamp < ? "
                "GROUP BY run_id ORDER BY run_id", (cutoff,)).fetchall()
            if not per_run:
                return report
            emptied, refolded = self._retention_plan(tx, per_run)
            cut_at: dict[str, list[list[Any]]] = {}
            for run_id, seq, digest in tx.execute(
                    "SELECT d.run_id, d.seq, d.hash FROM events d WHERE d.timestamp < ? AND EXISTS "
                    "(SELECT 1 FROM events k WHERE k.run_id = d.run_id AND k.seq = d.seq + 1 AND k.timestamp >= ?) "
                    "ORDER BY d.run_id, d.seq", (cutoff, cutoff)).fetchall():
                cut_at.setdefault(run_id, []).append([seq, bytes(digest).hex() if digest is not None else None])
            # the audit entry first: on PostgreSQL it is what permits the deletion
            tx.execute(RETENTION_LOG_INSERT, retention_log_row(report, per_run, emptied, refolded, executed_by,
                                                               days, cutoff, cut_at))
            self._delete_events_before(tx, cutoff)
            for run_id in (*emptied, *refolded):
                for table in PROJECTION_TABLES:
                    tx.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            self._forget_folds()
            for run_id in refolded:
                state = RunState(run_id)
                for batch in self._scan_batches(run_id, tx=tx):
                    for e in batch:
                        state.apply(upcast(e) if upcast else e)
                self._write_projection(tx, state, list(state.nodes), list(state.edges))
        report["executed_by"] = executed_by
        return report

    @staticmethod
    def _retention_plan(tx: Any, per_run: Sequence[Sequence[Any]]) -> tuple[list[str], list[str]]:
        """Which runs a pass empties (all their events go) and which it only shortens."""
        emptied: list[str] = []
        refolded: list[str] = []
        for run_id, deleting, *_ in per_run:
            total = tx.execute("SELECT count(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]
            (emptied if total == deleting else refolded).append(run_id)
        return emptied, refolded

    def verify(self, run_id: str | None = None) -> list[ChainBreak]:
        """Recompute the hash chains (of one run, or all); the first break of each run, [] if intact.

        A break names the first event whose stored hash is not what its content and the chain
        before it give: changed, inserted, or preceded by events removed outside retention.
        The figures of the last call (events, runs, head hash per run) are in `last_verify`.
        """
        if not self._has_hash_column():
            raise SchemaError(f"{self.path}: the store predates hash chains; open it once with a writer "
                              "(any agenttui command that writes) to migrate and hash its events")
        cuts = cut_points(r["cut_at"] for r in self.retention_log())
        where, params = ("WHERE run_id = ?", [run_id]) if run_id is not None else ("", [])
        last_seqs = dict(self._query(f"SELECT run_id, last_seq FROM runs {where}", params))
        breaks, summary = verify_rows(self._scan_hashed(run_id), cuts, last_seqs)
        self.last_verify = summary
        return breaks

    def _scan_hashed(self, run_id: str | None) -> Iterator[Sequence[Any]]:
        """Every stored row (HASHED_COLUMNS, hash) in (run_id, seq) order, a page at a time."""
        cols = f"{HASHED_COLUMNS}, hash"
        last_run, last_seq = "", 0
        while True:
            if run_id is not None:
                rows = self._query(f"SELECT {cols} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT 5000",
                                   (run_id, last_seq))
            else:
                rows = self._query(f"SELECT {cols} FROM events WHERE run_id > ? OR (run_id = ? AND seq > ?) "
                                   "ORDER BY run_id, seq LIMIT 5000", (last_run, last_run, last_seq))
            if not rows:
                return
            yield from rows
            last_run, last_seq = rows[-1][2], rows[-1][3]

    def _has_hash_column(self) -> bool:
        try:
            self._query("SELECT hash FROM events WHERE id = 0")
        except Exception:  # an older schema (read-only opens do not migrate)
            return False
        return True

    def retention_log(self) -> list[dict[str, Any]]:
        columns = ", ".join(_RETENTION_LOG_COLUMNS)
        if not self._has_hash_column():  # a read-only open of a store older than the hash chains (v3)
            columns = columns.replace("cut_at", "NULL AS cut_at")
        rows = self._query(f"SELECT {columns} FROM retention_log ORDER BY id")
        return [{c: (load_json(v) if c in ("details", "cut_at") else v) for c, v in zip(_RETENTION_LOG_COLUMNS, r)}
                for r in rows]


class _as_context:
    """A connection already held (a transaction's) used where a `_reading()` block is expected."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        return None


def hash_stored_events(tx: Any) -> int:
    """Chain and store the hash of every event (the schema migration that adds the column).

    Runs inside the migration's transaction, a page of (run_id, seq) at a time; the caller lifts
    the update guard around it. Returns how many events it hashed.
    """
    done = 0
    last_run, last_seq, prev = "", 0, GENESIS
    while True:
        rows = tx.execute(f"SELECT {HASHED_COLUMNS} FROM events WHERE run_id > ? OR (run_id = ? AND seq > ?) "
                          "ORDER BY run_id, seq LIMIT 20000", (last_run, last_run, last_seq)).fetchall()
        if not rows:
            return done
        updates = []
        for row in rows:
            if row[2] != last_run:
                last_run, prev = row[2], GENESIS
            prev = row_hash(prev, row)
            updates.append((prev, row[0]))
        tx.executemany("UPDATE events SET hash = ? WHERE id = ?", updates)
        done += len(rows)
        last_seq = rows[-1][3]

