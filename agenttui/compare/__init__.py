"""Comparing two runs: which nodes correspond, what changed, and where the runs first diverged.

    from agenttui.compare import compare_runs
    cmp = compare_runs(store_a, "run-1", store_b, "run-2")
    cmp.to_dict()["first_divergence"]

The runs may live in one store or two (a file and a PostgreSQL database); only the public store API
is used: the projections for the trees and totals, paged event reads for the steps.
"""
from __future__ import annotations

from typing import Any

from .align import NodePair, align_siblings, align_trees
from .failon import Condition, FailOnError, evaluate, parse_condition
from .model import Comparison, Side, describe, node_changes
from .payload_diff import diff_payloads, payload_lines
from .steps import AlignedStep, Divergence, RunSteps, Step
from .tree import PlanTree, node_duration, node_tokens

__all__ = [
    "AlignedStep", "Comparison", "Condition", "Divergence", "FailOnError", "NodePair", "PlanTree", "RunSteps",
    "Side", "Step", "align_siblings", "align_trees", "compare_runs", "describe", "diff_payloads", "evaluate",
    "node_changes", "node_duration", "node_tokens", "parse_condition", "payload_lines",
]


def compare_runs(store_a: Any, run_a: str, store_b: Any, run_b: str, *, label_a: str = "A",
                 label_b: str = "B", steps: bool = True) -> Comparison:
    """Both phases at once (what `agenttui diff --json` and tests want)."""
    cmp = Comparison.of_trees(Side.load(store_a, run_a, label_a), Side.load(store_b, run_b, label_b))
    if steps:
        cmp.load_steps()
    return cmp
