"""Turning one Redis stream entry into a store Event, or into a dead-letter reason.

Every rejection reason names what was wrong (the field, the JSON error) because it is what an
operator reads in the dead-letter stream when an agent starts sending something unexpected.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Mapping

import orjson

from agenttui.store import DEFAULT_MAX_PAYLOAD_BYTES, EnvelopeError, Event, parse_envelope
from agenttui.store.envelope import format_datetime

if TYPE_CHECKING:  # redis comes with the optional `serve` extra; XADD's own field types
    from redis.typing import EncodableT, FieldT

PAYLOAD_FIELD = b"json_payload"
#: Namespace of event ids derived from stream entry ids (entries whose envelope has no event_id).
ENTRY_ID_NAMESPACE = uuid.UUID("5b0c2b55-8f5e-4c8e-9a4e-7d1f1f8a6e11")
#: Fields the bridge adds to a dead-lettered entry next to its original fields.
DEAD_REASON = b"dead_letter_reason"
DEAD_SOURCE_STREAM = b"dead_letter_stream"
DEAD_SOURCE_ID = b"dead_letter_source_id"
DEAD_AT = b"dead_letter_at"


class RejectedEntry(ValueError):
    """The entry can never become an event; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Entry:
    """One stream entry as read: its id and raw fields (None when Redis no longer holds it)."""

    entry_id: bytes
    fields: dict[bytes, bytes] | None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def entry_millis(entry_id: bytes | str) -> int | None:
    head = _text(entry_id).partition("-")[0]
    return int(head) if head.isdigit() else None


def decode_entry(stream: str, entry: Entry, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Event:
    """The Event an entry carries in its `json_payload` field.

    An envelope without event_id gets one derived from the stream and entry id, and one without a
    timestamp gets the entry's own time: redelivery of the same entry then stays idempotent.
    """
    fields = entry.fields or {}
    raw = fields.get(PAYLOAD_FIELD)
    if raw is None:
        raise RejectedEntry(f"missing field 'json_payload' (fields present: {describe_fields(fields)})")
    if len(raw) > max_bytes + 65536:
        raise RejectedEntry(f"json_payload is {len(raw):,} bytes, over the {max_bytes:,}-byte payload limit")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "utf-8" in msg.lower() or "surrogate" in msg.lower():
            raise RejectedEntry(f"json_payload is not valid UTF-8: {msg}") from None
        raise RejectedEntry(f"json_payload is not valid JSON: {msg}") from None
    if isinstance(obj, dict):
        if obj.get("event_id") is None:
            obj["event_id"] = str(uuid.uuid5(ENTRY_ID_NAMESPACE, f"{stream}\x00{_text(entry.entry_id)}"))
        if obj.get("timestamp") is None:
            ms = entry_millis(entry.entry_id)
            if ms is not None:
                obj["timestamp"] = format_datetime(datetime.fromtimestamp(ms / 1000, timezone.utc))
    try:
        return parse_envelope(obj, strict=True)
    except EnvelopeError as exc:
        raise RejectedEntry(f"json_payload: {exc}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # never let one entry stop the stream
        raise RejectedEntry(f"json_payload could not be read as an event: {type(exc).__name__}: {exc}") from None


def dead_letter_fields(stream: str, entry: Entry, reason: str, now: str) -> dict[FieldT, EncodableT]:
    """The original fields untouched (so the entry can be re-sent as is) plus why and whence."""
    fields: dict[FieldT, EncodableT] = {k: v for k, v in (entry.fields or {}).items()}
    fields[DEAD_REASON] = reason
    fields[DEAD_SOURCE_STREAM] = stream
    fields[DEAD_SOURCE_ID] = entry.entry_id
    fields[DEAD_AT] = now
    return fields


def describe_fields(fields: Mapping[bytes, bytes] | None) -> str:
    return ", ".join(sorted(_text(k) for k in (fields or {}))) or "none"
