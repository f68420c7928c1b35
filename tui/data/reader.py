"""The inspector's read model: every query the inspector runs, on one read-only store connection.

Widgets never see a store or a connection: the event list asks for events by seq, the filter for
matching seqs, the picker for counts, the tree for its first level, all through an
`InspectorReader`. The SQL dialect is chosen here and only here (`postgresql` vs SQLite); the
store's own public API (runs, run, node, timeline, ...) is used where it already answers.

A reader wraps one store, so one connection: it is used by one thread only. The UI thread has
its own (short busy timeout, see the app); each worker opens its own (`InspectorReader.open`).

Rows are addressed by a run's per-run sequence (row i of a run is seq i + 1, gapless), so a
window of rows is one indexed `seq IN (...)` lookup, and a filtered view is the sorted array of
matching seqs. Filters take the cheapest path the schema offers: shown types and a node come
straight from their indexes (a few rows, sorted here rather than by walking the whole run in seq
order); hidden types are the complement of their (usually few) seqs; a payload search reads
payloads in position (rowid) order over ranges of positions (`search_ranges`: the run's
candidate blocks from its `SearchIndex`, or the whole run without one), a chunk at a time so it
can be cancelled.
"""
from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import orjson
from agenttui.store import Event, EventFilter, nid_key
from agenttui.store import search_blocks
from agenttui.store.rows import EVENT_COLUMNS, row_to_event

from .targets import open_store_reader

if TYPE_CHECKING:  # numpy is imported only once an index is built, never to open the app
    from .search_index import SearchIndex

__all__ = ["InspectorReader", "CHUNK", "SCAN_CACHE_MB", "SCAN_POSITIONS", "SCAN_GAP"]

#: Rows fetched per round trip while scanning payloads (between cancellation checks).
CHUNK = 20_000
#: Positions scanned per search query (between cancellation checks): ~30 ms of LIKE in SQLite.
#: Fewer, longer queries matter: a worker waits for the GIL after each one while the UI thread
#: paints (up to the switch interval, 5 ms by default), which made 50 queries over 1M rows 2x
#: slower than 10 (measured before the app set a 0.5 ms interval; fewer queries still cost less).
SCAN_POSITIONS = 100_000
#: Candidate ranges this close are read in one query (the gap costs ~1 ms to scan, a query ~5 ms).
SCAN_GAP = 4096
#: SQLite page cache of a reader that reads a run through once (`InspectorReader.open_scan`), MB
SCAN_CACHE_MB = 1

_NEVER = lambda: False  # noqa: E731


