"""A pre-filter for the inspector's payload search: which stretches of a run can hold a term.

`EventFilter(search=...)` matches with `LIKE '%term%'` over every payload of the run. LIKE itself is
cheap (a rowid-ordered scan of 1M payloads costs ~0.25 s); what a search must not do is read
payloads that cannot match. This index cuts the run (in seq order, which is position order) into
blocks of `BLOCK` events (fewer when their text reaches `BLOCK_CHARS`) and keeps, per block, its
first and last position and a bitmap of the hashed byte trigrams of the block's payload text. A
term's trigrams all set in a block's bitmap makes the block a candidate; the search then verifies
candidates with SQL on their position ranges, so a false positive costs one block's scan and the
answer is exactly the SQL's.

No false negatives: what is indexed is, per block, the payloads' stored JSON text joined with
"\\n", lowered (`str.lower`, ASCII blocks) or casefolded (`str.casefold`, any other block; on
ASCII the two agree), then UTF-8 encoded. A term is looked up as `search_key` makes it: JSON-escaped
with orjson exactly as `EventFilter.where()` does, lowered if the escaped term is ASCII and
casefolded if not, then encoded.
- ASCII term: SQL runs `payload LIKE '%term%'`, which folds ASCII letters only, so a match is a
  stretch of the stored text made of ASCII characters that equals the term up to ASCII case. Its
  lowered form is `key`. Casefolding works character by character and maps each ASCII character
  to its lowercase, so that stretch still appears, as `key`, in the casefolded (or lowered) block
  text; every trigram of `key`'s bytes is therefore in the block's bitmap.
- Non-ASCII term: SQL runs `agenttui_casefold(payload) LIKE '%casefold(term)%'` where
  agenttui_casefold is Python's `str.casefold`. Neither side holds an uppercase ASCII letter, so
  LIKE's ASCII folding changes nothing and the match is an exact substring of casefold(payload),
  which is an exact substring of casefold(block text) (casefold has no context across
  characters, unlike `lower`'s final sigma, which is why lowering is kept for ASCII blocks only).
- A substring of characters is a substring of their UTF-8 bytes, so byte trigrams suffice; the
  "\\n" between payloads never occurs in a key (JSON escapes control characters), so trigrams
  across two payloads only add false positives, never matches (the SQL check is per row).
- Keys shorter than 3 bytes (one or two ASCII characters, or a single "é") have no trigram:
  every block is a candidate.
PostgreSQL's casefold is ICU's lower(), not Python's: the app builds this index only where
`InspectorReader.supports_search_index` (SQLite) and PostgreSQL searches scan position ranges without it.

Built by one worker on its own read-only connection, reading the run in rowid order a few
thousand rows per query (cancellable between them), and extended later with what the writer
appended. Only complete blocks are indexed; the run's events past the last one are simply
scanned by the search. Blocks are written into bit-major chunks of CHUNK_BLOCKS; a reader takes a
snapshot of (count, chunks) under the lock and works on views of blocks that never change again.
`SearchIndex.cached` keeps full chunks in the user's cache directory (search_cache.py): the next
open of the same file maps them instead of rebuilding them, and a running inspector holds only
the chunk being filled in memory (at most CHUNK_BLOCKS * 2 KB), whatever the run's length. The
store's own blocks go the same way, copied into the cache a chunk at a time on the first open:
holding them would cost 16 bytes an event for the session (64 MB at 4M events).
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from agenttui.store import search_blocks

if TYPE_CHECKING:
    from .reader import InspectorReader
    from .search_cache import IndexCache

#: Events per block and bits per block's bitmap: the same as the blocks the store's writers keep
#: (store/search_blocks.py), so a run's stored blocks and the ones built here mix in one index.
BLOCK = search_blocks.BLOCK
BITS = search_blocks.BITS
#: Blocks per chunk: the unit kept in the user's cache (64k events, 1 MB of bitmaps a file). A lookup
#: touches a term's few rows of each chunk, a few pages each.
CHUNK_BLOCKS = 512
#: Rows read per query while building (between two looks at whether the build was cancelled)...
READ_ROWS = 8192
#: ... fewer when the payloads are big: a query stops after the row that reaches this many characters.
READ_CHARS = 8 << 20
#: A block also ends once its text reaches this many characters (big payloads: a block of 128
#: 10 MB artifacts would be 1.3 GB of text to hash at once; a block holds at least one event).
BLOCK_CHARS = 1 << 20

search_key = search_blocks.search_key
trigram_hashes = search_blocks.trigram_hashes
block_bitmap = search_blocks.block_bitmap


def indexed_text(payloads: list[str]) -> bytes:
    """A block's payload text as indexed: joined, lowered or casefolded, UTF-8."""
    return search_blocks.indexed_text("\n".join(p if isinstance(p, str) else str(p) for p in payloads))


