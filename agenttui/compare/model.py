"""The comparison of two runs: paired nodes, totals and their deltas, aligned steps, first divergence.

Built in two phases so the compare screen can paint at once: the tree (projections only: a few
queries, milliseconds even for big runs) and then the steps (every event of both runs read once,
in pages), which the screen loads behind the first paint and `--json` waits for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from .align import NodePair, align_trees
from .steps import AlignedStep, Divergence, RunSteps, align_steps, cursor_positions, first_divergence
from .tree import PlanTree, node_duration, node_result_text, node_tokens

#: Node fields whose difference makes a pair "changed" (durations and tokens always differ a bit
#: between two runs: they are reported as deltas instead).
CHANGE_FIELDS = ("node_type", "task_goal", "status", "error_count", "llm_calls", "tool_calls", "result")
#: Run totals compared, with the projection column each comes from.
TOTALS = ("prompt_tokens", "completion_tokens", "total_tokens", "duration_seconds", "error_count",
          "llm_calls", "tool_calls", "nodes", "event_count")


@dataclass
class Side:
    """One run being compared: where it lives (a label for people), its store and its plan tree."""

    label: str
    store: Any
    run_id: str
    tree: PlanTree
    steps: RunSteps | None = None

    @classmethod
    def load(cls, store: Any, run_id: str, label: str) -> "Side":
        return cls(label, store, run_id, PlanTree.load(store, run_id))


def node_changes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The CHANGE_FIELDS in which two paired nodes differ."""
    out = []
    for f in CHANGE_FIELDS:
        va = node_result_text(a) if f == "result" else a.get(f)
        vb = node_result_text(b) if f == "result" else b.get(f)
        if va != vb:
            out.append(f)
    return out


def run_totals(tree: PlanTree) -> dict[str, Any]:
    run = tree.run
    out = {k: run.get(k) or 0 for k in TOTALS if k not in ("nodes", "total_tokens")}
    out["total_tokens"] = (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0)
    out["nodes"] = len(tree.nodes)
    out["duration_seconds"] = run.get("duration_seconds") or 0.0
    return out


def error_count(node: dict[str, Any]) -> int:
    """A FAILED node that counted no error still failed once: the new-errors list must not miss it."""
    return (node.get("error_count") or 0) + (1 if node.get("status") == "FAILED" and not node.get("error_count") else 0)


def rounded(d: float) -> float:
    """Float differences lose their binary noise in the JSON; integer counts stay integers."""
    return round(d, 6) if isinstance(d, float) else d


def delta(a: float, b: float) -> dict[str, Any]:
    d = b - a
    return {"a": a, "b": b, "delta": rounded(d),
            "percent": round(100.0 * d / a, 2) if a else (None if d else 0.0)}


