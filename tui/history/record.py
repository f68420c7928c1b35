"""Fold-and-record: a run's whole history in memory, so the time slider can show the state at any
event index at once.

Usage::

    history = load_history(reader, run_id)          # in a worker thread: folds every event once
    history.extend(new_events)                      # live events later (duplicates are skipped)
    index = len(history) - 1                        # event indices run 0 .. len-1 in seq order
    history.run_at(index)                           # the run row as of that index (inclusive)
    history.node_at(node_id, index)                 # a node row as of it, None if not there yet
    history.roots_at(index), history.children_at(node_id, index)
    history.state_at_index(index)                   # a full RunState, equal to fold(events[:index+1])
    history.axis.density(80), history.marks()       # what the slider draws (see axis.py)

Why not fold from a checkpoint on every scrub: a 1M-event run needs a fold of up to the checkpoint
interval per step, and a slider that is dragged asks for dozens of states a second. Instead the
events are folded once, with the ONE fold of `store.fold` (`RunState.apply`), and its `Touched`
result says which entities changed; for those the new values are recorded as
(event index, value) changes. A value at an index is then a bisect, so any state costs
microseconds per entity shown, whatever the run's length.

Memory is kept small by recording only changes, in `array` columns where values are numbers (see
columns.py): per event a one-byte type code and a 4-byte timestamp offset (positions and seqs cost
nothing while they count up by one), per node one object, which also records the edge from the
node's first parent (a run's tree has one such edge per node). A node's desc (status, nid, goal,
result...) is recorded as int32 codes: its values at birth, then an (index, column, code) record
per column that changed (a status change is 12 bytes, not the whole desc). A code names a value:
None, small ints, bools and repeated short strings (statuses, types, parent ids) are kept once as
Python objects; a value that is its event's own timestamp is that event's index; any other value
is its JSON (orjson) in an arena, decoded when read (a small flat dict such as a result is stored
once for all its equals). The columns of a node the fold has let be for a while are packed into
one bytes object, and the arena and the packed nodes are spilled to temporary files (columns.py
`Spill`): what the screen reads is read back, the rest is not in memory. The fold itself keeps only
the rows it touched lately: the others are rebuilt from the history when it needs them again. A
1M-event demo run (59k nodes) folds into ~48 MB of RSS over the interpreter's and ~32 MB on disk
(4M events, 235k nodes: ~163 MB; was ~160 MB at 1M with a Python object per value and the whole desc
per change, ~66 MB with an edge as a dict entry of its own). What changes on every
event (event_count, last_seq, last_position, updated_at) is computed from the index instead of
recorded.

Not thread-safe: build it in one worker (`load_history`), then extend and read it from the UI
thread only.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from itertools import chain
from datetime import date, datetime, timedelta
from math import isfinite
from operator import itemgetter
from typing import Any, Callable, Iterable, Sequence
from weakref import proxy

import orjson

from agenttui.store.envelope import Event, normalize_timestamp
from agenttui.store.fold import NODE_COLUMNS, RUN_COLUMNS, RunState, apply_event, new_run, nid_key

from .axis import TimeAxis
from .columns import ChangeColumn, CountingColumn, NearColumn, RowCache, SmallCodes, Spill, record_offset, widen
from .heap import release_free_memory

__all__ = [
    "MARK_KINDS", "NODE_DISPLAY_FIELDS", "RUN_DISPLAY_FIELDS", "History", "HistoryError", "load_history",
]

#: The node fields the tree and detail views show; every one is exact at any index.
NODE_DISPLAY_FIELDS = (
    "status", "pending", "node_nid", "node_type", "task_type", "task_goal", "layer", "outer_node_id",
    "result", "error_count", "llm_calls", "tool_calls",
)
#: The run fields the header shows; every one is exact at any index.
RUN_DISPLAY_FIELDS = (
    "status", "llm_calls", "tool_calls", "error_count", "prompt_tokens", "completion_tokens", "total_nodes",
    "end_time", "error_message", "total_steps",
)
#: Kinds of trouble `marks()` reports, most severe first (one mark per event: the most severe).
MARK_KINDS = ("run_error", "failed", "llm_error", "tool_error", "error")

# Node columns that change a few times in a node's life: recorded together as one tuple per change.
_NODE_DESC = (
    "status", "pending", "node_nid", "node_type", "task_type", "task_goal", "layer", "outer_node_id",
    "result", "root_node_id", "metadata", "created_at",
)
# Node counters: recorded together as 5 int64 per change.
_NODE_COUNTS = ("llm_calls", "tool_calls", "error_count", "prompt_tokens", "completion_tokens")
_N_COUNTS = len(_NODE_COUNTS)
# Computed from the index or the node's own events, never recorded.
_NODE_DERIVED = ("node_id", "run_id", "event_count", "first_position", "last_position", "updated_at")
_RUN_DERIVED = ("run_id", "event_count", "last_seq", "first_position", "last_position", "updated_at")
_RUN_RECORDED = tuple(c for c in RUN_COLUMNS if c not in _RUN_DERIVED)
# Run columns that change often (counters) and seldom: compared as two tuples per event.
_RUN_HOT = ("llm_calls", "tool_calls", "error_count", "prompt_tokens", "completion_tokens", "total_steps",
            "total_nodes")
_RUN_COLD = tuple(c for c in _RUN_RECORDED if c not in _RUN_HOT)

assert set(_NODE_DESC) | set(_NODE_COUNTS) | set(_NODE_DERIVED) == set(NODE_COLUMNS)
assert set(_RUN_RECORDED) | set(_RUN_DERIVED) == set(RUN_COLUMNS)

_desc_of = itemgetter(*_NODE_DESC)
_counts_of = itemgetter(*_NODE_COUNTS)
_run_hot_of = itemgetter(*_RUN_HOT)
_run_cold_of = itemgetter(*_RUN_COLD)
_STATUS = 0  # index of "status" in a desc tuple
_NID = _NODE_DESC.index("node_nid")
# desc values that repeat across nodes and changes: kept once (see History._share)
_SHARED = frozenset(_NODE_DESC.index(c) for c in ("status", "node_type", "task_type", "outer_node_id",
                                                  "root_node_id"))
_ND = len(_NODE_DESC)
_NE = 4  # an edge's recorded values: parent_nid, child_nid, metadata, created_at
#: value types a dict may hold and still be stored once for all its equals (hashable, no -0.0/NaN)
_FLAT = frozenset({str, int, bool, type(None)})

#: Events folded between two passes packing the columns of nodes the fold let be (History._pack).
PACK_AFTER = 20_000
#: A packed node bigger than this stays in memory: a read of its label reads its columns a few times,
#: and a node with a million events of its own has megabytes of them (4 bytes an event).
SPILL_NODE_MAX = 4096
#: Value codes: >= 0 a Python object in History._values; -1 .. -_ARENA_MAX the JSON of value ~code
#: in the arena; _TS_CODE - i (down to -2**31) the timestamp of local event i.
_ARENA_MAX = 1 << 30
_TS_CODE = -_ARENA_MAX - 1
_TS_MAX = (1 << 31) + _TS_CODE
#: a desc change record: index, column, code
_DS = 3
#: change records after which a node's whole desc is recorded again (bounds a read's walk back)
_KEYFRAME = 16
_CONTAINERS = frozenset({dict, list})
_dumps = orjson.dumps
_loads = orjson.loads


def _packed_ints(values: Iterable[int]) -> bytes:
    return array("i", values).tobytes()


def _ints(packed: bytes) -> memoryview:
    return memoryview(packed).cast("i")


def _same(a: Any, b: Any) -> bool:
    """Whether a desc value is unchanged: an equal string or number of the same type (a container
    that is another object counts as changed: True == 1 hides inside containers too)."""
    t = type(a)
    return t is type(b) and t in _FLAT and a == b


def _plain(v: Any) -> bool:
    """Whether a container is JSON exactly (str keys; str, int, finite float, bool, None, list,
    dict inside), so its JSON decodes to an equal value of the same types."""
    if type(v) is dict:
        return all(type(k) is str for k in v) and all(map(_plain_item, v.values()))
    return all(map(_plain_item, v))


def _plain_item(x: Any) -> bool:
    t = type(x)
    return t in _FLAT or (t is float and isfinite(x)) or (t in _CONTAINERS and _plain(x))


def _desc_end(d: Sequence[int], i: int) -> int:
    """Offset just past a node's last desc change record at or before index i (_ND: none)."""
    n = (len(d) - _ND) // _DS
    if not n or d[_ND] > i:
        return _ND
    if d[len(d) - _DS] <= i:
        return len(d)
    return _ND + _DS * bisect_right(range(n), i, key=lambda r: d[_ND + _DS * r])


