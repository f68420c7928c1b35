"""`agenttui copy SOURCE DEST [--run R]`: move runs between stores (SQLite file <-> PostgreSQL).

The typical use: an agent records to a local file, then the run is uploaded to the team's
database. Copying is an append of the source's events through the destination's normal API, so
the destination folds its projections as it would for a live writer, and event ids make it
idempotent: running the same copy twice stores nothing the second time. Events keep their ids,
run ids, timestamps, payloads and metadata; positions and seqs are the destination's own.

Events are copied as stored (no upcasting), so the destination's upcasters see what the agent wrote.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import orjson

from agenttui.arg_types import int_in
from agenttui.store import AgentTuiError, EventFilter, UpcasterRegistry, open_store
from agenttui.target_check import no_run_message
from agenttui.terminal_text import escape_controls, escape_json

#: Events per append on the destination: one transaction each, so a crash mid-copy leaves whole
#: batches, and a re-run skips them by id.
DEFAULT_BATCH = 2_000
#: More events per transaction only holds more of them in memory at once.
MAX_BATCH = 1_000_000


@dataclass
class CopyReport:
    source: str
    dest: str
    runs: list[str] = field(default_factory=list)
    read: int = 0
    stored: int = 0
    already_there: int = 0
    seconds: float = 0.0


def copy_events(source: Any, dest: Any, *, runs: list[str] | None = None, batch: int = DEFAULT_BATCH,
                progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Append the events of `runs` (all when None) from one open store to another, in log order."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    started = time.perf_counter()
    if runs:
        check_runs(source, runs)
    selected = list(runs) if runs else [r["run_id"] for r in source.runs()]
    report = CopyReport(source=source.path, dest=dest.path, runs=selected)
    filters = [EventFilter(run_id=r) for r in runs] if runs else [EventFilter()]
    total = sum(source.count_events(f) for f in filters)
    for f in filters:
        pending = []
        for e in source.iter_events(f, batch=batch):
            # a copy: append() stamps the destination's position on the events it is given, and
            # the source's paging reads the original's
            pending.append(replace(e, position=None, seq=None))
            if len(pending) >= batch:
                _flush(dest, pending, report, progress, total)
        _flush(dest, pending, report, progress, total)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def check_runs(source: Any, runs: list[str]) -> None:
    """Refuse runs the source does not hold, naming what it does hold."""
    missing = [r for r in runs if source.run(r) is None]
    if missing:
        raise AgentTuiError(no_run_message(source.path, missing, source.runs()))


def _flush(dest: Any, pending: list, report: CopyReport, progress: Callable[[int, int], None] | None,
           total: int) -> None:
    if not pending:
        return
    result = dest.append(pending)
    report.read += len(pending)
    report.stored += result.stored
    report.already_there += result.duplicates
    pending.clear()
    if progress:
        progress(report.read, total)


def cmd_copy(args: argparse.Namespace) -> int:
    if args.source == args.dest:
        raise AgentTuiError("SOURCE and DEST are the same store; nothing to copy")
    raw = UpcasterRegistry()  # an empty registry: read events exactly as stored
    with open_store(args.source, readonly=True, upcasters=raw) as source:
        if args.run:  # before DEST is created: a refused copy leaves nothing behind
            check_runs(source, args.run)
        created = _new_files(args.dest)
        try:
            with open_store(args.dest, upcasters=raw) as dest:
                report = copy_events(source, dest, runs=args.run, batch=args.batch)
        except BaseException:
            if created and _stored_nothing(args.dest):
                for path in created:  # (the new, empty store and its -wal/-shm)
                    with contextlib.suppress(OSError):
                        os.remove(path)
            raise
    if args.json:
        print(escape_json(orjson.dumps(asdict(report)).decode()))
    elif not args.quiet:
        runs = f"{len(report.runs):,} run{'s' if len(report.runs) != 1 else ''}"
        print(f"{escape_controls(report.source)} -> {escape_controls(report.dest)}: {runs}, {report.read:,} events "
              f"read, {report.stored:,} stored, {report.already_there:,} already there ({report.seconds:.2f}s)")
    return 0


def _new_files(dest: str) -> list[str]:
    """The files a copy to `dest` creates (none for a URL or a store that exists)."""
    if "://" in dest or os.path.exists(dest):
        return []
    return [dest, f"{dest}-wal", f"{dest}-shm", f"{dest}-journal"]


def _stored_nothing(dest: str) -> bool:
    try:
        with open_store(dest, readonly=True) as store:
            return store.count_events() == 0
    except Exception:  # not even a store: nothing of the user's in it either
        return True


def add_copy_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register `copy` on the CLI's subparsers (agenttui/cli.py calls this)."""
    p = subparsers.add_parser(
        "copy", help="copy runs between stores (SQLite file <-> PostgreSQL)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Append the events of SOURCE (all runs, or those named with --run) to DEST, in order. "
                    "DEST folds its own projections; events it already holds (same event_id) are skipped, "
                    "so running the same copy again changes nothing. Either side may be a SQLite file or a "
                    "postgresql:// URL.",
        epilog="examples:\n"
               "  agenttui copy run.db postgresql://team-db/agents --run run-42\n"
               "  agenttui copy postgresql://team-db/agents local.db\n"
               "  agenttui copy old.db new.db --json")
    p.add_argument("source", metavar="SOURCE", help="the store to read (opened read-only)")
    p.add_argument("dest", metavar="DEST", help="the store to append to (created if it is a new file)")
    p.add_argument("--run", metavar="R", action="append",
                   help="only this run (repeat for several; null run ids are run 'unassigned')")
    p.add_argument("--batch", type=int_in(1, MAX_BATCH), default=DEFAULT_BATCH, metavar="N",
                   help=f"events per destination transaction (default {DEFAULT_BATCH:,})")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_copy)
    return p