@dataclass
class Comparison:
    a: Side
    b: Side
    pairs: list[NodePair]
    changes: list[list[str]]  # per pair: the fields that differ ([] for one-sided pairs)
    pair_of_a: dict[str, int] = field(default_factory=dict)
    pair_of_b: dict[str, int] = field(default_factory=dict)
    steps: list[AlignedStep] | None = None
    cursor: list[tuple[int, int]] | None = None
    divergence: Divergence | None = None

    @classmethod
    def of_trees(cls, a: Side, b: Side) -> "Comparison":
        """Phase one: the paired trees, from the projections."""
        pairs = align_trees(a.tree, b.tree)
        changes = [node_changes(a.tree.nodes[p.a], b.tree.nodes[p.b]) if p.a is not None and p.b is not None else []
                   for p in pairs]
        cmp = cls(a, b, pairs, changes)
        for i, p in enumerate(pairs):
            if p.a is not None:
                cmp.pair_of_a[p.a] = i
            if p.b is not None:
                cmp.pair_of_b[p.b] = i
        return cmp

    def load_steps(self, progress: Callable[[str, int], None] | None = None) -> None:
        """Phase two: read both runs' events, pair their steps, find the first divergence."""
        for side, name in ((self.a, "a"), (self.b, "b")):
            if side.steps is None:
                side.steps = RunSteps.read(side.store, side.run_id,
                                           progress=partial(progress, name) if progress else None)
        assert self.a.steps is not None and self.b.steps is not None
        self.steps = align_steps(self.a.steps, self.b.steps, self.pair_of_a, self.pair_of_b)
        self.cursor = cursor_positions(self.steps, self.a.steps, self.b.steps)
        self.divergence = first_divergence(self.a.steps, self.b.steps, self.steps, self.pair_of_a, self.pair_of_b)

    # -- what scripts get -------------------------------------------------------------------------
    def pair_index(self, divergence: Divergence) -> int | None:
        if divergence.node_a is not None and divergence.node_a in self.pair_of_a:
            return self.pair_of_a[divergence.node_a]
        if divergence.node_b is not None and divergence.node_b in self.pair_of_b:
            return self.pair_of_b[divergence.node_b]
        return None

    def _node_ref(self, side: Side, node_id: str | None) -> dict[str, Any] | None:
        if node_id is None:
            return None
        n = side.tree.nodes.get(node_id, {})
        return {"node_id": node_id, "nid": n.get("node_nid"), "goal": n.get("task_goal"),
                "type": n.get("node_type"), "status": n.get("status")}

    def totals(self) -> dict[str, dict[str, Any]]:
        ta, tb = run_totals(self.a.tree), run_totals(self.b.tree)
        return {k: delta(ta[k], tb[k]) for k in TOTALS}

    def identical(self) -> bool:
        return (all(not p.one_sided for p in self.pairs) and not any(self.changes)
                and self.divergence is None)

    def to_dict(self) -> dict[str, Any]:
        added = [self._node_ref(self.b, p.b) for p in self.pairs if p.a is None]
        removed = [self._node_ref(self.a, p.a) for p in self.pairs if p.b is None]
        changed = []
        for p, fields in zip(self.pairs, self.changes):
            if fields and p.a is not None and p.b is not None:  # only two-sided pairs have changed fields
                na, nb = self.a.tree.nodes[p.a], self.b.tree.nodes[p.b]
                changed.append({"a": self._node_ref(self.a, p.a), "b": self._node_ref(self.b, p.b),
                                "fields": {f: [node_result_text(na) if f == "result" else na.get(f),
                                               node_result_text(nb) if f == "result" else nb.get(f)]
                                           for f in fields}})
        paired = [p for p in self.pairs if not p.one_sided]
        out: dict[str, Any] = {
            "a": {"target": self.a.label, "run_id": self.a.run_id, "status": self.a.tree.run.get("status")},
            "b": {"target": self.b.label, "run_id": self.b.run_id, "status": self.b.tree.run.get("status")},
            "identical": self.identical(),
            "nodes": {"paired": len(paired), "added": added, "removed": removed, "changed": changed,
                      "unchanged": sum(1 for p, c in zip(self.pairs, self.changes) if not p.one_sided and not c)},
            "totals": self.totals(),
            "node_deltas": self.node_deltas(),
            "new_errors": self.new_errors(),
            "first_divergence": self.divergence_dict(),
        }
        if self.steps is not None:
            out["steps"] = {"a": len(self.a.steps.steps) if self.a.steps else 0,
                            "b": len(self.b.steps.steps) if self.b.steps else 0,
                            "aligned": len(self.steps),
                            "only_a": sum(1 for s in self.steps if s.b is None),
                            "only_b": sum(1 for s in self.steps if s.a is None)}
        return out

    def node_deltas(self, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
        """The paired nodes whose duration and tokens moved most (largest change first)."""
        rows: list[tuple[dict[str, Any], dict[str, Any], dict[str, float]]] = []
        for p in self.pairs:
            if p.a is None or p.b is None:
                continue
            na, nb = self.a.tree.nodes[p.a], self.b.tree.nodes[p.b]
            rows.append((na, nb, {"duration_seconds": (node_duration(nb) or 0.0) - (node_duration(na) or 0.0),
                                  "tokens": node_tokens(nb) - node_tokens(na)}))
        out = {}
        for key in ("duration_seconds", "tokens"):
            top = sorted((r for r in rows if r[2][key]), key=lambda r: -abs(r[2][key]))[:limit]
            out[key] = [{"nid_a": na.get("node_nid"), "nid_b": nb.get("node_nid"), "goal": nb.get("task_goal"),
                         "delta": rounded(moved[key])} for na, nb, moved in top]
        return out

    def new_errors(self) -> list[dict[str, Any]]:
        """Nodes of B with errors where their counterpart in A had none (or no counterpart)."""
        out = []
        for p in self.pairs:
            if p.b is None:
                continue
            errs_b = error_count(self.b.tree.nodes[p.b])
            errs_a = error_count(self.a.tree.nodes[p.a]) if p.a is not None else 0
            if errs_b and not errs_a:
                out.append({**(self._node_ref(self.b, p.b) or {}), "errors": errs_b})
        return out

    def divergence_dict(self) -> dict[str, Any] | None:
        d = self.divergence
        if d is None:
            return None
        st = self.steps[d.step] if self.steps else None
        return {"step": d.step + 1, "kind": d.kind, "fields": d.fields,
                "agent_step_a": st.a.number if st and st.a else None,
                "agent_step_b": st.b.number if st and st.b else None,
                "position_a": d.position_a, "position_b": d.position_b,
                "event_type_a": d.event_type_a, "event_type_b": d.event_type_b,
                "node_a": self._node_ref(self.a, d.node_a), "node_b": self._node_ref(self.b, d.node_b),
                "description": describe(self, d)}


def describe(cmp: Comparison, d: Divergence) -> str:
    """One sentence naming the divergence, e.g. "step 12, node 1.3: tool_invoked arguments differ"."""
    where = f"step {d.step + 1}"
    na = cmp.a.tree.label(d.node_a)
    nb = cmp.b.tree.label(d.node_b)
    node = na if na == nb or not nb else (nb if not na else f"{na} / {nb}")
    if node:
        where += f", node {node}"
    what = {
        "step-only-a": "a step only run A took",
        "step-only-b": "a step only run B took",
        "event-only-a": f"{d.event_type_a} only in run A",
        "event-only-b": f"{d.event_type_b} only in run B",
        "event-type": f"{d.event_type_a} in A but {d.event_type_b} in B",
        "event-node": f"{d.event_type_a} about a different node",
        "fields": f"{d.event_type_a} {', '.join(d.fields)} differ" if len(d.fields) > 1
        else f"{d.event_type_a} {''.join(d.fields)} differs",
    }[d.kind]
    return f"{where}: {what}"
