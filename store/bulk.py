"""Bulk loads (an import): many batches appended through one session, all or nothing by default.

A session's `append(events)` keeps `append`'s guarantees per event (validation, idempotent event
ids, per-run seq, the hash chain, projections folded in the same transaction) but spreads one
transaction over the whole load, so a failed import leaves nothing of its file behind and readers
see it at once, at its commit.

Three kinds, chosen by `store.bulk(atomic=..., optimistic=...)`:
- HeldTransaction: every batch inside one held transaction, each checked against the stored ids
  (any backend).
- CommittedBatches: each batch commits on its own (`append`), for files too big for one transaction.
- PipelinedLoad (SQLite): the held transaction, with the database work on a second thread. The
  calling thread validates, numbers, hashes and folds batch n+1 while the writer thread executes
  batch n (sqlite3 releases the GIL while SQLite runs a statement), and into an empty store the
  secondary indexes whose keys come in random order are built once at the end instead of row by
  row (see PipelinedLoad._drop_indexes). It checks each batch against
  the ids stored before the load, through a second connection (it sees the last commit, which is the
  state before the load since the load holds the write lock); an id that repeats across batches of
  the load itself is caught by the unique index and raised as BulkConflict after rolling back, so
  the caller redoes the load with optimistic=False (see jsonl.import_jsonl).
"""
from __future__ import annotations

import queue
import sqlite3
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import search_blocks
from .collector import collector_paused
from .envelope import Event
from .errors import AgentTuiError
from .fold import RunState
from .rows import AppendResult
from .sqlite import insert_rows, stored_ids

#: Plans (batches' statements) queued for the writer thread at most: bounds memory, keeps it busy.
QUEUED_PLANS = 2
#: Runs in a load's first batch at most for its (run, seq) and (run, type) indexes to be kept as it goes.
FEW_RUNS = 16
#: Tables whose secondary indexes an empty store's load builds once at the end.
_REINDEXED_TABLES = ("events", "nodes", "edges")

Events = Event | Mapping[str, Any] | Iterable[Event | Mapping[str, Any]]


class BulkConflict(AgentTuiError):
    """An event id repeated across batches of one optimistic load; nothing of the load was stored."""


def _raise_conflict(exc: BaseException) -> None:
    """A unique-index refusal of an event id (on insert, or building the index) as BulkConflict."""
    if isinstance(exc, sqlite3.IntegrityError) and "event_id" in str(exc):
        raise BulkConflict("an event id repeats across batches of this load; nothing was stored") from None


class CommittedBatches:
    """Each batch committed on its own: `append` under the session's interface."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __enter__(self) -> "CommittedBatches":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def append(self, events: Events, *, validated: bool = False) -> AppendResult:
        return self.store.append(events)


class HeldTransaction:
    """Every batch in one transaction of the store's, each checked against the stored ids."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._stack = ExitStack()
        self._tx: Any = None

    def __enter__(self) -> "HeldTransaction":
        self._stack.enter_context(self.store._lock)
        self._tx = self._stack.enter_context(self.store._transaction())
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._stack.__exit__(*exc)

    def append(self, events: Events, *, validated: bool = False) -> AppendResult:
        store = self.store
        batch, payloads = store._prepare(events, validated=validated)
        result = AppendResult()
        store._insert(self._tx, store._unique_items(batch, payloads, result), None, result, check_existing=True)
        return result


#: A load's INSERTs (and upserts) of at least this many rows run as multi-row statements: executemany
#: steps SQLite once per row, releasing the GIL for each step and waiting to get it back from the
#: loading thread (busy parsing and folding in Python), a hand-over per row; one statement of
#: thousands of rows binds them in one go and then runs with the GIL released until it is done,
#: so the two threads really work at the same time (see sqlite.insert_rows).
MULTI_ROW_FROM = 8


