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
from typing import Any

from agenttui.store import Event

from . import mapping
from .mapping import ROLE_NODE, ROLE_OTHER, ROLE_TOOL
from .spans import Span

#: Spans remembered for placing later children; the oldest are forgotten first.
DEFAULT_MAX_SPANS = 200_000


#: A placed span: (role, node for children, tool, started, ended, node type). `node for children`
#: is the node a child of this span hangs under: the span itself for a node, else its own nearest
#: node; `tool` a tool span's (name, call id) (`mapping.tool_ref`), to link a sub-agent it spawns;
#: `started`: its start events were emitted. A tuple, not an object: one is made for every span, up
#: to `max_spans` are kept, and a tuple of strings and flags is one the garbage collector stops
#: scanning.
_Placed = tuple
_ROLE, _NODE_FOR_CHILDREN, _TOOL, _STARTED = range(4)


#: A span waiting for its parent: (span, its start was seen, it has ended, since (clock), role, node
#: type, its key). A tuple, not an object: every span an exporter sends before its parent (most) is
#: held once.
_Held = tuple


class TraceAssembler:
    """Not thread-safe: each way in drives one from a single thread (or under its own lock)."""

    def __init__(self, *, max_spans: int = DEFAULT_MAX_SPANS, clock: Any = time.monotonic):
        self._placed: OrderedDict[tuple[str, str], _Placed] = OrderedDict()
        self._held: dict[tuple[str, str], list[tuple[Span, bool, bool, float, str, str | None, tuple[str, str]]]] = {}
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
            if not waiting or (older_than is not None and now - min(h[3] for h in waiting) < older_than):
                continue
            if parent_key in self._placed:  # placed meanwhile by an earlier release in this loop
                continue
            self._assumed.add(parent_key)
            self._remember(parent_key, (ROLE_NODE, parent_key[1], None, False, False, None))
            self._release_children(parent_key, out)
        return out

    # -- internals ------------------------------------------------------------------------------
    def _arrive(self, span: Span, started: bool, ended: bool, out: list[Event]) -> None:
        trace_id, parent_id = span.trace_id, span.parent_id
        key = (trace_id, span.span_id)
        placed_spans = self._placed
        placed = placed_spans.get(key)
        if placed is not None:
            p_role, p_node, p_tool, p_started, p_ended, p_node_type = placed
            if p_started and not p_ended and ended:
                placed_spans[key] = (p_role, p_node, p_tool, True, True, p_node_type)  # keeps its place
                # the tool's name and call id are read anew: a producer may set them after the start
                mapping.span_events(span, p_role, p_node_type, self._parent_node(span), None, None,
                                    False, True, out)
                return
            if p_started and started:
                return
        role, node_type = mapping.classify(span)
        if started and role == ROLE_OTHER:
            # some producers (OpenInference) say what a span is only when it ends: place it then;
            # its children wait for it like any child whose parent has not arrived
            return
        parent = None
        if parent_id is not None:
            parent_key = (trace_id, parent_id)
            parent = placed_spans.get(parent_key)
            if parent is None:
                waiting = (span, started, ended, self._clock(), role, node_type, key)
                held = self._held.get(parent_key)
                if held is None:
                    self._held[parent_key] = [waiting]
                else:
                    held.append(waiting)
                return
        self._place(span, key, parent if parent_id else None, started, ended, role, node_type, out)

    def _parent_node(self, span: Span) -> str | None:
        if span.parent_id is None:
            return None
        parent = self._placed.get((span.trace_id, span.parent_id))
        return parent[_NODE_FOR_CHILDREN] if parent is not None else None

    def _place(self, span: Span, key: tuple[str, str], parent: _Placed | None, started: bool, ended: bool,
               role: str, node_type: str | None, out: list[Event]) -> None:
        """`parent`: the placed parent (None for a root; the caller looked it up)."""
        span_id = span.span_id
        if parent is not None:
            node = parent[_NODE_FOR_CHILDREN]
            spawned_by = None
            if role == ROLE_NODE and parent[_ROLE] == ROLE_TOOL:
                spawned_by = mapping.tool_link(parent[_TOOL], span.parent_id)
        else:
            node = spawned_by = None
        node_for_children: str | None
        if role != ROLE_NODE and self._assumed and key in self._assumed:
            # children already hang under this span as a node: keep them connected
            out.append(mapping.promoted_node(span, role, node))
            node_for_children = span_id
        else:
            node_for_children = span_id if role == ROLE_NODE else node
        placed_spans = self._placed
        previous = placed_spans.get(key)
        # started_before: its start events were emitted when it started
        started_before = previous is not None and previous[_STARTED] and not started
        tool = mapping.tool_ref(span) if role == ROLE_TOOL else None
        placed_spans[key] = (role, node_for_children, tool, True, ended, node_type)
        if previous is not None:  # a new key is inserted last already
            placed_spans.move_to_end(key)
        if len(placed_spans) > self.max_spans:
            self._forget()
        if ended or not started_before:
            mapping.span_events(span, role, node_type, node, spawned_by, tool, not started_before, ended, out)
        held = self._held
        if held and key in held:
            self._release_children(key, out)

    def _release_children(self, parent_key: tuple[str, str], out: list[Event]) -> None:
        children = self._held.pop(parent_key, None)
        if not children:
            return
        placed_spans = self._placed
        for span, started, ended, _since, role, node_type, key in children:
            parent = placed_spans.get(parent_key) if span.parent_id else None
            # a start seen and no end yet: place the start only; else the end (and the start if not seen)
            self._place(span, key, parent, started, ended or not started, role, node_type, out)

    def _remember(self, key: tuple[str, str], placed: _Placed) -> None:
        placed_spans = self._placed
        placed_spans[key] = placed
        placed_spans.move_to_end(key)
        if len(placed_spans) > self.max_spans:
            self._forget()

    def _forget(self) -> None:
        placed_spans = self._placed
        while len(placed_spans) > self.max_spans:
            placed_spans.popitem(last=False)
