"""Pairing the nodes of two runs' plan trees.

Node ids are random per run, so nodes are matched by what they are: siblings under already paired
parents are aligned as sequences (a monotone alignment, like a diff of lines), where two nodes pair
when their type and goal text are the same, or when the goals are close enough to be the same step
reworded. Where both runs number their plans the same way the nid breaks ties, and where goals are
missing altogether the nid alone pairs them. Because siblings are aligned, not zipped, a step
inserted in one run leaves every later step paired with its counterpart instead of shifting them.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Sequence

from .tree import PlanTree

#: Share of words two differently worded goals must have in common to be the same step.
SIMILAR = 0.5
#: Blocks of unmatched siblings larger than this squared / 4 are paired by position (the scoring
#: table grows as n * m).
MAX_SCORED = 400

_SPACE = re.compile(r"\s+")


@dataclass
class NodePair:
    """One row of the compare tree: a node of A, of B, or both (`how` says how they were paired)."""

    a: str | None
    b: str | None
    depth: int
    how: str  # "same" (type and goal), "similar" (goal reworded), "nid" (no goals), "only-a", "only-b"

    @property
    def one_sided(self) -> bool:
        return self.a is None or self.b is None


def _goal(node: dict) -> str:
    goal = node.get("task_goal")
    return _SPACE.sub(" ", str(goal)).strip().casefold() if goal else ""


def _nid_tail(node: dict) -> str | None:
    nid = node.get("node_nid")
    return str(nid).rsplit(".", 1)[-1] if nid else None


def _words(node: dict) -> frozenset[str]:
    return frozenset(_goal(node).split())


def _score(a: dict, b: dict) -> float:
    """How well two siblings that are not the same step could pair as a reworded one: 0 means not.

    Word overlap (Jaccard) rather than a character diff: it is what makes two goals "the same
    step", and it costs a set intersection where difflib's ratio cost milliseconds per pair.
    """
    same_type = (a.get("node_type") or "") == (b.get("node_type") or "")
    same_nid = _nid_tail(a) is not None and _nid_tail(a) == _nid_tail(b)
    wa, wb = _words(a), _words(b)
    if wa and wb:
        overlap = len(wa & wb) / len(wa | wb)
        return overlap + (0.5 if same_type else 0.0) + (0.01 if same_nid else 0.0) if overlap >= SIMILAR else 0.0
    if not wa and not wb and same_nid:
        return 1.0 + (0.5 if same_type else 0.0)
    return 0.0


def _key(node: dict) -> tuple:
    return (node.get("node_type") or "", _goal(node) or f"#{_nid_tail(node)}")


def align_siblings(a_ids: Sequence[str], b_ids: Sequence[str], a_nodes: dict, b_nodes: dict
                   ) -> list[tuple[str | None, str | None, str]]:
    """The best monotone pairing of two sibling lists, one-sided entries kept in place.

    Identical steps (same type and goal, or same nid when neither has a goal) are paired first, as
    a line diff pairs equal lines; what lies between them is paired by similarity.
    """
    if not a_ids or not b_ids:
        return [(x, None, "only-a") for x in a_ids] + [(None, y, "only-b") for y in b_ids]
    ka = [_key(a_nodes[x]) for x in a_ids]
    kb = [_key(b_nodes[y]) for y in b_ids]
    out: list[tuple[str | None, str | None, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [(a_ids[i], b_ids[j], _how(a_nodes[a_ids[i]], b_nodes[b_ids[j]]))
                    for i, j in zip(range(i1, i2), range(j1, j2))]
        elif tag == "replace":
            out += _align_similar(a_ids[i1:i2], b_ids[j1:j2], a_nodes, b_nodes)
        else:
            out += [(a_ids[i], None, "only-a") for i in range(i1, i2)]
            out += [(None, b_ids[j], "only-b") for j in range(j1, j2)]
    return out


def _align_similar(a_ids: Sequence[str], b_ids: Sequence[str], a_nodes: dict, b_nodes: dict
                   ) -> list[tuple[str | None, str | None, str]]:
    """Pair the most similar goals (dynamic programming over the block; positional when huge)."""
    n, m = len(a_ids), len(b_ids)
    if n * m > MAX_SCORED * MAX_SCORED // 4:
        k = min(n, m)
        return ([(a_ids[i], b_ids[i], _how(a_nodes[a_ids[i]], b_nodes[b_ids[i]])) for i in range(k)]
                + [(x, None, "only-a") for x in a_ids[k:]] + [(None, y, "only-b") for y in b_ids[k:]])
    score = [[_score(a_nodes[x], b_nodes[y]) for y in b_ids] for x in a_ids]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = best[i], best[i + 1]
        for j in range(m - 1, -1, -1):
            s = score[i][j]
            row[j] = max(below[j], row[j + 1], below[j + 1] + s if s > 0 else 0.0)
    out: list[tuple[str | None, str | None, str]] = []
    i = j = 0
    while i < n and j < m:
        s = score[i][j]
        if s > 0 and best[i][j] == best[i + 1][j + 1] + s:
            out.append((a_ids[i], b_ids[j], _how(a_nodes[a_ids[i]], b_nodes[b_ids[j]])))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            out.append((a_ids[i], None, "only-a"))
            i += 1
        else:
            out.append((None, b_ids[j], "only-b"))
            j += 1
    out += [(x, None, "only-a") for x in a_ids[i:]] + [(None, y, "only-b") for y in b_ids[j:]]
    return out


def _how(a: dict, b: dict) -> str:
    ga, gb = _goal(a), _goal(b)
    if not ga and not gb:
        return "nid"
    return "same" if ga == gb and (a.get("node_type") or "") == (b.get("node_type") or "") else "similar"


def align_trees(a: PlanTree, b: PlanTree) -> list[NodePair]:
    """Every node of both runs once, paired where they correspond, depth-first in display order.

    The roots are aligned like siblings; a pair's children are aligned with each other; a node
    whose counterpart is missing brings its whole subtree along as one-sided rows.
    """
    out: list[NodePair] = []
    placed_a: set[str] = set()
    placed_b: set[str] = set()
    # explicit stack of (pairs at this level, index) so deep trees do not hit the recursion limit
    stack: list[tuple[list[tuple[str | None, str | None, str]], int, int]] = []
    level = align_siblings(a.roots, b.roots, a.nodes, b.nodes)
    stack.append((level, 0, 0))
    while stack:
        level, i, depth = stack.pop()
        if i >= len(level):
            continue
        stack.append((level, i + 1, depth))
        x, y, how = level[i]
        if x is not None and x in placed_a:  # met before under another parent (bad edges)
            x, how = None, "only-b"
        if y is not None and y in placed_b:
            y, how = None, "only-a"
        if x is None and y is None:
            continue
        if x is not None:
            placed_a.add(x)
        if y is not None:
            placed_b.add(y)
        out.append(NodePair(x, y, depth, how))
        kids_a = a.kids(x, placed_a) if x is not None else []
        kids_b = b.kids(y, placed_b) if y is not None else []
        if kids_a or kids_b:
            stack.append((align_siblings(kids_a, kids_b, a.nodes, b.nodes), 0, depth + 1))
    return out
