"""Snapshots of a run's fold: how they are encoded, found and read, and dense ones written on demand.

A snapshot is the run's folded state at a position, so `state_at` (and the inspector's replay
windows) fold only the events after it. Three forms share the `snapshots` table:

- a full snapshot read a row at a time (encode_full, FULL_MAGIC): what the append path writes,
  every max(snapshot_every, 2 x nodes) events of a run (a run of 58k nodes only every ~120k
  events, so that the bytes written stay proportional to the events), and `write_snapshots`
  (i.e. `agenttui rebuild --snapshots`) too; a replay window decodes its header and only the rows
  it shows (~0.17 s instead of ~0.9 s for 52k nodes).
- a full snapshot as one JSON document, zlib-compressed (encode_snapshot): what the append path
  wrote until 2026-12 (~0.2 s cheaper to write); still read, lazily, and rewritten in the form
  above by `write_snapshots`.
- a delta (DELTA_MAGIC, also by `write_snapshots`): the run row and only the node and edge rows
  that changed since the previous snapshot of the run, which it names. A late checkpoint of a
  1M-event run is 8.6 MB as a full snapshot and ~45 KB as a delta, so a run can be checkpointed
  every few thousand events for a few percent of its size.

Reading one (`load_snapshot`) decodes the newest full snapshot of its chain and applies the
deltas after it in order. A chain broken by a missing link (a snapshot deleted by hand) is
skipped for an older snapshot; a snapshot of another FOLD_VERSION is never read, so a delta
never applies over rows of another fold.
"""
from __future__ import annotations

import json
import re
import zlib
from array import array
from bisect import bisect_left
from collections.abc import MutableMapping
from itertools import accumulate
from typing import Any, Callable, Iterable, Iterator

import orjson

from .collector import collector_paused
from .envelope import now_timestamp
from .fold import FOLD_VERSION, RunState, apply_event
from .packed_keys import PackedKeys
from .spill import Spill

__all__ = ["DEFAULT_DENSE_EVERY", "DELTA_MAGIC", "FULL_MAGIC", "PARTS_MAGIC", "PART_BYTES", "SNAPSHOT_UPSERT",
           "LazyRows", "decode_snapshot", "encode_delta", "encode_full", "encode_snapshot", "is_delta",
           "load_snapshot", "snapshot_in_parts", "write_snapshots"]

#: `agenttui rebuild --snapshots` writes a checkpoint every this many events of a run by default:
#: a replay window then folds at most this many events before it shows a state.
DEFAULT_DENSE_EVERY = 5_000
#: A delta blob starts with these bytes, encode_full's with FULL_MAGIC (encode_snapshot's with
#: zlib's 0x78 header byte: the whole state as one JSON document).
DELTA_MAGIC = b"ATD1"
FULL_MAGIC = b"ATF1"
#: A full snapshot whose rows are stored apart (SQLite, past PART_BYTES): its `snapshots` row holds
#: these bytes, the whole snapshot's length (8 bytes) and encode_full's header; `snapshot_parts`
#: holds the rest, PART_BYTES a row.
PARTS_MAGIC = b"ATF2"
#: Bytes of a full snapshot's rows per `snapshot_parts` row. sqlite3 hands a value over as a copy of
#: SQLite's own, so reading one holds it twice: a late full snapshot of a 4M-event run (41 MB) as one
#: value put 82 MB on the inspector's peak; a part at a time, 8 MB.
PART_BYTES = 1 << 22
#: A chain of deltas is cut by a full snapshot once its deltas add up to this fraction of the last
#: full one's bytes, or are this many: decoding a chain then costs little more than its base.
CHAIN_BYTES_FRACTION = 0.25
MAX_CHAIN = 64
#: Bytes of a full snapshot's rows compressed together (a lazy read inflates only the chunks it reads).
CHUNK = 1 << 18
#: Snapshots written per transaction by write_snapshots (appends wait only that long for the lock).
WRITE_BATCH = 16

SNAPSHOT_UPSERT = (
    "INSERT INTO snapshots (run_id, position, seq, fold_version, state, created_at) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT (run_id, position) DO UPDATE SET seq = excluded.seq, fold_version = excluded.fold_version, "
    "state = excluded.state, created_at = excluded.created_at")
_FIND = {column: f"SELECT position, seq, state FROM snapshots WHERE run_id = ? AND {column} <= ? AND "
                 "fold_version = ? ORDER BY position DESC LIMIT 1" for column in ("position", "seq")}
_AT = "SELECT state FROM snapshots WHERE run_id = ? AND position = ? AND fold_version = ?"
_PARTS_INSERT = "INSERT INTO snapshot_parts (run_id, position, part, data) VALUES (?,?,?,?)"
_PARTS = "SELECT data FROM snapshot_parts WHERE run_id = ? AND position = ? ORDER BY part"
_PARTS_BYTES = "SELECT coalesce(sum(length(data)), 0) FROM snapshot_parts WHERE run_id = ? AND position = ?"


def _dumps(data: Any) -> bytes:
    """JSON of a state or a delta. The state nests what events carry a few levels deeper than their
    payloads (a node's result sits under nodes[i].result), so a payload accepted just under
    orjson's 254-level limit would make orjson refuse the snapshot, and with it every later append
    of the run. Such states are written by the standard library's encoder instead (same JSON, no
    such limit below Python's recursion limit); orjson reads them back, as it reads up to 1024 levels."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError as exc:
        if "recursion" not in str(exc).lower():
            raise
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def encode_snapshot(state: RunState) -> bytes:
    """A RunState as zlib of one JSON document: the form the appends wrote their full snapshots in
    until 2026-12 (~0.3 s for 58k nodes, one orjson call). Stores still hold them: they are read
    (lazily, see _lazy_document) and `write_snapshots` rewrites those it passes as encode_full's."""
    return zlib.compress(_dumps(state.to_dict()), 1)