_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000


class HistoryError(ValueError):
    """An event a History cannot take (wrong run, no position): the message names the event."""


class _NodeHistory:
    """One node's life: when it appeared, its own events, its field changes, and the edge from its
    first parent.

    Its three columns (own events, desc changes, counter changes) are arrays while the fold
    touches the node; once it has not for a while (History._pack) they are packed into one bytes
    object (`packed`: their lengths, then the three end to end, then the edge's records) and read
    through memoryviews, until the fold touches the node again (`unpack`). Three arrays cost ~190
    bytes of headers and their growth room on top of the node's ~300 bytes of data; most of a long
    run's nodes are done with long before its end. The edge from `parent` is recorded here (a
    run's tree has one an edge per node: as a dict entry keyed by a (parent, child) tuple with its
    own bytes it cost ~190 bytes, 45 MB of a 4M-event run); other edges into the node (a second
    parent) are History._edges'."""

    __slots__ = ("node_id", "born", "_own", "_d", "_c", "_edge", "packed", "spill", "d_since", "d_last",
                 "c_last", "ts_late", "parent_since", "parent", "seed")

    def __init__(self, node_id: str, born: int) -> None:
        self.node_id = node_id          # the one copy of the id that edges and child lists share
        self.born = born
        self._own: Any = array("i")     # indices of events whose node_id is this node (None: packed)
        #: the desc at birth as _ND value codes (History._code), then one (index, column, code)
        #: record per column that changed; after _KEYFRAME such records every column is recorded
        #: again, so a value is always found within _KEYFRAME + _ND records back (see _desc_end)
        self._d: Any = array("i")
        #: counter changes: index, then the 5 counters (widened past int32 if need be)
        self._c: Any = array("i")
        #: the edge from `parent`: int32 records (index, then the _NE value codes), as bytes; None:
        #: not recorded (no parent yet, or a window's seeded edge not touched since the seed)
        self._edge: bytes | None = None
        #: the three columns packed (None: they are the arrays above), or where `spill` holds them:
        #: offset << 24 | length
        self.packed: bytes | int | None = None
        self.spill: Spill | None = None
        self.d_since = 0                # change records since the last whole desc
        self.d_last: tuple | None = None  # the last desc recorded, while the fold holds the node's row
        self.c_last: tuple | None = ()  # the last 5 counters recorded, while the fold holds the row
        self.ts_late: dict[int, str] | None = None  # own event index -> updated_at when it did not advance
        self.parent_since = -1          # index of the first edge into this node, -1 if none yet
        self.parent: str | None = None  # the parent that edge came from (the tree's path upwards)
        #: a window's node that existed before it: (event_count, first_position, last_position,
        #: updated_at) as of the seed state; None for a node born in this history
        self.seed: tuple | None = None

    @property
    def own(self) -> Any:
        return self._own if self.packed is None else self._part(0)

    @property
    def d_codes(self) -> Any:
        return self._d if self.packed is None else self._part(1)

    @property
    def c_vals(self) -> Any:
        return self._c if self.packed is None else self._part(2)

    @c_vals.setter
    def c_vals(self, values: array | list) -> None:
        self.unpack()
        self._c = values

    @property
    def edge(self) -> Sequence[int] | None:
        """The records of the edge from `parent` (None: not recorded here)."""
        if self.packed is None:
            return _ints(self._edge) if self._edge is not None else None
        part = self._part(3)
        return part if len(part) else None

    def _bytes(self) -> bytes:
        packed = self.packed
        if type(packed) is int:
            assert self.spill is not None
            return self.spill.get(packed >> 24, packed & 0xFFFFFF)
        assert packed is not None
        return packed  # type: ignore[return-value]

    def _part(self, k: int) -> memoryview:
        view = memoryview(self._bytes()).cast("i")
        n_own, n_d, n_c = view[0], view[1], view[2]
        if k == 0:
            return view[3:3 + n_own]
        if k == 1:
            return view[3 + n_own:3 + n_own + n_d]
        return view[3 + n_own + n_d:3 + n_own + n_d + n_c] if k == 2 else view[3 + n_own + n_d + n_c:]

    def pack(self, spill: Spill | None) -> None:
        """Pack the columns (not a counter column widened past int32: that one stays as it is),
        into `spill` if given."""
        c = self._c
        if self.packed is not None or type(c) is not array or c.typecode != "i":
            return
        own, d = self._own, self._d
        assert own is not None and d is not None
        packed = b"".join((array("i", (len(own), len(d), len(c))), own, d, c, self._edge or b""))
        if spill is not None and len(packed) <= SPILL_NODE_MAX:
            self.packed, self.spill = spill.put(packed) << 24 | len(packed), spill
        else:
            self.packed = packed
        self._own = self._d = self._c = self._edge = None

    def unpack(self) -> None:
        """The columns as arrays again, for the fold to append to."""
        if self.packed is not None:
            raw = memoryview(self._bytes())
            lengths = raw[:12].cast("i")
            a = 4 * (3 + lengths[0])
            b = a + 4 * lengths[1]
            c = b + 4 * lengths[2]
            self._own, self._d, self._c = array("i"), array("i"), array("i")
            self._own.frombytes(raw[12:a])
            self._d.frombytes(raw[a:b])
            self._c.frombytes(raw[b:c])
            self._edge = bytes(raw[c:]) if len(raw) > c else None
            self.packed = self.spill = None


