"""JSONL import and export: one envelope per line, streamed so files of any size fit in memory.

Import reads bytes, not text, so a line with invalid UTF-8 is reported as such instead of being
silently replaced, and an over-long line is skipped without ever holding it whole in memory. Good
lines are appended in large batches (one transaction each), which is what makes a million-line
import fast while keeping the projections current. Every bad line is counted and named by its
1-based line number; every good line around it is kept.
"""
from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Protocol

import orjson

from .envelope import MAX_STORE_DEPTH, Event, dumps_payload, parse_json_line
from .errors import EnvelopeError

#: Events per store.append call (one transaction each) during an import. Fewer, larger commits
#: matter with random (uuid4) event ids: every commit rewrites most leaf pages of the event_id index.
IMPORT_BATCH = 20_000
#: Events per batch of an all-or-nothing import: the loading thread folds one batch while the
#: writer thread stores the one before, and smaller batches overlap better (measured: 20k -> 5k,
#: 28k -> 40k events/s on 150k events); they are not commits, so their size costs no WAL pages.
#: 5k -> 1k: the batches in flight (~3) then fit the CPU caches: the parsing thread, which
#: allocates each batch's objects while the writer still holds the older ones, spent ~3 us more
#: an event at 5k (1M events: 27.4 -> 20.6 s wall, 20.7 -> 17.2 s CPU on the loading thread).
BULK_BATCH = 1_000
#: ... unless their lines add up to this many bytes first, so big payloads cannot exhaust memory.
IMPORT_BATCH_BYTES = 64 * 1024 * 1024
#: Bad lines whose message an ImportReport keeps; the rest are only counted.
MAX_KEPT_ERRORS = 1000
#: Slack on top of the payload limit for the rest of the envelope (ids, timestamp, metadata).
ENVELOPE_SLACK = 65536

Progress = Callable[[int, "int | None"], None]


class BytesWriter(Protocol):
    """Where an export writes: a binary file, or any object with its write (the CLI's escaping stdout)."""

    def write(self, data: bytes, /) -> object: ...


@dataclass
class ImportReport:
    """What an import did. read = stored + duplicates + failed (blank lines are not counted)."""

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    max_errors: int = MAX_KEPT_ERRORS
    first_position: int | None = None
    last_position: int | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def errors_dropped(self) -> int:
        """Bad lines counted in `failed` whose messages were not kept."""
        return self.failed - len(self.errors)

    def fail(self, line_no: int, message: str) -> None:
        self.failed += 1
        if len(self.errors) < self.max_errors:
            self.errors.append((line_no, message))

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "stored": self.stored, "duplicates": self.duplicates, "failed": self.failed,
                "errors": [{"line": n, "error": m} for n, m in self.errors],
                "errors_dropped": self.errors_dropped}


def _total_size(fh: IO[bytes]) -> int | None:
    try:
        st = os.fstat(fh.fileno())
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


#: Bytes read at a time. One read per megabyte, not one readline per line: on a pipelined load every
#: call that releases the GIL (a buffer refill) hands it to the writer thread for its next binding,
#: and the line loop waited on that (a fifth of a 1M-event import's wall time, measured).
READ_CHUNK = 1 << 20


def _lines(fh: IO[bytes], limit: int) -> Iterator[tuple[bytes | None, int]]:
    """(line, bytes consumed) per physical line, without its line feed; line is None when it is
    longer than `limit` bytes (the rest of it is read and dropped, so memory stays bounded).

    read1 returns what one read gives, so a slow pipe (a producer streaming into `import -`) is
    consumed as it arrives instead of waiting for a full chunk.
    """
    read = getattr(fh, "read1", None) or fh.read
    parts: list[bytes] = []  # the unfinished line so far
    held = 0  # its length
    dropping = False  # the unfinished line is already over the limit: count it, keep nothing
    while True:
        chunk = read(READ_CHUNK)
        if not chunk:
            break
        start = 0
        end = chunk.find(b"\n")
        if end >= 0 and (held or dropping):  # the unfinished line ends in this chunk
            size = held + end
            if dropping or size > limit:
                yield None, size + 1
            else:
                parts.append(chunk[:end])
                yield b"".join(parts), size + 1
            parts, held, dropping = [], 0, False
            start = end + 1
        if end >= 0:
            last = chunk.rfind(b"\n")
            if start <= last:
                for line in chunk[start:last].split(b"\n"):
                    if len(line) > limit:
                        yield None, len(line) + 1
                    else:
                        yield line, len(line) + 1
            start = last + 1
        rest = len(chunk) - start
        if rest:  # an unfinished line: held until its line feed comes
            held += rest
            if dropping or held > limit:
                parts, dropping = [], True
            else:
                parts.append(chunk[start:] if start else chunk)
    if held:
        yield (None if dropping else b"".join(parts)), held


