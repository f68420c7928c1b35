"""Read-only SQL the inspector needs beyond the store's paging API.

The event list addresses rows by a run's per-run sequence (row i of a run is seq i + 1, gapless),
so a window of rows is one indexed `seq IN (...)` lookup, and a filtered view is the sorted array
of matching seqs. These run on `SQLiteStore.connection` (documented for read-only SQL); each
connection is used by one thread only: the UI thread's store, or a worker's own store.

Filters take the cheapest path the schema offers: shown types and a node come straight from their
indexes (a few rows, sorted here rather than by walking the whole run in seq order); hidden types
are the complement of their (usually few) seqs; only a payload search has to read every payload,
and it does so in chunks so it can be cancelled.
"""
from __future__ import annotations

from array import array
from typing import Callable, Iterable, Sequence

from agenttui.store import Event, EventFilter, SQLiteStore
from agenttui.store.sqlite import EVENT_COLUMNS, row_to_event

#: Rows fetched per round trip while scanning payloads (between cancellation checks).
CHUNK = 20_000


def _event(store: SQLiteStore, row: Sequence) -> Event:
    e = row_to_event(row)
    if e.node_id == "":
        e.node_id = None
    return store.upcasters.upcast(e) if store.upcasters else e


def events_by_seqs(store: SQLiteStore, run_id: str, seqs: Iterable[int]) -> dict[int, Event]:
    """The run's events with these seqs, keyed by seq (missing ones are simply absent)."""
    wanted = list(seqs)
    out: dict[int, Event] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        rows = store.connection.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq IN ({','.join('?' * len(chunk))})",
            [run_id, *chunk]).fetchall()
        for r in rows:
            out[r[3]] = _event(store, r)
    return out


def _bounds(after_seq: int, upto_seq: int | None, *, use_seq_index: bool) -> tuple[str, list[int]]:
    """SQL bounding seq; `+seq` keeps the planner on the type/node index instead of walking the run."""
    col = "seq" if use_seq_index else "+seq"
    sql, params = f" AND {col} > ?", [after_seq]
    if upto_seq is not None:
        sql += f" AND {col} <= ?"
        params.append(upto_seq)
    return sql, params


def matching_seqs(
    store: SQLiteStore,
    run_id: str,
    flt: EventFilter,
    *,
    after_seq: int = 0,
    upto_seq: int | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> array | None:
    """Sorted seqs of the run's events matching `flt` in (after_seq, upto_seq]; None if cancelled."""
    conn = store.connection
    flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                      search=flt.search)
    bound_sql, bound_params = _bounds(after_seq, upto_seq, use_seq_index=bool(flt.search))
    if not flt.search and flt.node_id is None and flt.types is None and flt.exclude_types:
        # hidden types: everything but their seqs (read from the (run_id, event_type) index)
        hidden = EventFilter(run_id=run_id, types=flt.exclude_types)
        where, params = hidden.where()
        gaps = sorted(r[0] for r in conn.execute(f"SELECT seq FROM events WHERE {where}{bound_sql}",
                                                 params + bound_params))
        last = upto_seq if upto_seq is not None else last_seq(store, run_id)
        out = array("q")
        previous = after_seq
        for seq in gaps:
            out.extend(range(previous + 1, seq))
            previous = seq
        out.extend(range(previous + 1, last + 1))
        return out
    where, params = flt.where()
    if not flt.search:
        # a type list or a node: its index gives the few matching rows; sorting them is cheaper
        # than walking the run's whole seq index
        rows = conn.execute(f"SELECT seq FROM events WHERE {where}{bound_sql}", params + bound_params).fetchall()
        return array("q", sorted(r[0] for r in rows))
    cur = conn.execute(f"SELECT seq FROM events WHERE {where}{bound_sql} ORDER BY seq", params + bound_params)
    out = array("q")
    while True:
        rows = cur.fetchmany(CHUNK)
        if not rows:
            return out
        out.extend(r[0] for r in rows)
        if cancelled():
            cur.close()
            return None


def first_match(store: SQLiteStore, run_id: str, flt: EventFilter, *, after_seq: int) -> int | None:
    """The first matching seq after `after_seq` (wrapping to the start), found without a full scan."""
    flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                      search=flt.search)
    where, params = flt.where()
    for bound, value in ((" AND seq > ?", after_seq), (" AND seq <= ?", after_seq)):
        row = store.connection.execute(f"SELECT seq FROM events WHERE {where}{bound} ORDER BY seq LIMIT 1",
                                       params + [value]).fetchone()
        if row is not None:
            return row[0]
    return None


def last_seq(store: SQLiteStore, run_id: str) -> int:
    row = store.connection.execute("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?", (run_id,)).fetchone()
    return row[0]