def encode_full(state: RunState) -> bytes:
    """A RunState as a full snapshot blob, readable a row at a time (see LazyRows).

    FULL_MAGIC, the compressed header's length (4 bytes), the header (zlib of JSON: the run row,
    the node ids, the edge keys as indices into those ids, where each row ends, where each chunk
    ends), then the rows as one JSON array cut into chunks of CHUNK bytes compressed one by one.
    A late snapshot of a 1M-event run holds 58k nodes: parsing every row took 0.4 s and inflating
    them 0.15 s of the 0.6 s its decode cost, where a replay window reads a few dozen rows; read
    lazily, it costs the header (~30 ms) and the chunks of the rows read. Read whole (state_at),
    the array is one orjson call, as encode_snapshot's single document is (0.45 s, +23% bytes: the
    node ids are in the header too)."""
    # one C call per row, each output appended at once and let go: orjson's bytes keep a ~4 KB
    # buffer each, so the 117k rows of a late 1M-event run held as a list took ~460 MB
    body = bytearray(b"[")
    ends: list[int] = []  # where each row ends: the "," or "]" after it
    dumps, end = orjson.dumps, ends.append
    for row in (*state.nodes.values(), *state.edges.values()):
        try:
            body += dumps(row)
        except orjson.JSONEncodeError:
            body += _dumps(row)
        end(len(body))
        body += b","
    if ends:
        body[-1] = ord("]")
    else:
        body += b"]"
    view = memoryview(body)
    chunks = [zlib.compress(view[k:k + CHUNK], 1) for k in range(0, len(body), CHUNK)]
    place = {node_id: k for k, node_id in enumerate(state.nodes)}
    head = zlib.compress(_dumps({
        "run_id": state.run_id, "position": state.position, "run": state.run, "nodes": list(state.nodes),
        "parents": [place.get(p, p) for p, _ in state.edges], "children": [place.get(c, c) for _, c in state.edges],
        "ends": ends,
        "chunks": list(accumulate(map(len, chunks)))}), 1)
    return b"".join((FULL_MAGIC, len(head).to_bytes(4, "big"), head, *chunks))


def decode_snapshot(blob: bytes, *, lazy: bool = False, parts: Iterable[bytes] | None = None) -> RunState:
    """A full snapshot's state (a delta needs its chain: see load_snapshot). lazy: its nodes and
    edges are LazyRows, parsed when read (the state is then for reading, not for folding on).
    parts: the `snapshot_parts` rows of a snapshot stored in parts (PARTS_MAGIC), in order."""
    blob = bytes(blob)
    if is_delta(blob):
        raise ValueError("this snapshot is a delta: read it with load_snapshot, which applies it to its base")
    magic = blob[:len(FULL_MAGIC)]
    if magic == PARTS_MAGIC:
        if parts is None:
            raise ValueError("this snapshot's rows are stored apart: read it with load_snapshot")
        size_at = len(PARTS_MAGIC) + 8
    elif magic == FULL_MAGIC:
        size_at = len(FULL_MAGIC)
    else:  # encode_snapshot's: one JSON document
        with collector_paused():
            state = _lazy_document(blob) if lazy else None
            return state if state is not None else RunState.from_dict(orjson.loads(zlib.decompress(blob)))
    at = size_at + 4
    size = int.from_bytes(blob[size_at:at], "big")
    with collector_paused():
        if magic == PARTS_MAGIC:
            assert parts is not None  # (refused above)
            rows: memoryview | Spill = _parts_body(parts, int.from_bytes(blob[len(PARTS_MAGIC):size_at], "big") -
                                                   len(FULL_MAGIC) - 4 - size, lazy)
        else:
            rows = memoryview(blob)[at + size:]
            if lazy:
                rows = _off_heap(rows)
        head = _parse_head(zlib.decompress(blob[at:at + size]))
        ids = head["nodes"]
        state = RunState(head["run_id"], head["run"], position=head["position"])
        if lazy:
            body = _Body(rows, head["chunks"], head["ends"])
            nodes = ids if isinstance(ids, PackedKeys) else PackedKeys.of(ids)
            del ids, head["nodes"]  # (their strings, if parsed: the keys are packed now)
            state.nodes = LazyRows(body, nodes)  # type: ignore[assignment]
            edges = _edge_index(nodes, len(nodes), head["parents"], head["children"])
            state.edges = LazyRows(body, edges)  # type: ignore[assignment]
        else:
            if isinstance(ids, PackedKeys):
                ids = list(ids)
            parsed = orjson.loads(_Body(rows, head["chunks"], head["ends"]).whole())
            edge_keys = zip([ids[k] if type(k) is int else k for k in head["parents"]],
                            [ids[k] if type(k) is int else k for k in head["children"]])
            state.nodes = dict(zip(ids, parsed))
            state.edges = dict(zip(edge_keys, parsed[len(ids):]))
    return state


def snapshot_in_parts(row: tuple) -> list[tuple[str, list[tuple]]]:
    """The statements that store snapshot `row` (SNAPSHOT_UPSERT's parameters) in a SQLite store:
    a full snapshot past PART_BYTES as its header in `snapshots` (PARTS_MAGIC) and its rows in
    `snapshot_parts`, so that no reader holds it as one value (see PART_BYTES); anything else as
    it is. The snapshot row goes first: replacing one drops its old parts (a trigger)."""
    run_id, position, seq, version, blob, created_at = row
    if len(blob) <= PART_BYTES or bytes(blob[:len(FULL_MAGIC)]) != FULL_MAGIC:
        return [(SNAPSHOT_UPSERT, [row])]
    view = memoryview(blob)
    at = len(FULL_MAGIC) + 4
    end = at + int.from_bytes(view[len(FULL_MAGIC):at], "big")
    head = b"".join((PARTS_MAGIC, len(blob).to_bytes(8, "big"), view[len(FULL_MAGIC):end]))
    parts = [(run_id, position, k, view[start:start + PART_BYTES])
             for k, start in enumerate(range(end, len(blob), PART_BYTES))]
    return [(SNAPSHOT_UPSERT, [(run_id, position, seq, version, head, created_at)]), (_PARTS_INSERT, parts)]


def _parts_body(parts: Iterable[bytes], size: int, lazy: bool) -> memoryview | Spill:
    """A snapshot's rows from its `snapshot_parts`, `size` bytes in all: into a Spill a part at a
    time (lazy), or joined. Parts missing or cut short are an error, not rows read past their end."""
    spill, joined = Spill(), bytearray()
    for part in parts:
        if lazy:
            spill.put(part)
        else:
            joined += part
    got = len(spill) if lazy else len(joined)
    if got != size:
        raise ValueError(f"a snapshot's rows stored apart add up to {got:,} bytes, not {size:,}: "
                         "parts of it are missing")
    return spill if lazy else memoryview(joined)


