"""`--fail-on` conditions: what makes `agenttui diff` exit non-zero, so a CI job can gate on a run.

Each condition is read as "run B (the new one) is worse than run A in this way":

    new-errors          B has more errors than A, or a node that fails in B did not in A
    failed              B ended with a run error
    divergence          the runs differ anywhere (nodes, steps or events)
    added-nodes / removed-nodes / changed-nodes
    METRIC>N  METRIC>N%  METRIC>=N ...
                        METRIC went up by more than N (absolute) or N percent of A's value;
                        METRIC is one of tokens, prompt-tokens, completion-tokens, duration,
                        errors, llm-calls, tool-calls, nodes, events
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agenttui.store.errors import AgentTuiError

METRICS = {
    "tokens": "total_tokens", "prompt-tokens": "prompt_tokens", "completion-tokens": "completion_tokens",
    "duration": "duration_seconds", "errors": "error_count", "llm-calls": "llm_calls",
    "tool-calls": "tool_calls", "nodes": "nodes", "events": "event_count",
}
FLAGS = ("new-errors", "failed", "divergence", "added-nodes", "removed-nodes", "changed-nodes")
_THRESHOLD = re.compile(r"^\s*([a-z-]+)\s*(>=|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*$")


class FailOnError(AgentTuiError):
    """A --fail-on condition that cannot be read."""


@dataclass(frozen=True)
class Condition:
    text: str
    flag: str | None = None
    metric: str | None = None
    op: str = ">"
    amount: float = 0.0
    percent: bool = False

    def check(self, result: dict[str, Any]) -> tuple[bool, str]:
        """(met, why) against a comparison's to_dict()."""
        if self.flag is not None:
            return _FLAG_CHECKS[self.flag](result)
        assert self.metric is not None, "parse_condition gives every condition a flag or a metric"
        t = result["totals"][METRICS[self.metric]]
        a, b = t["a"], t["b"]
        rise = b - a
        if self.percent:
            if a == 0:
                met = rise > 0 if self.op == ">" else rise >= 0 and b > 0
                return met, f"{self.metric} {_fmt(a)} -> {_fmt(b)} (A was 0)"
            value = 100.0 * rise / a
            met = value > self.amount if self.op == ">" else value >= self.amount
            return met, f"{self.metric} {_fmt(a)} -> {_fmt(b)} ({value:+.1f}%)"
        met = rise > self.amount if self.op == ">" else rise >= self.amount
        return met, f"{self.metric} {_fmt(a)} -> {_fmt(b)} ({rise:+g})"


def _fmt(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else f"{v:,}"


def _new_errors(r: dict[str, Any]) -> tuple[bool, str]:
    t = r["totals"]["error_count"]
    nodes = r["new_errors"]
    met = t["b"] > t["a"] or bool(nodes)
    named = ", ".join(str(n.get("nid") or n.get("node_id")) for n in nodes[:5])
    return met, f"errors {t['a']} -> {t['b']}" + (f"; failing only in B: {named}" if nodes else "")


def _failed(r: dict[str, Any]) -> tuple[bool, str]:
    return r["b"]["status"] == "error", f"run B status {r['b']['status']}"


def _divergence(r: dict[str, Any]) -> tuple[bool, str]:
    d = r.get("first_divergence")
    if not r["identical"]:
        return True, d["description"] if d else "the node trees differ"
    return False, "the runs do the same things"


def _count(key: str):
    def check(r: dict[str, Any]) -> tuple[bool, str]:
        n = len(r["nodes"][key])
        return n > 0, f"{n} {key} node{'s' if n != 1 else ''}"
    return check


_FLAG_CHECKS = {"new-errors": _new_errors, "failed": _failed, "divergence": _divergence,
                "added-nodes": _count("added"), "removed-nodes": _count("removed"),
                "changed-nodes": _count("changed")}


def parse_condition(text: str) -> Condition:
    """A Condition from its command-line form; a clear error naming the form and the choices."""
    t = text.strip().lower()
    if t in FLAGS:
        return Condition(text, flag=t)
    m = _THRESHOLD.match(t)
    if m:
        metric, op, amount, pct = m.groups()
        if metric not in METRICS:
            raise FailOnError(f"--fail-on {text!r}: unknown metric {metric!r} (one of {', '.join(METRICS)})")
        return Condition(text, metric=metric, op=op, amount=float(amount), percent=bool(pct))
    raise FailOnError(f"--fail-on {text!r}: expected one of {', '.join(FLAGS)}, or METRIC>N / METRIC>N% "
                      f"with METRIC one of {', '.join(METRICS)} (e.g. tokens>10%)")


def evaluate(conditions: list[Condition], result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in conditions:
        met, why = c.check(result)
        out.append({"condition": c.text, "met": met, "detail": why})
    return out
