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
columns.py): per event a one-byte type code and a 4-byte timestamp offset, in pages on disk like
the run's counters' changes and the arena's ends (`PagedColumn`: the pages read lately and each
column's last one are in memory, ~1.5 MB whatever the run's length; positions and seqs cost
nothing while they count up by one); per node its id, packed (store/packed_keys.py: its UTF-8
bytes in one buffer, found by an int32 open-addressing table; a window's seed nodes by its
snapshot's own index), its number, and a few int32 columns indexed by that number (birth,
first parent and since when, first child and next sibling, where its columns are), no object of
its own once the fold is done with it. A node's own events,
its desc (status, nid, goal, result...) and the edge from its first parent (a run's tree has one
such edge per node) are its columns: the desc as int32 codes, its values at birth, then an
(index, column, code) record per column that changed (a status change is 12 bytes, not the whole
desc). A code names a value: None, small ints, bools and repeated short strings (statuses, types)
are kept once as Python objects; a parent or root id is its node's number; a value that is its
event's own timestamp is that event's index; any other value is its JSON (orjson) in an arena,
decoded when read (a small flat dict such as a result is stored once for all its equals). The
columns of a node the fold has let be for a while are packed into one bytes object, and the arena
and the packed nodes are spilled to temporary files (store/spill.py `Spill`): what the screen reads
is read back, the rest is not in memory. The fold itself keeps only the rows it touched lately:
the others are rebuilt from the history when it needs them again. A 1M-event demo run (59k nodes)
folds into ~24 MB of RSS over the interpreter's and ~42 MB on disk (4M events, 235k nodes: ~41
MB; with the ids as strings in a dict ~30 and ~66 MB, with the per-event columns in memory too
~39 and ~106 MB, with an object per node ~54 and ~170 MB; ~160 MB at 1M with a Python object per
value and the whole desc per change). What changes on
every event (event_count, last_seq, last_position, updated_at) is computed from the index instead
of recorded.

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
from typing import Any, Callable, Iterable, Iterator, Sequence
from weakref import proxy

import orjson

from agenttui.store.envelope import Event, normalize_timestamp
from agenttui.store.fold import NODE_COLUMNS, RUN_COLUMNS, RunState, apply_event, new_run, nid_key
from agenttui.store.packed_keys import PackedKeys
from agenttui.store.snapshots import LazyRows

from .axis import TimeAxis
from .columns import (
    ChangeColumn, CountingColumn, NearColumn, PagedColumn, Pages, RowCache, SmallCodes, Spill, record_offset, widen,
)
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
#: Value codes: 0 .. _NODE_CODE - 1 a Python object in History._values; _NODE_CODE + n the id of node n
#: (a parent or root id in a desc: no entry of its own, ~110 bytes for each of a run's ~20k parents
#: per 58k nodes); -1 .. -_ARENA_MAX the JSON of value ~code in the arena; _TS_CODE - i (down to -2**31)
#: the timestamp of local event i.
_NODE_CODE = 1 << 30
_ARENA_MAX = 1 << 30
_TS_CODE = -_ARENA_MAX - 1
_TS_MAX = (1 << 31) + _TS_CODE
#: a desc change record: index, column, code
_DS = 3
_NEVER = 1 << 62  # (the end of a span no later record bounds)
_READ_CACHED = 2048  # nodes and parents the tree's reads are kept for (~1 KB a display dict: History._read_cache)
_first = itemgetter(0)
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


class _NodeKeys:
    """A window's node ids and their numbers: its seed snapshot's own packed index for the nodes
    the snapshot held (shared with the snapshot cache and every window over it, never changed
    here; see LazyRows.places), then the nodes heard of after it, packed too. As strings in a dict
    and a list every window held ~150 bytes a node (35 MB at 4M events, 235k nodes), alive at the
    inspector's peak beside the whole History."""

    __slots__ = ("_seed", "_first", "_more")

    def __init__(self, seed: PackedKeys) -> None:
        self._seed = seed
        self._first = len(seed)
        self._more = PackedKeys()

    def get(self, node_id: str, default: int | None = None) -> int | None:
        n = self._seed.find(node_id)
        if n is None:
            n = self._more.find(node_id)
            return default if n is None else self._first + n
        return n

    def __getitem__(self, node_id: str) -> int:
        n = self.get(node_id)
        if n is None:
            raise KeyError(node_id)
        return n

    def add(self, node_id: str) -> int:
        return self._first + self._more.add(node_id)

    def name(self, n: int) -> str:
        return self._seed.name(n) if n < self._first else self._more.name(n - self._first)

    def __len__(self) -> int:
        return self._first + len(self._more)

    def __iter__(self) -> Iterator[str]:
        return chain(self._seed, self._more)


class _Names:
    """Node ids by number, as a list of them reads (`ids[n]`, len, iteration), from packed keys."""

    __slots__ = ("_keys",)

    def __init__(self, keys: PackedKeys | _NodeKeys) -> None:
        self._keys = keys

    def __getitem__(self, n: int) -> str:
        return self._keys.name(n)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)