def _off_heap(compressed: memoryview) -> Spill:
    """A lazily read snapshot's compressed rows, kept in a Spill: its temporary file's pages are
    the system's cache, not the process's memory (late in a 1M-event run, 10 MB of the ~35 MB a
    replay window's state held; a chunk read back is ~40 KB, pread in ~20 us next to its ~1 ms
    inflate). Under SPILL_BUFFER, or where no file can be written, they stay in memory."""
    spill = Spill()
    spill.put(compressed)
    return spill


#: encode_full's header ends with these lists, in this order (parsed one at a time: _parse_head).
_HEAD_LISTS = ("nodes", "parents", "children", "ends", "chunks")


def _parse_head(raw: bytes) -> dict[str, Any]:
    """encode_full's header, its long lists parsed one at a time. orjson reserves room for a
    document's values up front, several times its text: the header of a late snapshot of a
    4M-event run (15 MB: 229k node ids, 457k row ends) peaked at ~240 MB parsed whole for 53 MB of
    result, the inspector's peak while it scrubbed that run (one at a time: ~70 MB, as fast)."""
    head = _head_by_lists(raw)
    return orjson.loads(raw) if head is None else head


def _head_by_lists(raw: bytes) -> dict[str, Any] | None:
    """The header with its lists parsed apart, None if it is not laid out as encode_full writes it.
    The lists are the header's last keys and hold only numbers and JSON strings (where a quote is
    always escaped), so each key is found from the right without ambiguity."""
    end = len(raw) - 1
    if raw[end:] != b"}":
        return None
    view = memoryview(raw)
    lists: dict[str, Any] = {}
    for key in reversed(_HEAD_LISTS):
        marker = b',"' + key.encode() + b'":'
        at = raw.rfind(marker, 0, end)
        if at < 0:
            return None
        text = view[at + len(marker):end]
        try:  # (the node ids by the standard library's parser: as fast there, at a quarter of the peak)
            lists[key] = (PackedKeys.from_json(bytes(text)) or json.loads(bytes(text))) if key == "nodes" else \
                _int_list(text) or orjson.loads(text)
        except ValueError:  # (orjson's JSONDecodeError is one)
            return None
        end = at
    try:
        head = orjson.loads(bytes(view[:end]) + b"}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict) or any(key in head for key in lists):
        return None
    head.update((key, lists[key]) for key in _HEAD_LISTS)
    return head


def _int_list(text: memoryview) -> array | None:
    """A JSON list of integers straight into an array (int32 while they fit), None if `text` is
    anything else. orjson makes an int object per value first: a late 4M-event run's 457k row ends
    peaked at 74 MB that way, ~8 MB here (numpy's parser, twice as fast)."""
    raw = bytes(text)
    if len(raw) < 3 or raw[:1] != b"[" or raw[-1:] != b"]" or raw[1:-1].translate(None, b"0123456789,-") or \
            b"-," in raw or b"-]" in raw or b"--" in raw:  # (numpy reads a lone "-" as 0)
        return None
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (numpy warns of unparsed text, or raises, by version)
            values = np.fromstring(raw[1:-1], dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning):
        return None
    if len(values) != raw.count(b",") + 1:
        return None  # (an empty item, a lone "-": not a list of integers)
    small = len(values) == 0 or (-(1 << 31) <= int(values.min()) and int(values.max()) < (1 << 31))
    out = array("i" if small else "q")
    out.frombytes(values.astype(np.int32 if small else np.int64).tobytes())
    return out


class _Body:
    """A full snapshot's rows: a JSON array in compressed chunks, inflated when a row in them is read.

    Only the last few chunks inflated are kept (KEPT_CHUNK_BYTES): a window whose fold touches
    thousands of seeded nodes reads rows from every chunk, and kept all, they were the whole
    inflated text again (64 MB late in a 1M-event run); the rows parsed are kept by LazyRows."""

    __slots__ = ("_blob", "_chunk_ends", "_ends", "_inflated", "_size", "_keep")

    def __init__(self, blob: memoryview | Spill, chunk_ends: list[int], ends: Any, size: int = CHUNK) -> None:
        # the rows' ends as 4-byte integers (8 past 2 GB of rows): as a list of ints they were 36
        # bytes a row (~15 MB for the 235k nodes and edges late in a 4M-event run)
        self._blob, self._chunk_ends, self._size = blob, chunk_ends, size
        try:
            self._ends = array("i", ends)
        except OverflowError:
            self._ends = ends if isinstance(ends, array) and ends.typecode == "q" else array("q", ends)
        self._inflated: dict[int, bytes] = {}
        self._keep = max(2, KEPT_CHUNK_BYTES // size)

    def _raw(self, k: int) -> bytes:
        ends, blob = self._chunk_ends, self._blob
        start = ends[k - 1] if k else 0
        if isinstance(blob, Spill):
            return zlib.decompress(blob.get(start, ends[k] - start))
        return zlib.decompress(blob[start:ends[k]])

    def _chunk(self, k: int) -> bytes:
        inflated = self._inflated
        text = inflated.pop(k, None)
        if text is None:
            text = self._raw(k)
            if len(inflated) >= self._keep:
                del inflated[next(iter(inflated))]  # the least recently read
        inflated[k] = text
        return text

    def row(self, number: int) -> Any:
        """Row `number` (nodes first, then edges), parsed."""
        ends, size = self._ends, self._size
        start, end = (ends[number - 1] if number else 0) + 1, ends[number]
        first, last = start // size, (end - 1) // size
        if first == last:
            return orjson.loads(memoryview(self._chunk(first))[start - first * size:end - first * size])
        text = b"".join(self._chunk(k) for k in range(first, last + 1))
        return orjson.loads(memoryview(text)[start - first * size:end - first * size])

    def whole(self) -> bytes:
        return b"".join(map(self._raw, range(len(self._chunk_ends))))


#: A legacy snapshot read lazily is recompressed in chunks of this many bytes (a row read inflates one).
LEGACY_CHUNK = 1 << 16
#: Inflated chunks a lazily read snapshot keeps, in bytes (the ones read last).
KEPT_CHUNK_BYTES = 1 << 21
#: Rows of a legacy snapshot parsed at once while its row boundaries are checked.
_GROUP = 512
_NEXT_ROW = re.compile(rb"\},\{")


def _lazy_document(blob: bytes) -> RunState | None:
    """encode_snapshot's one JSON document as a lazily read state, never parsed nor inflated
    whole: parsed at once, a late snapshot of a 1M-event run (58k nodes, 64 MB of JSON) became
    ~300 MB of dicts, where a window reads a few thousand rows. The document is inflated
    STREAM_PIECE bytes at a time; its rows are found and checked a group at a time (the group's
    text parses as exactly as many rows as boundaries were guessed, else row by row), and
    recompressed in LEGACY_CHUNK pieces to be read as encode_full's are. None: not the layout
    RunState.to_dict writes (the caller parses it whole)."""
    stream = _Inflating(blob)
    at = 0
    while True:  # the first ',"nodes":[' at the document's top level, after run_id, position and run
        at = stream.buf.find(b',"nodes":[', at)
        if at < 0:
            at = max(0, len(stream.buf) - 10)
            if not stream.fill():
                return None
            continue
        try:
            head = orjson.loads(stream.buf[:at] + b"}")
            break
        except orjson.JSONDecodeError:
            at += 1
    if not isinstance(head, dict) or list(head) != ["run_id", "position", "run"]:
        return None
    body = _BodyWriter()
    # The rows' keys are recorded compactly as the rows are found, not kept as objects made among
    # the rows parsed to check them: the node ids' strings then sat scattered among freed rows,
    # pages pymalloc could not give back (~14 MB RSS at 4M events), and the edges' keys as tuples
    # of places took ~25 MB until the end. The node ids are parsed again, together, at the end.
    ids_json = bytearray(b"[")
    parents, children = array("i"), array("i")
    extra: dict[Any, int] = {}  # edge ends that are not nodes -> their place after the node ids

    def node_key(row: dict[str, Any]) -> None:
        ids_json.extend(orjson.dumps(row["node_id"]))
        ids_json.extend(b",")

    def place(end: Any) -> int:
        k = nodes.get(end)
        return k if k is not None else extra.setdefault(end, len(nodes) + len(extra))

    def edge_key(row: dict[str, Any]) -> None:
        parents.append(place(row["parent_node_id"]))
        children.append(place(row["child_node_id"]))

    try:
        if _stream_rows(stream, at + len(b',"nodes":['), node_key, body, b',"edges":[') is None:
            return None
        ids_json[-1:] = b"]" if len(ids_json) > 1 else b"[]"
        nodes = PackedKeys.from_json(bytes(ids_json)) or PackedKeys.of(orjson.loads(ids_json))
        del ids_json[:]
        if _stream_rows(stream, 0, edge_key, body, b"}") is None:
            return None
    except (KeyError, TypeError):  # rows without their keys: not a state's rows
        return None
    while stream.fill():
        pass
    if stream.buf:  # (something after the document's end)
        return None
    state = RunState(head["run_id"], head["run"], position=head["position"])
    lazy = body.close()
    state.nodes = LazyRows(lazy, nodes)  # type: ignore[assignment]
    state.edges = LazyRows(lazy, _EdgeKeys(nodes, extra, len(nodes), parents, children))  # type: ignore[assignment]
    return state


#: Bytes of a legacy snapshot's JSON inflated at a time while its rows are found, and of the
#: compressed document fed to zlib at a time.
STREAM_PIECE = 1 << 20
STREAM_INPUT = 1 << 18


class _Inflating:
    """A zlib stream inflated a piece at a time into `buf` (what the reader has not used yet).

    The compressed stream is fed STREAM_INPUT bytes at a time: fed whole, what zlib had not read
    yet came back as a new copy at every piece (the 31 MB document late in a 4M-event run: one
    more copy of it held at once, ~4 GB copied in all)."""

    def __init__(self, blob: bytes) -> None:
        self._inflate: Any = zlib.decompressobj()  # (None once the stream has ended)
        self._blob = memoryview(blob)
        self._at = 0                 # where the input not fed yet starts
        self._rest: bytes | memoryview = b""  # input fed but not read yet (zlib's unconsumed tail)
        self.buf = b""
        self.fill()

    def fill(self) -> bool:
        """Append the next piece to `buf`; False at the stream's end."""
        if self._inflate is None:
            return False
        more = b""
        while not more:
            if not self._rest:
                if self._at >= len(self._blob):
                    more = self._inflate.flush()
                    self._inflate = None
                    break
                self._rest = self._blob[self._at:self._at + STREAM_INPUT]
                self._at += len(self._rest)
            more = self._inflate.decompress(self._rest, STREAM_PIECE)
            self._rest = self._inflate.unconsumed_tail
        self.buf += more
        return bool(more) or self._inflate is not None

    def drop(self, n: int) -> None:
        self.buf = self.buf[n:]


class _BodyWriter:
    """encode_full's body ("[row,row,...]") made a row at a time, compressed a chunk at a time."""

    def __init__(self) -> None:
        self._chunks = Spill()  # (off the heap: see _off_heap)
        self._chunk_ends: list[int] = []
        self._buf = bytearray(b"[")
        self._size = 1
        self.ends = array("q")

    def _compressed(self, text: bytes | bytearray) -> None:
        chunk = zlib.compress(text, 1)
        self._chunks.put(chunk)
        self._chunk_ends.append(len(self._chunks))

    def add(self, row: memoryview) -> None:
        buf = self._buf
        if self._size > 1:
            buf += b","
            self._size += 1
        buf += row
        self._size += len(row)
        self.ends.append(self._size)
        while len(buf) >= LEGACY_CHUNK:
            self._compressed(buf[:LEGACY_CHUNK])
            del buf[:LEGACY_CHUNK]

    def close(self) -> _Body:
        buf = self._buf
        buf += b"]"
        for k in range(0, len(buf), LEGACY_CHUNK):
            self._compressed(buf[k:k + LEGACY_CHUNK])
        return _Body(self._chunks, self._chunk_ends, self.ends, LEGACY_CHUNK)


def _stream_rows(stream: _Inflating, at: int, key: Callable[[dict[str, Any]], Any], body: _BodyWriter,
                 then: bytes) -> list[Any] | None:
    """The keys of the rows of the JSON array of objects starting at `at` of the stream's buffer
    (just past its "["), each row added to `body`; the stream is left just past `then`, which
    must follow the array. None: not an array of rows followed by `then`."""
    keys: list[Any] = []
    while len(stream.buf) <= at and stream.fill():
        pass
    if stream.buf[at:at + 1] == b"]":
        end = at + 1
    else:
        while True:
            found = _rows_of(stream.buf, at, key, body, keys)
            if found is None:
                return None
            at, past = found
            if past is not None:
                end = past
                break
            stream.drop(at)
            at = 0
            if not stream.fill():
                return None
    while len(stream.buf) < end + len(then) and stream.fill():
        pass
    if stream.buf[end:end + len(then)] != then:
        return None
    stream.drop(end + len(then))
    return keys


def _rows_of(text: bytes, at: int, key: Callable[[dict[str, Any]], Any], body: _BodyWriter,
             keys: list[Any]) -> tuple[int, int | None] | None:
    """Add the complete rows of the array text from `at` (a row's start) to `body` and their keys to
    `keys`: (where the next row starts, None) when the text ends before the array does, (_, the
    offset just past the array's "]") when it ends, None when it is not an array of rows.

    A "},{" is guessed to end a row; a group of guesses is right when its text parses as that many
    rows (a guess inside a row, or past the array's end, leaves a group that does not parse, or
    parses as fewer rows). A group that fails is halved, down to one row found by parsing."""
    view = memoryview(text)
    guesses = [m.start() for m in _NEXT_ROW.finditer(text, at)]
    pos, k, size = at, 0, _GROUP
    while True:
        take = guesses[k:k + size]
        if take:
            try:
                rows = orjson.loads(b"[" + view[pos:take[-1] + 1] + b"]")
            except orjson.JSONDecodeError:
                rows = None
            if rows is not None and len(rows) == len(take) and all(type(r) is dict for r in rows):
                for row, end in zip(rows, take):
                    body.add(view[pos:end + 1])
                    keys.append(key(row))
                    pos = end + 2
                k += len(take)
                size = _GROUP
                continue
            if size > 1:
                size //= 2
                continue
        one = _one_row(text, view, pos)
        if one is None:  # (the row goes on past the text: more of it is needed)
            return pos, None
        row, end = one
        body.add(view[pos:end])
        keys.append(key(row))
        if text[end:end + 1] == b"]":
            return end, end + 1
        pos, size = end + 1, _GROUP
        while k < len(guesses) and guesses[k] < end:
            k += 1


def _one_row(text: bytes, view: memoryview, start: int) -> tuple[dict[str, Any], int] | None:
    """The row (an object) starting at `start`, and the offset just past it: the first "}" followed
    by "," or "]" where the text from `start` parses as one object (a JSON object has one end).
    None: no such end in the text."""
    end = start
    while True:
        comma, close = text.find(b"},", end), text.find(b"}]", end)
        found = min(x for x in (comma, close) if x >= 0) if comma >= 0 or close >= 0 else -1
        if found < 0:
            return None
        end = found + 1
        try:
            row = orjson.loads(view[start:end])
        except orjson.JSONDecodeError:
            continue
        return (row, end) if type(row) is dict else None


def _node_key(row: dict[str, Any]) -> Any:
    return row["node_id"]


def _edge_index(nodes: PackedKeys, first: int, parents: list[Any], children: list[Any]) -> _EdgeKeys:
    """The edges' key index of a full snapshot's rows: `nodes` the node ids' (id -> place), `first`
    the first edge's row number (after the nodes'), the edges' parents and children in row order,
    each a node's place or, where the end is not a node, the end itself (encode_full's header)."""
    extra: dict[Any, int] = {}  # edge ends that are not nodes -> their place after the node ids
    try:
        ends = array("i", parents), array("i", children)
    except TypeError:
        def place(end: Any) -> int:
            if type(end) is int:
                return end
            k = nodes.get(end)
            return k if k is not None else extra.setdefault(end, len(nodes) + len(extra))
        ends = array("i", map(place, parents)), array("i", map(place, children))
    return _EdgeKeys(nodes, extra, first, *ends)


class _EdgeKeys:
    """The edges' keys ((parent, child) node ids) of a full snapshot, in the fold's order, and
    their rows' numbers in the body: shared by every copy, never changed.

    As a dict of tuples these were ~130 bytes an edge (7.5 MB of a replay window's state late in a
    1M-event run, 29 MB at 4M), and their node ids strings of their own. Here an edge is its
    parent's and child's places among the node ids (int32 each) and its place in the edges sorted
    by child (int32 twice): found from the node ids' dict, which the nodes' LazyRows keeps anyway,
    by bisection among the edges of its child (most nodes have one parent)."""

    __slots__ = ("_nodes", "_extra", "_first", "_parents", "_children", "_by_child", "_child_of")

    def __init__(self, nodes: PackedKeys, extra: dict[Any, int], first: int, parents: array, children: array
                 ) -> None:
        self._nodes, self._extra = nodes, extra  # (extra: ends that are not nodes, placed after them)
        self._first = first  # (the first edge's row number: after the nodes')
        self._parents, self._children = parents, children
        # (children are near their edges' order, as edges are made with their child: a quick sort)
        order = sorted(range(len(children)), key=children.__getitem__)
        self._by_child = array("i", order)
        self._child_of = array("i", map(children.__getitem__, order))

    def _place(self, name: Any) -> int | None:
        k = self._nodes.get(name)
        return k if k is not None or not self._extra else self._extra.get(name)

    def find(self, key: Any) -> int | None:
        """The row number of `key` in the body, None if it is not one of these edges."""
        if type(key) is not tuple or len(key) != 2:
            hash(key)  # (an unhashable key raises, as for a dict)
            return None
        parent, child = self._place(key[0]), self._place(key[1])
        if parent is None or child is None:
            return None
        child_of = self._child_of
        for j in range(bisect_left(child_of, child), len(child_of)):
            if child_of[j] != child:
                break
            edge = self._by_child[j]
            if self._parents[edge] == parent:
                return self._first + edge
        return None

    def __contains__(self, key: object) -> bool:
        return self.find(key) is not None

    def __len__(self) -> int:
        return len(self._parents)

    def place_pairs(self) -> tuple[Iterable[tuple[int, int]], dict[int, Any]]:
        """Each edge's (parent, child) as places among the node ids, in order, and the names of
        the places past them (ends that are not nodes): see LazyRows.place_pairs."""
        return zip(self._parents, self._children), {place: name for name, place in self._extra.items()}

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        names = [*self._nodes, *self._extra]
        return zip(map(names.__getitem__, self._parents), map(names.__getitem__, self._children))


class LazyRows(MutableMapping):
    """A full snapshot's node or edge rows by key, in the fold's order, each parsed when first read.
    Rows set later (a delta's) replace a key's in place; new keys go last, as in the dict the fold
    keeps.

    The key -> row-number index is made once per decoded snapshot and shared by every copy: a
    replay window is a copy over the cached base, and copying the index with it held a second dict
    of every node and edge per window (two of the four ~9 MB dicts late in a 4M-event run, of the
    ~110 MB a window held there). What a copy has of its own is `_own`, the rows parsed or set
    through it (a few hundred to a few thousand: the rows a window reads or folds), so copies still
    share the rows parsed before the copy and a copy's changes never reach the base or another copy."""

    __slots__ = ("_body", "_index", "_own", "_gone", "_added")

    def __init__(self, body: _Body, keys: PackedKeys | _EdgeKeys) -> None:
        self._body = body
        #: key -> its row's number in the body (find), shared by the copies (never changed)
        self._index = keys
        #: key -> its row parsed or set through this copy; keys that are not in the index (or were
        #: deleted from it) come last, in the order they were set
        self._own: dict[Any, Any] = {}
        #: keys of the index deleted through this copy
        self._gone: set[Any] = set()
        #: keys of _own that are not (or no longer) the index's
        self._added = 0

    def _is_added(self, key: Any) -> bool:
        return key not in self._index or key in self._gone

    def __getitem__(self, key: Any) -> dict[str, Any]:
        own = self._own
        row = own.get(key, own)
        if row is not own:
            if type(row) is _Stored:  # (a delta's row, see _Chain)
                row = own[key] = row.row()
            return row
        number = None if key in self._gone else self._index.find(key)
        if number is None:
            raise KeyError(key)
        row = own[key] = self._body.row(number)
        return row

    def __setitem__(self, key: Any, row: dict[str, Any]) -> None:
        if key not in self._own and self._is_added(key):
            self._added += 1
        self._own[key] = row

    def __delitem__(self, key: Any) -> None:
        if key in self._own:
            if self._is_added(key):
                self._added -= 1
            del self._own[key]
            if key in self._index:
                self._gone.add(key)
        elif key in self._index and key not in self._gone:
            self._gone.add(key)
        else:
            raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        gone = self._gone
        if gone:
            yield from (key for key in self._index if key not in gone)
        else:
            yield from self._index
        if self._added:
            yield from (key for key in self._own if self._is_added(key))

    def __len__(self) -> int:
        return len(self._index) - len(self._gone) + self._added

    def __contains__(self, key: object) -> bool:
        return key in self._own or (key in self._index and key not in self._gone)

    def places(self) -> PackedKeys | None:
        """The shared index itself where it numbers the keys as they iterate (key -> its place
        among them: the nodes'), for a reader that numbers them without a dict of its own
        (History.from_state: a window's ~65 bytes a node, 15 MB at 4M events); keys added through
        this copy come after it, numbered on from len(places). None where this copy deleted one of
        its keys, or for the edges (whose index is not such a numbering)."""
        if self._gone or not isinstance(self._index, PackedKeys):
            return None
        return self._index

    def place_pairs(self) -> tuple[Iterable[tuple[int, int]], dict[int, Any]] | None:
        """For the edges: each of the index's keys as its (parent, child) places among the node ids
        (the nodes' places()), in the order __iter__ yields them, with the names of the places past
        the node ids (ends that are not nodes); keys set through this copy: added_keys. For a reader
        that numbers nodes by places(): iterated as keys, each edge made two id strings and two
        lookups (~0.5 s for a late 4M-event snapshot). None where this copy deleted one of its keys,
        or for the nodes."""
        index = self._index
        if self._gone or not isinstance(index, _EdgeKeys):
            return None
        return index.place_pairs()

    def added_keys(self) -> list[Any]:
        """The keys set through this copy that are not the index's, in order (__iter__ yields them last)."""
        return [key for key in self._own if self._is_added(key)] if self._added else []

    def copy(self) -> LazyRows:
        other = LazyRows.__new__(LazyRows)
        other._body, other._index = self._body, self._index
        other._own, other._gone, other._added = dict(self._own), set(self._gone), self._added
        return other

    def materialised(self) -> dict[Any, dict[str, Any]]:
        """Every row parsed, as a plain dict (what a fold changes in place)."""
        return {key: self[key] for key in self}


def is_delta(blob: bytes) -> bool:
    return bytes(blob[:len(DELTA_MAGIC)]) == DELTA_MAGIC


def encode_delta(state: RunState, prev_position: int, nodes: Iterable[str], edges: Iterable[tuple[str, str]]
                 ) -> bytes:
    """A delta of `state` over the run's snapshot at `prev_position`: the run row, and the rows of
    `nodes` and `edges` (those the fold touched since then; the fold never removes a row)."""
    data = {"prev": prev_position, "position": state.position, "run": state.run,
            "nodes": [state.nodes[n] for n in nodes], "edges": [state.edges[k] for k in edges]}
    return DELTA_MAGIC + zlib.compress(_dumps(data), 1)


def _read_delta(blob: bytes) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(bytes(blob[len(DELTA_MAGIC):])))


class _Stored:
    """A row held by a LazyRows as its JSON text in a Spill until it is read (see __getitem__)."""

    __slots__ = ("spill", "at", "size")

    def __init__(self, spill: Spill, text: bytes) -> None:
        self.spill, self.at, self.size = spill, spill.put(text), len(text)

    def row(self) -> Any:
        return orjson.loads(self.spill.get(self.at, self.size, keep=False))  # (parsed, it is kept as a row)


class _Chain:
    """The deltas of a chain, read newest first, to be applied oldest first over their base.

    Only each key's newest row is kept, and where the rows go to a LazyRows as its JSON text in a
    Spill (_Stored), parsed when read: a window reads a few of them, and as parsed dicts the rows
    of a chain took up to ~23 MB late in a 1M-event run (11 deltas after its full snapshot, 7.8 MB
    as text), each delta's until the whole chain was read."""

    def __init__(self, text: bool) -> None:
        self._spill = Spill() if text else None
        self._rows: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})  # node, edge key -> its newest row
        self._keys: list[tuple[list[Any], list[Any]]] = []  # each delta's node and edge keys, newest first
        self._top: dict[str, Any] | None = None  # the newest delta

    def add(self, delta: dict[str, Any]) -> None:
        """The next delta (older than the ones added so far)."""
        if self._top is None:
            self._top = {"run": delta["run"], "position": delta["position"]}
        spill, dumps = self._spill, orjson.dumps
        keys: tuple[list[Any], list[Any]] = ([], [])
        for rows, into, listed, key in ((delta["nodes"], self._rows[0], keys[0], _node_key),
                                        (delta["edges"], self._rows[1], keys[1], _edge_key)):
            for row in rows:
                k = key(row)
                listed.append(k)
                if k not in into:
                    into[k] = row if spill is None else _Stored(spill, dumps(row))
        self._keys.append(keys)

    def apply(self, state: RunState) -> None:
        """Bring `state` (the oldest delta's previous snapshot) to the newest delta's position, as
        the deltas applied one by one would: a key keeps the place it was first set at. Rows are
        replaced, never changed in place, so a base shared with a cache stays as it was."""
        if self._top is None:
            return
        state.run = dict(self._top["run"])
        state.position = self._top["position"]
        nodes, edges = self._rows
        for node_keys, edge_keys in reversed(self._keys):
            for k in node_keys:
                state.nodes[k] = nodes[k]
            for k in edge_keys:
                state.edges[k] = edges[k]