class _Writer:
    """The thread that executes plans, in order, on the load's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.error: BaseException | None = None
        self._queue: queue.Queue[list[tuple[str, list]] | None] = queue.Queue(QUEUED_PLANS)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="agenttui-bulk-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            plan = self._queue.get()
            try:
                if plan is None:
                    return
                if self.error is None and not self._stop:
                    for sql, rows in plan:
                        if sql is None:  # work to run on this thread, in order (search blocks)
                            rows(self.conn)
                        elif len(rows) >= MULTI_ROW_FROM and sql.startswith("INSERT INTO "):
                            insert_rows(self.conn, sql, rows)
                        else:
                            self.conn.executemany(sql, rows)
            except BaseException as exc:  # reported to the loading thread at its next call
                self.error = exc
            finally:
                self._queue.task_done()

    def submit(self, plan: list[tuple[str, list]]) -> None:
        self.raise_error()
        self._queue.put(plan)

    def drain(self) -> None:
        """Wait until every submitted plan is executed; raise what the thread met, if anything."""
        self._queue.join()
        self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            _raise_conflict(self.error)
            raise self.error

    def close(self) -> None:
        self._stop = True  # plans still queued are skipped: the load is being rolled back or is done
        self._queue.put(None)
        self._thread.join()


#: Runs whose projections a pipelined load holds back at most; the least recently appended one is
#: written when another run joins (a load of many small runs keeps bounded memory).
PENDING_RUNS = 16


class PendingProjections:
    """The projection rows a pipelined load has folded but not written yet.

    Inside one held transaction nobody can read the projections before the commit, so writing a
    node's row after every batch that touched it is wasted work: a node touched by 40 batches was
    upserted 40 times (a third of the writer thread's time on an import, measured). Each run's
    touched nodes and edges accumulate here and are written once, from the fold's final values:
    when the run leaves the window of PENDING_RUNS runs, before its state is read back from the
    database, and at the end of the load.
    """

    def __init__(self, plan_for: Any) -> None:
        self._plan_for = plan_for  # (state, nodes, edges) -> the statements writing them
        self._runs: dict[str, tuple[RunState, dict[str, None], dict[tuple[str, str], None]]] = {}

    def add(self, state: RunState, nodes: dict[str, None], edges: dict[tuple[str, str], None]) -> None:
        entry = self._runs.pop(state.run_id, None)  # re-inserted: the dict's order is recency
        if entry is None or entry[0] is not state:
            entry = (state, {}, {})
        entry[1].update(nodes)
        entry[2].update(edges)
        self._runs[state.run_id] = entry

    def state(self, run_id: str) -> RunState | None:
        entry = self._runs.get(run_id)
        return entry[0] if entry is not None else None

    def overflow(self) -> list[tuple[str, list]]:
        """The statements writing the runs beyond the window (the least recent first)."""
        plan: list[tuple[str, list]] = []
        while len(self._runs) > PENDING_RUNS:
            run_id = next(iter(self._runs))
            plan.extend(self._plan_for(*self._runs.pop(run_id)))
        return plan

    def drain(self) -> list[tuple[str, list]]:
        plan: list[tuple[str, list]] = []
        for entry in self._runs.values():
            plan.extend(self._plan_for(*entry))
        self._runs.clear()
        return plan


#: Runs whose unfinished search block a pipelined load keeps in memory at most (<= BLOCK - 1
#: payloads each); see SearchBlockFeed.
BLOCK_RUNS = 256


class SearchBlockFeed:
    """The search blocks (store/search_blocks.py) a pipelined load completes, with the payloads of
    each run's unfinished block kept in memory: into an empty store the (run, seq) index may only
    exist at the end of the load, so nothing is read back. A run that leaves the window of
    BLOCK_RUNS runs gets no more blocks from this load if its payloads cannot be read back (the
    inspector indexes the rest of such a run itself); otherwise its block is completed from the
    database."""

    def __init__(self, readable: bool) -> None:
        self._readable = readable
        #: per run, (seq, position, payload) of its unfinished block, oldest first (a run's events
        #: come with consecutive seqs: the block ends after the one whose seq divides by BLOCK)
        self._runs: dict[str, list[tuple[int, int, str]]] = {}
        self._stopped: set[str] = set()

    def plan(self, items: list[Any]) -> list[tuple[Any, Any]]:
        """The plan entries writing the blocks this batch completes (none if it completes none)."""
        size = search_blocks.BLOCK
        by_run: dict[str, list[tuple[int, int, str]]] = {}
        for e, payload in items:  # per event: one tuple and one append
            held = by_run.get(e.run_id)
            if held is None:
                held = by_run[e.run_id] = []
            held.append((e.seq, e.position, payload))
        jobs: list[tuple[str, int, dict[int, tuple[int, str]]]] = []
        runs = self._runs
        for run_id, new in by_run.items():
            if run_id in self._stopped:
                continue
            held = runs.pop(run_id, None)  # re-inserted: the dict's order is recency
            held = held + new if held else new
            while held:
                first_seq = held[0][0]
                end = (first_seq - 1) // size * size + size  # the last seq of first_seq's block
                if held[-1][0] < end:
                    break
                count = end - first_seq + 1
                if self._readable or first_seq == end - size + 1:
                    jobs.append((run_id, end // size - 1, {seq: (pos, text) for seq, pos, text in held[:count]}))
                # (else its start is in the database and cannot be read back: no block)
                held = held[count:]
            runs[run_id] = held
        while len(runs) > BLOCK_RUNS:
            run_id = next(iter(runs))
            del runs[run_id]
            if not self._readable:
                self._stopped.add(run_id)
        # Blocks held whole in memory are hashed here, on the loading thread: on the writer thread the
        # hashing (GIL-bound Python and numpy calls) slowed this thread's parsing by twice its own
        # cost (an import 10% slower, against 5% here, measured). Blocks whose start is in the
        # database are hashed by the writer, which reads it back in order.
        whole = [job for job in jobs if len(job[2]) == size]
        partial = [job for job in jobs if len(job[2]) != size]
        plan: list[tuple[Any, Any]] = []
        if whole:
            plan.append((search_blocks.INSERT_SQL, search_blocks.block_rows(None, whole)))
        if partial:
            def write(conn: sqlite3.Connection) -> None:
                conn.executemany(search_blocks.INSERT_SQL, search_blocks.block_rows(conn, partial))

            plan.append((None, write))
        return plan


class _Drained:
    """The load's connection for the occasional read, once the writer has caught up."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self._writer.drain()
        return self._writer.conn.execute(sql, params)


class PipelinedLoad:
    """SQLite: one transaction for the whole load, its SQL executed by a second thread."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._stack = ExitStack()
        self._writer: _Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._indexes: list[str] = []
        self._drop_pending = False
        self._heads: dict[str, tuple[int, bytes]] = {}
        self._position = 0
        self._blocks = SearchBlockFeed(readable=True)
        self._pending = PendingProjections(
            lambda state, nodes, edges: store._projection_plan(state, nodes, edges, bulk=True))

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> "PipelinedLoad":
        store = self.store
        stack = self._stack
        stack.enter_context(store._lock)
        stack.enter_context(collector_paused())  # (the load's fold stays alive until it ends)
        conn = stack.enter_context(store._transaction())
        try:
            store._forget_folds()  # every state is read inside this transaction
            empty = conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is None
            if empty:
                self._drop_pending = True  # at the first batch, which shows the keys' order
            else:
                self._reader = sqlite3.connect(f"{Path(store.path).resolve().as_uri()}?mode=ro", uri=True,
                                               check_same_thread=False)
                self._reader.execute("PRAGMA busy_timeout = 5000")
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            self._position = row[0] if row else 0
            self._blocks = SearchBlockFeed(readable=not empty)
            self._writer = _Writer(conn)
        except BaseException:
            self._close_helpers()
            stack.close()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                self._close_helpers()  # the writer first: the rollback below needs the connection idle
                self._stack.__exit__(*sys.exc_info())
                raise
        self._close_helpers()
        return self._stack.__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        writer = self._writer
        assert writer is not None
        writer.submit(self._pending.drain())
        writer.drain()
        for sql in self._indexes:
            try:
                writer.conn.execute(sql)
            except sqlite3.IntegrityError as exc:
                _raise_conflict(exc)
                raise

    def _close_helpers(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _drop_indexes(self, conn: sqlite3.Connection, items: list[Any]) -> None:
        """Into an empty store, build the secondary indexes whose keys come in random order once at
        the end: sorting a million keys costs a fraction of keeping a B-tree in order row by row.
        The others are kept by the writer as it goes, beside the parsing (an index build at the end
        is serial: 4.1 s of a 1M-event import, against 1.8-2.5 s gained by keeping four of the five
        event indexes, measured): the (run, seq) and (run, type) keys when the first batch holds
        few runs (they grow at a few places), the event id and timestamp keys when they ascend in it
        (time-ordered ids, a recorded run). node_id keys and the small node and edge tables' are
        always rebuilt. Dropped inside the load's transaction: a rollback or a crash restores them."""
        ids = [e.event_id for e, _ in items]
        stamps = [e.timestamp for e, _ in items]
        few_runs = len({e.run_id for e, _ in items}) <= FEW_RUNS
        kept = {"idx_events_run_seq": few_runs, "idx_events_run_type": few_runs,
                "idx_events_event_id": all(a < b for a, b in zip(ids, ids[1:])),
                "idx_events_timestamp": all(a <= b for a, b in zip(stamps, stamps[1:]))}
        marks = ",".join("?" * len(_REINDEXED_TABLES))
        rows = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                            f"AND tbl_name IN ({marks}) ORDER BY name", _REINDEXED_TABLES).fetchall()
        for name, sql in rows:
            if kept.get(name):
                continue
            conn.execute(f'DROP INDEX "{name}"')
            self._indexes.append(sql)

    # ------------------------------------------------------------------ appending
    def append(self, events: Events, *, validated: bool = False) -> AppendResult:
        store = self.store
        writer = self._writer
        assert writer is not None, "append outside the session's block"
        writer.raise_error()
        batch, payloads = store._prepare(events, validated=validated)
        result = AppendResult()
        items = store._unique_items(batch, payloads, result)
        if self._reader is not None and items:
            existing = stored_ids(self._reader, [e.event_id for e, _ in items])
            if existing:
                result.duplicates += len(existing)
                items = [(e, pl) for e, pl in items if e.event_id not in existing]
        if not items:
            return result
        if self._drop_pending:  # the writer has had nothing to do yet: the connection is free
            self._drop_pending = False
            self._drop_indexes(writer.conn, items)
        run_ids = list(dict.fromkeys(e.run_id for e, _ in items))
        states = {r: self._state(writer, r) for r in run_ids}
        heads = {r: self._head(writer, r, states[r]) for r in run_ids}
        plan = store._write_plan(items, run_ids, states, heads, self._position, result, bulk=True,
                                 pending=self._pending)
        plan.extend(self._pending.overflow())
        plan.extend(self._blocks.plan(items))
        self._heads.update(heads)
        assert result.last_position is not None, "a plan of at least one event numbers it"
        self._position = result.last_position
        writer.submit(plan)
        return result

    def _state(self, writer: _Writer, run_id: str) -> RunState:
        """The run's fold: held back with its unwritten projections, cached (this load holds the
        write lock, so nobody else moved it), or read from the database once the writer has caught up."""
        store = self.store
        state = self._pending.state(run_id)  # its projections are not in the database yet
        if state is not None:
            store._states[run_id] = state  # back in the fold cache if it had left it
            store._states.move_to_end(run_id)
            return state
        state = store._states.get(run_id)
        if state is not None:
            store._states.move_to_end(run_id)
            return state
        return store._state_for_write(_Drained(writer), run_id)

    def _head(self, writer: _Writer, run_id: str, state: RunState) -> tuple[int, bytes]:
        """(last seq, its hash) of the run, kept for every run of the load (the fold cache keeps
        only a few runs, and the event indexes may be gone until the end)."""
        head = self._heads.get(run_id)
        last_seq = state.run["last_seq"]
        if head is not None and head[0] == last_seq:
            return head
        return last_seq, self.store._chain_prev(_Drained(writer), run_id, last_seq)