class _NodeHistory:
    """One node's columns in a form the code can read or append to: its own events, its desc
    changes, its counter changes and the edge from its first parent.

    The rest of a node's life is History's per-node columns (born, first parent, ...), and the
    columns here exist as objects only while they are needed: as arrays while the fold touches the
    node (History._hot, until History._pack lets it be), or as views of its packed bytes while
    the screen reads it (_PackedNode, in History._views). Most of a long run's nodes are
    done with long before its end: they are a packed record (their lengths, then the three columns
    end to end, then the edge's records) in History._packs and a few numbers in the columns, ~200
    bytes a node less than an object of their own with its offset and birth as Python ints.
    Other edges into the node (a second parent) are History._edges'."""

    __slots__ = ("n", "node_id", "own", "d", "c", "edge", "d_last", "c_last")

    def __init__(self, n: int, node_id: str, own: Any, d: Any, c: Any, edge: bytes | None) -> None:
        self.n = n                      # the node's number: its place in History's node columns
        self.node_id = node_id          # the one copy of the id (History._ids[n])
        self.own = own                  # indices of events whose node_id is this node
        #: the desc at birth as _ND value codes (History._code), then one (index, column, code)
        #: record per column that changed; after _KEYFRAME such records every column is recorded
        #: again, so a value is always found within _KEYFRAME + _ND records back (see _desc_end)
        self.d = d
        #: counter changes: index, then the 5 counters (widened past int32 if need be)
        self.c = c
        #: the edge from the node's first parent: int32 records (index, then the _NE value codes), as
        #: bytes; None: not recorded (no parent yet, or a window's seeded edge not touched since the seed)
        self.edge = edge
        self.d_last: tuple | None = None  # the last desc recorded, while the fold holds the node's row
        self.c_last: tuple | None = None  # the last 5 counters recorded, likewise

    def packed(self) -> bytes | None:
        """The columns as one bytes object (None: a counter column widened past int32, which stays
        as it is)."""
        c = self.c
        if type(c) is not array or c.typecode != "i":
            return None
        own, d = self.own, self.d
        return b"".join((array("i", (len(own), len(d), len(c))), own, d, c, self.edge or b""))


class _PackedNode:
    """A packed node's columns as the screen reads them: int views of its packed bytes, each made
    when first read (a status read needs the desc codes alone)."""

    __slots__ = ("n", "node_id", "_raw", "_own", "_d", "_c")

    def __init__(self, n: int, node_id: str, raw: bytes) -> None:
        self.n = n
        self.node_id = node_id
        self._raw = raw
        self._own: memoryview | None = None
        self._d: memoryview | None = None
        self._c: memoryview | None = None

    @property
    def own(self) -> memoryview:
        if self._own is None:
            view = memoryview(self._raw).cast("i")
            self._own = view[3:3 + view[0]]
        return self._own

    @property
    def d(self) -> memoryview:
        if self._d is None:
            view = memoryview(self._raw).cast("i")
            a = 3 + view[0]
            self._d = view[a:a + view[1]]
        return self._d

    @property
    def c(self) -> memoryview:
        if self._c is None:
            view = memoryview(self._raw).cast("i")
            b = 3 + view[0] + view[1]
            self._c = view[b:b + view[2]]
        return self._c

    @property
    def edge(self) -> bytes | None:
        raw = self._raw
        view = memoryview(raw)[:12].cast("i")
        end = 4 * (3 + view[0] + view[1] + view[2])
        return raw[end:] if len(raw) > end else None


def _unpacked(raw: bytes) -> tuple[array, array, array, bytes | None]:
    """A packed node's columns as arrays again, for the fold to append to."""
    view = memoryview(raw)
    lengths = view[:12].cast("i")
    a = 4 * (3 + lengths[0])
    b = a + 4 * lengths[1]
    c = b + 4 * lengths[2]
    own, d, counts = array("i"), array("i"), array("i")
    own.frombytes(view[12:a])
    d.frombytes(view[a:b])
    counts.frombytes(view[b:c])
    return own, d, counts, (raw[c:] if len(raw) > c else None)


class _CodesByHash:
    """Arena codes by a 64-bit hash (of a small flat dict's JSON): an open-addressing table in two
    arrays, a quarter to half full (24 to 48 bytes an entry), where a dict of int to int was ~120
    bytes an entry (the key, the code and the entry): 3 MB of a 1M-event run's 25k results and
    edges' metadata. A hash of 0 is taken as 1 (0 marks a free slot): the caller compares the
    JSON anyway."""

    __slots__ = ("_keys", "_codes", "_n")

    def __init__(self, slots: int = 64) -> None:
        self._keys = array("q", bytes(8 * slots))
        self._codes = array("i", bytes(4 * slots))
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def get(self, digest: int) -> int | None:
        keys = self._keys
        mask = len(keys) - 1
        digest = digest or 1
        slot = digest & mask
        while True:
            key = keys[slot]
            if key == digest:
                return self._codes[slot]
            if not key:
                return None
            slot = (slot + 1) & mask

    def add(self, digest: int, code: int) -> None:
        """Add a hash not in the table."""
        if 2 * (self._n + 1) > len(self._keys):
            bigger = _CodesByHash(2 * len(self._keys))
            for key, old in zip(self._keys, self._codes):
                if key:
                    bigger.add(key, old)
            self._keys, self._codes = bigger._keys, bigger._codes
        keys = self._keys
        mask = len(keys) - 1
        digest = digest or 1
        slot = digest & mask
        while keys[slot]:
            slot = (slot + 1) & mask
        keys[slot] = digest
        self._codes[slot] = code
        self._n += 1


