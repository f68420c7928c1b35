"""What the event list is narrowed to: event types, one node, and the search text.

The same filter runs in SQL (building a view over the stored events, in a worker) and in Python
(on live events as they arrive), so a filtered list stays complete while the run grows.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import orjson

from agenttui.store import Event, EventFilter


@dataclass(frozen=True)
class ViewFilter:
    #: show only these types (None: no include list)
    types: frozenset[str] | None = None
    #: hide these types
    hidden: frozenset[str] = frozenset()
    node_id: str | None = None

    @property
    def active(self) -> bool:
        return self.types is not None or bool(self.hidden) or self.node_id is not None

    def store_filter(self, search: str | None = None) -> EventFilter:
        return EventFilter(types=sorted(self.types) if self.types is not None else None,
                           exclude_types=sorted(self.hidden) or None, node_id=self.node_id, search=search or None)

    def accepts(self, event: Event) -> bool:
        if self.types is not None and event.event_type not in self.types:
            return False
        if event.event_type in self.hidden:
            return False
        return self.node_id is None or event.node_id == self.node_id

    def accepts_type(self, event_type: str) -> bool:
        """Whether the type filter lets this type through (the node filter aside)."""
        if self.types is not None and event_type not in self.types:
            return False
        return event_type not in self.hidden

    def with_types(self, shown: frozenset[str], known: frozenset[str]) -> "ViewFilter":
        """The filter after the type picker: hide what was unticked (types first seen later show)."""
        if self.types is not None:
            return replace(self, types=shown if shown != known else None, hidden=frozenset())
        return replace(self, types=None, hidden=known - shown)

    def shown_types(self, known: frozenset[str]) -> frozenset[str] | None:
        if self.types is not None:
            return self.types & known
        return (known - self.hidden) if self.hidden else None

    def describe(self, node_label: str = "") -> list[str]:
        out = []
        if self.types is not None:
            out.append("types: " + ",".join(sorted(self.types)) if len(self.types) <= 2
                       else f"types: {len(self.types)} shown")
        if self.hidden:
            out.append(f"types: {len(self.hidden)} hidden")
        if self.node_id is not None:
            out.append(f"node {node_label or self.node_id[:8]}")
        return out


def payload_matches(event: Event, needle_lower: str) -> bool:
    """The live twin of the store's `payload LIKE %needle%` (case-insensitive)."""
    try:
        text = orjson.dumps(event.payload).decode()
    except TypeError:
        text = str(event.payload)
    return needle_lower in text.lower()