class History:
    """The run's history: every event folded once, every state reachable by bisects."""

    #: Node (and edge) rows the fold may hold as dicts after a batch; beyond, they are let go.
    hot_rows = 1024

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        #: the slider's geometry over this history's time axis (through a weak proxy: an axis holding
        #: the history would make a reference cycle, and a window in one outlived its use, see RowCache)
        self.axis = TimeAxis(proxy(self))
        self._state = RunState(run_id)  # the fold's own state: rows it let go are rebuilt on demand
        self._state.nodes = RowCache(self._rebuild_node)
        self._state.edges = RowCache(self._rebuild_edge)
        # Every desc value recorded, once: a desc change is _ND int32 codes into this list (48 bytes,
        # no tuple). Code 0 is None; repeated short values (statuses, types, parent ids) and small
        # ints get one code each, found through _codes (strings through _str_codes, by the string
        # alone: a (type, value) key tuple cost 64 bytes for each of a run's ~20k parent ids per 58k
        # nodes); other values a code per change.
        self._values: list[Any] = [None]
        self._codes: dict[tuple[type, Any], int] = {}
        self._str_codes: dict[str, int] = {}
        self._packs = Spill()               # the packed columns of nodes the fold let be (_pack)
        self._arena = Spill()               # every other value recorded, as JSON, end to end ...
        self._ends: Any = array("i")        # ... and where each ends (int64 past 2 GB of them)
        self._shared_json: dict[bytes, int] = {}  # small flat dicts by their JSON: one code each
        self._positions = CountingColumn()
        self._seqs = CountingColumn()
        self._types = SmallCodes()
        self._micros = NearColumn()
        self._type_names: list[str] = []
        self._type_codes: dict[str, int] = {}
        self._odd_ts: dict[int, str] = {}          # timestamps not in the canonical form, kept verbatim
        self._ts_key = ""                          # cache of the last "YYYY-MM-DDTHH:MM:SS" parsed ...
        self._ts_secs = 0                          # ... and its epoch seconds
        initial = new_run(run_id)
        self._run_hot = [ChangeColumn(initial[c], True) for c in _RUN_HOT]
        self._run_cold = [ChangeColumn(initial[c], False) for c in _RUN_COLD]
        self._hot_last = _run_hot_of(initial)
        self._cold_last = _run_cold_of(initial)
        self._run_err = 0
        self._run_max = -1                         # index of the event holding the run's updated_at
        self._run_ts_late: dict[int, int] = {}     # index -> index of the newer timestamp still in force
        self._nodes: dict[str, _NodeHistory] = {}
        #: nodes the fold touched since the last _pack, and between the two before (their columns are arrays)
        self._unpacked: dict[str, _NodeHistory] = {}
        self._unpacked_before: dict[str, _NodeHistory] = {}
        self._packed_at = 0  # the local index of the last _pack
        self._maybe_roots: list[str] = []
        #: each node's children in the order their edges came (the index each came at is its edge's
        #: first record: _kid_since)
        self._kids: dict[str, list[str]] = {}
        #: key -> [i0, 4 codes of (parent_nid, child_nid, metadata, created_at), i1, 4 codes, ...] (the int32
        #: records packed) of the edges that are not their child's first (_NodeHistory.edge holds those)
        self._edges: dict[tuple[str, str], bytes] = {}
        self._mark_idx = array("i")
        self._mark_kind = array("B")
        self._nid_keys: dict[str | None, tuple] = {}  # nid -> nid_key(nid), for sorting siblings
        # A window (`from_state`): the run index of this history's first event (internally every
        # recorded index is local, 0 = that event; the public methods take and return run indices),
        # and the seed state's run row (None: folded from nothing).
        self._base = 0
        self._seed_run: dict[str, Any] | None = None
        self._seed_position = -1
        # A window's seed rows, read-only (a snapshot's may be shared with the store's cache), and
        # each seeded node's first parent. A seeded node gets its _NodeHistory when first read or
        # folded (`_node`): seeding 58k of them at once took 1.2 s; the tree reads a few dozen.
        self._seed_nodes: dict[str, dict[str, Any]] = {}
        self._seed_edges: dict[tuple[str, str], dict[str, Any]] = {}
        self._seed_parent: dict[str, str] = {}

    @classmethod
    def from_state(cls, state: RunState) -> History:
        """A window of a run: a history that starts after `state` (a stored snapshot's, or any
        state folded by the one fold) instead of from nothing. Its first event is run index
        `state.run["event_count"]`; `first_index` says so, and `*_at` answers exactly for every
        index from there on (what came before is the seed state, not recorded)."""
        self = cls(state.run_id)
        run = state.run
        self._base = int(run["event_count"] or 0)
        self._seed_run = dict(run)
        self._seed_position = state.position
        self._run_hot = [ChangeColumn(run[c], True) for c in _RUN_HOT]
        self._run_cold = [ChangeColumn(run[c], False) for c in _RUN_COLD]
        self._hot_last = _run_hot_of(run)
        self._cold_last = _run_cold_of(run)
        self._run_err = run["error_count"]
        fold_state = self._state
        fold_state.run = dict(run)
        fold_state.position = state.position
        # the seed rows are read, never changed: the fold gets copies (_rebuild_node, _rebuild_edge)
        self._seed_nodes = state.nodes
        self._seed_edges = state.edges
        # the tree's shape as of the seed at once (no row is read): children, first parents, roots
        kids, parents = self._kids, self._seed_parent
        for parent, child in state.edges:
            siblings = kids.get(parent)
            if siblings is None:
                siblings = kids[parent] = []
            siblings.append(child)
            parents.setdefault(child, parent)
        self._maybe_roots = [node_id for node_id in state.nodes if node_id not in parents]
        return self

    def _node(self, node_id: str) -> _NodeHistory | None:
        """A node's history, a seeded one made on first use (None: not heard of)."""
        h = self._nodes.get(node_id)
        if h is None and self._seed_nodes:
            row = self._seed_nodes.get(node_id)
            if row is not None:
                h = self._nodes[node_id] = _NodeHistory(node_id, 0)
                h.seed = (row["event_count"], row["first_position"], row["last_position"], row["updated_at"])
                desc = _desc_of(row)
                h.d_codes.extend([self._code(v, k in _SHARED) for k, v in enumerate(desc)])
                h.d_last = desc
                counts = _counts_of(row)
                try:
                    h.c_vals.extend((0, *counts))
                except OverflowError:
                    h.c_vals = widen(array("i"), (0, *counts))
                h.c_last = counts
                parent = self._seed_parent.get(node_id)
                if parent is not None:
                    h.parent_since, h.parent = 0, parent
        return h

    def _known(self, node_id: str) -> _NodeHistory:
        """The history of a node this history has heard of (a child, a root candidate)."""
        h = self._node(node_id)
        assert h is not None, node_id
        return h

    def _recorded_edge(self, key: tuple[str, str]) -> Sequence[int] | None:
        """An edge's records as far as this history has them (None: none, or a window's seeded edge
        not touched since the seed); makes no node's history."""
        h = self._nodes.get(key[1])
        if h is not None and h.parent == key[0]:
            return h.edge
        log = self._edges.get(key)
        return _ints(log) if log is not None else None

    def _edge_log(self, key: tuple[str, str]) -> Sequence[int] | None:
        """An edge's records, a seeded one's made on first use (None: no such edge)."""
        log = self._recorded_edge(key)
        if log is None and self._seed_edges:
            edge = self._seed_edges.get(key)
            if edge is not None:
                values = (edge["parent_nid"], edge["child_nid"], edge["metadata"], edge["created_at"])
                self._set_edge(key, _packed_ints((0, *map(self._code, values))))
                log = self._recorded_edge(key)
        return log

    def _set_edge(self, key: tuple[str, str], log: bytes) -> None:
        """Record an edge's records: on its child's history if it is the edge from the child's first
        parent (the node's columns unpacked, and packed again once the fold lets it be), else in
        _edges."""
        h = self._node(key[1])
        if h is not None and h.parent == key[0]:
            h.unpack()
            h._edge = log
            self._unpacked[h.node_id] = h
        else:
            self._edges[key] = log

    @property
    def last_position(self) -> int:
        """The store position of the last event folded (a window with none yet: its seed state's)."""
        return self._positions[-1] if len(self._positions) else self._seed_position

    @property
    def first_index(self) -> int:
        """The run index of this history's first event (0 unless it is a window, see from_state)."""
        return self._base

    # ------------------------------------------------------------------------------- folding
    def extend(self, events: Iterable[Event]) -> int:
        """Fold `events` (the run's, in seq order) into the live state and record their changes.

        Events at or before the last folded position are skipped, so a live tail that overlaps
        the initial load is harmless. Returns how many events were folded.
        """
        state = self._state
        run = state.run
        nodes = state.nodes
        run_id = self.run_id
        positions, seqs, types, micros = self._positions, self._seqs, self._types, self._micros
        codes = self._type_codes
        hist = self._nodes
        hot_fields, cold_fields = self._run_hot, self._run_cold
        hot_last, cold_last = self._hot_last, self._cold_last
        last_pos = positions[-1] if positions else self._seed_position
        i = len(positions)
        start = i
        unpacked = self._unpacked
        try:
            for e in events:
                pos = e.position
                if pos is None:
                    raise HistoryError(f"event {e.event_id} ({e.event_type}) has no position: a History folds "
                                        "stored events")
                if pos <= last_pos:
                    continue
                if e.run_id != run_id:
                    raise HistoryError(f"event {e.event_id} at position {pos} belongs to run {e.run_id!r}, "
                                        f"not {run_id!r}")
                touched = apply_event(state, e)
                last_pos = pos
                positions.append(pos)
                seqs.append(run["last_seq"])
                et = e.event_type
                code = codes.get(et)
                if code is None:
                    code = codes[et] = len(self._type_names)
                    self._type_names.append(et)
                types.append(code)
                ts = e.timestamp
                if (ts[:19] == self._ts_key and len(ts) == 27 and ts[26] == "Z" and ts[19] == "."
                        and ts[20:26].isdigit()):
                    micros.append(self._ts_secs * 1_000_000 + int(ts[20:26]))
                else:
                    micros.append(self._parse_ts(i, ts))

                # run
                if run["updated_at"] == ts:
                    self._run_max = i
                else:
                    self._run_ts_late[i] = self._run_max
                values = _run_hot_of(run)
                if values != hot_last:
                    for k, (new, old) in enumerate(zip(values, hot_last)):
                        if new is not old and new != old:
                            hot_fields[k].add(i, new)
                    hot_last = values
                values = _run_cold_of(run)
                if values != cold_last:
                    for k, (new, old) in enumerate(zip(values, cold_last)):
                        if new is not old and new != old:
                            cold_fields[k].add(i, new)
                    cold_last = values
                kind = None
                if run["error_count"] != self._run_err:
                    self._run_err = run["error_count"]
                    if et == "run_error":
                        kind = 0
                    elif et.startswith("llm_"):
                        kind = 2
                    elif et.startswith("tool_"):
                        kind = 3
                    else:
                        kind = 4

                # nodes
                own = e.node_id
                for node_id in touched.nodes:
                    node = nodes[node_id]
                    h = hist.get(node_id) or self._node(node_id)
                    desc = _desc_of(node)
                    if h is not None and h.packed is not None:
                        h.unpack()  # (packed while the fold still held its row: no rebuild unpacked it)
                    if h is None:
                        h = hist[node_id] = _NodeHistory(node_id, i)
                        self._maybe_roots.append(node_id)
                        h._d.extend([self._code_at(v, k in _SHARED, i, ts) for k, v in enumerate(desc)])
                        if desc[_STATUS] == "FAILED" and (kind is None or kind > 1):
                            kind = 1
                    else:
                        last_desc = h.d_last
                        if last_desc is None:
                            last_desc = self._desc_at(h, i)
                        if desc != last_desc:
                            self._record_desc(h, i, ts, desc, last_desc)
                            if desc[_STATUS] == "FAILED" and last_desc[_STATUS] != "FAILED":
                                if kind is None or kind > 1:
                                    kind = 1
                    h.d_last = desc
                    counts = _counts_of(node)
                    last_counts = h.c_last
                    if last_counts is None:
                        last_counts = tuple(h._c[-_N_COUNTS:])
                    if counts != last_counts:
                        kept = len(h._c)
                        try:
                            h._c.extend((i, *counts))
                        except OverflowError:  # a count beyond int32: widen this node's column
                            h._c = widen(h._c[:kept], (i, *counts))
                    h.c_last = counts
                    unpacked[node_id] = h
                    if node_id == own:
                        h._own.append(i)
                        if node["updated_at"] != ts:
                            if h.ts_late is None:
                                h.ts_late = {}
                            h.ts_late[i] = node["updated_at"]

                # edges
                for key in touched.edges:
                    edge = state.edges[key]
                    values = (edge["parent_nid"], edge["child_nid"], edge["metadata"], edge["created_at"])
                    log = self._edge_log(key)
                    if log is None:
                        self._add_edge(key, values, i, ts)
                    elif self._decode(log[-_NE:]) != values:
                        more = _packed_ints((i, *(self._code_at(v, False, i, ts) for v in values)))
                        self._set_edge(key, log.tobytes() + more)  # type: ignore[attr-defined]

                if kind is not None:
                    self._mark_idx.append(i)
                    self._mark_kind.append(kind)
                i += 1
        finally:  # an event refused mid-batch leaves what came before it folded and recorded
            self._hot_last, self._cold_last = hot_last, cold_last
            if i - self._packed_at >= PACK_AFTER:
                self._pack()
            if len(state.nodes) > self.hot_rows and positions:
                for node_id in state.nodes:
                    h = hist.get(node_id)
                    if h is not None:  # (None: a window's seeded node the fold only read)
                        h.d_last = h.c_last = None
                state.nodes.clear()
            if len(state.edges) > self.hot_rows and positions:
                state.edges.clear()
        return i - start

    def _pack(self) -> None:
        """Pack the columns of the nodes the fold touched before the last pack and not since (see
        _NodeHistory): a node busy now stays arrays, one done with is packed a pass later."""
        touched = self._unpacked
        for node_id, h in self._unpacked_before.items():
            if node_id not in touched:
                h.pack(self._packs)
        self._unpacked_before, self._unpacked = touched, {}
        self._packed_at = len(self._positions)
        release_free_memory()  # (what the events folded since the last pass left behind, see heap.py)

    def _add_edge(self, key: tuple[str, str], values: tuple, i: int, ts: str) -> None:
        # keyed by the node ids the history already holds: the payload's copies go
        ph, ch = self._node(key[0]), self._node(key[1])
        assert ph is not None and ch is not None  # (the fold makes both ends before the edge)
        parent, child = ph.node_id, ch.node_id
        log = _packed_ints((i, *(self._code_at(v, False, i, ts) for v in values)))
        kids = self._kids.get(parent)
        if kids is None:
            kids = self._kids[parent] = []
        kids.append(child)
        if ch.parent_since < 0:
            ch.parent_since = i
            ch.parent = parent
        self._set_edge((parent, child), log)

    def _record_desc(self, h: _NodeHistory, i: int, ts: str, desc: tuple, last: tuple) -> None:
        """Record the columns of a node's desc that changed at index i (a value the last desc held
        as the same object, or as an equal string or number of its type, did not change)."""
        changed = [k for k in range(_ND) if desc[k] is not last[k] and not _same(desc[k], last[k])]
        if not changed:
            return
        if h.d_since + len(changed) > _KEYFRAME:
            changed = list(range(_ND))
            h.d_since = 0
        else:
            h.d_since += len(changed)
        codes = h._d
        for k in changed:
            codes.extend((i, k, self._code_at(desc[k], k in _SHARED, i, ts)))

    def _code_at(self, v: Any, shared: bool, i: int, ts: str) -> int:
        """The code of a value recorded at event i: a value that is that event's own timestamp (a
        node's or an edge's created_at, nearly always) is coded as the event's index, its text
        being the time column's (28 bytes of JSON a node and an edge less)."""
        if (v is ts or (type(v) is str and v == ts)) and i <= _TS_MAX and self._ts_text(i) == v:
            return _TS_CODE - i
        return self._code(v, shared)

    def _code(self, v: Any, shared: bool = False) -> int:
        """The code of a value: 0 is None; small ints, bools and `shared` short strings are Python
        objects in `_values`, once each (codes >= 0); any other value is its JSON in the arena
        (a code < 0: ~ its number there), and a small flat dict (a node's result, an edge's
        metadata: thousands alike) is stored there once for all its equals."""
        if v is None:
            return 0
        t = type(v)
        if shared and t is str and len(v) <= 64:
            code = self._str_codes.get(v)
            if code is None:
                h = self._nodes.get(v)  # (a parent or root id: the node's own id string, not a copy)
                v = h.node_id if h is not None else v
                code = self._str_codes[v] = len(self._values)
                self._values.append(v)
            return code
        if (t is int and -1024 <= v <= 1024) or t is bool:
            key = (t, v)
            code = self._codes.get(key)
            if code is None:
                code = self._codes[key] = len(self._values)
                self._values.append(v)
            return code
        if t is str or t is int or (t is float and isfinite(v)) or (t in _CONTAINERS and _plain(v)):
            try:
                text = _dumps(v)
            except TypeError:  # (orjson's JSONEncodeError: an int beyond 64 bits, a lone surrogate)
                text = None
            if text is not None:
                if t is dict and len(v) <= 4 and all(type(x) in _FLAT for x in v.values()):
                    # the JSON tells {"x": true} from an equal {"x": 1}; key order aside, equals share it
                    code = self._shared_json.get(text)
                    if code is None:
                        # (a copy: what orjson.dumps returns keeps the ~4 KB it was written into)
                        code = self._shared_json[bytes(memoryview(text))] = self._put(text)
                    return code
                return self._put(text)
        self._values.append(v)  # (what JSON cannot hold exactly: kept as the object itself)
        return len(self._values) - 1

    def _put(self, text: bytes) -> int:
        if len(self._ends) >= _ARENA_MAX:  # (past a billion values the codes would meet _TS_CODE's)
            self._values.append(_loads(text))
            return len(self._values) - 1
        self._arena.put(text)
        try:
            self._ends.append(len(self._arena))
        except OverflowError:
            self._ends = widen(self._ends, (len(self._arena),))
        return ~(len(self._ends) - 1)

    def _value(self, code: int) -> Any:
        if code >= 0:
            return self._values[code]
        if code <= _TS_CODE:
            return self._ts_text(_TS_CODE - code)
        k = ~code
        ends = self._ends
        start = ends[k - 1] if k else 0
        return _loads(self._arena.get(start, ends[k] - start))

    def _decode(self, codes: Sequence[int]) -> tuple:
        return tuple(map(self._value, codes))

    def _desc_at(self, h: _NodeHistory, i: int) -> tuple:
        """The node's desc values as of index i (its birth codes, then the last change of each
        column at or before i)."""
        d = h.d_codes
        end = _desc_end(d, i)
        if end == _ND:
            return self._decode(d[:_ND])
        codes: list[int | None] = [None] * _ND
        missing = _ND
        for at in range(end - _DS, _ND - 1, -_DS):
            k = d[at + 1]
            if codes[k] is None:
                codes[k] = d[at + 2]
                missing -= 1
                if not missing:
                    break
        return tuple(self._value(d[k] if c is None else c) for k, c in enumerate(codes))

    def _desc_value(self, h: _NodeHistory, i: int, column: int) -> Any:
        d = h.d_codes
        for at in range(_desc_end(d, i) - _DS, _ND - 1, -_DS):
            if d[at + 1] == column:
                return self._value(d[at + 2])
        return self._value(d[column])

    def _rebuild_node(self, node_id: str) -> dict[str, Any] | None:
        """The fold's row of a node it let go of (or a window's seeded node it has not had yet): the
        history's state after the last folded event."""
        h = self._nodes.get(node_id)
        n = len(self._positions)
        if h is not None and n:
            h.unpack()  # (the fold is about to change the node: its columns are arrays again)
            row = self._materialise(node_id, h, n - 1)
            # the fold changes this row in place: what it leaves as it was is these very objects
            h.d_last, h.c_last = _desc_of(row), _counts_of(row)
            return row
        seed = self._seed_nodes.get(node_id)
        return dict(seed) if seed is not None else None  # (a copy: the fold changes rows in place)

    def _rebuild_edge(self, key: tuple[str, str]) -> dict[str, Any] | None:
        log = self._recorded_edge(key)
        if log is not None:
            return self._edge_row(key, self._decode(log[-_NE:]))
        seed = self._seed_edges.get(key)
        return dict(seed) if seed is not None else None

    def _edge_row(self, key: tuple[str, str], values: tuple) -> dict[str, Any]:
        parent_nid, child_nid, metadata, created_at = values
        return {"run_id": self.run_id, "parent_node_id": key[0], "child_node_id": key[1],
                "parent_nid": parent_nid, "child_nid": child_nid, "metadata": metadata, "created_at": created_at}

    @property
    def live(self) -> RunState:
        """The state after the newest event, as a full RunState (built on each call: O(nodes)).

        The fold keeps only recently touched rows as dicts; this is the whole picture, equal to
        `state_at_index(-1)` (and to folding every event from nothing).
        """
        return self.state_at_index(-1) if len(self._positions) else RunState(self.run_id)

    def _parse_ts(self, i: int, ts: str) -> int:
        """Microseconds since the epoch of a canonical store timestamp; others are kept verbatim."""
        if len(ts) == 27 and ts[26] == "Z" and ts[19] == "." and ts[20:26].isdigit():
            key = ts[:19]
            if key == self._ts_key:
                return self._ts_secs * 1_000_000 + int(ts[20:26])
            try:
                dt = datetime.fromisoformat(key)
            except ValueError:
                dt = None
            if dt is not None and dt.isoformat() == key:
                self._ts_key = key
                self._ts_secs = (dt - _EPOCH) // timedelta(seconds=1)
                return self._ts_secs * 1_000_000 + int(ts[20:26])
        self._odd_ts[i] = ts
        try:
            canon = normalize_timestamp(ts)
            dt = datetime.fromisoformat(canon[:26])
            return (dt - _EPOCH) // timedelta(microseconds=1)
        except Exception:  # an unparseable stamp still gets a place on the time axis: its predecessor's
            return self._micros[-1] if self._micros else 0

    # ---------------------------------------------------------------------- per-event columns
    def __len__(self) -> int:
        """The run index after the last event folded (the run's event count so far)."""
        return self._base + len(self._positions)

    def check_index(self, i: int) -> int:
        """The offset of run index i in this history's columns (negative i counts from the end)."""
        n = len(self._positions)
        base = self._base
        if i < 0:
            i += base + n
        if not base <= i < base + n:
            if base:
                raise IndexError(f"event index {i} is outside this window's {base}..{base + n - 1}")
            raise IndexError(f"event index {i} is outside this run's 0..{n - 1}")
        return i - base

    def position_of_index(self, i: int) -> int:
        return self._positions[self.check_index(i)]

    def seq_of_index(self, i: int) -> int:
        return self._seqs[self.check_index(i)]

    def type_at(self, i: int) -> str:
        return self._type_names[self._types[self.check_index(i)]]

    def timestamp_at(self, i: int) -> float:
        """Epoch seconds (float) of event i: what playback in real timing waits on."""
        return self._micros[self.check_index(i)] / 1_000_000

    def timestamp_text_at(self, i: int) -> str:
        """Event i's timestamp exactly as stored."""
        return self._ts_text(self.check_index(i))

    def _ts_text(self, i: int) -> str:
        odd = self._odd_ts.get(i)
        if odd is not None:
            return odd
        days, us = divmod(self._micros[i], _DAY_US)
        secs, us = divmod(us, 1_000_000)
        h, rest = divmod(secs, 3600)
        m, s = divmod(rest, 60)
        return f"{date.fromordinal(_EPOCH_ORDINAL + days).isoformat()}T{h:02d}:{m:02d}:{s:02d}.{us:06d}Z"

    def index_of_position(self, position: int) -> int | None:
        """Index of the last event at or before a global position (None before the run's first)."""
        k = self._positions.bisect_right(position)
        return k - 1 + self._base if k else None

    def index_of_seq(self, seq: int) -> int | None:
        """Index of the last event with a run sequence number at or before `seq`."""
        k = self._seqs.bisect_right(seq)
        return k - 1 + self._base if k else None

    def is_live(self, i: int | None) -> bool:
        """Whether index i shows the newest state (None means live)."""
        return i is None or i >= len(self) - 1

    def event_types(self) -> list[str]:
        """Every event type seen in the run, in order of first appearance."""
        return list(self._type_names)

    def events_of(self, node_id: str) -> Sequence[int]:
        """Indices of the events whose node_id is `node_id` (for narrowing a list to one node)."""
        h = self._nodes.get(node_id)
        if h is None:
            return array("i")
        return h.own if not self._base else array("q", (k + self._base for k in h.own))

    # ------------------------------------------------------------------------- state at i
    def _ts_max_index(self, i: int) -> int:
        return self._run_ts_late.get(i, i)

    def run_at(self, i: int) -> dict[str, Any]:
        """The run row as of event i (inclusive), with the same keys as `RunState.run`."""
        i = self.check_index(i)
        run: dict[str, Any] = {"run_id": self.run_id}
        for name, f in zip(_RUN_HOT, self._run_hot):
            run[name] = f.at(i)
        for name, f in zip(_RUN_COLD, self._run_cold):
            run[name] = f.at(i)
        seed = self._seed_run
        run["event_count"] = self._base + i + 1
        run["last_seq"] = self._seqs[i]
        run["first_position"] = seed["first_position"] if seed is not None else self._positions[0]
        run["last_position"] = self._positions[i]
        newest = self._ts_max_index(i)
        run["updated_at"] = self._ts_text(newest) if newest >= 0 or seed is None else seed["updated_at"]
        return {c: run[c] for c in RUN_COLUMNS}

    def node_at(self, node_id: str, i: int) -> dict[str, Any] | None:
        """The node row as of event i, or None if the node had not been heard of yet.

        Nested values (result, metadata) are shared with the history: treat them as read-only.
        """
        i = self.check_index(i)
        h = self._node(node_id)
        if h is None or h.born > i:
            return None
        return self._materialise(node_id, h, i)

    def _materialise(self, node_id: str, h: _NodeHistory, i: int) -> dict[str, Any]:
        node = dict(zip(_NODE_DESC, self._desc_at(h, i)))
        at = record_offset(h.c_vals, _N_COUNTS + 1, i) + 1
        node.update(zip(_NODE_COUNTS, h.c_vals[at:at + _N_COUNTS]))
        n_own = bisect_right(h.own, i)
        last = h.own[n_own - 1] if n_own else h.born
        seed = h.seed
        node["node_id"] = node_id
        node["run_id"] = self.run_id
        node["event_count"] = n_own + (seed[0] if seed is not None else 0)
        node["first_position"] = seed[1] if seed is not None else self._positions[h.born]
        if seed is not None and not n_own:  # nothing of its own in the window yet: as seeded
            node["last_position"], node["updated_at"] = seed[2], seed[3]
        else:
            node["last_position"] = self._positions[last]
            late = h.ts_late.get(last) if h.ts_late and n_own else None
            node["updated_at"] = late if late is not None else self._ts_text(last)
        return {c: node[c] for c in NODE_COLUMNS}

    def display_at(self, node_id: str, i: int) -> dict[str, Any] | None:
        """The fields a node's label shows (NODE_DISPLAY_FIELDS and a few more), cheaper than node_at."""
        i -= self._base
        h = self._node(node_id)
        if h is None or h.born > i:
            return None
        node = dict(zip(_NODE_DESC, self._desc_at(h, i)))
        at = record_offset(h.c_vals, _N_COUNTS + 1, i) + 1
        node.update(zip(_NODE_COUNTS, h.c_vals[at:at + _N_COUNTS]))
        return node

    def status_at(self, node_id: str, i: int) -> str | None:
        """Just the status (cheaper than node_at for colouring many nodes)."""
        i -= self._base
        h = self._node(node_id)
        if h is None or h.born > i:
            return None
        return self._desc_value(h, i, _STATUS)

    def nid_at(self, node_id: str, i: int) -> str | None:
        i -= self._base
        h = self._node(node_id)
        if h is None or h.born > i:
            return None
        return self._desc_value(h, i, _NID)

    def _nid_key(self, nid: str | None) -> tuple:
        key = self._nid_keys.get(nid)
        if key is None:
            key = self._nid_keys[nid] = nid_key(nid)
        return key

    def _sorted(self, ids: list[str], i: int) -> list[str]:
        nodes = self._nodes
        keys = self._nid_keys
        if len(keys) > 4 * len(nodes) + 1024:  # nids that changed leave stale keys behind
            keys.clear()
        known = self._known
        return sorted(ids, key=lambda n: self._nid_key(self._desc_value(nodes.get(n) or known(n), i, _NID)))

    def children_at(self, node_id: str, i: int) -> list[str]:
        """Children of `node_id` by the edges that existed at event i, in nid order ("1.2" < "1.10")."""
        i = self.check_index(i)
        kids = self._kids.get(node_id)
        if not kids:
            return []
        k = self._kids_by(node_id, kids, i)
        return self._sorted(kids[:k], i) if k else []

    def _kid_since(self, parent: str, child: str) -> int:
        """The local index the edge parent -> child came at (0: a window's seed held it); it is
        the edge's first record, where the child's first parent's is its parent_since: an array
        of them per parent was ~40 bytes a node more."""
        h = self._nodes.get(child)
        if h is not None and h.parent == parent:
            return h.parent_since
        log = self._edges.get((parent, child))
        return _ints(log)[0] if log is not None else 0  # (not recorded: a seeded edge)

    def _kids_by(self, parent: str, kids: list[str], i: int) -> int:
        """How many of a parent's children had their edge by local index i (they came in order)."""
        if self._kid_since(parent, kids[-1]) <= i:
            return len(kids)
        return bisect_right(kids, i, key=lambda child: self._kid_since(parent, child))

    def parent_at(self, node_id: str, i: int) -> str | None:
        """The node's first parent by the edges that existed at event i (None: a root then).

        The tree opens the path to a selected event's node by walking up these: one step per level,
        where searching down from the roots visited every node of the run (25 ms a step at 1k nodes)."""
        i = self.check_index(i)
        h = self._node(node_id)
        if h is None or h.parent_since < 0 or h.parent_since > i:
            return None
        return h.parent

    def has_children_at(self, node_id: str, i: int) -> bool:
        kids = self._kids.get(node_id)
        return bool(kids) and self._kid_since(node_id, kids[0]) <= i - self._base  # type: ignore[index]

    def child_count_at(self, node_id: str, i: int) -> int:
        kids = self._kids.get(node_id)
        return self._kids_by(node_id, kids, i - self._base) if kids else 0

    def roots_at(self, i: int) -> list[str]:
        """Nodes that existed at event i with no parent edge yet, in nid order."""
        i = self.check_index(i)
        nodes = self._nodes
        keep: list[str] = []
        roots: list[str] = []
        for node_id in self._maybe_roots:
            h = nodes.get(node_id) or self._known(node_id)
            if 0 <= h.parent_since <= h.born:
                continue  # had a parent from the start: never a root, forget it
            keep.append(node_id)
            if h.born <= i and (h.parent_since < 0 or h.parent_since > i):
                roots.append(node_id)
        self._maybe_roots = keep
        return self._sorted(roots, i)

    def node_ids(self) -> list[str]:
        """Every node heard of so far (created or referenced), in order of appearance; cheap, unlike
        `live.nodes`, which builds every row."""
        seed = self._seed_nodes
        return [*seed, *(n for n in self._nodes if n not in seed)] if seed else list(self._nodes)

    def node_count_at(self, i: int) -> int:
        """How many nodes had been heard of (created or referenced) by event i."""
        i = self.check_index(i)
        return len(self._seed_nodes) + sum(1 for h in self._nodes.values() if h.seed is None and h.born <= i)

    def state_at_index(self, i: int) -> RunState:
        """A full RunState as of event i, equal to folding the run's first i+1 events from nothing."""
        i = self.check_index(i)
        state = RunState(self.run_id, self.run_at(i + self._base), position=self._positions[i])
        hist, edges = self._nodes, self._edges
        for node_id, row in self._seed_nodes.items():  # (a window's seed first: the fold's order)
            h = hist.get(node_id)
            state.nodes[node_id] = self._materialise(node_id, h, i) if h is not None else \
                {c: row[c] for c in NODE_COLUMNS}
        for node_id, h in hist.items():
            if h.seed is None and h.born <= i:
                state.nodes[node_id] = self._materialise(node_id, h, i)
        for key, edge in self._seed_edges.items():
            if self._recorded_edge(key) is None:
                state.edges[key] = dict(edge)
        logs = chain((((h.parent, node_id), h.edge) for node_id, h in hist.items() if h.parent is not None),
                     ((key, _ints(packed)) for key, packed in edges.items()))
        for (parent, child), log in logs:
            if log is None or log[0] > i:
                continue
            at = 1
            for k in range(_NE + 1, len(log), _NE + 1):
                if log[k] > i:
                    break
                at = k + 1
            state.edges[(parent, child)] = self._edge_row((parent, child), self._decode(log[at:at + _NE]))
        return state

    # ----------------------------------------------------------------------- the time axis
    def micros_at(self, i: int) -> int:
        """Event i's own timestamp, in epoch microseconds."""
        return self._micros[i - self._base]

    def newest_micros_at(self, i: int) -> int:
        """The newest timestamp among events 0..i (the run's updated_at), in epoch microseconds."""
        i -= self._base
        k = self._run_ts_late.get(i, i)
        if k < 0:  # a window's seed state holds a newer timestamp than its events so far
            return _micros_of(self._seed_run["updated_at"]) if self._seed_run else self._micros[0]
        return self._micros[k]

    # ------------------------------------------------------------------------------ trouble
    def marks(self) -> list[tuple[int, str]]:
        """(index, kind) of every event that raised the run's error count or failed a node."""
        base = self._base
        return [(i + base, MARK_KINDS[k]) for i, k in zip(self._mark_idx, self._mark_kind)]

    def mark_count(self) -> int:
        return len(self._mark_idx)

    def next_mark(self, i: int) -> int | None:
        """Index of the first mark after event i, None if there is none."""
        k = bisect_right(self._mark_idx, i - self._base)
        return self._mark_idx[k] + self._base if k < len(self._mark_idx) else None

    def prev_mark(self, i: int) -> int | None:
        """Index of the last mark before event i, None if there is none."""
        k = bisect_left(self._mark_idx, i - self._base)
        return self._mark_idx[k - 1] + self._base if k else None


