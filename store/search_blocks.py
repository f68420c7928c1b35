"""Trigram bitmaps of each run's payloads, block by block, written by the store's writers.

The inspector's search pre-filter (tui/data/search_index.py, whose docstring proves that it has no
false negatives against `EventFilter(search=...)`) needs, per block of a run's events, a bitmap of
the hashed byte trigrams of their payload text. Built by the inspector itself it takes ~2.6 s for a
1M-event run on its first open, and a search meanwhile scans what is not indexed yet (0.4-1.7 s).
So the SQLite store's writers keep those bitmaps too, in `search_blocks`: block k of a run is its
events with seq in [k*BLOCK + 1, (k+1)*BLOCK]; its row is written by the append (or the bulk load)
that completes it, in the same transaction, from the payloads as stored. The cost is one indexed
read of at most BLOCK payloads and one hashing pass per BLOCK events of a run, not per event.

A block's payloads are hashed as their text joined with "\\n", a megabyte of it at a time (lowered
when ASCII, casefolded otherwise, per group): a match lies inside one payload, and a JSON text never
holds a raw line feed, so cutting the block into groups anywhere between payloads loses no match,
and memory stays bounded by the largest payload, not by the block.

Only complete blocks are written; the inspector indexes the rest of a run (the events after its
last stored block) itself. PostgreSQL stores write none: the inspector does not pre-filter there
(its casefold is ICU's, not Python's). numpy is imported only when a block is hashed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import orjson

if TYPE_CHECKING:
    import numpy as np

#: Events per block: ~32 KB of payload text at 250 bytes an event (see tui/data/search_index.py).
BLOCK = 128
#: Bits per block's bitmap (as a power of two): 2 KB a block, 16 MB for a 1M-event run.
BITS = 14
#: Bytes of one payload hashed at a time (numpy's temporaries are ~16x this).
HASH_WINDOW = 1 << 20

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS search_blocks (
    run_id          TEXT NOT NULL,
    block           INTEGER NOT NULL,      -- k: the run's events with seq in [k*BLOCK + 1, (k+1)*BLOCK]
    first_position  INTEGER NOT NULL,
    last_position   INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    bits            INTEGER NOT NULL,      -- the bitmap holds 2**bits bits
    bitmap          BLOB NOT NULL,         -- numpy.packbits(..., bitorder="little") of the trigram hashes
    UNIQUE (run_id, block)
)"""
#: (a block already there is the same block: it is kept. Spelled as an upsert, not INSERT OR IGNORE,
#: so a bulk load sends many rows as one statement, see store/sqlite.py insert_rows)
INSERT_SQL = ("INSERT INTO search_blocks (run_id, block, first_position, last_position, events, bits, "
              "bitmap) VALUES (?,?,?,?,?,?,?) ON CONFLICT (run_id, block) DO NOTHING")
_BLOCK_PAYLOADS_SQL = "SELECT seq, id, payload FROM events WHERE run_id = ? AND seq > ? AND seq <= ? ORDER BY seq"


def search_key(search: str) -> bytes:
    """The bytes a matching payload's indexed text must contain (see tui/data/search_index.py)."""
    term = orjson.dumps(search).decode()[1:-1]
    return (term.lower() if term.isascii() else term.casefold()).encode()


def indexed_text(text: str) -> bytes:
    """Text as indexed: lowered if ASCII, casefolded otherwise, UTF-8."""
    return (text.lower() if text.isascii() else text.casefold()).encode()


