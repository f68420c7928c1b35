"""Read-only SQL the inspector needs beyond the store's paging API.

The event list addresses rows by a run's per-run sequence (row i of a run is seq i + 1, gapless),
so a window of rows is one indexed `seq IN (...)` lookup, and a filtered view is the sorted array
of matching seqs. These run on `SQLiteStore.connection` (documented for read-only SQL); each
connection is used by one thread only: the UI thread's store, or a worker's own store.

Filters take the cheapest path the schema offers: shown types and a node come straight from their
indexes (a few rows, sorted here rather than by walking the whole run in seq order); hidden types
are the complement of their (usually few) seqs; a payload search reads payloads in position
(rowid) order over ranges of positions (`search_ranges`: the run's candidate blocks from its
`SearchIndex`, or the whole run without one), a chunk at a time so it can be cancelled.
"""
from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import orjson
from agenttui.store import Event, EventFilter, SQLiteStore
from agenttui.store.sqlite import EVENT_COLUMNS, row_to_event

if TYPE_CHECKING:  # numpy is imported only once an index is built, never to open the app
    from .search_index import SearchIndex

#: Rows fetched per round trip while scanning payloads (between cancellation checks).
CHUNK = 20_000
#: Positions scanned per search query (between cancellation checks): ~30 ms of LIKE in SQLite.
#: Fewer, longer queries matter: a worker waits for the GIL after each one while the UI thread
#: paints (up to the switch interval, 5 ms by default), which made 50 queries over 1M rows 2x
#: slower than 10 (measured before the app set a 0.5 ms interval; fewer queries still cost less).
SCAN_POSITIONS = 100_000
#: Candidate ranges this close are read in one query (the gap costs ~1 ms to scan, a query ~5 ms).
SCAN_GAP = 4096


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
    type_counts: dict[str, int] | None = None,
    index: SearchIndex | None = None,
) -> array | None:
    """Sorted seqs of the run's events matching `flt` in (after_seq, upto_seq]; None if cancelled.

    type_counts: events per type of the run up to upto_seq, if the caller knows them: a type
    filter then reads whichever side is smaller, the shown types or the hidden ones.
    index: the run's search index, if built (or partly built): a search then reads only the
    payloads of its candidate blocks (and those past it).
    """
    conn = store.connection
    flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                      search=flt.search)
    if not flt.search and flt.node_id is None and (flt.types is not None or flt.exclude_types):
        fast = _matching_by_type_index(store, run_id, flt, after_seq, upto_seq, type_counts)
        if fast is not None:
            return fast
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
    if flt.search and flt.node_id is None:
        return _search_seqs(store, run_id, flt, after_seq, upto_seq, index, cancelled)
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


def first_match_within(store: SQLiteStore, run_id: str, search: str, *, after_seq: int,
                       index: SearchIndex | None, max_positions: int,
                       backward: bool = False) -> tuple[bool, int | None]:
    """`first_match` for a search over the whole run, giving up once it has read `max_positions`
    positions (or up to twice that, in two queries): (True, seq or None) when decided, (False,
    None) when the rest is a worker's job. With the index, a term found nowhere is decided
    without reading a row. backward: the last match before `after_seq` instead (wrapping to the
    run's end), what `N` wants."""
    return _first_in_ranges(store, run_id, EventFilter(search=search), after_seq, index, lambda: False,
                            max_positions, backward=backward)


def _first_in_ranges(store: SQLiteStore, run_id: str, flt: EventFilter, after_seq: int, index: SearchIndex | None,
                     cancelled: Callable[[], bool], budget: int | None,
                     *, backward: bool = False) -> tuple[bool, int | None]:
    assert flt.search is not None
    first, last = first_position(store, run_id), last_position(store, run_id)
    if backward:  # seqs before after_seq, newest first, then from the run's end down to it
        split = position_at_or_before(store, run_id, after_seq - 1) if after_seq > 1 else 0
        split = max(split, first - 1)
        spans = ((first, split), (split + 1, last))
    else:
        split = position_at_or_before(store, run_id, after_seq) if after_seq > 0 else 0
        split = max(split, first - 1)
        spans = ((split + 1, last), (first, split))
    where, params = _range_where(store, run_id, flt)
    order = "id DESC" if backward else "id"
    sql = f"SELECT seq FROM events WHERE id >= ? AND id <= ? AND {where} ORDER BY {order} LIMIT 1"
    scanned = 0
    for lo, hi in spans:
        size = SCAN_POSITIONS if budget is None else max(1, min(SCAN_POSITIONS, budget))
        pieces = _chunks(search_ranges(store, run_id, flt.search, lo, hi, index), size)
        for a, b in (reversed(list(pieces)) if backward else pieces):
            if cancelled() or (budget is not None and scanned >= budget):
                return False, None
            row = store.connection.execute(sql, [a, b, *params]).fetchone()
            if row is not None:
                return True, row[0]
            scanned += b - a + 1
    return True, None


