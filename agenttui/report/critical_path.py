"""The plan as a graph (networkx): the critical path, and what is wrong when it is not a tree.

The critical path answers "which chain of nodes made the run take as long as it did": from the
root it descends, level by level, into the child that took longest (from its first step to its last
event, children included), down to a leaf. For an agent that works through its plan one node at a
time, as the recursive planner does, this is where the time went at each level; with parallel
children, the longest child is also the one its parent waited for. Each node on it gets its
duration and the share of the run's wall time it covers.

Edges come from agents, so the graph may not be a tree: a node with two parents or a cycle from
bad data are named (the walk still ends: a node is never visited twice).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from agenttui.compare.tree import PlanTree, seconds_between

#: Cycles named at most (a corrupt graph can have very many).
MAX_CYCLES = 5


@dataclass
class GraphShape:
    is_tree: bool
    roots: list[str] = field(default_factory=list)
    multi_parent: list[str] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)

    def problems(self, tree: PlanTree) -> list[str]:
        out = []
        for n in self.multi_parent:
            parents = ", ".join(tree.label(p) for p in tree.parents.get(n, ()))
            out.append(f"node {tree.label(n)} has {len(tree.parents.get(n, ()))} parents ({parents})")
        for cycle in self.cycles:
            out.append("cycle " + " -> ".join(tree.label(n) for n in cycle + cycle[:1]))
        if len(self.roots) > 1:
            out.append(f"{len(self.roots)} roots (nodes without a parent)")
        return out


@dataclass
class PathStep:
    node_id: str
    nid: str | None
    goal: str | None
    status: str | None
    seconds: float | None
    share: float | None  # of the run's duration


def plan_graph(tree: PlanTree) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(tree.nodes)
    for e in tree.edges:
        p, c = e["parent_node_id"], e["child_node_id"]
        if p in tree.nodes and c in tree.nodes and p != c:
            g.add_edge(p, c)
    return g


def graph_shape(g: nx.DiGraph) -> GraphShape:
    roots = [n for n, d in g.in_degree() if d == 0]
    multi = [n for n, d in g.in_degree() if d > 1]
    cycles = [list(c) for c in itertools.islice(nx.simple_cycles(g), MAX_CYCLES)]
    is_tree = len(g) > 0 and nx.is_arborescence(g)
    return GraphShape(is_tree, roots, multi, cycles)


def run_wall_seconds(run: dict[str, Any]) -> float | None:
    """First to last event of the run (the agent's own duration_seconds may count something else)."""
    return seconds_between(run.get("start_time"), run.get("end_time") or run.get("updated_at"))


def critical_path(tree: PlanTree, seconds: dict[str, float], g: nx.DiGraph | None = None) -> list[PathStep]:
    """`seconds`: each node's time from its first step to its last event (see stats.node_seconds)."""
    g = plan_graph(tree) if g is None else g
    if not len(g):
        return []
    root = tree.run.get("root_node_id")
    if root not in g:
        root = tree.roots[0] if tree.roots else next(iter(g))
    wall = run_wall_seconds(tree.run)
    path: list[PathStep] = []
    seen: set[str] = set()
    node: str | None = root
    while node is not None and node not in seen:
        seen.add(node)
        n = tree.nodes[node]
        secs = seconds.get(node)
        path.append(PathStep(node, n.get("node_nid"), n.get("task_goal"), n.get("status"), secs,
                             round(min(1.0, secs / wall), 4) if secs is not None and wall else None))
        kids = [k for k in g.successors(node) if k not in seen and k in seconds]
        node = max(kids, key=lambda k: (seconds[k], tree.nodes[k].get("node_nid") or "")) if kids else None
    return path