def _micros_of(text: str) -> int:
    """Epoch microseconds of a stored timestamp (0 if it cannot be read)."""
    try:
        return (datetime.fromisoformat(normalize_timestamp(text)[:26]) - _EPOCH) // timedelta(microseconds=1)
    except Exception:
        return 0


def load_history(
    reader: Any,
    run_id: str,
    *,
    batch: int = 20_000,
    progress: Callable[[int, int | None], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> History:
    """Fold a stored run into a new History, `batch` events at a time (meant for a worker thread);
    `reader` is an InspectorReader (anything with `run` and `run_events`).

    progress(done, total) is called after each batch (total from the run row, None if unknown).
    When cancelled() turns true the load stops between batches and returns what it has: the
    caller asked to stop, so it knows the history is partial.
    """
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}")
    history = History(run_id)
    row = reader.run(run_id)
    total = row.get("event_count") if row else None
    pending: list[Event] = []
    done = 0
    for event in reader.run_events(run_id, batch=batch):
        pending.append(event)
        if len(pending) >= batch:
            if cancelled is not None and cancelled():
                return history
            done += history.extend(pending)
            pending = []
            if progress is not None:
                progress(done, total)
    if pending and not (cancelled is not None and cancelled()):
        done += history.extend(pending)
        if progress is not None:
            progress(done, total)
    return history