def trigram_hashes(raw: bytes, bits: int = BITS) -> "np.ndarray":
    """Hashes (< 2**bits) of every 3-byte window of raw, in order (empty under 3 bytes)."""
    import numpy as np

    n = len(raw)
    if n < 3:
        return np.empty(0, dtype=np.uint32)
    # Trigram i is bytes i..i+2 as a big-endian 24-bit number: the big-endian 32-bit word at every
    # byte offset (an overlapping view, one zero byte padded for the last) shifted right by 8. One
    # conversion and three in-place operations: half the time of assembling it byte by byte.
    words = np.ndarray(shape=(n - 2,), dtype=">u4", buffer=raw + b"\0", strides=(1,))
    h = words.astype(np.uint32)
    h >>= np.uint32(8)
    h *= np.uint32(2654435761)  # Knuth's multiplicative hash spreads the 24-bit trigrams over `bits`
    h >>= np.uint32(32 - bits)
    return h


def mark_trigrams(seen: "np.ndarray", raw: bytes, bits: int = BITS, window: int | None = None) -> None:
    """Set in `seen` (bool, 2**bits) the trigram hashes of raw, `window` bytes at a time (default
    HASH_WINDOW; windows overlap by two bytes, so every trigram is in one of them)."""
    import numpy as np

    window = window or HASH_WINDOW
    for start in range(0, max(1, len(raw) - 2), window):
        # indexes as intp: numpy's own conversion of uint32 ones makes the assignment 1.5x slower
        seen[trigram_hashes(raw[start:start + window + 2], bits).astype(np.intp)] = True


def block_bitmap(raw: bytes, bits: int = BITS, window: int | None = None) -> "np.ndarray":
    """The packed bitmap of raw's trigram hashes."""
    import numpy as np

    seen = np.zeros(1 << bits, dtype=bool)
    mark_trigrams(seen, raw, bits, window)
    return np.packbits(seen, bitorder="little")


def payloads_bitmap(payloads: Iterable[str], bits: int = BITS) -> bytes:
    """The packed bitmap of a block's payloads: their text joined with "\\n" a megabyte at a time
    (one hashing pass per group, not per payload: numpy's per-call cost is ~10 us), so memory stays
    bounded by the largest payload (see the module docstring for why groups may be cut anywhere)."""
    import numpy as np

    seen = np.zeros(1 << bits, dtype=bool)
    group: list[str] = []
    size = 0
    for payload in payloads:
        group.append(payload)
        size += len(payload)
        if size >= HASH_WINDOW:
            mark_trigrams(seen, indexed_text("\n".join(group)), bits)
            group, size = [], 0
    if group:
        mark_trigrams(seen, indexed_text("\n".join(group)), bits)
    return np.packbits(seen, bitorder="little").tobytes()


def has_table(conn: Any) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_blocks'"
                        ).fetchone() is not None


