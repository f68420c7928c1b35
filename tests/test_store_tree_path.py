"""The tree drawn from the store's projections (before the fold) opens the path to a selected event's
node by walking up the stored edges: one indexed read per level, not one per node of the run."""
from __future__ import annotations

from pathlib import Path

from agenttui.store import SQLiteStore
from agenttui.tui.components.node_tree import NodeTree
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.data.store_tree import load_store_nodes

RUN = "wide-and-deep"


def _store(path: Path, width: int, depth: int) -> list[str]:
    """`width` siblings at each level, the chain of first children `depth` deep; the deepest node's path."""
    events = []
    path_ids: list[str] = []
    parent = None
    for level in range(depth):
        for k in range(width):
            node = f"n{level}-{k}"
            events.append({"event_type": "node_created", "run_id": RUN,
                           "payload": {"node_id": node, "node_nid": f"{level}.{k}", "task_goal": f"goal {node}"}})
            if parent is not None:
                events.append({"event_type": "edge_added", "run_id": RUN,
                               "payload": {"graph_owner_node_id": parent, "parent_node_id": parent,
                                           "child_node_id": node}})
        parent = f"n{level}-0"
        path_ids.append(parent)
    with SQLiteStore(path) as store:
        store.append(events)
    return path_ids


class _Counting:
    """A reader that counts the tree's reads."""

    def __init__(self, reader: InspectorReader) -> None:
        self._reader = reader
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str):
        attr = getattr(self._reader, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return counted


def test_the_path_to_a_deep_node_is_read_level_by_level(tmp_path):
    expected = _store(tmp_path / "t.db", width=40, depth=12)
    with SQLiteStore(tmp_path / "t.db", readonly=True) as store:
        counting = _Counting(InspectorReader(store))
        nodes = load_store_nodes(counting._reader, RUN, lambda: counting)  # type: ignore[arg-type]
        tree = NodeTree()
        tree.source = nodes
        tree._i = len(nodes) - 1
        assert tree._path_to(expected[-1]) == expected
        assert counting.calls.get("children", 0) == 0 and counting.calls["parent"] == len(expected)
        assert tree._path_to("n3-7") == expected[:3] + ["n3-7"]
        assert tree._path_to("no-such-node") is None
