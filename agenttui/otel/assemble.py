"""Puts spans into a tree whatever order they come in, and turns them into events.

A span's events name its nearest enclosing node, which is only known once every span between it and
that node is known. The span processor sees spans start in order, so it always knows; an OTLP
exporter sends spans as they END (children before parents, batches in any order), so a span whose
parent has not arrived yet is held, and released the moment that parent arrives. The final tree is
therefore the same by every way in.

A parent that never comes within `hold_seconds` (the receiver's liveness bound; an import waits for
the whole file) is assumed to be a node: the held spans are attached to it as a pending node, which
is right for the common case (a long agent span ends last). If it later turns out not to be a node,
it is made one (`promoted_node`) so the tree stays connected; docs/otel.md says so.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from agenttui.store import Event

from . import mapping
from .mapping import ROLE_NODE, ROLE_OTHER, ROLE_TOOL
from .spans import Span

#: Spans remembered for placing later children; the oldest are forgotten first.
DEFAULT_MAX_SPANS = 200_000


@dataclass(slots=True)
class _Placed:
    role: str
    #: The node a child of this span hangs under: the span itself for a node, else its own nearest node.
    node_for_children: str | None
    #: For a tool span: its name and call id, to link a sub-agent it spawns.
    tool: dict[str, Any] | None
    started: bool
    ended: bool
    node_type: str | None


@dataclass(slots=True)
class _Held:
    span: Span
    started: bool  # its start was seen (processor): emit only what has not been emitted yet
    ended: bool
    since: float


class TraceAssembler:
    """Not thread-safe: each way in drives one from a single thread (or under its own lock)."""

    def __init__(self, *, max_spans: int = DEFAULT_MAX_SPANS, clock: Any = time.monotonic):
        self._placed: OrderedDict[tuple[str, str], _Placed] = OrderedDict()
        self._held: dict[tuple[str, str], list[_Held]] = {}
        self._assumed: set[tuple[str, str]] = set()
        self.max_spans = max_spans
        self._clock = clock

    @property
    def held(self) -> int:
        return sum(len(v) for v in self._held.values())

    def started(self, span: Span, out: list[Event] | None = None) -> list[Event]:
        """A span that has just started (span processor): node and call events at once, live.
        Events are appended to `out` (a new list if None), which is returned."""
        out = [] if out is None else out
        self._arrive(span, True, False, out)
        return out

    def ended(self, span: Span, out: list[Event] | None = None) -> list[Event]:
        """A span that has ended; if its start was never seen, both its start and end events."""
        out = [] if out is None else out
        self._arrive(span, False, True, out)
        return out

    def release(self, older_than: float | None = None, out: list[Event] | None = None) -> list[Event]:
        """Stop waiting for parents of spans held longer than `older_than` seconds (all if None)."""
        out = [] if out is None else out
        if not self._held:
            return out
        now = self._clock()
        for parent_key in list(self._held):
            waiting = self._held.get(parent_key)
            if not waiting or (older_than is not None and now - min(h.since for h in waiting) < older_than):
                continue
            if parent_key in self._placed:  # placed meanwhile by an earlier release in this loop
                continue
            self._assumed.add(parent_key)
            self._remember(parent_key, _Placed(ROLE_NODE, parent_key[1], None, False, False, None))
            self._release_children(parent_key, out)
        return out

    # -- internals ------------------------------------------------------------------------------
    def _arrive(self, span: Span, started: bool, ended: bool, out: list[Event]) -> None:
        key = (span.trace_id, span.span_id)
        placed = self._placed.get(key)
        if placed is not None:
            if placed.started and not placed.ended and ended:
                placed.ended = True
                # the tool's name and call id are read anew: a producer may set them after the start
                mapping.end_events(span, placed.role, placed.node_type, self._parent_node(span), None, out)
                return
            if placed.started and started:
                return
        role, node_type = mapping.classify(span)
        if started and role == ROLE_OTHER:
            # some producers (OpenInference) say what a span is only when it ends: place it then;
            # its children wait for it like any child whose parent has not arrived
            return
        if span.parent_id is not None and (span.trace_id, span.parent_id) not in self._placed:
            self._held.setdefault((span.trace_id, span.parent_id), []).append(
                _Held(span, started, ended, self._clock()))
            return
        self._place(span, started, ended, out, role, node_type)

    def _parent_node(self, span: Span) -> str | None:
        if span.parent_id is None:
            return None
        parent = self._placed.get((span.trace_id, span.parent_id))
        return parent.node_for_children if parent is not None else None

    def _place(self, span: Span, started: bool, ended: bool, out: list[Event], role: str,
               node_type: str | None) -> None:
        parent = self._placed.get((span.trace_id, span.parent_id)) if span.parent_id else None
        node = parent.node_for_children if parent is not None else None
        spawned_by = parent.tool if (parent is not None and role == ROLE_NODE and parent.role == ROLE_TOOL) else None
        key = (span.trace_id, span.span_id)
        node_for_children: str | None
        if key in self._assumed and role != ROLE_NODE:
            # children already hang under this span as a node: keep them connected
            out.append(mapping.promoted_node(span, role, node))
            node_for_children = span.span_id
        else:
            node_for_children = span.span_id if role == ROLE_NODE else node
        previous = self._placed.get(key)
        # started_before: its start events were emitted when it started
        started_before = previous is not None and previous.started and not started
        info = mapping.tool_info(span) if role == ROLE_TOOL else None
        self._remember(key, _Placed(role, node_for_children, {**info, "span_id": span.span_id} if info else None,
                                    True, ended, node_type))
        if not started_before:
            mapping.start_events(span, role, node_type, node, spawned_by, info, out)
        if ended:
            mapping.end_events(span, role, node_type, node, info, out)
        if self._held:
            self._release_children(key, out)

    def _release_children(self, parent_key: tuple[str, str], out: list[Event]) -> None:
        for h in self._held.pop(parent_key, ()):
            role, node_type = mapping.classify(h.span)
            if h.started and not h.ended:
                self._place(h.span, True, False, out, role, node_type)
            else:
                self._place(h.span, h.started, True, out, role, node_type)

    def _remember(self, key: tuple[str, str], placed: _Placed) -> None:
        placed_spans = self._placed
        placed_spans[key] = placed
        placed_spans.move_to_end(key)
        if len(placed_spans) > self.max_spans:
            while len(placed_spans) > self.max_spans:
                placed_spans.popitem(last=False)