def _edge_key(row: dict[str, Any]) -> tuple[Any, Any]:
    return row["parent_node_id"], row["child_node_id"]


def load_snapshot(conn: Any, run_id: str, position: int | None = None, *, seq: int | None = None,
                  cache: dict[Any, RunState] | None = None) -> tuple[int, RunState] | None:
    """(seq, state) of the run's newest readable snapshot at or before `position` (or the run's
    event `seq`), None if none.

    conn: any connection of the store (`?` placeholders). cache: a dict the caller keeps between
    calls; the last full snapshot decoded is kept in it, and states built over it share its rows,
    parsed as they are read (LazyRows), so the caller must not change rows in place (the
    inspector's windows copy what they fold). Without a cache every row is the caller's own dict.
    """
    if (position is None) == (seq is None):
        raise TypeError("load_snapshot takes a position or a seq")
    by_seq = seq is not None
    bound = seq if by_seq else position
    while True:
        row = conn.execute(_FIND["seq" if by_seq else "position"], (run_id, bound, FOLD_VERSION)).fetchone()
        if row is None:
            return None
        at, top_seq, blob = row
        row = None
        # The chain is followed by each delta's "prev" alone, and its deltas parsed only after the
        # base is decoded: parsed first, their rows' garbage was still held (not given back to the
        # system) while the base's 10 MB blob and header were read, late in a 1M-event run.
        deltas: list[bytes] = []  # compressed, newest first (~90 KB each late in a 1M-event run)
        while is_delta(blob):
            deltas.append(blob)
            prev = _delta_prev(blob)
            found = conn.execute(_AT, (run_id, prev, FOLD_VERSION)).fetchone()
            if found is None:
                break
            at, blob = prev, found[0]
            found = None
        else:
            parts = _parts_of(conn, run_id, at, blob)
            if parts is _MISSING:  # its rows stored apart are not all there: an older snapshot may be whole
                bound = at - 1 if not by_seq else _seq_at(conn, run_id, at) - 1
                continue
            state = _full(run_id, at, blob, cache, parts)
            blob = None
            chain = _Chain(text=cache is not None)
            for delta_blob in deltas:
                chain.add(_read_delta(delta_blob))
            chain.apply(state)
            return top_seq, state
        # a link is missing: below the delta that names it, an older snapshot may still be whole
        delta = _read_delta(deltas[-1])
        bound = (delta["run"]["last_seq"] if by_seq else delta["position"]) - 1