class InspectorReader:
    """One read-only store and the inspector's queries on it (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        postgres = store.backend == "postgresql"
        #: the dialect, decided once. `+run_id` keeps SQLite from walking the run's seq index (or
        #: its type index) and fetching each row at random (4x slower on a 1M run) when a scan of a
        #: position range in rowid order is wanted; PostgreSQL has no unary + for text and plans by cost.
        self._scan_run = "run_id" if postgres else "+run_id"
        #: `+id` keeps SQLite on the run's type index when a whole run's types are counted up to a
        #: position: planned as a rowid range, its GROUP BY sorted every row in memory first (1M
        #: events: 1.3 s and +54 MB of RSS; 4M: +220 MB, the inspector's peak), where the index
        #: yields them grouped (0.25 s, nothing held)
        self._type_upto = "id" if postgres else "+id"
        #: a run's roots: SQLite probes the child index node by node (`+e.run_id` keeps it off the
        #: run's edges, which it walked for every node), where NOT IN built a list of every child id
        #: in memory (~10 MB at 4M events, 235k nodes, on the inspector's early peak beside the
        #: first window's decode) for 0.4 of the probes' 0.7-0.9 s; PostgreSQL hashes the NOT IN
        self._roots_sql = (
            "SELECT node_id, node_nid FROM nodes WHERE run_id = ? AND node_id NOT IN "
            "(SELECT child_node_id FROM edges WHERE run_id = ?)" if postgres else
            "SELECT node_id, node_nid FROM nodes n WHERE run_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM edges e WHERE e.child_node_id = n.node_id AND +e.run_id = ?)")
        #: SQLite aggregates in index order; PostgreSQL's json_agg needs the order spelled out
        self._agg_ids = "json_agg(id - ? ORDER BY id)" if postgres else "json_group_array(id - ?)"
        #: whether payload search can use the trigram index: PostgreSQL's casefold is ICU's lower(),
        #: not Python's `str.casefold`, so its searches scan position ranges instead
        self.supports_search_index = not postgres

    @classmethod
    def open(cls, target: str, **sqlite_options: Any) -> "InspectorReader":
        """A reader on its own read-only connection to `target` (a path or a postgresql:// URL)."""
        return cls(open_store_reader(target, **sqlite_options))

    @classmethod
    def open_scan(cls, target: str) -> "InspectorReader":
        """A reader for a worker that reads a run through once (the fold, a replay window's snapshot
        and short fold, the search index, the outline, type counts): a small page cache, since its
        pages are not read again. With the readers' default each such worker held 8 MB of the last
        pages it read for as long as it ran, the fold's at the inspector's peak (1M events: 177-188
        -> 165-168 MB; scrubbing before the fold, the windows' readers too: 191-194 -> 176-178 MB)."""
        return cls.open(target, cache_mb=SCAN_CACHE_MB)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "InspectorReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        return self.store.connection.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any]) -> tuple | None:
        return self.store.connection.execute(sql, params).fetchone()

    def _scalar(self, sql: str, params: Sequence[Any]) -> Any:
        """The value of an aggregate query, which always returns one row."""
        row = self._one(sql, params)
        if row is None:
            raise RuntimeError(f"the database returned no row for an aggregate: {sql!r}")
        return row[0]

    # ------------------------------------------------------------------ the store's own answers
    def runs(self) -> list[dict[str, Any]]:
        return self.store.runs()

    def run(self, run_id: str) -> dict[str, Any] | None:
        return self.store.run(run_id)

    def latest_run_id(self) -> str | None:
        return self.store.latest_run_id()

    def newest_position(self) -> int:
        """The store's newest global position (any run)."""
        return self.store.last_position()

    def node(self, run_id: str, node_id: str) -> dict[str, Any] | None:
        return self.store.node(run_id, node_id)

    def run_events(self, run_id: str, *, batch: int) -> Iterator[Event]:
        """Every event of the run in seq order, `batch` at a time (what the fold reads)."""
        return self.store.timeline(run_id, batch=batch)

    def events_after(self, run_id: str, after_position: int, *, batch: int) -> Iterator[Event]:
        """The run's events past a position, in seq order, `batch` at a time (a window's fold)."""
        return self.store.iter_events(EventFilter(run_id=run_id), after=after_position, batch=batch)

    def snapshot_before(self, run_id: str, seq: int) -> tuple[int, int] | None:
        """(position, seq) of the run's newest stored snapshot at or before `seq` that the installed
        fold can read, None if there is none: where a window of its history can start."""
        from agenttui.store.fold import FOLD_VERSION

        return self._one("SELECT position, seq FROM snapshots WHERE run_id = ? AND seq <= ? AND fold_version = ? "
                         "ORDER BY seq DESC LIMIT 1", (run_id, seq, FOLD_VERSION))

    def state_at(self, run_id: str, position: int) -> Any:
        """The run's folded state as of a position (the store starts from its nearest snapshot)."""
        return self.store.state_at(run_id, position)

    def slider_samples(self, run_id: str, every: int) -> tuple[int, list[str]] | None:
        """(the run's last seq, the timestamps of seqs 1, 1 + every, 1 + 2 * every, ... and of the
        last seq): point lookups in the run's seq index (~4,000 for 1M events at every=256), what
        the slider's outline draws before the fold. None on PostgreSQL (the slider waits for the fold)."""
        if self.store.backend == "postgresql":
            return None
        last = self.last_seq(run_id)
        wanted = [*range(1, last + 1, every), last] if last else []
        found: dict[int, str] = {}
        for k in range(0, len(wanted), 500):
            # one row per query, the stamps aggregated in SQL: sqlite3 hands the GIL back and forth
            # at every row it steps, and while a replay window decodes a snapshot on another thread
            # each handoff waited for it (the outline of a 1M-event run took 1.5 s instead of 50 ms)
            chunk = wanted[k:k + 500]
            text = self._scalar(f"SELECT json_group_array(json_array(seq, timestamp)) FROM events WHERE run_id = ? "
                                f"AND seq IN ({','.join('?' * len(chunk))})", [run_id, *chunk])
            found.update((seq, stamp) for seq, stamp in orjson.loads(text or "[]"))
        stamps: list[str] = []
        for seq in wanted:  # a seq retention removed takes its predecessor's stamp
            stamps.append(found.get(seq) or (stamps[-1] if stamps else ""))
        return last, stamps

    def trouble_marks(self, run_id: str) -> list[tuple[int, str]]:
        """(seq, kind) of the run's events the fold counts as trouble (MARK_KINDS), in seq order, by
        the fold's rules read in SQL: a run error, an LLM call or tool returning an error (a truthy
        `error`, or a tool `state` the fold calls failed), a node's status turning FAILED (set by
        node_status_changed or step_finished, when the node's previous status was not FAILED)."""
        from agenttui.store.fold import FAILED_TOOL_STATES

        truthy = ("CASE json_type(payload, '$.error') WHEN 'true' THEN 1 "
                  "WHEN 'integer' THEN json_extract(payload, '$.error') != 0 "
                  "WHEN 'real' THEN json_extract(payload, '$.error') != 0 "
                  "WHEN 'text' THEN json_extract(payload, '$.error') != '' "
                  "WHEN 'array' THEN json_array_length(payload, '$.error') > 0 "
                  "WHEN 'object' THEN json_extract(payload, '$.error') != '{}' ELSE 0 END")
        states = sorted(FAILED_TOOL_STATES)
        errors = self._rows(
            "SELECT seq, CASE event_type WHEN 'run_error' THEN 'run_error' WHEN 'llm_call_completed' THEN 'llm_error' "
            "ELSE 'tool_error' END FROM events WHERE run_id = ? AND (event_type = 'run_error' "
            f"OR (event_type = 'llm_call_completed' AND {truthy}) "
            f"OR (event_type = 'tool_returned' AND ({truthy} OR (json_type(payload, '$.state') = 'text' AND "
            f"upper(json_extract(payload, '$.state')) IN ({','.join('?' * len(states))})))))", (run_id, *states))
        # a node's status as each status event sets it (the fold takes text only), and the one before
        failed = self._rows(
            "SELECT seq, 'failed' FROM (SELECT seq, status, lag(status) OVER (PARTITION BY node_id ORDER BY seq) AS "
            "before FROM (SELECT seq, node_id, CASE event_type WHEN 'node_status_changed' THEN "
            "json_extract(payload, '$.new_status') ELSE json_extract(payload, '$.status_after') END AS status "
            "FROM events WHERE run_id = ? AND event_type IN ('node_status_changed', 'step_finished') "
            "AND coalesce(node_id, '') != '' AND json_type(payload, CASE event_type WHEN 'node_status_changed' "
            "THEN '$.new_status' ELSE '$.status_after' END) = 'text' "
            # only nodes that were ever reported FAILED (a few percent): half the time on a 1M-event run
            "AND node_id IN (SELECT node_id FROM events WHERE run_id = ? AND event_type IN "
            "('node_status_changed', 'step_finished') AND (json_extract(payload, '$.new_status') = 'FAILED' "
            "OR json_extract(payload, '$.status_after') = 'FAILED')))) "
            "WHERE status = 'FAILED' AND (before IS NULL OR before != 'FAILED')", (run_id, run_id))
        kinds = dict(errors)
        for seq, kind in failed:  # one mark per event, the most severe: a failed node before a tool error
            if kinds.get(seq) != "run_error":
                kinds[seq] = kind
        return sorted(kinds.items())

    def count_by_type(self, run_id: str) -> dict[str, int]:
        return self.store.count_by_type(run_id=run_id)

    # ------------------------------------------------------------------ positions and seqs
    def last_seq(self, run_id: str) -> int:
        return self._scalar("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?", (run_id,))

    def first_position(self, run_id: str) -> int:
        """The run's first position (0: no events), from the seq index."""
        row = self._one("SELECT id FROM events WHERE run_id = ? ORDER BY seq LIMIT 1", (run_id,))
        return row[0] if row else 0

    def last_position(self, run_id: str) -> int:
        """The run's newest position (its last seq's: seqs follow positions), from the seq index."""
        row = self._one("SELECT id FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,))
        return row[0] if row else 0

    def position_of_seq(self, run_id: str, seq: int) -> int | None:
        row = self._one("SELECT id FROM events WHERE run_id = ? AND seq = ?", (run_id, seq))
        return row[0] if row else None

    def event_id_at(self, run_id: str, position: int) -> str | None:
        """The event id stored at `position` if it is the run's (what a cached index checks)."""
        row = self._one("SELECT event_id FROM events WHERE id = ? AND run_id = ?", (position, run_id))
        return row[0] if row else None

    def position_at_or_before(self, run_id: str, seq: int) -> int:
        """The position of the run's last event with a seq <= `seq` (0: none): later seqs lie past it."""
        row = self._one("SELECT id FROM events WHERE run_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                        (run_id, seq))
        return row[0] if row else 0

    # ------------------------------------------------------------------ events
    def events_by_seqs(self, run_id: str, seqs: Iterable[int]) -> dict[int, Event]:
        """The run's events with these seqs, keyed by seq (missing ones are simply absent)."""
        wanted = list(seqs)
        out: dict[int, Event] = {}
        upcasters = self.store.upcasters
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = self._rows(f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq IN "
                              f"({','.join('?' * len(chunk))})", [run_id, *chunk])
            for r in rows:
                e = row_to_event(r)
                if e.node_id == "":
                    e.node_id = None
                out[r[3]] = upcasters.upcast(e) if upcasters else e
        return out

    def search_blocks(self, run_id: str, blocks: tuple[int, int] | None = None, *, bitmaps: bool = True,
                      limit: int = -1) -> list[tuple]:
        """(block, first_position, last_position, events, bits, bitmap) of the run's search blocks that
        the writers stored (store/search_blocks.py), by block; [] for a store without them. `blocks`:
        only those in [start, stop), at most `limit`; without `bitmaps` the bitmap is None (the search
        index reads the 2 KB bitmaps a chunk at a time)."""
        if not self.supports_search_index:
            return []
        conn = self.store.connection
        if not search_blocks.has_table(conn):  # a file from before schema 4, opened read-only
            return []
        start, stop = blocks if blocks is not None else (-1, 1 << 62)
        bitmap = "bitmap" if bitmaps else "NULL"
        return conn.execute(f"SELECT block, first_position, last_position, events, bits, {bitmap} FROM search_blocks "
                            "WHERE run_id = ? AND block >= ? AND block < ? ORDER BY block LIMIT ?",
                            (run_id, start, stop, limit)).fetchall()

    def payloads_after(self, run_id: str, after_position: int, limit: int) -> Any:
        """A cursor over (position, payload) of the run's events past `after_position`, in position
        order, at most `limit`: the search index reads it row by row (and may stop early)."""
        return self.store.connection.execute(
            f"SELECT id, payload FROM events WHERE id > ? AND {self._scan_run} = ? ORDER BY id LIMIT ?",
            (after_position, run_id, limit))

    # ------------------------------------------------------------------ counts
    def type_counts(self, run_id: str, *, after_position: int = 0,
                    upto_position: int | None = None) -> dict[str, int]:
        """Events per type of the run in positions (after_position, upto_position]: the whole run from
        the type index alone; a recent stretch (after_position > 0) from the table's position range,
        since the index would be walked whole to find it."""
        run, ids = ("run_id", self._type_upto) if after_position <= 0 else (self._scan_run, "id")
        sql = f"SELECT event_type, count(*) FROM events WHERE {run} = ? AND {ids} > ?"
        params: list = [run_id, after_position]
        if upto_position is not None:
            sql += f" AND {ids} <= ?"
            params.append(upto_position)
        return dict(self._rows(sql + " GROUP BY event_type", params))

    # ------------------------------------------------------------------ the node tree
    def tree_roots(self, run_id: str) -> tuple[int, list[str]]:
        """(event count, root node ids in nid order) of the run as its projections hold it now."""
        row = self._one("SELECT event_count FROM runs WHERE run_id = ?", (run_id,))
        # one statement (row by row in Python, each row would wait for the GIL while the UI paints)
        roots = self._rows(self._roots_sql, (run_id, run_id))
        roots.sort(key=lambda r: nid_key(r[1]))
        return (row[0] if row else 0), [r[0] for r in roots]

    def children(self, run_id: str, node_id: str) -> list[str]:
        """The node's children by the edges stored now, in nid order ("1.2" < "1.10")."""
        rows = self._rows("SELECT e.child_node_id, n.node_nid FROM edges e LEFT JOIN nodes n "
                          "ON n.run_id = e.run_id AND n.node_id = e.child_node_id "
                          "WHERE e.parent_node_id = ? AND e.run_id = ?", (node_id, run_id))
        rows.sort(key=lambda r: nid_key(r[1]))
        return [r[0] for r in rows]

    def parent(self, run_id: str, node_id: str) -> str | None:
        """The node's first parent by the edges stored now (None: a root), from the child index."""
        row = self._one("SELECT parent_node_id FROM edges WHERE child_node_id = ? AND run_id = ? ORDER BY id LIMIT 1",
                        (node_id, run_id))
        return row[0] if row else None

    def has_children(self, run_id: str, node_id: str) -> bool:
        return self._one("SELECT 1 FROM edges WHERE parent_node_id = ? AND run_id = ? LIMIT 1",
                         (node_id, run_id)) is not None

    # ------------------------------------------------------------------ filters and search
    def matching_seqs(
        self,
        run_id: str,
        flt: EventFilter,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        cancelled: Callable[[], bool] = _NEVER,
        type_counts: dict[str, int] | None = None,
        index: SearchIndex | None = None,
    ) -> array | None:
        """Sorted seqs of the run's events matching `flt` in (after_seq, upto_seq]; None if cancelled.

        type_counts: events per type of the run up to upto_seq, if the caller knows them: a type
        filter then reads whichever side is smaller, the shown types or the hidden ones.
        index: the run's search index, if built (or partly built): a search then reads only the
        payloads of its candidate blocks (and those past it).
        """
        flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                          search=flt.search)
        if not flt.search and flt.node_id is None and (flt.types is not None or flt.exclude_types):
            fast = self._matching_by_type_index(run_id, flt, after_seq, upto_seq, type_counts)
            if fast is not None:
                return fast
        bound_sql, bound_params = _bounds(after_seq, upto_seq, use_seq_index=bool(flt.search))
        if not flt.search and flt.node_id is None and flt.types is None and flt.exclude_types:
            # hidden types: everything but their seqs (read from the (run_id, event_type) index)
            where, params = EventFilter(run_id=run_id, types=flt.exclude_types).where()
            gaps = sorted(r[0] for r in self._rows(f"SELECT seq FROM events WHERE {where}{bound_sql}",
                                                   params + bound_params))
            last = upto_seq if upto_seq is not None else self.last_seq(run_id)
            return _complement(gaps, after_seq, last)
        if flt.search and flt.node_id is None:
            return self._search_seqs(run_id, flt, after_seq, upto_seq, index, cancelled)
        where, params = flt.where()
        if not flt.search:
            # a type list or a node: its index gives the few matching rows; sorting them is cheaper
            # than walking the run's whole seq index
            rows = self._rows(f"SELECT seq FROM events WHERE {where}{bound_sql}", params + bound_params)
            return array("q", sorted(r[0] for r in rows))
        cur = self.store.connection.execute(f"SELECT seq FROM events WHERE {where}{bound_sql} ORDER BY seq",
                                            params + bound_params)
        out = array("q")
        while True:
            rows = cur.fetchmany(CHUNK)
            if not rows:
                return out
            out.extend(r[0] for r in rows)
            if cancelled():
                cur.close()
                return None

    def first_match(self, run_id: str, flt: EventFilter, *, after_seq: int, index: SearchIndex | None = None,
                    cancelled: Callable[[], bool] = _NEVER) -> int | None:
        """The first matching seq after `after_seq` (wrapping to the start), found without a full scan
        (None: no match, or cancelled). A search reads position ranges (see `search_ranges`) in order
        and stops at the first row found; a node filter keeps to the node's index."""
        flt = EventFilter(run_id=run_id, types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                          search=flt.search)
        if flt.search and flt.node_id is None:
            return self._first_in_ranges(run_id, flt, after_seq, index, cancelled, None)[1]
        where, params = flt.where()
        for bound, value in ((" AND seq > ?", after_seq), (" AND seq <= ?", after_seq)):
            row = self._one(f"SELECT seq FROM events WHERE {where}{bound} ORDER BY seq LIMIT 1", params + [value])
            if row is not None:
                return row[0]
        return None

    def first_match_within(self, run_id: str, search: str, *, after_seq: int, index: SearchIndex | None,
                           max_positions: int, backward: bool = False) -> tuple[bool, int | None]:
        """`first_match` for a search over the whole run, giving up once it has read `max_positions`
        positions (or up to twice that, in two queries): (True, seq or None) when decided, (False,
        None) when the rest is a worker's job. With the index, a term found nowhere is decided
        without reading a row. backward: the last match before `after_seq` instead (wrapping to the
        run's end), what `N` wants."""
        return self._first_in_ranges(run_id, EventFilter(search=search), after_seq, index, _NEVER,
                                     max_positions, backward=backward)

    def tail_seqs(self, run_id: str, *, types: Sequence[str] | None = None, hidden: Sequence[str] = (),
                  upto_seq: int, limit: int) -> array:
        """The seqs of the last `limit` events at or before `upto_seq` of the shown `types` (None: all
        but `hidden`), ascending: the rows a filtered list shows first, found without touching the others.

        Shown types: each type's newest entries from the (run_id, event_type) index (index-only, newest
        first), merged; then one lookup per kept row for its seq. Hidden types: the run's seq index
        read backwards, skipping them.
        """
        upto_position = self.position_of_seq(run_id, upto_seq) if upto_seq > 0 else None
        if upto_position is None:
            return array("q")
        if types is None:
            marks = ",".join("?" * len(hidden))
            rows = self._rows(f"SELECT seq FROM events WHERE run_id = ? AND seq <= ? AND event_type NOT IN ({marks}) "
                              "ORDER BY seq DESC LIMIT ?", [run_id, upto_seq, *hidden, limit])
            return array("q", sorted(r[0] for r in rows))
        ids: list[int] = []
        for event_type in types:
            ids.extend(r[0] for r in self._rows(
                "SELECT id FROM events WHERE run_id = ? AND event_type = ? AND id <= ? ORDER BY id DESC LIMIT ?",
                (run_id, event_type, upto_position, limit)))
        ids = sorted(ids)[-limit:]
        if not ids:
            return array("q")
        rows = self._rows(f"SELECT seq FROM events WHERE id IN ({','.join('?' * len(ids))})", ids)
        return array("q", sorted(r[0] for r in rows))

    def search_ranges(self, run_id: str, search: str, lo: int, hi: int,
                      index: SearchIndex | None) -> list[tuple[int, int]]:
        """Position ranges within [lo, hi] holding every event of the run that can match `search`:
        the index's candidate blocks (and the positions past its last block), or all of [lo, hi]."""
        if hi < lo:
            return []
        if index is None or index.run_id != run_id:
            return [(lo, hi)]
        return index.candidate_ranges(search, lo, hi)

    # ------------------------------------------------------------------ internals
    def _first_in_ranges(self, run_id: str, flt: EventFilter, after_seq: int, index: SearchIndex | None,
                         cancelled: Callable[[], bool], budget: int | None,
                         *, backward: bool = False) -> tuple[bool, int | None]:
        assert flt.search is not None
        first, last = self.first_position(run_id), self.last_position(run_id)
        if backward:  # seqs before after_seq, newest first, then from the run's end down to it
            split = self.position_at_or_before(run_id, after_seq - 1) if after_seq > 1 else 0
            split = max(split, first - 1)
            spans = ((first, split), (split + 1, last))
        else:
            split = self.position_at_or_before(run_id, after_seq) if after_seq > 0 else 0
            split = max(split, first - 1)
            spans = ((split + 1, last), (first, split))
        where, params = self._range_where(run_id, flt)
        order = "id DESC" if backward else "id"
        sql = f"SELECT seq FROM events WHERE id >= ? AND id <= ? AND {where} ORDER BY {order} LIMIT 1"
        scanned = 0
        for lo, hi in spans:
            size = SCAN_POSITIONS if budget is None else max(1, min(SCAN_POSITIONS, budget))
            pieces = _chunks(self.search_ranges(run_id, flt.search, lo, hi, index), size)
            for a, b in (reversed(list(pieces)) if backward else pieces):
                if cancelled() or (budget is not None and scanned >= budget):
                    return False, None
                row = self._one(sql, [a, b, *params])
                if row is not None:
                    return True, row[0]
                scanned += b - a + 1
        return True, None

    def _range_where(self, run_id: str, flt: EventFilter) -> tuple[str, list]:
        """The filter's conditions for a scan of a position range in rowid order."""
        rest, params = EventFilter(types=flt.types, exclude_types=flt.exclude_types, node_id=flt.node_id,
                                   search=flt.search).where()
        return f"{self._scan_run} = ? AND {rest}", [run_id, *params]

    def _search_seqs(self, run_id: str, flt: EventFilter, after_seq: int, upto_seq: int | None,
                     index: SearchIndex | None, cancelled: Callable[[], bool]) -> array | None:
        """matching_seqs for a search: its position ranges scanned in rowid order (seq order within
        a run: seqs follow positions), a chunk per query."""
        out = array("q")
        lo = (self.position_at_or_before(run_id, after_seq) + 1 if after_seq > 0
              else self.first_position(run_id))
        hi = (self.position_at_or_before(run_id, upto_seq) if upto_seq is not None
              else self.last_position(run_id))
        assert flt.search is not None
        where, params = self._range_where(run_id, flt)
        sql = f"SELECT seq FROM events WHERE id >= ? AND id <= ? AND {where} ORDER BY id"
        for a, b in _chunks(self.search_ranges(run_id, flt.search, lo, hi, index)):
            if cancelled():
                return None
            out.extend(r[0] for r in self._rows(sql, [a, b, *params]))
        return out

    def _matching_by_type_index(self, run_id: str, flt: EventFilter, after_seq: int,
                                upto_seq: int | None, counts: dict[str, int] | None) -> array | None:
        """A type filter from the type index alone when the run's positions are contiguous (see
        `_seq_offset`); None when they are not (the caller then reads each row's seq)."""
        last = upto_seq if upto_seq is not None else self.last_seq(run_id)
        if last <= after_seq:
            return array("q")
        offset = self._seq_offset(run_id, last)
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
            return self._index_seqs(run_id, sorted(shown), lo, hi, offset)
        return _complement(self._index_seqs(run_id, sorted(hidden), lo, hi, offset), after_seq, last)

    def _seq_offset(self, run_id: str, upto_seq: int) -> int | None:
        """`position - seq` when every position from the run's first event to `upto_seq`'s is the run's
        (one run per file, or runs written one after another): then seq = position - offset for each of
        them and a filter needs only the type index, which holds positions but not seqs. None otherwise."""
        first = self.position_of_seq(run_id, 1)
        last = self.position_of_seq(run_id, upto_seq) if upto_seq > 0 else None
        if first is None or last is None or last - first != upto_seq - 1:
            return None  # seqs are gapless and follow positions: equal spans mean no other run in between
        return first - 1

    def _index_seqs(self, run_id: str, types: Sequence[str], first_position: int, upto_position: int,
                    offset: int) -> array:
        """Sorted seqs of the run's events of `types` in [first_position, upto_position] (positions
        translated by `offset`), read from the type index alone and parsed in C (orjson)."""
        if not types:  # nothing to look up (and PostgreSQL refuses an empty `IN ()`)
            return array("q")
        marks = ",".join("?" * len(types))
        text = self._scalar(f"SELECT {self._agg_ids} FROM events WHERE run_id = ? AND event_type IN ({marks}) "
                            "AND id >= ? AND id <= ?", [offset, run_id, *types, first_position, upto_position])
        values = orjson.loads(text) if text else []
        if len(types) > 1:
            values.sort()  # one ascending stretch per type: the sort merges them
        return array("q", values)


def _bounds(after_seq: int, upto_seq: int | None, *, use_seq_index: bool) -> tuple[str, list[int]]:
    """SQL bounding seq; `+seq` keeps the planner on the type/node index instead of walking the run."""
    col = "seq" if use_seq_index else "+seq"
    sql, params = f" AND {col} > ?", [after_seq]
    if upto_seq is not None:
        sql += f" AND {col} <= ?"
        params.append(upto_seq)
    return sql, params


def _complement(gaps: Iterable[int], after_seq: int, last: int) -> array:
    """The seqs in (after_seq, last] that are not in the ascending `gaps`."""
    out = array("q")
    previous = after_seq
    for seq in gaps:
        out.extend(range(previous + 1, seq))
        previous = seq
    out.extend(range(previous + 1, last + 1))
    return out


def _chunks(ranges: Iterable[tuple[int, int]], size: int | None = None) -> Iterator[tuple[int, int]]:
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
