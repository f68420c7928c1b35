"""Appending mapped events to a store, shared by the processor, the receiver and the import.

A batch the store refuses as a whole is retried event by event, so one event over the payload limit
cannot sink the others; the refused one is stored with its payload replaced by the reason, keeping
its id, type, node and time (the tree and counts stay right, and a retry still finds it stored).
"""
from __future__ import annotations

import gc
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from agenttui.store import EnvelopeError, Event

log = logging.getLogger("agenttui.otel")


@dataclass
class SinkStats:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def append_events(store: Any, events: Iterable[Event], stats: SinkStats | None = None) -> SinkStats:
    stats = stats if stats is not None else SinkStats()
    batch = list(events)
    if not batch:
        return stats
    try:
        result = store.append(batch)
    except EnvelopeError:
        for event in batch:
            try:
                result = store.append(event)
            except EnvelopeError as exc:
                stats.refused += 1
                if len(stats.errors) < 100:
                    stats.errors.append(f"event {event.event_type} of span "
                                        f"{(event.payload.get('otel') or {}).get('span_id', '?')}: {exc}")
                log.warning("agenttui otel: event %s (%s) stored without its payload: %s",
                            event.event_id, event.event_type, exc)
                kept = ("node_id", "outer_node_id", "new_status", "old_status", "state", "status")
                keep: dict[str, Any] = {k: event.payload[k] for k in kept if k in event.payload}
                event.payload = {**keep, "recording_error": str(exc)[:2000]}
                result = store.append(event)
            stats.stored += result.stored
            stats.duplicates += result.duplicates
        return stats
    stats.stored += result.stored
    stats.duplicates += result.duplicates
    return stats


_pause_lock = threading.Lock()
_pauses = 0  # drains under way in this process (several processors, or force_flush beside the writer)
_resume = False  # whether the collector was on when the first of them began


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is mapped and appended (the span processor's
    drains, the OTLP receiver's writes), back on (if it was) when the last one under way in the
    process ends.

    A batch's events (an Event, its payload and the dicts in it: ~3 tracked objects each) all live
    until the batch commits, so each collection meanwhile promoted them to an older generation, and
    the full collections those promotions trigger walk every object of the process: 10-15 us of the
    ~55 us a span cost, measured with bench_otel (the store's bulk loads pause it for the same
    reason). The drain makes no cycles; cycles other threads make meanwhile are collected when it
    ends. A counter, not `gc.isenabled()` alone, so overlapping drains leave it as they found it.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
