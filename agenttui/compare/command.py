"""`agenttui diff`: compare two runs in one store or in two, on screen or for scripts and CI.

    agenttui diff run.db                      # the two most recent runs (older = A, newer = B)
    agenttui diff run.db --run A --run B      # two runs of one store
    agenttui diff old.db new.db               # the latest run of each file
    agenttui diff old.db postgresql://... --run X --run Y
    agenttui diff run.db --run A --run B --json --fail-on new-errors --fail-on 'tokens>10%'

Exit codes: 0 no --fail-on condition met, 1 one was met, 2 an error.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from agenttui.terminal_text import escape_json

from agenttui.store import AgentTuiError, open_store
from agenttui.summary import safe_text

from .failon import FLAGS, METRICS, evaluate, parse_condition
from .model import Comparison, Side

EXIT_OK, EXIT_FAILED_ON, EXIT_ERROR = 0, 1, 2

EXAMPLES = """examples:
  agenttui diff run.db                                  the two most recent runs
  agenttui diff run.db --run baseline --run candidate
  agenttui diff old.db new.db                           latest run of each file
  agenttui diff run.db --run A --run B --json | jq .first_divergence
  agenttui diff base.db new.db --fail-on new-errors --fail-on 'tokens>10%'   (CI gate: exit 1)

--fail-on conditions (B is the new run):
  """ + ", ".join(FLAGS) + """
  METRIC>N or METRIC>N%   METRIC went up by more than N, or N percent
                          (""" + ", ".join(METRICS) + ")"


def add_diff_command(subparsers: Any,
                     formatter_class: type[argparse.HelpFormatter] | None = None) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diff", help="compare two runs (one store or two)",
        description="Pair the nodes of two runs (by goal and type, or nid), show what changed and the first "
                    "step where the runs did something different. Opens the compare screen; with --json or "
                    "--fail-on prints the comparison instead.",
        epilog=EXAMPLES, formatter_class=formatter_class or argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="one store holding both runs, or two (A then B); default $AGENTTUI_DB")
    p.add_argument("--run", metavar="R", action="append", default=[],
                   help="run of A, then run of B (one store: two needed, or none for the two latest; "
                        "two stores: none for each one's latest, one for the same id in both)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--fail-on", metavar="COND", action="append", default=[],
                   help="exit 1 when COND holds (repeatable; see below)")
    p.set_defaults(func=cmd_diff)
    return p


def open_sides(targets: list[str], runs: list[str]) -> tuple[Side, Side, list[Any]]:
    """Both sides of a diff from the command line's targets and runs (stores opened read-only)."""
    if not targets:
        env = os.environ.get("AGENTTUI_DB") or os.environ.get("DATABASE_URL")
        if not env:
            raise AgentTuiError("no database given: pass TARGET (or two) or set AGENTTUI_DB")
        targets = [env]
    if len(targets) > 2:
        raise AgentTuiError(f"diff compares two runs: got {len(targets)} targets (give one store or two)")
    if len(runs) > 2:
        raise AgentTuiError(f"diff compares two runs: got {len(runs)} --run options")
    stores: list[Any] = []
    try:
        for t in targets:
            stores.append(open_store(t, readonly=True))
        if len(targets) == 1:
            store, target = stores[0], targets[0]
            if len(runs) == 1:
                raise AgentTuiError("with one store give two runs (--run A --run B), or none for its two latest")
            if not runs:
                recent = [r["run_id"] for r in sorted(store.runs(), key=lambda r: r.get("last_position") or 0)
                          if r["run_id"] != "unassigned"]
                if len(recent) < 2:
                    raise AgentTuiError(f"{target}: needs two runs to compare, has {len(recent)}")
                runs = recent[-2:]
            pairs = [(store, target, runs[0]), (store, target, runs[1])]
        else:
            if not runs:
                chosen = []
                for s, t in zip(stores, targets):
                    latest = s.latest_run_id()
                    if latest is None:
                        raise AgentTuiError(f"{t}: no runs in this store yet")
                    chosen.append(latest)
                runs = chosen
            elif len(runs) == 1:
                runs = runs * 2
            pairs = [(stores[0], targets[0], runs[0]), (stores[1], targets[1], runs[1])]
        sides = []
        for store, target, run_id in pairs:
            if store.run(run_id) is None:
                raise AgentTuiError(f"{target}: no run {run_id!r} (agenttui stats {target} lists the runs)")
            label = run_id if len(targets) == 1 else f"{target} {run_id}"
            sides.append(Side.load(store, run_id, label))
        return sides[0], sides[1], stores
    except BaseException:
        for s in stores:
            s.close()
        raise


def cmd_diff(args: argparse.Namespace) -> int:
    conditions = [parse_condition(c) for c in args.fail_on]
    a, b, stores = open_sides(list(args.targets), list(args.run))
    try:
        cmp = Comparison.of_trees(a, b)
        if not (args.json or conditions):
            from agenttui.tui.screens.compare import run_compare

            return int(run_compare(cmp) or 0)
        cmp.load_steps()
        result = cmp.to_dict()
    finally:
        for s in stores:
            s.close()
    checks = evaluate(conditions, result)
    failed = [c for c in checks if c["met"]]
    if conditions:
        result["fail_on"] = checks
    if args.json:
        sys.stdout.write(escape_json(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()) + "\n")
    else:
        sys.stdout.write(text_summary(result))
    for c in failed:
        print(f"diff: --fail-on {safe_text(c['condition'])}: {safe_text(c['detail'], 300)}", file=sys.stderr)
    return EXIT_FAILED_ON if failed else EXIT_OK


def text_summary(r: dict[str, Any]) -> str:
    """A few lines for a terminal or a CI log (every value made printable)."""
    t = r["totals"]
    lines = [f"A: {safe_text(r['a']['target'])} ({r['a']['status']})",
             f"B: {safe_text(r['b']['target'])} ({r['b']['status']})"]
    if r["identical"]:
        lines.append("no differences: the runs did the same things")
    n = r["nodes"]
    lines.append(f"nodes: {n['paired']} paired, {len(n['added'])} only in B, {len(n['removed'])} only in A, "
                 f"{len(n['changed'])} changed")
    for key, name in (("total_tokens", "tokens"), ("duration_seconds", "duration s"), ("error_count", "errors"),
                      ("llm_calls", "LLM calls"), ("tool_calls", "tool calls")):
        d = t[key]
        pct = f" ({d['percent']:+.1f}%)" if d["percent"] is not None and d["delta"] else ""
        lines.append(f"{name}: {d['a']:,} -> {d['b']:,}{pct}" if isinstance(d["a"], int)
                     else f"{name}: {d['a']:.2f} -> {d['b']:.2f}{pct}")
    div = r.get("first_divergence")
    if div:
        lines.append(f"first divergence: {safe_text(div['description'], 300)}")
    for c in r.get("fail_on", ()):
        verdict = "MET" if c["met"] else "ok"
        lines.append(f"--fail-on {safe_text(c['condition'])}: {verdict} ({safe_text(c['detail'], 300)})")
    return "\n".join(lines) + "\n"