def search_ranges(store: SQLiteStore, run_id: str, search: str, lo: int, hi: int,
                  index: SearchIndex | None) -> list[tuple[int, int]]:
    """Position ranges within [lo, hi] holding every event of the run that can match `search`:
    the index's candidate blocks (and the positions past its last block), or all of [lo, hi]."""
    if hi < lo:
        return []
    if index is None or index.run_id != run_id:
        return [(lo, hi)]
    return index.candidate_ranges(search, lo, hi)


def _chunks(ranges: Iterable[tuple[int, int]], size: int | None = None) -> Iterable[tuple[int, int]]:
    """The ranges, those less than SCAN_GAP apart joined, cut into pieces of at most `size`
    (default SCAN_POSITIONS) positions: one query each."""
    size = size or SCAN_POSITIONS
    joined: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if joined and lo - joined[-1][1] <= SCAN_GAP:
            joined[-1] = (joined[-1][0], hi)
        else:
            joined.append((lo, hi))
    for lo, hi in joined:
        while lo <= hi:
            yield lo, min(hi, lo + size - 1)
            lo += size


def _range_where(store: SQLiteStore, run_id: str, flt: EventFilter) -> tuple[str, list]:
    """The filter's conditions for a scan of a position range in rowid order: `+run_id` keeps
    SQLite from walking the run's seq index and fetching each row at random (4x slower on a 1M
    run); PostgreSQL has no unary + for text (and plans by cost)."""
    rest, params = EventFilter(types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                               search=flt.search).where()
    run = "run_id" if store.backend == "postgresql" else "+run_id"
    return f"{run} = ? AND {rest}", [run_id, *params]


def _search_seqs(store: SQLiteStore, run_id: str, flt: EventFilter, after_seq: int, upto_seq: int | None,
                 index: SearchIndex | None, cancelled: Callable[[], bool]) -> array | None:
    """matching_seqs for a search: its position ranges scanned in rowid order (seq order within
    a run: seqs follow positions), a chunk per query."""
    out = array("q")
    lo = position_at_or_before(store, run_id, after_seq) + 1 if after_seq > 0 else first_position(store, run_id)
    hi = position_at_or_before(store, run_id, upto_seq) if upto_seq is not None else last_position(store, run_id)
    assert flt.search is not None
    where, params = _range_where(store, run_id, flt)
    sql = f"SELECT seq FROM events WHERE id >= ? AND id <= ? AND {where} ORDER BY id"
    for a, b in _chunks(search_ranges(store, run_id, flt.search, lo, hi, index)):
        if cancelled():
            return None
        out.extend(r[0] for r in store.connection.execute(sql, [a, b, *params]).fetchall())
    return out


def _matching_by_type_index(store: SQLiteStore, run_id: str, flt: EventFilter, after_seq: int,
                            upto_seq: int | None, counts: dict[str, int] | None) -> array | None:
    """A type filter from the type index alone when the run's positions are contiguous (see
    `_seq_offset`); None when they are not (the caller then reads each row's seq)."""
    last = upto_seq if upto_seq is not None else last_seq(store, run_id)
    if last <= after_seq:
        return array("q")
    offset = _seq_offset(store, run_id, last)
    if offset is None:
        return None
    lo, hi = after_seq + 1 + offset, last + offset
    hidden = set(flt.exclude_types or ())
    shown = set(flt.types) - hidden if flt.types is not None else None
    if counts is not None:
        present = {t for t, n in counts.items() if n}
        if shown is None:
            shown = present - hidden
        hidden = present - shown
        if sum(counts.get(t, 0) for t in shown) > sum(counts.get(t, 0) for t in hidden):
            shown = None  # fewer rows to read as the complement
    if shown is not None:
        return _index_seqs(store, run_id, sorted(shown), lo, hi, offset)
    gaps = _index_seqs(store, run_id, sorted(hidden), lo, hi, offset)
    out = array("q")
    previous = after_seq
    for seq in gaps:
        out.extend(range(previous + 1, seq))
        previous = seq
    out.extend(range(previous + 1, last + 1))
    return out


def first_match(store: SQLiteStore, run_id: str, flt: EventFilter, *, after_seq: int,
                index: SearchIndex | None = None,
                cancelled: Callable[[], bool] = lambda: False) -> int | None:
    """The first matching seq after `after_seq` (wrapping to the start), found without a full scan
    (None: no match, or cancelled). A search reads position ranges (see `search_ranges`) in order
    and stops at the first row found; a node filter keeps to the node's index."""
    flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                      search=flt.search)
    if flt.search and flt.node_id is None:
        return _first_in_ranges(store, run_id, flt, after_seq, index, cancelled, None)[1]
    where, params = flt.where()
    for bound, value in ((" AND seq > ?", after_seq), (" AND seq <= ?", after_seq)):
        row = store.connection.execute(f"SELECT seq FROM events WHERE {where}{bound} ORDER BY seq LIMIT 1",
                                       params + [value]).fetchone()
        if row is not None:
            return row[0]
    return None


def position_of_seq(store: SQLiteStore, run_id: str, seq: int) -> int | None:
    row = store.connection.execute("SELECT id FROM events WHERE run_id = ? AND seq = ?", (run_id, seq)).fetchone()
    return row[0] if row else None


