"""A run's plan tree read from the projections, in the order the inspector shows it.

The compare screen, the run summary and the report all walk the same tree, so it lives here once:
children ordered by nid ("1.10" after "1.9"), the run's root first, nodes nobody points to (pending
ones, or nodes whose edge never arrived) as extra roots. A node with two parents is listed under the
first only and a cycle is cut where it closes, so a walk always ends; `networkx` (see
agenttui.report.critical_path) is what names those defects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from agenttui.store import nid_key


def parse_time(ts: Any) -> datetime | None:
    """A stored timestamp ("2026-03-01T09:00:00.123456Z") as a datetime, else None."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts[:-1] + "+00:00" if ts.endswith("Z") else ts)
    except ValueError:
        return None


def seconds_between(start: Any, end: Any) -> float | None:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def node_duration(node: dict[str, Any]) -> float | None:
    """Seconds from a node's creation to the last event about it (its projection's two stamps)."""
    return seconds_between(node.get("created_at"), node.get("updated_at"))


def node_tokens(node: dict[str, Any]) -> int:
    return (node.get("prompt_tokens") or 0) + (node.get("completion_tokens") or 0)


def node_result_text(node: dict[str, Any]) -> str | None:
    result = node.get("result")
    if isinstance(result, dict):
        summary = result.get("result_summary")
        return None if summary is None else str(summary)
    return None


@dataclass
class PlanTree:
    """Nodes (projection rows by id), children in display order, roots, and every parent of a node."""

    run_id: str
    run: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    edges: list[dict[str, Any]]
    children: dict[str, list[str]] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, store: Any, run_id: str) -> "PlanTree":
        """Read the run's projections (one query each for the run, its nodes and its edges)."""
        run = store.run(run_id)
        if run is None:
            raise LookupError(f"no run {run_id!r} in this store")
        return cls.build(run_id, run, store.nodes(run_id), store.edges(run_id))

    @classmethod
    def build(cls, run_id: str, run: dict[str, Any], nodes: list[dict[str, Any]],
              edges: list[dict[str, Any]]) -> "PlanTree":
        by_id = {n["node_id"]: n for n in nodes}
        tree = cls(run_id, run, by_id, edges)
        for e in edges:
            p, c = e["parent_node_id"], e["child_node_id"]
            if p not in by_id or c not in by_id or p == c:
                continue
            tree.children.setdefault(p, []).append(c)
            tree.parents.setdefault(c, []).append(p)
        order = {nid: i for i, nid in enumerate(by_id)}
        for kids in tree.children.values():
            kids.sort(key=lambda c: (nid_key(by_id[c].get("node_nid")), order[c]))
        root = run.get("root_node_id")
        roots = [n for n in by_id if n not in tree.parents]
        roots.sort(key=lambda n: (n != root, nid_key(by_id[n].get("node_nid")), order[n]))
        tree.roots = roots
        # nodes on a cycle that no root leads into have parents yet no path from a root: each
        # such cycle is entered at its first node in nid order, so every node is listed once
        seen = {n for n, _ in tree.walk()}
        unreached = (n for n in by_id if n not in seen)
        for n in sorted(unreached, key=lambda n: (nid_key(by_id[n].get("node_nid")), order[n])):
            if n not in seen:
                tree.roots.append(n)
                list(tree.walk_from(n, seen))  # marks the cycle as seen
        return tree

    def walk(self) -> Iterator[tuple[str, int]]:
        """(node id, depth) depth-first in display order; each node once, whatever the edges."""
        seen: set[str] = set()
        for root in self.roots:
            yield from self.walk_from(root, seen)

    def walk_from(self, start: str, seen: set[str]) -> Iterator[tuple[str, int]]:
        if start in seen:
            return
        stack = [(start, 0)]
        while stack:
            node_id, depth = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            yield node_id, depth
            kids = self.children.get(node_id, ())
            stack.extend((k, depth + 1) for k in reversed(kids) if k not in seen)

    def kids(self, node_id: str, placed: set[str]) -> list[str]:
        """Children not already placed elsewhere (a second parent, a cycle)."""
        return [k for k in self.children.get(node_id, ()) if k not in placed]

    def label(self, node_id: str | None) -> str:
        if not node_id:
            return ""
        node = self.nodes.get(node_id)
        return (node or {}).get("node_nid") or node_id[:8]
