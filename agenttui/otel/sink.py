"""Appending mapped events to a store, shared by the processor, the receiver and the import.

A batch the store refuses as a whole is retried event by event, so one event over the payload limit
cannot sink the others; the refused one is stored with its payload replaced by the reason, keeping
its id, type, node and time (the tree and counts stay right, and a retry still finds it stored).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

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