def type_counts(store: SQLiteStore, run_id: str, *, after_position: int = 0,
                upto_position: int | None = None) -> dict[str, int]:
    """Events per type of the run in positions (after_position, upto_position]: the whole run from
    the type index alone; a recent stretch (after_position > 0) from the table's position range,
    since the index would be walked whole to find it."""
    # `+run_id` keeps SQLite off the type index; PostgreSQL has no unary + for text (and plans by cost)
    run = "run_id" if after_position <= 0 or store.backend == "postgresql" else "+run_id"
    sql = f"SELECT event_type, count(*) FROM events WHERE {run} = ? AND id > ?"
    params: list = [run_id, after_position]
    if upto_position is not None:
        sql += " AND id <= ?"
        params.append(upto_position)
    return dict(store.connection.execute(sql + " GROUP BY event_type", params).fetchall())


def tail_seqs(store: SQLiteStore, run_id: str, *, types: Sequence[str] | None = None,
              hidden: Sequence[str] = (), upto_seq: int, limit: int) -> array:
    """The seqs of the last `limit` events at or before `upto_seq` of the shown `types` (None: all
    but `hidden`), ascending: the rows a filtered list shows first, found without touching the others.

    Shown types: each type's newest entries from the (run_id, event_type) index (index-only, newest
    first), merged; then one lookup per kept row for its seq. Hidden types: the run's seq index
    read backwards, skipping them.
    """
    conn = store.connection
    upto_position = position_of_seq(store, run_id, upto_seq) if upto_seq > 0 else None
    if upto_position is None:
        return array("q")
    if types is None:
        marks = ",".join("?" * len(hidden))
        rows = conn.execute(
            f"SELECT seq FROM events WHERE run_id = ? AND seq <= ? AND event_type NOT IN ({marks}) "
            "ORDER BY seq DESC LIMIT ?", [run_id, upto_seq, *hidden, limit]).fetchall()
        return array("q", sorted(r[0] for r in rows))
    ids: list[int] = []
    for event_type in types:
        ids.extend(r[0] for r in conn.execute(
            "SELECT id FROM events WHERE run_id = ? AND event_type = ? AND id <= ? ORDER BY id DESC LIMIT ?",
            (run_id, event_type, upto_position, limit)))
    ids = sorted(ids)[-limit:]
    if not ids:
        return array("q")
    rows = conn.execute(f"SELECT seq FROM events WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
    return array("q", sorted(r[0] for r in rows))


def _seq_offset(store: SQLiteStore, run_id: str, upto_seq: int) -> int | None:
    """`position - seq` when every position from the run's first event to `upto_seq`'s is the run's
    (one run per file, or runs written one after another): then seq = position - offset for each of
    them and a filter needs only the type index, which holds positions but not seqs. None otherwise."""
    first = position_of_seq(store, run_id, 1)
    last = position_of_seq(store, run_id, upto_seq) if upto_seq > 0 else None
    if first is None or last is None or last - first != upto_seq - 1:
        return None  # seqs are gapless and follow positions: equal spans mean no other run in between
    return first - 1


def _index_seqs(store: SQLiteStore, run_id: str, types: Sequence[str], first_position: int, upto_position: int,
                offset: int) -> array:
    """Sorted seqs of the run's events of `types` in [first_position, upto_position] (positions
    translated by `offset`), read from the type index alone and parsed in C (orjson)."""
    if not types:  # nothing to look up (and PostgreSQL refuses an empty `IN ()`)
        return array("q")
    marks = ",".join("?" * len(types))
    # SQLite aggregates in index order; PostgreSQL's json_agg needs the order spelled out
    agg = "json_agg(id - ? ORDER BY id)" if store.backend == "postgresql" else "json_group_array(id - ?)"
    text = store.connection.execute(
        f"SELECT {agg} FROM events WHERE run_id = ? AND event_type IN ({marks}) "
        "AND id >= ? AND id <= ?", [offset, run_id, *types, first_position, upto_position]).fetchone()[0]
    values = orjson.loads(text) if text else []
    if len(types) > 1:
        values.sort()  # one ascending stretch per type: the sort merges them
    return array("q", values)


def last_seq(store: SQLiteStore, run_id: str) -> int:
    row = store.connection.execute("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?", (run_id,)).fetchone()
    return row[0]


def first_position(store: SQLiteStore, run_id: str) -> int:
    """The run's first position (0: no events), from the seq index."""
    row = store.connection.execute("SELECT id FROM events WHERE run_id = ? ORDER BY seq LIMIT 1",
                                   (run_id,)).fetchone()
    return row[0] if row else 0


def position_at_or_before(store: SQLiteStore, run_id: str, seq: int) -> int:
    """The position of the run's last event with a seq <= `seq` (0: none): later seqs lie past it."""
    row = store.connection.execute("SELECT id FROM events WHERE run_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                                   (run_id, seq)).fetchone()
    return row[0] if row else 0


def last_position(store: SQLiteStore, run_id: str) -> int:
    """The run's newest position (its last seq's: seqs follow positions), from the seq index."""
    row = store.connection.execute("SELECT id FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                                   (run_id,)).fetchone()
    return row[0] if row else 0