#: How a delta's JSON starts (encode_delta's first key): its previous snapshot's position.
_PREV = re.compile(rb'\{"prev":(-?[0-9]+)[,}]')


def _delta_prev(blob: bytes) -> int:
    """The position of the snapshot a delta applies to, from the first bytes of its JSON."""
    start = zlib.decompressobj().decompress(memoryview(blob)[len(DELTA_MAGIC):], 64)
    found = _PREV.match(start)
    return int(found.group(1)) if found else _read_delta(blob)["prev"]


#: (_parts_of: a snapshot stored in parts some of which are gone)
_MISSING: Any = object()


def _parts_of(conn: Any, run_id: str, position: int, blob: bytes) -> Iterator[bytes] | None:
    """The rows of a full snapshot stored apart (PARTS_MAGIC), read one part at a time as they are
    consumed; None for one stored whole; _MISSING when its parts do not add up (deleted by hand)."""
    if bytes(blob[:len(PARTS_MAGIC)]) != PARTS_MAGIC:
        return None
    at = len(PARTS_MAGIC) + 8
    size = int.from_bytes(blob[len(PARTS_MAGIC):at], "big") - len(FULL_MAGIC) - 4 - \
        int.from_bytes(blob[at:at + 4], "big")
    if conn.execute(_PARTS_BYTES, (run_id, position)).fetchone()[0] != size:
        return _MISSING

    def read() -> Iterator[bytes]:  # (run only if iterated: a base found in the cache is not read again)
        for row in conn.execute(_PARTS, (run_id, position)):
            yield row[0]
    return read()


