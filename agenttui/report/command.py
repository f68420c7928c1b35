"""`agenttui report` and `agenttui stats TARGET --run R` on the command line."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from agenttui.summary import safe_text
from agenttui.terminal_text import escape_json

from agenttui.store import AgentTuiError, open_store

from .document import to_html, to_markdown, to_text
from .postmortem import build_report, build_stats
from .prices import load_prices
from .stats import summarize_run

FORMATS = ("md", "html", "text")

REPORT_EXAMPLES = """examples:
  agenttui report run.db --run R -o report.md
  agenttui report run.db --run R --format html -o report.html
  agenttui report run.db --prices prices.toml          # latest run, Markdown on stdout, with costs"""


def resolve_run(store: Any, run_id: str | None, target: str) -> str:
    """The run asked for, or the store's latest; a clear error when there is none."""
    if run_id is not None:
        if store.run(run_id) is None:
            raise AgentTuiError(f"{target}: no run {run_id!r} (agenttui stats {target} lists the runs)")
        return run_id
    latest = store.latest_run_id()
    if latest is None:
        raise AgentTuiError(f"{target}: no runs in this store yet")
    return latest


def _target(value: str | None) -> str:
    target = value or os.environ.get("AGENTTUI_DB") or os.environ.get("DATABASE_URL")
    if not target:
        raise AgentTuiError("no database given: pass TARGET (a .db file or postgresql:// URL) or set AGENTTUI_DB")
    return target


def add_report_command(subparsers: Any,
                       formatter_class: type[argparse.HelpFormatter] | None = None) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="write a run's post-mortem (Markdown or HTML)",
        description="A post-mortem of one run a person can paste into an issue: the task, outcome, duration, "
                    "totals, the plan tree with statuses, errors, slowest calls, time per model and tool, the "
                    "critical path, decisions with their reasoning, and artifacts.",
        epilog=REPORT_EXAMPLES, formatter_class=formatter_class or argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="?", metavar="TARGET",
                   help="the database file or postgresql:// URL (default: $AGENTTUI_DB, else $DATABASE_URL)")
    p.add_argument("--run", metavar="R", help="the run (default: the most recent)")
    p.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    p.add_argument("--format", choices=FORMATS, help="md (default), html (one self-contained file) or text; "
                                                     "default from the -o suffix (.html, .txt)")
    p.add_argument("--prices", metavar="TOML", help="price table (model -> price per million tokens in/out)")
    p.set_defaults(func=cmd_report)
    return p


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.output).suffix.lower() if args.output else ""
    return {".html": "html", ".htm": "html", ".txt": "text"}.get(suffix, "md")


def cmd_report(args: argparse.Namespace) -> int:
    target = _target(args.target)
    prices = load_prices(args.prices) if args.prices else None
    fmt = _format(args)
    with open_store(target, readonly=True) as store:
        run_id = resolve_run(store, args.run, target)
        doc = build_report(store, summarize_run(store, run_id, prices=prices))
    text = {"md": to_markdown, "html": to_html, "text": to_text}[fmt](doc)
    if args.output:
        out = Path(args.output)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
        print(f"report: run {safe_text(run_id)} written to {safe_text(str(args.output))} ({fmt})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_run_stats_options(p: argparse.ArgumentParser) -> None:
    """Options `agenttui stats` gets for one run's summary."""
    p.add_argument("--run", metavar="R", help="summarise this run: latency per model and tool, slowest calls, "
                                              "critical path, events per second")
    p.add_argument("--prices", metavar="TOML", help="with --run: price table for cost figures")


def cmd_run_stats(args: argparse.Namespace, target: str) -> int:
    prices = load_prices(args.prices) if args.prices else None
    with open_store(target, readonly=True) as store:
        run_id = resolve_run(store, args.run, target)
        summary = summarize_run(store, run_id, prices=prices)
    if getattr(args, "json", False):
        sys.stdout.write(escape_json(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode()) + "\n")
    else:
        sys.stdout.write(to_text(build_stats(summary)))
    return 0
