"""The run's node tree as the store's projections hold it now, read one level at a time.

What the tree shows from the first frames on, while a worker folds the run into its `History`
(a minute for a million events): the run's top level comes from one query on the nodes and
edges tables, each level below from one indexed query when it is expanded. It answers the part
of the History API the tree reads (`NodeTree.show`), always as of the newest state; once the
History is folded the inspector shows that instead (the tree keeps what the user expanded).

Levels below the top are read on the UI thread's reader (a handful of indexed rows); the roots,
which need a look at every node, are found by `load_store_nodes` on a worker's reader.
"""
from __future__ import annotations

from typing import Any, Callable

from .reader import InspectorReader

__all__ = ["StoreNodes", "load_store_nodes"]


def load_store_nodes(reader: InspectorReader, run_id: str,
                     reader_of: Callable[[], InspectorReader | None]) -> "StoreNodes":
    """The run's top level read with `reader` (a worker's); later levels read through `reader_of()`."""
    count, roots = reader.tree_roots(run_id)
    return StoreNodes(run_id, count, roots, reader_of)


class StoreNodes:
    """A read-only, newest-state stand-in for a History in `NodeTree.show` (see the module docstring).

    A level that cannot be read (the file went away, or is locked past the UI's short busy
    timeout) shows as empty and is asked again next time: the app reopens the store or the
    fold's History replaces this object.
    """

    def __init__(self, run_id: str, event_count: int, roots: list[str],
                 reader_of: Callable[[], InspectorReader | None]) -> None:
        self.run_id = run_id
        self._count = event_count
        self._roots = roots
        self._reader_of = reader_of
        self._children: dict[str, list[str]] = {}
        self._parents: dict[str, str | None] = {}
        self._has_children: dict[str, bool] = {}
        self._nodes: dict[str, dict[str, Any] | None] = {}

    def __len__(self) -> int:
        return self._count

    def _ask(self, question: Callable[[InspectorReader], Any]) -> tuple[bool, Any]:
        reader = self._reader_of()
        if reader is None:
            return False, None
        try:
            return True, question(reader)
        except Exception:  # gone or locked (see the class docstring): not cached, asked again
            return False, None

    def roots_at(self, index: int) -> list[str]:
        return list(self._roots)

    def children_at(self, node_id: str, index: int) -> list[str]:
        kids = self._children.get(node_id)
        if kids is None:
            ok, kids = self._ask(lambda r: r.children(self.run_id, node_id))
            if not ok:
                return []
            self._children[node_id] = kids
            self._has_children[node_id] = bool(kids)
        return list(kids)

    def parent_at(self, node_id: str, index: int) -> str | None:
        """The node's first parent by the stored edges: the tree opens the path to a selected
        event's node by walking up these, one indexed read per level (searching down from the
        roots read every node's children: 2.3 s on the UI thread in a 58k-node run)."""
        if node_id not in self._parents:
            ok, parent = self._ask(lambda r: r.parent(self.run_id, node_id))
            if not ok:
                return None
            self._parents[node_id] = parent
        return self._parents[node_id]

    def has_children_at(self, node_id: str, index: int) -> bool:
        known = self._has_children.get(node_id)
        if known is None:
            ok, known = self._ask(lambda r: r.has_children(self.run_id, node_id))
            if not ok:
                return False
            self._has_children[node_id] = known
        return known

    def node_at(self, node_id: str, index: int) -> dict[str, Any] | None:
        if node_id not in self._nodes:
            ok, node = self._ask(lambda r: r.node(self.run_id, node_id))
            if not ok:
                return None
            self._nodes[node_id] = node
        return self._nodes[node_id]

    def display_at(self, node_id: str, index: int) -> dict[str, Any] | None:
        return self.node_at(node_id, index)