#: History._loc of a node whose columns are arrays on its _NodeHistory in History._hot ...
_HOT = -1
#: ... packed, bigger than SPILL_NODE_MAX: the bytes in History._big ...
_BIG = -2
#: ... a window's seeded node whose history is not made yet (made from its seed row when touched
#: or read); >= 0: packed in History._packs at offset loc >> 24, loc & 0xFFFFFF bytes long
_UNMADE = -3
#: packed nodes the screen read, kept as views (the tree reads the nodes on screen every frame)
_VIEWS = 512
#: A parent's children are a chain through History._kid_head and _kid_next (8 bytes a node) while
#: they are at most this many and each came by its first parent's edge; beyond, or once a second
#: parent's edge is among them, an array in History._kids (an array object a parent was ~60 bytes
#: a node: most parents have 2 to 5 children).
_CHAIN_MAX = 16


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
        #: the pages of the columns that grow with the run's events (the types, timestamps and run
        #: counters of its events, the arena's ends): on disk but the pages read lately
        self._pages = Pages()
        self._ends = PagedColumn("i", self._pages)  # ... and where each ends (int64 past 2 GB of them)
        #: small flat dicts, by the hash of their JSON (the JSON is the arena's: as a key it was ~100
        #: bytes more for each of the ~25k a 1M-event run's results and edges' metadata hold)
        self._shared_json = _CodesByHash()
        self._positions = CountingColumn()
        self._seqs = CountingColumn()
        self._types = SmallCodes(self._pages)
        self._micros = NearColumn(self._pages)
        self._type_names: list[str] = []
        self._type_codes: dict[str, int] = {}
        self._odd_ts: dict[int, str] = {}          # timestamps not in the canonical form, kept verbatim
        self._ts_key = ""                          # cache of the last "YYYY-MM-DDTHH:MM:SS" parsed ...
        self._ts_secs = 0                          # ... and its epoch seconds
        initial = new_run(run_id)
        self._run_hot = [ChangeColumn(initial[c], True, self._pages) for c in _RUN_HOT]
        self._run_cold = [ChangeColumn(initial[c], False, self._pages) for c in _RUN_COLD]
        self._hot_last = _run_hot_of(initial)
        self._cold_last = _run_cold_of(initial)
        self._run_err = 0
        self._run_max = -1                         # index of the event holding the run's updated_at
        self._run_ts_late: dict[int, int] = {}     # index -> index of the newer timestamp still in force
        # Nodes by number, in the order they were heard of (a window's seeded nodes first): the id,
        # then a column per field, where an object per node with these as Python ints cost ~250 bytes
        # (see _NodeHistory).
        keys = PackedKeys()  # (packed: ~57 bytes an id, where a str in a dict and a list was ~150)
        self._num: PackedKeys | _NodeKeys = keys
        self._ids = _Names(keys)
        self._born = array("i")          # the local index the node was heard of (a seeded node's: 0)
        self._parent = array("i")        # its first parent's number (-1: none yet) ...
        self._parent_since = array("i")  # ... and the index of that edge (0: a window's seed held it)
        self._d_since = array("B")       # desc change records since the last whole desc
        self._loc = array("q")           # where its columns are: _HOT, _BIG, _UNMADE or packed
        self._big: dict[int, bytes] = {}
        self._seeds: dict[int, tuple] = {}  # a window's node that existed before it: (event_count,
        #                                     first_position, last_position, updated_at) as of the seed
        self._own_ts_late: dict[int, str] = {}  # own event index -> its node's updated_at when it did not advance
        self._hot: dict[str, _NodeHistory] = {}  # nodes whose columns are arrays (the fold's)
        self._views: dict[int, _PackedNode] = {}  # packed nodes read lately
        #: (d_last, c_last) of nodes packed while the fold still held their rows
        self._held: dict[str, tuple] = {}
        #: nodes the fold touched since the last _pack, and between the two before (their columns are arrays)
        self._unpacked: dict[str, _NodeHistory] = {}
        self._unpacked_before: dict[str, _NodeHistory] = {}
        self._packed_at = 0  # the local index of the last _pack
        self._maybe_roots = array("i")
        #: each node's children (numbers) in the order their edges came (the index each came at is its
        #: edge's first record: _kid_since): a chain (its first child, each child's next sibling) or,
        #: for a big family or one with a second parent's edge, an array (see _CHAIN_MAX)
        self._kid_head = array("i")
        self._kid_next = array("i")
        self._kids: dict[str, array] = {}
        #: key -> [i0, 4 codes of (parent_nid, child_nid, metadata, created_at), i1, 4 codes, ...] (the int32
        #: records packed) of the edges that are not their child's first (_NodeHistory.edge holds those)
        self._edges: dict[tuple[str, str], bytes] = {}
        self._mark_idx = array("i")
        self._mark_kind = array("B")
        self._nid_keys: dict[str | None, tuple] = {}  # nid -> nid_key(nid), for sorting siblings
        #: what the tree read lately, kept while the run's length stays (`_read_cache`): parent -> (how
        #: many children, span of local indices over which none of their nids changes, their nid keys,
        #: their ids in nid order); node -> (span over which its desc and counts stay, display_at's dict)
        self._kids_read: dict[int, tuple[int, int, int, list[tuple], list[str]]] = {}
        self._display_read: dict[int, tuple[int, int, dict[str, Any]]] = {}
        self._read_len = 0
        # A window (`from_state`): the run index of this history's first event (internally every
        # recorded index is local, 0 = that event; the public methods take and return run indices),
        # and the seed state's run row (None: folded from nothing).
        self._base = 0
        self._seed_run: dict[str, Any] | None = None
        self._seed_position = -1
        # A window's seed rows, read-only (a snapshot's may be shared with the store's cache). A
        # seeded node gets its columns when first read or folded (`_hot_node`): seeding 58k of them
        # at once took 1.2 s; the tree reads a few dozen.
        self._seed_nodes: dict[str, dict[str, Any]] = {}
        self._seed_edges: dict[tuple[str, str], dict[str, Any]] = {}

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
        self._run_hot = [ChangeColumn(run[c], True, self._pages) for c in _RUN_HOT]
        self._run_cold = [ChangeColumn(run[c], False, self._pages) for c in _RUN_COLD]
        self._hot_last = _run_hot_of(run)
        self._cold_last = _run_cold_of(run)
        self._run_err = run["error_count"]
        fold_state = self._state
        fold_state.run = dict(run)
        fold_state.position = state.position
        # the seed rows are read, never changed: the fold gets copies (_rebuild_node, _rebuild_edge)
        self._seed_nodes = state.nodes
        self._seed_edges = state.edges
        # the tree's shape as of the seed at once (no row is read): numbers, children, first parents, roots
        seed_nodes: Any = state.nodes
        places = seed_nodes.places() if isinstance(seed_nodes, LazyRows) else None
        if places is not None:  # (numbered as the snapshot's index numbers them: nothing to build)
            num = _NodeKeys(places)
            for node_id in seed_nodes.added_keys():
                num.add(node_id)
        else:
            num = _NodeKeys(PackedKeys.of(list(state.nodes)))
        self._num, self._ids = num, _Names(num)
        n = len(num)
        self._born = array("i", bytes(4 * n))
        self._parent = array("i", [-1]) * n
        self._parent_since = array("i", [-1]) * n
        self._d_since = array("B", bytes(n))
        self._loc = array("q", [_UNMADE]) * n
        self._kid_head = array("i", [-1]) * n
        self._kid_next = array("i", [-1]) * n
        parents, since, head, nxt = self._parent, self._parent_since, self._kid_head, self._kid_next
        last: dict[int, int] = {}  # each parent's last child and how many (-1: an array, see _link) so far
        size: dict[int, int] = {}
        for p, c in self._seed_edge_numbers(state, places):
            if p is None or c is None:
                continue  # (the fold makes both ends before an edge: not from a state it folded)
            first = since[c] < 0
            if first:
                parents[c], since[c] = p, 0
            k = size.get(p, 0)
            if first and 0 <= k < _CHAIN_MAX:  # (what _link does, without walking the chain)
                if k:
                    nxt[last[p]] = c
                else:
                    head[p] = c
                last[p], size[p] = c, k + 1
            else:
                self._link(p, c, first)
                size[p] = -1
        self._maybe_roots = array("i", (c for c in range(n) if since[c] < 0))
        return self

    def _seed_edge_numbers(self, state: RunState, places: PackedKeys | None) -> Iterator[tuple[int | None, int | None]]:
        """The seed's edges as the numbers of their ends (None: not a node of the seed), in order."""
        num = self._num
        edges: Any = state.edges
        pairs = edges.place_pairs() if places is not None and isinstance(edges, LazyRows) else None
        if places is None or pairs is None:
            return ((num.get(parent), num.get(child)) for parent, child in edges)
        by_place, past = pairs
        first = len(places)  # (a place past the snapshot's nodes is an end that is not one of them)
        index = ((p if p < first else num.get(past[p]), c if c < first else num.get(past[c])) for p, c in by_place)
        return chain(index, ((num.get(parent), num.get(child)) for parent, child in edges.added_keys()))

    def _new_node(self, node_id: str, born: int, loc: int) -> int:
        n = self._num.add(node_id)
        self._born.append(born)
        self._parent.append(-1)
        self._parent_since.append(-1)
        self._d_since.append(0)
        self._loc.append(loc)
        self._kid_head.append(-1)
        self._kid_next.append(-1)
        return n

    def _link(self, p: int, c: int, first: bool) -> None:
        """Add child c after node p's other children; `first`: by c's first parent's edge."""
        kids = self._kids.get(self._ids[p]) if self._kids else None
        if kids is None:
            head = self._kid_head
            if first:
                last = head[p]
                if last < 0:
                    head[p] = c
                    return
                nxt = self._kid_next
                count = 1
                while nxt[last] >= 0:
                    last = nxt[last]
                    count += 1
                if count < _CHAIN_MAX:
                    nxt[last] = c
                    return
            kids = self._kids[self._ids[p]] = array("i", self._chain(p))
            head[p] = -1
        kids.append(c)

    def _chain(self, p: int) -> list[int]:
        c = self._kid_head[p]
        if c < 0:
            return []
        nxt = self._kid_next
        out = [c]
        while (c := nxt[c]) >= 0:
            out.append(c)
        return out

    def _kids_of(self, node_id: str) -> tuple[int, Sequence[int]]:
        """A node's number (-1: not heard of) and its children's, in the order their edges came."""
        p = self._num.get(node_id)
        if p is None:
            return -1, ()
        kids = self._kids.get(node_id)
        return p, (kids if kids is not None else self._chain(p))

    def _packed_bytes(self, n: int) -> bytes:
        loc = self._loc[n]
        return self._big[n] if loc == _BIG else self._packs.get(loc >> 24, loc & 0xFFFFFF)

    def _hot_node(self, node_id: str) -> _NodeHistory | None:
        """A node's history for the fold to append to (None: not heard of): its columns as arrays,
        unpacked if they were packed, a window's seeded node made from its seed row; it stays so
        until the fold has let it be for a while (_pack)."""
        h = self._hot.get(node_id)
        if h is not None:
            return h
        n = self._num.get(node_id)
        if n is None:
            return None
        node_id = self._ids[n]
        if self._loc[n] == _UNMADE:
            row = self._seed_nodes[node_id]
            self._seeds[n] = (row["event_count"], row["first_position"], row["last_position"], row["updated_at"])
            desc = _desc_of(row)
            counts = _counts_of(row)
            try:
                c: Any = array("i", (0, *counts))
            except OverflowError:
                c = widen(array("i"), (0, *counts))
            h = _NodeHistory(n, node_id, array("i"), array("i"), c, None)
            h.d.extend([self._code(v, k in _SHARED) for k, v in enumerate(desc)])
            h.d_last, h.c_last = desc, counts
        else:
            h = _NodeHistory(n, node_id, *_unpacked(self._packed_bytes(n)))
            self._big.pop(n, None)
            self._views.pop(n, None)
            held = self._held.pop(node_id, None)
            if held is not None:
                h.d_last, h.c_last = held
        self._loc[n] = _HOT
        self._hot[node_id] = self._unpacked[node_id] = h
        return h

    def _view_n(self, n: int, keep: bool = True) -> _NodeHistory | _PackedNode:
        """Node n's columns to read: the fold's arrays, or views of its packed bytes (kept among the
        last _VIEWS read unless keep is false)."""
        view = self._views.get(n)
        if view is not None:
            return view
        loc = self._loc[n]
        if loc == _HOT:
            return self._hot[self._ids[n]]
        if loc == _UNMADE:
            h = self._hot_node(self._ids[n])
            assert h is not None
            return h
        view = _PackedNode(n, self._ids[n], self._packed_bytes(n))
        if keep:
            views = self._views
            if len(views) >= _VIEWS:
                views.clear()  # (cheaper than letting the oldest go: the nodes on screen are read again at once)
            views[n] = view
        return view

    def _node_by(self, node_id: str, i: int) -> _NodeHistory | _PackedNode | None:
        """A node's history to read at local index i (None: not heard of by then; its packed
        bytes are not read)."""
        n = self._num.get(node_id)
        return None if n is None or self._born[n] > i else self._view_n(n)

    def _node(self, node_id: str) -> _NodeHistory | _PackedNode | None:
        """A node's history to read (None: not heard of)."""
        h = self._hot.get(node_id)
        if h is not None:
            return h
        n = self._num.get(node_id)
        return None if n is None else self._view_n(n)

    def _edge_n(self, n: int) -> Sequence[int] | None:
        """The records of the edge from node n's first parent (None: not recorded)."""
        if self._loc[n] == _UNMADE:
            return None
        edge = self._view_n(n, keep=False).edge
        return _ints(edge) if edge is not None else None

    def _first_parent_of(self, key: tuple[str, str]) -> int | None:
        """The child's number if the edge `key` is from its first parent (else None)."""
        c = self._num.get(key[1])
        if c is None:
            return None
        p = self._parent[c]
        return c if p >= 0 and self._ids[p] == key[0] else None

    def _recorded_edge(self, key: tuple[str, str]) -> Sequence[int] | None:
        """An edge's records as far as this history has them (None: none, or a window's seeded edge
        not touched since the seed); makes no node's history."""
        c = self._first_parent_of(key)
        if c is not None:
            return self._edge_n(c)
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
        c = self._first_parent_of(key)
        if c is not None:
            h = self._hot_node(self._ids[c])
            assert h is not None
            h.edge = log
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
        hot = self._hot
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
                    h = hot.get(node_id) or self._hot_node(node_id)
                    desc = _desc_of(node)
                    if h is None:
                        n = self._new_node(node_id, i, _HOT)
                        h = hot[node_id] = _NodeHistory(n, node_id, array("i"), array("i"), array("i"), None)
                        h.c_last = ()
                        self._maybe_roots.append(n)
                        h.d.extend([self._code_at(v, k in _SHARED, i, ts) for k, v in enumerate(desc)])
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
                        last_counts = tuple(h.c[-_N_COUNTS:])
                    if counts != last_counts:
                        kept = len(h.c)
                        try:
                            h.c.extend((i, *counts))
                        except OverflowError:  # a count beyond int32: widen this node's column
                            h.c = widen(h.c[:kept], (i, *counts))
                    h.c_last = counts
                    unpacked[node_id] = h
                    if node_id == own:
                        h.own.append(i)
                        if node["updated_at"] != ts:
                            self._own_ts_late[i] = node["updated_at"]

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
                if not i & 0x3FFF:  # (a long batch's columns go to their pages as it goes)
                    self._settle()
        finally:  # an event refused mid-batch leaves what came before it folded and recorded
            self._hot_last, self._cold_last = hot_last, cold_last
            self._settle()
            if i - self._packed_at >= PACK_AFTER:
                self._pack()
            if len(state.nodes) > self.hot_rows and positions:
                for node_id in state.nodes:
                    h = hot.get(node_id)
                    if h is not None:  # (None: packed since, see _held; or a window's seeded node the fold only read)
                        h.d_last = h.c_last = None
                self._held.clear()
                state.nodes.clear()
            if len(state.edges) > self.hot_rows and positions:
                state.edges.clear()
        return i - start

    def _settle(self) -> None:
        """Write out the full pages of the per-event columns (PagedColumn.settle)."""
        self._types.settle()
        self._micros.settle()
        self._ends.settle()
        for column in chain(self._run_hot, self._run_cold):
            column.settle()

    def _pack(self) -> None:
        """Pack the columns of the nodes the fold touched before the last pack and not since (see
        _NodeHistory): a node busy now stays arrays, one done with is packed a pass later."""
        touched, hot, loc = self._unpacked, self._hot, self._loc
        for node_id, h in self._unpacked_before.items():
            if node_id in touched or hot.get(node_id) is not h:
                continue
            packed = h.packed()
            if packed is None:
                continue
            if len(packed) <= SPILL_NODE_MAX:
                loc[h.n] = self._packs.put(packed) << 24 | len(packed)
            else:
                loc[h.n], self._big[h.n] = _BIG, packed
            del hot[node_id]
            if h.d_last is not None:  # (the fold still holds its row: what it last recorded, see extend)
                self._held[node_id] = (h.d_last, h.c_last)
        self._unpacked_before, self._unpacked = touched, {}
        self._packed_at = len(self._positions)
        release_free_memory()  # (what the events folded since the last pass left behind, see heap.py)

    def _add_edge(self, key: tuple[str, str], values: tuple, i: int, ts: str) -> None:
        # keyed by the node ids the history already holds: the payload's copies go
        p, c = self._num[key[0]], self._num[key[1]]  # (the fold makes both ends before the edge)
        parent, child = self._ids[p], self._ids[c]
        log = _packed_ints((i, *(self._code_at(v, False, i, ts) for v in values)))
        first = self._parent_since[c] < 0
        if first:
            self._parent_since[c] = i
            self._parent[c] = p
        self._link(p, c, first)
        self._set_edge((parent, child), log)

    def _record_desc(self, h: _NodeHistory, i: int, ts: str, desc: tuple, last: tuple) -> None:
        """Record the columns of a node's desc that changed at index i (a value the last desc held
        as the same object, or as an equal string or number of its type, did not change)."""
        changed = [k for k in range(_ND) if desc[k] is not last[k] and not _same(desc[k], last[k])]
        if not changed:
            return
        since = self._d_since[h.n] + len(changed)
        if since > _KEYFRAME:
            changed = list(range(_ND))
            since = 0
        self._d_since[h.n] = since
        codes = h.d
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
        """The code of a value: 0 is None; a `shared` string that is a node's id is that node's
        (_NODE_CODE + its number: the one copy of the id); small ints, bools and other `shared` short
        strings are Python objects in `_values`, once each (codes >= 0); any other value is its
        JSON in the arena (a code < 0: ~ its number there), and a small flat dict (a node's result,
        an edge's metadata: thousands alike) is stored there once for all its equals."""
        if v is None:
            return 0
        t = type(v)
        if shared and t is str:
            n = self._num.get(v)
            if n is not None and n < _NODE_CODE:
                return _NODE_CODE + n
            if len(v) <= 64:
                code = self._str_codes.get(v)
                if code is None:
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
                    digest = hash(text)
                    code = self._shared_json.get(digest)
                    if code is not None and self._json(~code) == text:
                        return code
                    code = self._put(text)
                    if code < 0 and self._shared_json.get(digest) is None:  # (a collision keeps the first)
                        self._shared_json.add(digest, code)
                    return code
                return self._put(text)
        self._values.append(v)  # (what JSON cannot hold exactly: kept as the object itself)
        return len(self._values) - 1

    def _put(self, text: bytes) -> int:
        ends = self._ends
        k = len(ends)
        if k >= _ARENA_MAX:  # (past a billion values the codes would meet _TS_CODE's)
            self._values.append(_loads(text))
            return len(self._values) - 1
        self._arena.put(text)
        ends.append(len(self._arena))
        return ~k

    def _json(self, k: int) -> bytes:
        """The JSON of the arena's value k."""
        start, end = self._ends.span(k)
        return self._arena.get(start, end - start)

    def _value(self, code: int) -> Any:
        if code >= 0:
            return self._values[code] if code < _NODE_CODE else self._ids[code - _NODE_CODE]
        if code <= _TS_CODE:
            return self._ts_text(_TS_CODE - code)
        return _loads(self._json(~code))

    def _decode(self, codes: Sequence[int]) -> tuple:
        return tuple(map(self._value, codes))

    def _desc_at(self, h: _NodeHistory | _PackedNode, i: int) -> tuple:
        """The node's desc values as of index i (its birth codes, then the last change of each
        column at or before i)."""
        d = h.d
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

    def _desc_codes(self, n: int) -> Sequence[int]:
        """Node n's desc codes alone: a node read for its status or nid (colouring, ordering
        siblings) gets no view of its own."""
        view = self._views.get(n)
        if view is not None:
            return view.d
        loc = self._loc[n]
        if loc < 0:
            return self._view_n(n).d
        packed = memoryview(self._packs.get(loc >> 24, loc & 0xFFFFFF)).cast("i")
        at = 3 + packed[0]
        return packed[at:at + packed[1]]

    def _desc_value(self, d: Sequence[int], i: int, column: int) -> Any:
        """A desc column's value at local index i, from the node's desc codes."""
        for at in range(_desc_end(d, i) - _DS, _ND - 1, -_DS):
            if d[at + 1] == column:
                return self._value(d[at + 2])
        return self._value(d[column])

    def _rebuild_node(self, node_id: str) -> dict[str, Any] | None:
        """The fold's row of a node it let go of (or a window's seeded node it has not had yet): the
        history's state after the last folded event."""
        k = self._num.get(node_id)
        n = len(self._positions)
        if k is not None and n and self._loc[k] != _UNMADE:
            h = self._hot_node(node_id)  # (the fold is about to change the node: its columns are arrays again)
            assert h is not None
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
        h = self._node(node_id)
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
        h = self._node_by(node_id, i)
        if h is None:
            return None
        return self._materialise(node_id, h, i)

    def _materialise(self, node_id: str, h: _NodeHistory | _PackedNode, i: int) -> dict[str, Any]:
        node = dict(zip(_NODE_DESC, self._desc_at(h, i)))
        c = h.c
        at = record_offset(c, _N_COUNTS + 1, i) + 1
        node.update(zip(_NODE_COUNTS, c[at:at + _N_COUNTS]))
        own = h.own
        n_own = bisect_right(own, i)
        born = self._born[h.n]
        last = own[n_own - 1] if n_own else born
        seed = self._seeds.get(h.n) if self._seeds else None
        node["node_id"] = node_id
        node["run_id"] = self.run_id
        node["event_count"] = n_own + (seed[0] if seed is not None else 0)
        node["first_position"] = seed[1] if seed is not None else self._positions[born]
        if seed is not None and not n_own:  # nothing of its own in the window yet: as seeded
            node["last_position"], node["updated_at"] = seed[2], seed[3]
        else:
            node["last_position"] = self._positions[last]
            late = self._own_ts_late.get(last) if n_own and self._own_ts_late else None
            node["updated_at"] = late if late is not None else self._ts_text(last)
        return {c: node[c] for c in NODE_COLUMNS}

    def _read_cache(self) -> None:
        """Forget what the tree read when the run grew (a record past the last index folded bounds
        no span kept) or the caches got big (a tree walks ~60 expanded nodes and their children)."""
        if self._read_len != len(self._positions) or len(self._display_read) > _READ_CACHED \
                or len(self._kids_read) > _READ_CACHED:
            self._kids_read.clear()
            self._display_read.clear()
            self._read_len = len(self._positions)

    def display_at(self, node_id: str, i: int) -> dict[str, Any] | None:
        """The fields a node's label shows (NODE_DISPLAY_FIELDS and a few more), cheaper than node_at.

        Kept for the span of indices between the node's changes around i: a slider step reads every
        node of the expanded levels again, and few of them changed (~15 us a node to decode)."""
        i -= self._base
        n = self._num.get(node_id)
        if n is None or self._born[n] > i:
            return None
        self._read_cache()
        kept = self._display_read.get(n)
        if kept is not None and kept[0] <= i < kept[1]:
            return dict(kept[2])
        h = self._view_n(n)
        node = dict(zip(_NODE_DESC, self._desc_at(h, i)))
        c = h.c
        stride = _N_COUNTS + 1
        at = record_offset(c, stride, i)
        node.update(zip(_NODE_COUNTS, c[at + 1:at + stride]))
        d = h.d
        end = _desc_end(d, i)
        lo = max(c[at], d[end - _DS] if end > _ND else -1)
        hi = min(c[at + stride] if at + stride < len(c) else _NEVER, d[end] if end < len(d) else _NEVER)
        self._display_read[n] = (lo, hi, node)
        return dict(node)

    def status_at(self, node_id: str, i: int) -> str | None:
        """Just the status (cheaper than node_at for colouring many nodes)."""
        i -= self._base
        n = self._num.get(node_id)
        if n is None or self._born[n] > i:
            return None
        return self._desc_value(self._desc_codes(n), i, _STATUS)

    def nid_at(self, node_id: str, i: int) -> str | None:
        i -= self._base
        n = self._num.get(node_id)
        if n is None or self._born[n] > i:
            return None
        return self._desc_value(self._desc_codes(n), i, _NID)

    def _nid_key(self, nid: str | None) -> tuple:
        key = self._nid_keys.get(nid)
        if key is None:
            key = self._nid_keys[nid] = nid_key(nid)
        return key

    def _sorted(self, nums: Sequence[int], i: int) -> list[str]:
        """Node ids by number, in nid order as of local index i."""
        keys = self._nid_keys
        if len(keys) > 4 * len(self._ids) + 1024:  # nids that changed leave stale keys behind
            keys.clear()
        codes, ids = self._desc_codes, self._ids
        return [ids[n] for n in sorted(nums, key=lambda n: self._nid_key(self._desc_value(codes(n), i, _NID)))]

    def _nid_span(self, nums: Sequence[int], i: int, lo: int, hi: int) -> tuple[int, int]:
        """The span [lo, hi) narrowed to the local indices around i over which none of the nodes'
        nids changes (a nid is a desc column: it can change after a node's birth)."""
        codes = self._desc_codes
        for n in nums:
            d = codes(n)
            for at in range(_ND, len(d), _DS):
                if d[at + 1] == _NID:
                    if d[at] > i:
                        hi = min(hi, d[at])
                        break
                    lo = max(lo, d[at])
        return lo, hi

    def children_at(self, node_id: str, i: int) -> list[str]:
        """Children of `node_id` by the edges that existed at event i, in nid order ("1.2" < "1.10").

        The order is kept per parent with the span over which its children's nids stay: a slider
        step asks again for every expanded node's children, and sorting them each time was most of
        the step's tree update. A child that came since is put in its place (ties: edge order)."""
        i = self.check_index(i)
        p, kids = self._kids_of(node_id)
        if not kids:
            return []
        k = self._kids_by(p, kids, i)
        if not k:
            return []
        self._read_cache()
        kept = self._kids_read.get(p)
        if kept is not None and kept[0] <= k and kept[1] <= i < kept[2]:
            k0, lo, hi, keys, ids = kept
            if k0 < k:
                new = kids[k0:k]
                lo, hi = self._nid_span(new, i, lo, hi)
                keys, ids = list(keys), list(ids)
                codes = self._desc_codes
                for n in new:
                    key = self._nid_key(self._desc_value(codes(n), i, _NID))
                    at = bisect_right(keys, key)
                    keys.insert(at, key)
                    ids.insert(at, self._ids[n])
                self._kids_read[p] = (k, lo, hi, keys, ids)
            return list(ids)
        nums = kids[:k]
        lo, hi = self._nid_span(nums, i, -1, _NEVER)
        codes = self._desc_codes
        keyed = sorted(((self._nid_key(self._desc_value(codes(n), i, _NID)), n) for n in nums), key=_first)
        keys = [key for key, _ in keyed]
        ids = [self._ids[n] for _, n in keyed]
        self._kids_read[p] = (k, lo, hi, keys, ids)
        return list(ids)

    def _kid_since(self, parent: int, child: int) -> int:
        """The local index the edge parent -> child came at (0: a window's seed held it); it is
        the edge's first record, where the child's first parent's is its parent_since: an array
        of them per parent was ~40 bytes a node more."""
        if self._parent[child] == parent:
            return self._parent_since[child]
        log = self._edges.get((self._ids[parent], self._ids[child]))
        return _ints(log)[0] if log is not None else 0  # (not recorded: a seeded edge)

    def _kids_by(self, p: int, kids: Sequence[int], i: int) -> int:
        """How many of node p's children had their edge by local index i (they came in order)."""
        if self._kid_since(p, kids[-1]) <= i:
            return len(kids)
        return bisect_right(kids, i, key=lambda child: self._kid_since(p, child))

    def parent_at(self, node_id: str, i: int) -> str | None:
        """The node's first parent by the edges that existed at event i (None: a root then).

        The tree opens the path to a selected event's node by walking up these: one step per level,
        where searching down from the roots visited every node of the run (25 ms a step at 1k nodes)."""
        i = self.check_index(i)
        n = self._num.get(node_id)
        if n is None:
            return None
        since = self._parent_since[n]
        return self._ids[self._parent[n]] if 0 <= since <= i else None

    def has_children_at(self, node_id: str, i: int) -> bool:
        p = self._num.get(node_id)
        if p is None:
            return False
        kids = self._kids.get(node_id)
        first = kids[0] if kids else self._kid_head[p]
        return first >= 0 and self._kid_since(p, first) <= i - self._base

    def child_count_at(self, node_id: str, i: int) -> int:
        p, kids = self._kids_of(node_id)
        return self._kids_by(p, kids, i - self._base) if kids else 0

    def roots_at(self, i: int) -> list[str]:
        """Nodes that existed at event i with no parent edge yet, in nid order."""
        i = self.check_index(i)
        born, since = self._born, self._parent_since
        keep = array("i")
        roots: list[int] = []
        for n in self._maybe_roots:
            s = since[n]
            if 0 <= s <= born[n]:
                continue  # had a parent from the start: never a root, forget it
            keep.append(n)
            if born[n] <= i and (s < 0 or s > i):
                roots.append(n)
        self._maybe_roots = keep
        return self._sorted(roots, i)

    def node_ids(self) -> list[str]:
        """Every node heard of so far (created or referenced), in order of appearance (a window's
        seeded nodes first); cheap, unlike `live.nodes`, which builds every row."""
        return list(self._ids)

    def node_count_at(self, i: int) -> int:
        """How many nodes had been heard of (created or referenced) by event i."""
        i = self.check_index(i)
        return bisect_right(self._born, i, len(self._seed_nodes))  # (numbered as they came: born ascends)

    def state_at_index(self, i: int) -> RunState:
        """A full RunState as of event i, equal to folding the run's first i+1 events from nothing."""
        i = self.check_index(i)
        state = RunState(self.run_id, self.run_at(i + self._base), position=self._positions[i])
        num, ids, loc, view = self._num, self._ids, self._loc, self._view_n
        for node_id, row in self._seed_nodes.items():  # (a window's seed first: the fold's order)
            n = num[node_id]
            state.nodes[node_id] = {c: row[c] for c in NODE_COLUMNS} if loc[n] == _UNMADE else \
                self._materialise(node_id, view(n, False), i)
        for n in range(len(self._seed_nodes), self.node_count_at(i + self._base)):
            state.nodes[ids[n]] = self._materialise(ids[n], view(n, False), i)
        for key, edge in self._seed_edges.items():
            if self._recorded_edge(key) is None:
                state.edges[key] = dict(edge)
        parents = self._parent
        logs = chain((((ids[parents[n]], ids[n]), self._edge_n(n)) for n in range(len(ids)) if parents[n] >= 0),
                     ((key, _ints(packed)) for key, packed in self._edges.items()))
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