class SearchIndex:
    """Trigram bitmaps of one run's payloads, block by block (see the module docstring)."""

    def __init__(self, run_id: str, *, block: int | None = None, bits: int = BITS, chunk: int | None = None,
                 cache: IndexCache | None = None) -> None:
        self.run_id = run_id
        self.block = block = block or BLOCK
        self.chunk = chunk = chunk or CHUNK_BLOCKS
        self.bits = bits
        self._row_bytes = (1 << bits) // 8
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()  # one builder at a time
        self._count = 0
        self._events = 0
        #: bit-major chunks (one row per byte of the bitmaps, one column per block): a lookup reads a
        #: term's few rows contiguously instead of one byte per block's bitmap (4 ms -> 0.2 ms at 1M).
        #: Full chunks never change again; with a cache they are files mapped read-only (pages the
        #: kernel can drop), so a run's index costs a lookup's few pages of memory, not 16 bytes an event.
        self._chunks: list[np.ndarray] = []
        self._tail = np.zeros((self._row_bytes, chunk), dtype=np.uint8)
        self._first = np.zeros(0, dtype=np.int64)
        self._last = np.zeros(0, dtype=np.int64)
        #: where full chunks are kept between sessions (None: in memory only)
        self.cache = cache
        #: seconds spent in `extend` (the build's cost, for the benchmark and the status line)
        self.build_seconds = 0.0

    @classmethod
    def cached(cls, target: str, reader: InspectorReader, run_id: str, *, block: int | None = None,
               bits: int = BITS, chunk: int | None = None) -> "SearchIndex":
        """The run's index as far as the user's cache and the store's search blocks hold it (see
        search_cache.py), new full chunks written to the cache; in memory only when there is no usable cache.

        The store's blocks are copied into the cache a chunk at a time (1 MB of bitmaps read, turned
        bit-major, written, then mapped read-only) instead of being held: reading a 1M-event run's
        16 MB at once took ~55 MB of temporaries and kept 16 MB (64 MB at 4M) for the session. A
        later open maps the cached chunks and reads only the store's blocks past them."""
        from .search_cache import IndexCache

        block, chunk = block or BLOCK, chunk or CHUNK_BLOCKS
        cache = IndexCache.for_target(target, run_id, block=block, bits=bits, chunk=chunk)
        cached = cache.load(reader) if cache is not None else None
        index = cls(run_id, block=block, bits=bits, chunk=chunk, cache=cache)
        start = index._stored_start(reader) if block == search_blocks.BLOCK else None  # (other sizes do not mix)
        n = len(cached[1]) if cached else 0
        if start is not None and n:
            at = reader.search_blocks(run_id, (start + n - 1, start + n), bitmaps=False)
            if not at or at[0][2] != cached[2][-1]:  # type: ignore[index]
                # the cache's blocks end elsewhere than the store's (the inspector built them, with a
                # short block, say): the one covering more is used
                stored = cls._stored_bounds(reader, run_id, start, bits)
                if stored <= int(cached[2][-1]):  # type: ignore[index]
                    start = None
                else:
                    if cache is not None:
                        cache.clear()
                    cached, n = None, 0
        index._adopt(cached)
        if start is not None:
            index._copy_stored(reader, start, n)
        return index

    def _stored_start(self, reader: InspectorReader) -> int | None:
        """The number of the store's first search block for the run (store/search_blocks.py), if the
        run's blocks can be used: of these bits, and holding the run's first event (a run written
        before schema 4 has none for its first events)."""
        head = reader.search_blocks(self.run_id, bitmaps=False, limit=1)
        if not head or head[0][4] != self.bits or head[0][1] > reader.first_position(self.run_id):
            return None
        return int(head[0][0])

    @staticmethod
    def _stored_bounds(reader: InspectorReader, run_id: str, start: int, bits: int) -> int:
        """The last position covered by the store's consecutive blocks from `start` (bounds only)."""
        rows = reader.search_blocks(run_id, bitmaps=False)
        keep = 1
        while keep < len(rows) and rows[keep][0] == rows[keep - 1][0] + 1 and rows[keep][4] == bits:
            keep += 1
        return int(rows[keep - 1][2]) if rows and rows[0][0] == start else 0

    def _copy_stored(self, reader: InspectorReader, start: int, skip: int) -> None:
        """Append the store's blocks from number start + skip (the cache held the first `skip`), as
        long as they are consecutive (a gap would hide the matches in it: the build indexes the run
        from there), reading at most a chunk's bitmaps at a time: each chunk filled goes to the cache
        and is mapped from there."""
        if self.cache is not None:
            self.cache.bind(reader)
        k = start + skip
        while True:
            room = self.chunk - self._count % self.chunk
            rows = reader.search_blocks(self.run_id, (k, k + room))
            n = 0
            while n < len(rows) and rows[n][0] == k + n and rows[n][4] == self.bits:
                n += 1
            if not n:
                return
            flat = np.frombuffer(b"".join(r[5] for r in rows[:n]), dtype=np.uint8).reshape(n, self._row_bytes)
            first = np.array([r[1] for r in rows[:n]], dtype=np.int64)
            last = np.array([r[2] for r in rows[:n]], dtype=np.int64)
            events = sum(r[3] for r in rows[:n])
            del rows  # (the rows' bytes, before the next chunk's are read)
            self._append(flat.T, first, last, events)
            del flat
            if n < room:
                return
            k += n

    def _adopt(self, stored: tuple[list[np.ndarray], np.ndarray, np.ndarray, int] | None) -> None:
        """Start from the chunks a cache held (mapped), their blocks' first/last positions and event
        count; an unfinished last chunk becomes the tail that new blocks fill."""
        if not stored:
            return
        chunks, first, last, events = stored
        chunks = list(chunks)
        with self._lock:
            if len(first) % self.chunk:
                self._tail = np.array(chunks.pop())
            self._chunks = chunks
            self._first, self._last = first.copy(), last.copy()
            self._count = len(first)
            self._events = events

    # ------------------------------------------------------------------ what is indexed
    def __len__(self) -> int:
        return self._count

    @property
    def events(self) -> int:
        """Events of the run indexed (whole blocks)."""
        return self._events

    @property
    def covered_position(self) -> int:
        """The last indexed position (0: nothing yet): the run's later events are not indexed."""
        with self._lock:
            return int(self._last[self._count - 1]) if self._count else 0

    @property
    def building(self) -> bool:
        return self._build_lock.locked()

    @property
    def nbytes(self) -> int:
        """Bytes held in memory (mapped chunks of a cache are not counted: the kernel pages them)."""
        held = sum(c.nbytes for c in self._chunks if not isinstance(c, np.memmap))
        return held + self._tail.nbytes + self._first.nbytes + self._last.nbytes

    def bitmaps(self) -> np.ndarray:
        """Every block's bitmap, bit-major, as one array (a copy: for tests and tools)."""
        with self._lock:
            n, chunks, tail = self._count, list(self._chunks), self._tail
        return np.concatenate([*chunks, tail], axis=1)[:, :n]

    # ------------------------------------------------------------------ building
    def extend(self, reader: InspectorReader, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Index the run's complete blocks past the last one indexed, reading through `reader` (one
        of its own: a connection serves one thread). False if cancelled on the way; the blocks
        finished until then stay (the next call goes on from there)."""
        with self._build_lock:
            started = time.perf_counter()
            if self.cache is not None:
                self.cache.bind(reader)
            try:
                return self._extend(reader, cancelled)
            finally:
                self.build_seconds += time.perf_counter() - started

    def _extend(self, reader: InspectorReader, cancelled: Callable[[], bool]) -> bool:
        after = self.covered_position
        if after == 0:  # start at the run's first event (other runs may come before it)
            first = reader.first_position(self.run_id)
            if first == 0:
                return True
            after = first - 1
        pending: list[tuple[int, str]] = []
        while True:
            if cancelled():
                return False
            # READ_ROWS rows, or fewer once they hold READ_CHARS of text (rows come one at a time
            # from the statement, so a run of 10 MB artifacts is never read 8,192 at once)
            cur = reader.payloads_after(self.run_id, after, READ_ROWS)
            rows: list[tuple[int, str]] = []
            chars = 0
            for row in cur:
                rows.append(row)
                chars += len(row[1]) if isinstance(row[1], str) else 0
                if chars >= READ_CHARS:
                    break
            cur.close()
            if not rows:
                return True
            after = rows[-1][0]
            more = len(rows) == READ_ROWS or chars >= READ_CHARS
            pending.extend(rows)
            done = 0
            while True:
                end = self._block_end(pending, done)
                if end is None:
                    break
                self._add_block(pending[done:end])
                done = end
            del pending[:done]
            if not more:
                return True

    def _block_end(self, rows: list[tuple[int, str]], start: int) -> int | None:
        """Where the block starting at rows[start] ends: after `block` events or BLOCK_CHARS of
        text; None while neither is reached (the rest waits for more rows)."""
        chars = 0
        for k in range(start, min(len(rows), start + self.block)):
            payload = rows[k][1]
            chars += len(payload) if isinstance(payload, str) else 0
            if chars >= BLOCK_CHARS:
                return k + 1
        return start + self.block if len(rows) - start >= self.block else None

    def _add_block(self, rows: list[tuple[int, str]]) -> None:
        bitmap = block_bitmap(indexed_text([r[1] for r in rows]), self.bits)
        self._append(bitmap[:, None], np.array([rows[0][0]]), np.array([rows[-1][0]]), len(rows))

    def _append(self, bitmaps: np.ndarray, first: np.ndarray, last: np.ndarray, events: int) -> None:
        """Add blocks (bit-major columns, no more than the tail has room for) and their positions; a
        tail filled becomes a chunk, kept in the cache (and mapped from there) when there is one."""
        n, k = self._count, bitmaps.shape[1]
        tail = self._tail
        at = n % self.chunk
        assert at + k <= self.chunk
        # blocks below _count are never written again: readers use views of them unlocked
        tail[:, at:at + k] = bitmaps
        full = at + k == self.chunk
        stored = None
        if full and self.cache is not None:
            stored = self.cache.save_chunk(len(self._chunks), tail, np.concatenate((self._first[:n], first)),
                                           np.concatenate((self._last[:n], last)), self._events + events)
        with self._lock:
            if n + k > len(self._first):
                self._grow(max(16, 2 * n, n + k))
            self._first[n:n + k] = first
            self._last[n:n + k] = last
            self._count = n + k
            self._events += events
            if full:  # the chunk is done: mapped from the cache if it could be written there
                self._chunks.append(stored if stored is not None else tail)
                self._tail = np.zeros_like(tail)

    def _grow(self, capacity: int) -> None:
        n = self._count
        first = np.zeros(capacity, dtype=np.int64)
        first[:n] = self._first[:n]
        last = np.zeros(capacity, dtype=np.int64)
        last[:n] = self._last[:n]
        self._first, self._last = first, last

    # ------------------------------------------------------------------ searching
    def candidate_ranges(self, search: str, lo: int, hi: int) -> list[tuple[int, int]]:
        """Ascending, disjoint position ranges within [lo, hi] that hold every event of the run
        there whose payload can match `search`: candidate blocks (adjacent ones merged) and
        everything past the last indexed block."""
        if hi < lo:
            return []
        with self._lock:
            n = self._count
            chunks, tail, first, last = list(self._chunks), self._tail, self._first[:n], self._last[:n]
        k0 = int(np.searchsorted(last, lo, side="left"))  # first block ending at or after lo
        k1 = int(np.searchsorted(first, hi, side="right"))  # blocks starting at or before hi
        key = search_key(search)
        hashes = np.unique(trigram_hashes(key, self.bits)) if len(key) >= 3 else ()
        found = []
        size = self.chunk
        for c in range(k0 // size, -(-k1 // size)):
            bitmaps = chunks[c] if c < len(chunks) else tail
            a, b = max(k0, c * size), min(k1, (c + 1) * size)
            ok = np.ones(b - a, dtype=bool)
            for h in hashes:
                ok &= (bitmaps[h >> 3, a - c * size:b - c * size] & np.uint8(1 << (h & 7))) != 0
                if not ok.any():
                    break
            found.append(np.flatnonzero(ok) + a)
        candidates = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
        out: list[tuple[int, int]] = []
        if len(candidates):
            # runs of adjacent blocks become one range: the run has no event between two of them
            breaks = np.flatnonzero(np.diff(candidates) != 1)
            starts = first[candidates[np.concatenate(([0], breaks + 1))]]
            ends = last[candidates[np.concatenate((breaks, [len(candidates) - 1]))]]
            out = list(zip(np.maximum(starts, lo).tolist(), np.minimum(ends, hi).tolist()))
        covered = int(last[n - 1]) if n else 0
        if hi > covered:
            if out and candidates[-1] == n - 1:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((max(lo, covered + 1), hi))
        return out
