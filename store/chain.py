"""Tamper evidence: each event's hash chains it to the previous event of its run.

hash(event) = SHA-256(hash(previous event of the run) + JSON of the stored row), where the row is
[position, event_id, run_id, seq, event_type, timestamp, payload text, node_id, metadata text,
created_at] exactly as stored, and the first event of a run (seq 1) chains to 32 zero bytes.
The append computes it in its own transaction, on both backends, so a changed field, a removed
event or a row inserted behind the store's back breaks the chain at that event: `verify` names
the first event of each run whose recomputed hash differs from the stored one.

Retention deletes events legitimately; for every deleted event whose successor stays, it records
the deleted event's hash in retention_log.cut_at, so the chain resumes there.

What a chain cannot show: someone who rewrites a run's events AND recomputes every later hash,
or who removes the newest events of a run (nothing comes after them to break). Keep the head
hashes `verify` prints somewhere else to detect those; the runs table's last_seq also catches a
truncated run until the projections are rebuilt.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import orjson

#: What the first event of a run chains to.
GENESIS = bytes(32)
#: The stored columns a hash covers, in order (plus the previous hash).
HASHED_COLUMNS = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata, created_at"

_sha256 = hashlib.sha256
_dumps = orjson.dumps


def event_hash(prev: bytes, position: int, event_id: str, run_id: str, seq: int, event_type: str,
               timestamp: str, payload: str, node_id: str | None, metadata: str | None, created_at: str) -> bytes:
    """The chained hash of one stored row (see the module docstring)."""
    return _sha256(prev + _dumps((position, event_id, run_id, seq, event_type, timestamp, payload, node_id,
                                  metadata, created_at))).digest()


def chained_hash(prev: bytes, hashed: tuple) -> bytes:
    """event_hash of the row's first ten columns already in a tuple (the append's form: the same
    tuple, with the hash added, is the row it inserts)."""
    return _sha256(prev + _dumps(hashed)).digest()


def row_hash(prev: bytes, row: Sequence[Any]) -> bytes:
    """event_hash of a row selected as HASHED_COLUMNS (payload/metadata as their stored text)."""
    return event_hash(prev, *row[:10])


@dataclass(frozen=True)
class ChainBreak:
    """The first event of a run whose stored hash is not what its content and its chain give."""

    run_id: str
    position: int | None
    seq: int | None
    event_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"run {self.run_id!r}"
        if self.event_id is not None:
            where += f", event {self.event_id} (seq {self.seq}, position {self.position})"
        return f"{where}: {self.reason}"


def cut_points(retention_cuts: Iterable[Mapping[str, Any] | None]) -> dict[tuple[str, int], bytes]:
    """(run_id, seq) -> hash of each event retention deleted while keeping its successor, from the
    retention_log.cut_at of every pass."""
    cuts: dict[tuple[str, int], bytes] = {}
    for cut_at in retention_cuts:
        for run_id, points in (cut_at or {}).items():
            for seq, hex_hash in points:
                cuts[(run_id, int(seq))] = bytes.fromhex(hex_hash)
    return cuts


def verify_rows(rows: Iterator[Sequence[Any]], cuts: Mapping[tuple[str, int], bytes],
                last_seqs: Mapping[str, int]) -> tuple[list[ChainBreak], dict[str, Any]]:
    """Recompute the chains of rows ordered by (run_id, seq): HASHED_COLUMNS then the stored hash.

    last_seqs: the runs table's last_seq per run, to notice a run whose newest events are gone.
    Returns the first break of each broken run and a summary (events and runs checked, and the
    head hash of every run, to keep elsewhere).
    """
    breaks: list[ChainBreak] = []
    heads: dict[str, str] = {}
    events = runs = 0
    run_id: str | None = None
    prev, prev_seq, broken = GENESIS, 0, False

    def finish(run: str | None, last_seq: int) -> None:
        if run is None or broken:
            return
        heads[run] = prev.hex()
        expected = last_seqs.get(run)
        if expected is not None and expected > last_seq:
            breaks.append(ChainBreak(run, None, None, None,
                                     f"the runs table says its newest event is seq {expected} but the events stop "
                                     f"at seq {last_seq}: events at its end were removed behind the store's back"))

    for row in rows:
        events += 1
        position, event_id, rid, seq = row[0], row[1], row[2], row[3]
        stored = row[10]
        if rid != run_id:
            finish(run_id, prev_seq)
            run_id, prev, prev_seq, broken = rid, GENESIS, 0, False
            runs += 1
        if broken:
            continue
        if seq == 1:
            expected_prev = GENESIS
        elif seq == prev_seq + 1:
            expected_prev = prev
        elif (rid, seq - 1) in cuts:
            expected_prev = cuts[(rid, seq - 1)]
        else:
            missing = f"seq {seq - 1}" if seq - 1 == prev_seq + 1 else f"seqs {prev_seq + 1}..{seq - 1}"
            breaks.append(ChainBreak(rid, position, seq, event_id,
                                     f"the events before it ({missing}) are missing and no retention pass "
                                     "removed them"))
            broken = True
            continue
        actual = row_hash(expected_prev, row)
        if stored is None or bytes(stored) != actual:
            reason = ("has no hash: it was inserted behind the store's back" if stored is None else
                      "its content does not match its hash: it was changed, or inserted behind the store's back")
            breaks.append(ChainBreak(rid, position, seq, event_id, reason))
            broken = True
            continue
        prev, prev_seq = actual, seq
    finish(run_id, prev_seq)
    return breaks, {"events": events, "runs": runs, "heads": heads}