def completed_blocks(seq_before: int, seq_after: int) -> range:
    """The block numbers an append taking a run from `seq_before` to `seq_after` completes."""
    return range(seq_before // BLOCK, seq_after // BLOCK)


def block_rows(conn: Any, jobs: Sequence[tuple[str, int, dict[int, tuple[int, str]] | None]]) -> list[tuple]:
    """INSERT_SQL's parameters for blocks given as (run_id, block, known): each block's payloads
    from `known` (seq -> (position, payload)) where it has them, the others read through `conn`,
    the writing transaction's (a bulk load into an empty store has no event index until its end,
    so the events it holds itself are never read back). A block retention emptied is left out."""
    found: list[tuple[str, int, list[tuple[int, str]]]] = []
    for run_id, block, known in jobs:
        lo, hi = block * BLOCK, (block + 1) * BLOCK
        known = known or {}
        rows = [v for s, v in known.items() if lo < s <= hi]
        missing = [s for s in range(lo + 1, hi + 1) if s not in known]
        if missing:
            rows.extend((p, t) for seq, p, t in conn.execute(_BLOCK_PAYLOADS_SQL, (run_id, lo, missing[-1]))
                        if seq not in known)
        if rows:
            rows.sort()
            found.append((run_id, block, rows))
    return _rows(found)


def _rows(found: Sequence[tuple[str, int, list[tuple[int, str]]]]) -> list[tuple]:
    return [(run_id, block, rows[0][0], rows[-1][0], len(rows), BITS,
             payloads_bitmap(t for _, t in rows if isinstance(t, str))) for run_id, block, rows in found]


#: Runs whose unfinished block's payloads an appending store keeps in memory at most.
TAIL_RUNS = 64


class BlockTails:
    """Per run, the positions and payloads appended since its last complete block (at most BLOCK - 1),
    so the append that completes a block reads none of them back (~1 us an event, measured). A run's
    tail counts only while the run's last seq is the one it was kept at: after another writer's
    appends (or a rolled-back batch) it is dropped and the block's payloads are read from the database.
    Kept as two lists (seqs are consecutive), so an append adds its events with two list slices."""

    def __init__(self) -> None:
        #: run_id -> (last seq, positions, payloads) of the run's events after its last complete block
        self._runs: dict[str, tuple[int, list[int], list[str]]] = {}

    def clear(self) -> None:
        self._runs.clear()

    def rows_for_batch(self, conn: Any, batch: dict[str, tuple[int, list[int], list[str]]]) -> list[tuple]:
        """INSERT_SQL rows for the blocks a batch completes, per run in the batch's order and by block.
        batch: per run, (its last seq before the batch, the positions and payloads of the batch's events
        of it, in seq order)."""
        runs = self._runs
        out: list[tuple] = []
        for run_id, (before, positions, payloads) in batch.items():
            after = before + len(payloads)
            kept = runs.pop(run_id, None)
            if kept is not None and kept[0] == before:
                positions = kept[1] + positions
                payloads = kept[2] + payloads
            first = after - len(payloads) + 1  # the seq of positions[0]
            for block in completed_blocks(before, after):
                lo = block * BLOCK  # the block holds seqs lo + 1 .. lo + BLOCK
                if lo + 1 >= first:
                    i = lo + 1 - first
                    out.append((run_id, block, positions[i], positions[i + BLOCK - 1], BLOCK, BITS,
                                payloads_bitmap(payloads[i:i + BLOCK])))
                else:  # its first events are not held: read from the database
                    n = lo + BLOCK + 1 - first
                    known = {first + j: (positions[j], payloads[j]) for j in range(n)}
                    out.extend(block_rows(conn, [(run_id, block, known)]))
            done = after // BLOCK * BLOCK
            if done >= first:
                positions, payloads = positions[done + 1 - first:], payloads[done + 1 - first:]
            runs[run_id] = (after, positions, payloads)
        while len(runs) > TAIL_RUNS:
            del runs[next(iter(runs))]
        return out


def rebuild(conn: Any) -> int:
    """Recompute every run's blocks from its stored events (inside the caller's transaction): for a
    store whose runs were written before schema 4, or to check the ones kept. Returns the count."""
    conn.execute("DELETE FROM search_blocks")
    written = 0
    for (run_id, last_seq) in conn.execute("SELECT run_id, last_seq FROM runs ORDER BY run_id").fetchall():
        full = last_seq // BLOCK  # blocks 0 .. full-1 are complete
        if not full:
            continue
        cur = conn.execute("SELECT seq, id, payload FROM events WHERE run_id = ? AND seq <= ? ORDER BY seq",
                           (run_id, full * BLOCK))
        block = -1
        rows: list[tuple[int, str]] = []
        found: list[tuple[str, int, list[tuple[int, str]]]] = []
        while batch := cur.fetchmany(4096):
            for seq, position, payload in batch:
                k = (seq - 1) // BLOCK
                if k != block and rows:
                    found.append((run_id, block, rows))
                    rows = []
                block = k
                rows.append((position, payload))
            if len(found) >= 64:
                conn.executemany(INSERT_SQL, _rows(found))
                written += len(found)
                found = []
        if rows:
            found.append((run_id, block, rows))
        conn.executemany(INSERT_SQL, _rows(found))
        written += len(found)
    return written
