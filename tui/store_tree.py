"""The run's node tree as the store's projections hold it now, read one level at a time.

What the tree shows from the first frames on, while a worker folds the run into a `Timeline`
(a minute for a million events): the run's top level comes from one query on the nodes and
edges tables, each level below from one indexed query when it is expanded. It answers the part
of the Timeline API the tree reads (`NodeTree.show`), always as of the newest state; once the
Timeline is folded the app shows that instead (the tree keeps what the user expanded).

Reads run on the UI thread's connection (a level is a handful of indexed rows); the roots, which
need a look at every node, are found by `load_store_nodes` on a worker's connection.
"""
from __future__ import annotations

from typing import Any, Callable

from agenttui.store import SQLiteStore
from agenttui.store.fold import nid_key

__all__ = ["StoreNodes", "load_store_nodes"]


def load_store_nodes(store: SQLiteStore, run_id: str, store_of: Callable[[], SQLiteStore | None]) -> "StoreNodes":
    """The run's top level read with `store` (a worker's); later levels read through `store_of()`."""
    conn = store.connection
    row = conn.execute("SELECT event_count FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    # one statement (a correlated NOT EXISTS is planned badly on big runs; NOT IN builds the set of
    # children once): row by row in Python, each row would wait for the GIL while the UI paints
    roots = conn.execute("SELECT node_id, node_nid FROM nodes WHERE run_id = ? AND node_id NOT IN "
                         "(SELECT child_node_id FROM edges WHERE run_id = ?)", (run_id, run_id)).fetchall()
    roots.sort(key=lambda r: nid_key(r[1]))
    return StoreNodes(run_id, row[0] if row else 0, [r[0] for r in roots], store_of)


class StoreNodes:
    """A read-only, newest-state stand-in for a Timeline in `NodeTree.show` (see the module docstring)."""

    def __init__(self, run_id: str, event_count: int, roots: list[str],
                 store_of: Callable[[], SQLiteStore | None]) -> None:
        self.run_id = run_id
        self._count = event_count
        self._roots = roots
        self._store_of = store_of
        self._children: dict[str, list[str]] = {}
        self._has_children: dict[str, bool] = {}
        self._nodes: dict[str, dict[str, Any] | None] = {}

    def __len__(self) -> int:
        return self._count

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        store = self._store_of()
        if store is None:
            return []
        try:
            return store.connection.execute(sql, params).fetchall()
        except Exception:  # the file went away or is locked: show what is known; the app recovers
            return []

    def roots_at(self, i: int) -> list[str]:
        return list(self._roots)

    def children_at(self, node_id: str, i: int) -> list[str]:
        kids = self._children.get(node_id)
        if kids is None:
            rows = self._query(
                "SELECT e.child_node_id, n.node_nid FROM edges e LEFT JOIN nodes n "
                "ON n.run_id = e.run_id AND n.node_id = e.child_node_id "
                "WHERE e.parent_node_id = ? AND e.run_id = ?", (node_id, self.run_id))
            rows.sort(key=lambda r: nid_key(r[1]))
            kids = self._children[node_id] = [r[0] for r in rows]
            self._has_children[node_id] = bool(kids)
        return list(kids)

    def has_children_at(self, node_id: str, i: int) -> bool:
        known = self._has_children.get(node_id)
        if known is None:
            known = self._has_children[node_id] = bool(self._query(
                "SELECT 1 FROM edges WHERE parent_node_id = ? AND run_id = ? LIMIT 1", (node_id, self.run_id)))
        return known

    def node_at(self, node_id: str, i: int) -> dict[str, Any] | None:
        if node_id not in self._nodes:
            store = self._store_of()
            try:
                self._nodes[node_id] = store.node(self.run_id, node_id) if store is not None else None
            except Exception:  # gone or locked: unknown for now, asked again next time
                return None
        return self._nodes[node_id]

    def display_at(self, node_id: str, i: int) -> dict[str, Any] | None:
        return self.node_at(node_id, i)