def import_jsonl(
    store: Any,
    source: str | os.PathLike[str] | IO[bytes],
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
    max_errors: int = MAX_KEPT_ERRORS,
    atomic: bool = True,
) -> ImportReport:
    """Append every valid line of a JSONL file (path or binary stream) to `store`.

    Bad lines (malformed JSON, invalid UTF-8, NaN, missing fields, over the store's payload limit,
    nesting over 1024 levels) are reported by line number; they never stop the import.
    progress(bytes_done, total_bytes_or_None) is called after each batch.

    atomic=True (the default): the file's good lines are stored in one transaction, so an import
    that fails (or is killed) part-way stores nothing of the file, and readers see all of it at
    once when it commits. atomic=False commits every batch as it goes (a file too big for one
    transaction, or a stream to be followed as it is read); a failure then keeps the batches
    committed before it. batch_size: events per append (default BULK_BATCH when atomic, else
    IMPORT_BATCH events per commit).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return import_jsonl(store, fh, batch_size=batch_size, progress=progress, max_errors=max_errors,
                                atomic=atomic)
    if batch_size is None:
        batch_size = BULK_BATCH if atomic else IMPORT_BATCH
    bulk = getattr(store, "bulk", None)
    if bulk is None:  # a store without bulk sessions: each batch is one append
        return _import(lambda events, validated: store.append(events), source, batch_size, progress, max_errors,
                       getattr(store, "max_payload_bytes", None))
    rewind = _position(source) if atomic else None
    if rewind is not None:
        from .bulk import BulkConflict

        try:
            with bulk(atomic=True, optimistic=True) as session:
                return _import(session.append, source, batch_size, progress, max_errors, store.max_payload_bytes)
        except BulkConflict:  # an id repeats across batches: nothing was stored; redo with checks
            source.seek(rewind)
    with bulk(atomic=atomic, optimistic=False) as session:
        return _import(session.append, source, batch_size, progress, max_errors, store.max_payload_bytes)


def _position(source: IO[bytes]) -> int | None:
    """Where a seekable source stands now (to read it again), None for a pipe."""
    try:
        return source.tell() if source.seekable() else None
    except (OSError, ValueError, AttributeError):
        return None


def _import(append: Callable[..., Any], source: IO[bytes], batch_size: int, progress: Progress | None,
            max_errors: int, max_bytes: int | None) -> ImportReport:
    report = ImportReport(max_errors=max_errors)
    max_bytes = max_bytes or (16 * 1024 * 1024)
    line_limit = max_bytes + ENVELOPE_SLACK
    total = _total_size(source)
    done = 0
    batch: list[tuple[int, Event]] = []
    batch_bytes = 0
    line_no = 0
    for line, size in _lines(source, line_limit):
        line_no += 1
        done += size
        if line is None:
            report.read += 1
            report.fail(line_no, f"line is {size:,} bytes, over the {line_limit:,}-byte limit "
                                 f"(payload limit {max_bytes:,} bytes)")
            continue
        line = line.rstrip(b"\r\n")
        if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):  # a byte-order mark some editors write
            line = line[3:]
        if not line or line.isspace():  # blank (isspace stops at the first other byte; strip copies)
            continue
        report.read += 1
        try:
            event = parse_json_line(line, max_bytes=max_bytes)
            # The store's own serialisation checks, run here only when they can fail: a payload
            # over the limit needs a line that long, nesting too deep to store needs that many
            # brackets, opened and closed (counting them costs ~0.3 us a line, so short lines skip it).
            if len(line) > max_bytes or (len(line) > 2 * MAX_STORE_DEPTH
                                         and line.count(b"[") + line.count(b"{") > MAX_STORE_DEPTH):
                _check_storable(event, max_bytes)
        except EnvelopeError as exc:
            report.fail(line_no, _clarify(str(exc), line))
            continue
        batch.append((line_no, event))
        batch_bytes += len(line)
        if len(batch) >= batch_size or batch_bytes >= IMPORT_BATCH_BYTES:
            _flush(append, batch, report)
            batch = []
            batch_bytes = 0
            if progress:
                progress(done, total)
    if batch:
        _flush(append, batch, report)
    if progress:
        progress(done, total)
    report.errors.sort()  # a line refused inside a batch is found after later ones
    return report


_POSITION = re.compile(r": line 1 column (\d+) \(char (\d+)\)$")
_NON_JSON_NUMBERS = (b"NaN", b"-NaN", b"Infinity", b"-Infinity")


def _clarify(message: str, line: bytes) -> str:
    """A decoder's "line 1 column 7 (char 6)" reads as a second line number in a JSONL report;
    say "at column 7" instead, and name NaN/Infinity, which JSON does not allow."""
    m = _POSITION.search(message)
    if not m:
        return message
    column, char = int(m.group(1)), int(m.group(2))
    if char > 0 and line[char - 1:char] == b"-" and line[char:char + 8].startswith((b"NaN", b"Infinity")):
        column, char = column - 1, char - 1  # the decoder points past the sign of -Infinity / -NaN
    if line[char:char + 9].startswith(_NON_JSON_NUMBERS):
        token = next(t for t in _NON_JSON_NUMBERS if line[char:].startswith(t)).decode()
        return f"{token} at column {column} is not valid JSON (JSON has no NaN or Infinity)"
    return f"{message[:m.start()]} at column {column}"


def _check_storable(event: Event, max_bytes: int) -> None:
    dumps_payload(event.payload, max_bytes=max_bytes)
    if event.metadata is not None:
        dumps_payload(event.metadata, max_bytes=max_bytes, name="metadata")


def _flush(append: Callable[..., Any], batch: list[tuple[int, Event]], report: ImportReport) -> None:
    """Append one batch; if the store refuses one of its events, name that line and keep the rest.

    Every line was validated with the store's rules before it joined the batch, so this is the
    fallback for a rule only the store knows. The store names the event it refused ("event 7
    (id)"): the events before it are appended, its line is reported, and the rest is flushed the
    same way. A refusal it does not pin on one event is narrowed down by halving the batch.
    """
    try:
        result = append([e for _, e in batch], validated=True)
    except EnvelopeError as exc:
        if len(batch) == 1:
            report.fail(batch[0][0], exc.reason)
            return
        bad = _refused_index(exc, batch)
        if bad is None:
            mid = len(batch) // 2
            _flush(append, batch[:mid], report)
            _flush(append, batch[mid:], report)
            return
        if bad:
            _flush(append, batch[:bad], report)
        report.fail(batch[bad][0], exc.reason)
        if bad + 1 < len(batch):
            _flush(append, batch[bad + 1:], report)
        return
    report.stored += result.stored
    report.duplicates += result.duplicates
    if result.first_position is not None:
        if report.first_position is None:
            report.first_position = result.first_position
        report.last_position = result.last_position


_REFUSED_EVENT = re.compile(r"event (\d+) \((.*)\)\Z", re.DOTALL)


def _refused_index(exc: EnvelopeError, batch: list[tuple[int, Event]]) -> int | None:
    """Which event of `batch` the store refused, when its message names it by index and id."""
    m = _REFUSED_EVENT.match(exc.where or "")
    if not m:
        return None
    i = int(m.group(1))
    return i if i < len(batch) and batch[i][1].event_id == m.group(2) else None


def export_jsonl(store: Any, out: BytesWriter, filter: Any = None, *,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write the matching events as envelope JSONL, in position order; returns the count.

    The output re-imports to the same events (ids, run ids with null kept null, types,
    timestamps, payloads, node ids, metadata). Events are written as `store` reads them, so open
    it with an empty UpcasterRegistry to export the stored payload versions rather than upcast ones.
    """
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    write = out.write
    n = 0
    chunk: list[bytes] = []
    for event in store.iter_events(filter):
        chunk.append(dumps(event.to_envelope(), option=option))
        n += 1
        if len(chunk) >= 1000:
            write(b"".join(chunk))
            chunk.clear()
            if progress:
                progress(n)
    if chunk:
        write(b"".join(chunk))
    if progress:
        progress(n)
    return n
