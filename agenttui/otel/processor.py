"""An OpenTelemetry span processor that records spans into an agenttui store, live.

    provider.add_span_processor(agenttui.otel.SpanProcessor("run.db"))

The agent's thread only snapshots the span and queues it (a started span's attributes are copied,
a finished span is immutable and queued as is); a writer thread maps and appends in batches, like
the Recorder's. Node and call events are written when spans START, so the tree grows while the
agent runs; results, tokens and statuses when they end.

The cyclic garbage collector is paused while a batch is mapped and appended (see
`store/collector.py`): a batch's events live until its commit, so every collection meanwhile
promoted them, and the full collections that followed walked the whole process again.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor as _SdkSpanProcessor

from .assemble import TraceAssembler
from agenttui.store.collector import collector_paused

from .sink import SinkStats, append_events
from .spans import Span, from_sdk

log = logging.getLogger("agenttui.otel")
DEFAULT_FLUSH_INTERVAL = 0.05
#: How long a span whose parent started before this processor was added waits for that parent.
DEFAULT_HOLD_SECONDS = 5.0

#: Set on a thread while it writes to a store for a processor (see `_own_writes`).
_writing = threading.local()
#: The key instrumentations look up before making a span (opentelemetry.context's, not public API).
_SUPPRESS = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)


@contextmanager
def _own_writes() -> Iterator[None]:
    """The processor's own writes make no spans, and the spans they make anyway are not recorded.

    An application that instruments sqlite3 or psycopg would otherwise trace every append the
    processor makes: each write would record spans whose writing made more spans, a run of them
    per batch, and with the queue full the writing thread would drain again inside its own write
    and wait for its own lock forever. Instrumentations that honour OpenTelemetry's
    suppress-instrumentation key make none; `on_start`/`on_end` drop any made on this thread
    meanwhile, whichever processor is writing."""
    outer = getattr(_writing, "active", False)
    _writing.active = True
    token = otel_context.attach(otel_context.set_value(_SUPPRESS, True)) if _SUPPRESS is not None else None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)
        _writing.active = outer


class SpanProcessor(_SdkSpanProcessor):
    """Writes GenAI spans (and the spans around them) to a store: a path, a postgresql:// URL or an
    open store you keep owning. `force_flush` writes everything queued; `shutdown` also stops waiting
    for parents that never came and closes a store it opened."""

    def __init__(self, target: Any, *, flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 hold_seconds: float = DEFAULT_HOLD_SECONDS, max_queue: int = 100_000):
        if flush_interval <= 0:
            raise ValueError("flush_interval must be > 0 seconds")
        if hasattr(target, "append"):
            self.store, self._owns_store = target, False
        else:
            from agenttui.store import open_store

            self.store, self._owns_store = open_store(target), True
        self.flush_interval = flush_interval
        self.hold_seconds = hold_seconds
        self.max_queue = max_queue
        self.stats = SinkStats()
        self._assembler = TraceAssembler()
        # a started span as its snapshot (a `Span`), an ended one as the SDK's span itself: told apart
        # by type, so the agent's thread queues no (started, span) tuple per hook
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()
        self._stopping = False
        self._retry: list[Any] = []
        self._thread = threading.Thread(target=self._loop, name="agenttui-otel-writer", daemon=True)
        self._thread.start()

    # -- the SDK's hooks (the agent's thread) --------------------------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self._stopping or getattr(_writing, "active", False):
            return
        self._queue.append(from_sdk(span, ended=False))
        self._after_queue()

    def on_end(self, span: ReadableSpan) -> None:
        if self._stopping or getattr(_writing, "active", False):
            return
        self._queue.append(span)
        self._after_queue()

    def _after_queue(self) -> None:
        if len(self._queue) == 1:
            self._wake.set()
        elif len(self._queue) >= self.max_queue:  # the writer is behind: catch up before going on
            self._drain()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        while time.monotonic() < deadline:
            if self._drain():
                return True
            time.sleep(0.05)
        return False

    def shutdown(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)
        for attempt in range(5):
            if self._drain(release_all=True):
                break
            time.sleep(0.05 * (attempt + 1))
        else:
            log.error("agenttui otel: %d events could not be written and are lost", len(self._retry))
        if self._owns_store:
            self.store.close()

    # -- the writer thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        backoff = 0.0
        while not self._stopping:
            self._wake.wait(0.5)
            if self._stopping:
                return
            time.sleep(self.flush_interval + backoff)  # let a burst gather into one transaction
            backoff = 0.0 if self._drain() else min(1.0, max(0.05, backoff * 2))

    def _drain(self, *, release_all: bool = False) -> bool:
        """Map what is queued and append it; False if the store refused (kept for the next try)."""
        with _own_writes(), self._write_lock, collector_paused():
            # the batch is freed when _write returns, before the collector is back on: else the first
            # collection after it walks (and promotes) every event of the batch, ~5% of a big drain
            return self._write(release_all)

    def _write(self, release_all: bool) -> bool:
        self._wake.clear()
        events = self._retry
        self._retry = []
        asm = self._assembler
        q = self._queue
        while q:
            span = q.popleft()
            if type(span) is Span:
                asm.started(span, events)
            else:
                asm.ended(from_sdk(span, ended=True), events)
        asm.release(None if release_all else self.hold_seconds, events)
        if not events:
            return True
        try:
            append_events(self.store, events, self.stats)
        except Exception as exc:
            self._retry = events
            log.warning("agenttui otel: could not write %d events (will retry): %s", len(events), exc)
            return False
        return True