def _seq_at(conn: Any, run_id: str, position: int) -> int:
    return conn.execute("SELECT seq FROM snapshots WHERE run_id = ? AND position = ?", (run_id, position)).fetchone()[0]


def _full(run_id: str, position: int, blob: bytes, cache: dict[Any, RunState] | None,
          parts: Iterator[bytes] | None = None) -> RunState:
    if cache is None:
        return decode_snapshot(blob, parts=parts)
    key = (run_id, position, FOLD_VERSION)
    base = cache.get(key)
    if base is None:
        base = decode_snapshot(blob, lazy=True, parts=parts)
        cache.clear()  # one base at a time: a late one of a big run is ~10 MB compressed, with the rows read
        cache[key] = base
    return RunState(run_id, dict(base.run), _copy(base.nodes), _copy(base.edges), position=base.position)


def _copy(rows: Any) -> Any:
    return rows.copy() if isinstance(rows, LazyRows) else dict(rows)


def write_snapshots(store: Any, *, every: int = DEFAULT_DENSE_EVERY, run_ids: Iterable[str] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Checkpoint every run (or `run_ids`) at least every `every` of its events, off the append
    path: each run is folded with the one fold from its last snapshot that is no further than
    `every` events from the one before it (from its first event the first time), and the missing
    checkpoints are written as deltas (full snapshots now and then, see CHAIN_BYTES_FRACTION), a
    few per transaction, so writers wait for the lock only briefly. Appends may go on meanwhile;
    what they add past the fold's end is left for the next call.

    A full snapshot it passes in the appends' form (one JSON document) is written again in
    encode_full's (counted in "reencoded"), so a window starting from it reads only the rows it shows.

    Returns {"runs", "events_folded", "written", "full", "deltas", "reencoded", "bytes"}.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a whole number of events, 1 or more, got {every!r}")
    store._refuse_if_readonly()
    from .rows import EventFilter

    with store._reading() as conn:
        ids = list(run_ids) if run_ids is not None else [r[0] for r in conn.execute(
            "SELECT run_id FROM runs ORDER BY run_id").fetchall()]
        plans = []
        for run_id in ids:
            row = conn.execute("SELECT last_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise ValueError(f"run {run_id!r} is not in the store")
            kept = [(p, s, _stored_bytes(n, bytes(head)), _kind(bytes(head[:4]))) for p, s, n, head in conn.execute(
                "SELECT position, seq, length(state), substr(state, 1, 12) FROM snapshots WHERE run_id = ? AND "
                "fold_version = ? ORDER BY position", (run_id, FOLD_VERSION)).fetchall()]
            plans.append((run_id, row[0] or 0, kept))
    total = sum(last - _start(kept, every)[1] for _, last, kept in plans)
    report = {"runs": len(plans), "events_folded": 0, "written": 0, "full": 0, "deltas": 0, "reencoded": 0,
              "bytes": 0}
    done = 0
    for run_id, last_seq, kept in plans:
        start_position, start_seq = _start(kept, every)
        if last_seq - start_seq < every:
            continue
        existing = {p: (n, kind) for p, _, n, kind in kept if p > start_position}
        if start_position:
            with store._reading() as conn:
                found = load_snapshot(conn, run_id, start_position)
            assert found is not None and found[1].position == start_position
            state = found[1]
        else:
            state = RunState(run_id)
        full_bytes = next((n for p, _, n, kind in reversed(kept) if p <= start_position and kind != "delta"), 0)
        writer = _DenseWriter(store, state, every, start_position, start_seq, full_bytes, report)
        for event in store.iter_events(EventFilter(run_id=run_id), after=state.position, batch=5_000):
            if event.seq is not None and event.seq > last_seq:
                break  # appended after the plan: the next call checkpoints it
            writer.fold(event, existing.get(event.position))
            done += 1
            if progress is not None and done % 5_000 == 0:
                progress(done, total)
        writer.flush()
        report["events_folded"] += writer.folded
    if progress is not None:
        progress(done, total)
    return report


def _kind(head: bytes) -> str:
    """What a snapshot blob starting with `head` is: "delta", "full" (encode_full's, whole or in
    parts), or "legacy" (encode_snapshot's one JSON document)."""
    return "delta" if head == DELTA_MAGIC else "full" if head in (FULL_MAGIC, PARTS_MAGIC) else "legacy"


def _stored_bytes(length: int, head: bytes) -> int:
    """A stored snapshot's size: its row's `length`, or the whole snapshot's for one stored in parts."""
    at = len(PARTS_MAGIC)
    return int.from_bytes(head[at:at + 8], "big") if head[:at] == PARTS_MAGIC else length


def _start(kept: list[tuple[int, int, int, str]], every: int) -> tuple[int, int]:
    """(position, seq) to fold a run from: its last snapshot that ends an unbroken stretch of
    snapshots at most `every` events apart from its first event ((0, 0): from nothing)."""
    position, seq = 0, 0
    for p, s, _, _ in kept:
        if s - seq > every:
            break
        position, seq = p, s
    return position, seq


class _DenseWriter:
    """The fold of one run while write_snapshots checkpoints it."""

    def __init__(self, store: Any, state: RunState, every: int, prev_position: int, prev_seq: int,
                 full_bytes: int, report: dict[str, int]) -> None:
        self.store, self.state, self.every, self.report = store, state, every, report
        self.prev_position, self.prev_seq = prev_position, prev_seq
        self.full_bytes = full_bytes         # the last full snapshot's size (0: none yet)
        self.chain_bytes = self.chain = 0    # the deltas written since it
        self.nodes: dict[str, None] = {}     # touched since the previous snapshot, in order
        self.edges: dict[tuple[str, str], None] = {}
        self.rows: list[tuple] = []
        self.folded = 0

    def fold(self, event: Any, stored: tuple[int, str] | None) -> None:
        """Fold one event; `stored`: (bytes, kind) of a snapshot stored at its position."""
        touched = apply_event(self.state, event)
        self.folded += 1
        self.nodes.update(dict.fromkeys(touched.nodes))
        self.edges.update(dict.fromkeys(touched.edges))
        seq = self.state.run["last_seq"]
        if stored is not None:  # a snapshot of this fold is stored here already: the chain goes on from it
            size, kind = stored
            if kind == "legacy":
                size = self._add(seq, encode_full(self.state))
                self.report["reencoded"] += 1
            self._moved_to(seq, full=None if kind == "delta" else size)
        elif seq - self.prev_seq >= self.every:
            self._write(seq)

    def _moved_to(self, seq: int, *, full: int | None) -> None:
        self.prev_position, self.prev_seq = self.state.position, seq
        self.nodes.clear()
        self.edges.clear()
        if full is not None:
            self.full_bytes, self.chain_bytes, self.chain = full, 0, 0

    def _write(self, seq: int) -> None:
        state = self.state
        blob = None
        if self.full_bytes and self.chain < MAX_CHAIN:
            blob = encode_delta(state, self.prev_position, self.nodes, self.edges)
            if self.chain_bytes + len(blob) > CHAIN_BYTES_FRACTION * self.full_bytes:
                blob = None
        if blob is None:
            blob = encode_full(state)
            self.report["full"] += 1
            self._moved_to(seq, full=len(blob))
        else:
            self.report["deltas"] += 1
            self.chain += 1
            self.chain_bytes += len(blob)
            self._moved_to(seq, full=None)
        self.report["written"] += 1
        self._add(seq, blob)

    def _add(self, seq: int, blob: bytes) -> int:
        self.report["bytes"] += len(blob)
        state = self.state
        self.rows.append((state.run_id, state.position, seq, FOLD_VERSION, blob, now_timestamp()))
        if len(self.rows) >= WRITE_BATCH:
            self.flush()
        return len(blob)

    def flush(self) -> None:
        if not self.rows:
            return
        with self.store._lock, self.store._transaction() as tx:
            for row in self.rows:
                self.store._write_snapshot(tx, row)
        self.rows = []
