"""Read-only SQL the inspector needs beyond the store's paging API.

The event list addresses rows by a run's per-run sequence (row i of a run is seq i + 1, gapless),
so a window of rows is one indexed `seq IN (...)` lookup, and a filtered view is the sorted array
of matching seqs. These run on `SQLiteStore.connection` (documented for read-only SQL); each
connection is used by one thread only: the UI thread's store, or a worker's own store.
"""
from __future__ import annotations

from array import array
from typing import Callable, Iterable, Sequence

from agenttui.store import Event, EventFilter, SQLiteStore
from agenttui.store.sqlite import EVENT_COLUMNS, row_to_event

#: Rows fetched per round trip while building a filtered view (between cancellation checks).
CHUNK = 50_000


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
    flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                      search=flt.search)
    where, params = flt.where()
    where += " AND seq > ?"
    params.append(after_seq)
    if upto_seq is not None:
        where += " AND seq <= ?"
        params.append(upto_seq)
    cur = store.connection.execute(
        f"SELECT seq FROM events WHERE {where} ORDER BY seq", params)
    out = array("q")
    while True:
        rows = cur.fetchmany(CHUNK)
        if not rows:
            return out
        out.extend(r[0] for r in rows)
        if cancelled():
            cur.close()
            return None


def last_seq(store: SQLiteStore, run_id: str) -> int:
    row = store.connection.execute("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?", (run_id,)).fetchone()
    return row[0]

