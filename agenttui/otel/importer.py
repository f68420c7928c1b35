"""`agenttui import --format otlp`: OTLP JSON files as the OpenTelemetry Collector's file exporter
writes them, one ExportTraceServiceRequest per line.

Spans are placed as the whole file is read (a child's parent may come lines later), so any order of
lines gives the same tree; spans still waiting for a parent at the end are placed then.
"""
from __future__ import annotations

import os
from typing import IO, Any, Callable

import orjson

from agenttui.store.jsonl import ImportReport

from .assemble import TraceAssembler
from .sink import SinkStats, append_events
from .spans import SpanError, json_request_spans

#: Events appended per transaction.
BATCH_EVENTS = 5_000


def looks_like_otlp(first_line: bytes) -> bool:
    """Content detection: an OTLP trace request starts with a resourceSpans field."""
    head = first_line.lstrip(b"\xef\xbb\xbf \t")[:200]
    return head.startswith(b"{") and (b'"resourceSpans"' in head or b'"resource_spans"' in head)


def import_otlp(store: Any, source: str | os.PathLike[str] | IO[bytes], *,
                progress: Callable[[int, int | None], None] | None = None, atomic: bool = True) -> ImportReport:
    """Append the events of every readable span; a line or span that cannot be read is reported by
    line number (and the span's place in the request) without stopping the import. `read` and
    `failed` count spans; `stored` and `duplicates` count events.

    atomic=True (the default, as for JSONL): the file's events go into one transaction, so an import
    that fails or is killed part-way stores nothing of it; atomic=False commits each batch."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return import_otlp(store, fh, progress=progress, atomic=atomic)
    bulk = getattr(store, "bulk", None)
    if bulk is None:
        return _import(store, source, progress)
    with bulk(atomic=atomic, optimistic=False) as session:  # ids are checked: a span's events may repeat
        return _import(session, source, progress)


def _import(store: Any, source: IO[bytes], progress: Callable[[int, int | None], None] | None) -> ImportReport:
    """The import itself; `store` is anything with `append` (a store, or a bulk session of one)."""
    report = ImportReport()
    assembler = TraceAssembler(max_spans=1 << 62)  # a file is placed whole: forget nothing
    stats = SinkStats()
    pending: list[Any] = []
    done = 0
    for line_no, line in enumerate(source, 1):
        done += len(line)
        line = line.strip()
        if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line:
            continue
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.read += 1
            report.fail(line_no, f"not JSON: {exc}")
            continue
        for item in json_request_spans(request):
            report.read += 1
            if isinstance(item, SpanError):
                report.fail(line_no, str(item))
                continue
            assembler.ended(item, pending)
        if len(pending) >= BATCH_EVENTS:
            append_events(store, pending, stats)
            pending = []
            if progress:
                progress(done, None)
    assembler.release(None, pending)
    append_events(store, pending, stats)
    if progress:
        progress(done, None)
    report.stored, report.duplicates = stats.stored, stats.duplicates
    for message in stats.errors:
        report.fail(0, message)
    return report
