"""The `agenttui` command line: one subcommand per job (import, export, tail, open, demo, ...).

Exit codes are the same for every command: 0 success, 1 "the answer is no" (some import lines
failed, rebuild --check found differences), 2 an error (bad usage, a missing or unusable file).
Expected errors print one line to stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import queue
import signal
import sqlite3
import sys
import tempfile
import textwrap
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Callable, Iterator, NoReturn, Sequence

import orjson

from agenttui import __version__
from agenttui.store import AgentTuiError, EventFilter, NotAStoreError, UpcasterRegistry, open_store
from agenttui.store.envelope import DEFAULT_MAX_PAYLOAD_BYTES, Event, format_datetime
from agenttui.store.follow import Change, StoreFollower
from agenttui.store.urls import target_from_env
from agenttui.summary import UNASSIGNED_LABEL, elapsed_of, format_elapsed, has_clock, safe_text, summarize
from agenttui.arg_types import MAX_INT64, MIN_INT64, finite_float, int_in, int_or_all
from agenttui.terminal_text import escape_controls, escape_json, escape_json_bytes
from agenttui.compare.command import add_diff_command
from agenttui.copy import add_copy_command
from agenttui.query import add_query_command
from agenttui.report.command import add_report_command, add_run_stats_options, cmd_run_stats
from agenttui.serve import add_serve_command
from agenttui.target_check import check_open_target, empty_file_message, is_empty_file

PROG = "agenttui"
#: Bad import lines printed to stderr before only their count is given.
SHOWN_IMPORT_ERRORS = 50

EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2


class UsageError(AgentTuiError):
    """The command line asks for something impossible (exit code 2)."""


# ------------------------------------------------------------------------------ output helpers

#: Human-facing output keeps its line breaks and tabs; every other control character is escaped.
_LINES = {"\n": "\n", "\t": "\t"}


class _TerminalSafe:
    """stdout for what a command prints for people: file names, run ids and messages inside it
    may hold escape sequences, and none reaches the terminal (JSON is passed through escape_json
    first, which leaves nothing here to escape)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(escape_controls(text, whitespace=_LINES))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _out() -> IO[str]:
    return _TerminalSafe(sys.stdout)  # type: ignore[return-value]


def _err(message: str) -> None:
    print(escape_controls(message, whitespace=_LINES), file=sys.stderr, flush=True)


def _json(value: Any, option: int = 0) -> str:
    """Exact JSON with the characters a terminal acts on written as \\u escapes."""
    return escape_json(orjson.dumps(value, option=option).decode())


class _JsonlOut:
    """JSONL on stdout as bytes, with the same escapes as _json (still exact JSON). A stdout with no
    binary buffer (an embedding that swapped in a text stream, as a test harness does) gets the same
    JSON as text (it is UTF-8)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._binary = getattr(stream, "buffer", None)

    def write(self, data: bytes) -> int:
        escaped = escape_json_bytes(data)
        if self._binary is not None:
            return self._binary.write(escaped)
        self._stream.write(escaped.decode("utf-8"))
        return len(escaped)

    def flush(self) -> None:
        (self._binary or self._stream).flush()


@contextmanager
def _progress(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A Rich progress bar on stderr when it is a terminal; otherwise a no-op update function."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda completed, total=None: None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        # the description names a file: shown literally, never read as Rich markup or escapes
        task = bar.add_task(escape(escape_controls(description, 60)), total=total)

        def update(completed: int, total: int | None = None) -> None:
            bar.update(task, completed=completed, total=total)  # Rich keeps the total when given None

        yield update


def _count(n: int, noun: str) -> str:
    """'1 run', '2 runs', '12,000 events'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _target(args: argparse.Namespace) -> str:
    target = args.target or target_from_env()
    if not target:
        raise UsageError("no database given: pass TARGET (a .db file or postgresql:// URL) or set AGENTTUI_DB "
                         "or DATABASE_URL")
    return target


def _filter(args: argparse.Namespace) -> EventFilter:
    return EventFilter(run_id=args.run, types=args.type or None)


# ------------------------------------------------------------------------------------ import

def cmd_import(args: argparse.Namespace) -> int:
    from agenttui.store.jsonl import ImportReport, import_jsonl

    target = _target(args)
    if args.file == "-":
        source: IO[bytes] = sys.stdin.buffer
        name = "<stdin>"
        if sys.stdin.isatty() and not args.quiet:
            _err("reading JSONL events from the terminal; end with Ctrl-D")
    else:
        source = open(args.file, "rb")
        name = args.file
        if source.seekable():  # not for pipes such as <(zcat events.jsonl.gz)
            if source.read(16) == b"SQLite format 3\x00":
                source.close()
                raise UsageError(f"{name} is a SQLite database, not a JSONL file "
                                 "(usage: agenttui import TARGET FILE)")
            source.seek(0)
    fmt = args.format
    if fmt == "auto":  # OTLP JSON (a collector's file exporter) is told apart by its first line
        from agenttui.otel.importer import looks_like_otlp

        peek = getattr(source, "peek", None)
        fmt = "otlp" if peek is not None and looks_like_otlp(peek(4096)[:4096].split(b"\n")[0]) else "jsonl"
    importer: Callable[..., ImportReport] = import_jsonl  # or import_otlp: the same report, fewer options
    if fmt == "otlp":
        from agenttui.otel.importer import import_otlp as importer  # the same report shape
    started = time.perf_counter()
    try:
        with open_store(target, max_payload_bytes=args.max_payload_bytes) as store:
            with _progress(f"importing {os.path.basename(name)}", None, enabled=not args.quiet) as update:
                options = {"atomic": not args.commit_batches}
                report = importer(store, source, progress=update, **options)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    elapsed = time.perf_counter() - started
    for line_no, message in report.errors[:SHOWN_IMPORT_ERRORS]:
        _err(f"line {line_no}: {safe_text(message, 300)}")
    hidden = report.failed - min(len(report.errors), SHOWN_IMPORT_ERRORS)
    if hidden > 0:
        _err(f"... and {hidden:,} more bad line{'s' if hidden != 1 else ''}")
    if args.json:
        out = report.as_dict()
        out["seconds"] = round(elapsed, 3)
        print(_json(out), file=_out())
    elif not args.quiet:
        unit = "spans" if fmt == "otlp" else "lines"  # OTLP: events stored from spans read
        rate = f", {report.read / elapsed:,.0f} {unit}/s" if elapsed > 0 and report.read else ""
        print(f"{name}: {report.stored:,} stored, {report.duplicates:,} duplicates, {report.failed:,} failed "
              f"({report.read:,} {unit} in {elapsed:.2f}s{rate})", file=_out())
    return EXIT_OK if report.ok else EXIT_NO


# ------------------------------------------------------------------------------------ export

def cmd_export(args: argparse.Namespace) -> int:
    from agenttui.store.jsonl import export_jsonl

    # no upcasters: an export is a copy of the stored facts; the importing store upcasts on read
    with open_store(_target(args), readonly=True, upcasters=UpcasterRegistry()) as store:
        f = _filter(args)
        if args.output and args.output != "-":
            total = store.count_events(f)
            tmp = f"{args.output}.tmp-{os.getpid()}"
            try:
                with open(tmp, "wb") as fh, _progress("exporting", total, enabled=not args.quiet) as update:
                    n = export_jsonl(store, fh, f, progress=update)
                os.replace(tmp, args.output)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            if not args.quiet:
                _err(f"exported {_count(n, 'event')} to {args.output}")
        else:
            sys.stdout.flush()
            out = _JsonlOut(sys.stdout)
            export_jsonl(store, out, f)
            out.flush()
    return EXIT_OK


# -------------------------------------------------------------------------------------- tail

class _NodeLabels:
    """node_id -> nid for summaries: learnt from the events printed, else asked of the store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.known: dict[tuple[str, str], str] = {}
        self.missing: set[tuple[str, str]] = set()

    def learn(self, e: Event) -> None:
        p = e.payload
        pairs = ((p.get("node_id"), p.get("node_nid")), (p.get("added_node_id"), p.get("added_node_nid")),
                 (p.get("parent_node_id"), p.get("parent_node_nid")), (p.get("child_node_id"), p.get("child_node_nid")))
        for node_id, nid in pairs:
            if isinstance(node_id, str) and isinstance(nid, str) and nid:
                self.known[(e.run_id, node_id)] = nid

    def for_run(self, run_id: str) -> Callable[[str], str | None]:
        def nid_of(node_id: str) -> str | None:
            key = (run_id, node_id)
            nid = self.known.get(key)
            if nid is None and key not in self.missing:
                try:
                    row = self.store.node(run_id, node_id)
                except Exception:  # the server is away: print the node id now, ask again later
                    return None
                nid = row.get("node_nid") if row else None
                if nid:
                    self.known[key] = nid
                else:
                    self.missing.add(key)
            return nid
        return nid_of

    def forget_missing(self) -> None:
        self.missing.clear()
        if len(self.known) > 200_000:
            self.known.clear()


def _middle(text: str, width: int) -> str:
    """Shorten by cutting the middle: run ids often differ only at their ends."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def format_event_line(e: Event, labels: _NodeLabels | None = None) -> str:
    """`position time run type node summary`, every field made terminal-safe."""
    if labels is not None:
        labels.learn(e)
    nid_of = labels.for_run(e.run_id) if labels is not None else None
    node = ""
    if e.node_id:
        node = (nid_of(e.node_id) if nid_of else None) or e.node_id[:8]
    when = e.timestamp[:23].replace("T", " ")
    return (f"{e.position:>8}  {when}  {_middle(safe_text(e.run_id), 24):<24}  {safe_text(e.event_type, 40):<22}  "
            f"{safe_text(node, 12):<8}  {summarize(e, nid_of, include_node=False)}")


def _has_no_tables(path: str) -> bool:
    try:
        with sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.Error:
        return False


def _wait_for_store(target: str) -> tuple[Any, bool]:
    """Open TARGET read-only, waiting (like the inspector) while no writer has created it yet.

    Returns the store and whether it had to wait: then every event in it is new to the reader.
    """
    announced = False
    while True:
        try:
            return open_store(target, readonly=True), announced
        except (FileNotFoundError, NotAStoreError) as exc:
            if isinstance(exc, NotAStoreError) and not _has_no_tables(target):
                raise  # a file that is not, and will not become, an agenttui store
            if not announced:
                _err(f"waiting for {target} to be created (Ctrl-C to stop)")
                announced = True
            time.sleep(0.1)


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (a service manager, `kill`, a CI runner's timeout) stops like Ctrl-C: the same clean
    exit, with whatever was written so far kept. A process started with SIGINT ignored (a background
    job, a non-interactive shell) can only be stopped this way short of SIGKILL."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set `stop`, for a loop that looks at it between its writes, instead of
    raising KeyboardInterrupt wherever the main thread happens to be: raised between a BEGIN and
    the block that rolls it back, it left the connection inside a transaction ("cannot start a
    transaction within a transaction" on the run_error that closes the run), and raised inside
    `Event.wait`'s lock, a RuntimeError (2 runs in 60 under load). The event is set from a thread:
    a handler runs on the main thread, which may hold the event's own lock at that moment. A
    second signal raises KeyboardInterrupt, for a write that does not come back. SIGINT ignored
    at start (a background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        threading.Thread(target=stop.set, name="agenttui-stop", daemon=True).start()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, request_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_tail(args: argparse.Namespace) -> int:
    with _sigterm_as_ctrl_c():
        return _tail(args)


def _tail(args: argparse.Namespace) -> int:
    target = _target(args)
    try:
        store, waited = _wait_for_store(target) if args.follow else (open_store(target, readonly=True), False)
    except KeyboardInterrupt:
        return EXIT_OK
    with store:
        f = _filter(args)
        out = sys.stdout
        labels = _NodeLabels(store)

        def emit(events: list[Event]) -> None:
            if args.json:
                out.write(escape_json("".join(orjson.dumps(e.to_json()).decode() + "\n" for e in events)))
            else:
                out.write("".join(format_event_line(e, labels) + "\n" for e in events))
                labels.forget_missing()  # a node unknown now may be created by the next batch
            out.flush()

        last = 0 if waited else store.last_position()
        if not waited and (args.lines is None or args.lines > 0):
            if args.lines is None:
                for page in _pages(store, f, 0, last):
                    emit(page)
            else:
                recent = store.events(f, before=last + 1, limit=args.lines, order="desc")
                recent.reverse()
                emit(recent)
        if args.follow:
            try:
                _follow(target, f, last, emit)
            except KeyboardInterrupt:
                pass
    return EXIT_OK


def _pages(store: Any, f: EventFilter, after: int, upto: int) -> Iterator[list[Event]]:
    while True:
        page = [e for e in store.events(f, after=after, limit=1000) if e.position <= upto]
        if not page:
            return
        yield page
        after = page[-1].position


def _follow(target: str, f: EventFilter, last: int, emit: Callable[[list[Event]], None]) -> None:
    """Print events committed after `last` until Ctrl-C, through the store's one follower.

    The follower (agenttui.store.follow) wakes on file events or LISTEN/NOTIFY within a few
    milliseconds and polls as the fallback; a lost server is reopened with backoff and reading
    resumes after the last event printed, so nothing is skipped or printed twice. What happens
    to the store itself (lost, back, replaced) is said on stderr, never mixed into the events.
    """
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    follower = StoreFollower(target, changes.put, filter=f)
    follower.start(last)
    try:
        while True:
            try:
                change = changes.get(timeout=0.5)  # a timeout keeps Ctrl-C prompt on every platform
            except queue.Empty:
                continue
            if change.kind == "events":
                emit(change.events)
            elif change.kind == "problem":
                _err(f"{safe_text(change.message)}; retrying" if change.message else "reading again")
            elif change.kind == "appeared":
                _err(f"{safe_text(change.message)}; following it from its first event")
                follower.follow_from(0)
            elif change.kind in ("replaced", "deleted", "unusable"):
                _err(safe_text(change.message))
    finally:
        follower.stop()


def cmd_rebuild(args: argparse.Namespace) -> int:
    target = _target(args)
    if args.every is not None and not args.snapshots:
        raise UsageError("--every goes with --snapshots (how far apart the checkpoints it writes are)")
    if args.snapshots:
        if args.check:
            raise UsageError("--check and --snapshots do different jobs: run them one at a time")
        return _rebuild_snapshots(target, args)
    if args.check:
        with open_store(target, readonly=True) as store:
            total = store.count_events()
            with _progress("checking", total, enabled=not args.quiet) as update:
                problems = store.check(progress=update)
            if not problems:
                print(f"{target}: projections match a fresh fold of {_count(total, 'event')}", file=_out())
                return EXIT_OK
            for line in problems[:SHOWN_IMPORT_ERRORS]:
                print(safe_text(line, 500), file=_out())
            if len(problems) > SHOWN_IMPORT_ERRORS:
                print(f"... and {len(problems) - SHOWN_IMPORT_ERRORS:,} more differences", file=_out())
            _err(f"{target}: {len(problems):,} difference{'s' if len(problems) != 1 else ''} between the "
                 "projections and the events; run `agenttui rebuild` to fix them")
            return EXIT_NO
    with open_store(target) as store:
        total = store.count_events()
        started = time.perf_counter()
        with _progress("rebuilding", total, enabled=not args.quiet) as update:
            counts = store.rebuild(progress=update)
        blocks = f", {_count(counts['search_blocks'], 'search block')}" if "search_blocks" in counts else ""
        print(f"{target}: rebuilt {_count(counts['runs'], 'run')}, {_count(counts['nodes'], 'node')}, "
              f"{_count(counts['edges'], 'edge')}{blocks} from {_count(counts['events'], 'event')} "
              f"in {time.perf_counter() - started:.2f}s", file=_out())
    return EXIT_OK


def _rebuild_snapshots(target: str, args: argparse.Namespace) -> int:
    """rebuild --snapshots: checkpoints every N events of each run, written beside the appends
    (store/snapshots.py), so the inspector's time slider shows any moment of a long run at once."""
    from agenttui.store.snapshots import DEFAULT_DENSE_EVERY

    every = args.every or DEFAULT_DENSE_EVERY
    if "://" not in target:  # (a file: rebuild --snapshots adds to a store, it never makes one)
        if not os.path.exists(target):
            raise UsageError(f"{target}: no such database (--snapshots adds checkpoints to an existing store)")
        if not os.access(target, os.W_OK) or not os.access(os.path.dirname(os.path.abspath(target)), os.W_OK):
            raise UsageError(f"{target}: not writable (--snapshots writes checkpoints into the store and "
                             "its -wal file beside it)")
    with open_store(target) as store:
        started = time.perf_counter()
        with _progress("checkpointing", store.count_events(), enabled=not args.quiet) as update:
            report = store.write_snapshots(every=every, progress=update)
        print(f"{target}: {_count(report['written'], 'snapshot')} written ({report['deltas']:,} as deltas, "
              f"{_size(report['bytes'])}) for {_count(report['runs'], 'run')}, every {every:,} events, "
              f"{_count(report['events_folded'], 'event')} folded in {time.perf_counter() - started:.2f}s",
              file=_out())
    return EXIT_OK


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cmd_stats(args: argparse.Namespace) -> int:
    if args.run is not None:
        return cmd_run_stats(args, _target(args))
    with open_store(_target(args), readonly=True) as store:
        stats = store.stats()
        runs = store.runs()
        retention = store.retention_log()
    if args.json:
        stats["runs_detail"] = runs
        stats["retention_log"] = retention
        print(_json(stats, orjson.OPT_INDENT_2), file=_out())
        return EXIT_OK
    out = _out()
    if stats["backend"] == "postgresql":  # figures of a server database, not of a file
        storage = [("size", f"{_size(stats['file_bytes'])} in agenttui's tables, "
                            f"{_size(stats['database_bytes'])} database {stats['database']!r}"),
                   ("schema", f"v{stats['schema_version']} (PostgreSQL {stats['server_version']})")]
    else:
        storage = [("size", f"{_size(stats['file_bytes'])} (+ {_size(stats['wal_bytes'])} WAL), "
                            f"{stats['page_count']:,} pages of {stats['page_size']:,} B, "
                            f"{stats['freelist_pages']:,} free"),
                   ("schema", f"v{stats['schema_version']} (SQLite {stats['sqlite_version']}, "
                              f"journal {stats['journal_mode']})")]
    rows = [
        ("database", stats["path"]),
        *storage,
        ("events", f"{stats['events']:,}" + (f" (positions {stats['first_position']:,}..{stats['last_position']:,})"
                                             if stats["events"] else "")),
        ("time span", f"{stats['first_timestamp']} .. {stats['last_timestamp']}" if stats["events"] else "-"),
        ("runs", f"{stats['runs']:,}"),
        ("nodes", f"{stats['nodes']:,}"),
        ("edges", f"{stats['edges']:,}"),
        ("snapshots", f"{stats['snapshots']:,}"),
        ("retention passes", f"{stats['retention_passes']:,}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=out)
    if retention:  # the audit trail of deletions: when, by whom, what went
        shown = retention[-10:]
        last = f", last 10 of {len(retention):,}" if len(retention) > 10 else ""
        print(f"\nretention passes (oldest first{last})", file=out)
        for r in shown:
            span = (f", positions {r['first_position']:,}..{r['last_position']:,}"
                    if r["first_position"] is not None else "")
            print(f"  {r['executed_at']}  by {safe_text(r['executed_by'], 60)}: deleted {r['events_deleted']:,} events "
                  f"stamped before {r['cutoff']} (older than {r['max_age_days']} days){span}, "
                  f"{r['runs_deleted']:,} runs removed", file=out)
    if stats["event_types"]:
        print("\nevent types", file=out)
        tw = min(40, max(len(t) for t in stats["event_types"]))
        for t, n in stats["event_types"].items():
            print(f"  {safe_text(t, 40):<{tw}}  {n:>12,}", file=out)
    if runs:
        print(f"\nruns (most recent first{', 20 of ' + format(len(runs), ',') if len(runs) > 20 else ''})", file=out)
        print(f"  {'run':<28} {'status':<10} {'events':>9} {'nodes':>7} {'llm':>6} {'tools':>6} {'errors':>6} "
              f"{'tokens':>11} {'duration':>9}  started", file=out)
        now = datetime.now(timezone.utc)
        for r in runs[:20]:
            # the header's duration (first event to end, or to now while running), not the agent's own
            clock = has_clock(r["run_id"])
            dur = format_elapsed(elapsed_of(r, now)) if clock else "-"
            status = safe_text(r["status"] or "-", 10) if clock else "-"
            print(f"  {safe_text(r['run_id'], 28):<28} {status:<10} "
                  f"{r['event_count'] or 0:>9,} {r['total_nodes'] or 0:>7,} {r['llm_calls'] or 0:>6,} "
                  f"{r['tool_calls'] or 0:>6,} {r['error_count'] or 0:>6,} {r['total_tokens'] or 0:>11,} "
                  f"{dur:>9}  {(r['start_time'] or '-') if clock else UNASSIGNED_LABEL}", file=out)
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    target = _target(args)
    if args.dry_run:
        with open_store(target, readonly=True) as store:
            report = _retention_preview(store, args.days)
    else:
        with open_store(target) as store:
            report = store.retention(args.days)
    if args.json:
        print(_json(report), file=_out())
        return EXIT_OK
    out = _out()
    if args.days == 0:
        print(f"{target}: --days 0 keeps events forever; nothing deleted", file=out)
        return EXIT_OK
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{target}: {verb} {report['events_deleted']:,} events stamped before {report['cutoff']} "
          f"(older than {args.days} days)", file=out)
    if report["events_deleted"]:
        print(f"  runs removed (no events left): {report['runs_deleted']:,}", file=out)
        print(f"  runs refolded from their remaining events: {report['runs_refolded']:,}", file=out)
        if not args.dry_run:
            print(f"  positions {report['first_position']:,}..{report['last_position']:,}; "
                  f"recorded in retention_log by {report.get('executed_by', '?')}", file=out)
    return EXIT_OK


def _retention_preview(store: Any, days: int) -> dict[str, Any]:
    """What `retention --days` would delete, computed with read-only SQL."""
    report: dict[str, Any] = {"days": days, "events_deleted": 0, "runs_deleted": 0, "runs_refolded": 0,
                              "cutoff": None, "dry_run": True}
    if days == 0:
        return report
    cutoff = format_datetime(datetime.now(timezone.utc) - timedelta(days=days))
    report["cutoff"] = cutoff
    conn = store.connection
    per_run = conn.execute("SELECT run_id, count(*) FROM events WHERE timestamp < ? GROUP BY run_id",
                           (cutoff,)).fetchall()
    for run_id, n in per_run:
        report["events_deleted"] += n
        left = conn.execute("SELECT 1 FROM events WHERE run_id = ? AND timestamp >= ? LIMIT 1",
                            (run_id, cutoff)).fetchone()
        report["runs_refolded" if left else "runs_deleted"] += 1
    report["per_run"] = dict(per_run)
    return report


# ------------------------------------------------------------------------------- demo and open

def _load_run_app() -> Callable[..., int]:
    try:
        from agenttui.tui.app import run_app
    except ImportError as exc:
        raise AgentTuiError(f"the terminal inspector is not available in this installation ({exc})") from None
    return run_app


def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute the hash chains; exit 1 naming the first altered event of each broken run."""
    target = _target(args)
    with open_store(target, readonly=True) as store:
        breaks = store.verify(run_id=args.run)
        figures = store.last_verify
    for broken in breaks:
        print(safe_text(str(broken), 500), file=_out())
    if breaks:
        _err(f"{target}: {len(breaks):,} broken chain{'s' if len(breaks) != 1 else ''}: the events named above "
             "were changed, removed or inserted behind the store's back")
        return EXIT_NO
    print(f"{target}: {_count(figures['events'], 'event')} in {_count(figures['runs'], 'run')}: "
          "every hash chain intact", file=_out())
    for run_id, head in figures["heads"].items() if args.heads else ():
        print(f"{head}  {safe_text(run_id, 200)}", file=_out())
    return EXIT_OK


def cmd_open(args: argparse.Namespace) -> int:
    target = _target(args)
    run_app = _load_run_app()
    check_open_target(target, args.type, args.run)  # what cannot be shown is said here, not in the UI
    return int(run_app(target, run_id=args.run, types=args.type or None) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    from agenttui.demo import write_live

    run_id = f"demo-{datetime.now(timezone.utc):%m%d-%H%M%S}-{os.getpid() % 0x10000:04x}-s{args.seed}"
    options = dict(seed=args.seed, rate=args.rate, n_events=args.events, n_nodes=args.nodes, run_id=run_id)
    if args.headless:
        path = args.db or os.environ.get("AGENTTUI_DB")
        if not path:
            raise UsageError("demo --headless needs --db PATH (or AGENTTUI_DB)")
        stopping = threading.Event()
        with _signals_set(stopping), open_store(path) as store:
            pace = "as fast as possible" if args.rate == 0 else f"at {args.rate:g} events/s"
            if not args.quiet:
                _err(f"demo: writing run {run_id} to {path} {pace} (Ctrl-C to stop)")
            total = args.events if args.rate == 0 else None
            with _progress("writing", total, enabled=not args.quiet and total is not None) as update:
                result = write_live(store, on_progress=update, stop=stopping, **options)
        if not args.quiet:
            state = "stopped early" if result.interrupted else "finished"
            _err(f"demo: {state}: {result.events:,} events of run {result.run_id} in {path}")
        return EXIT_OK
    run_app = _load_run_app()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="agenttui-demo-"), "demo.db")
    store = open_store(path)
    stop = threading.Event()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            write_live(store, stop=stop, **options)
        except BaseException as exc:  # reported after the inspector closes
            failure.append(exc)

    thread = threading.Thread(target=writer, name="agenttui-demo-writer", daemon=True)
    thread.start()
    try:
        code = int(run_app(path, run_id=run_id, types=None) or 0)
    finally:
        stop.set()
        thread.join(timeout=10)
        store.close()
    if failure:
        raise failure[0]
    _err(f"demo database kept at {path} (reopen it with: agenttui open {path})")
    return code


# ------------------------------------------------------------------------------------ parser

class _Parser(argparse.ArgumentParser):
    """argparse quotes the arguments it refuses: shown escaped, like every other message, tabs too
    (a tab inside a quoted argument is part of what the user typed, not layout)."""

    def error(self, message: str) -> NoReturn:
        super().error(escape_controls(message, whitespace={"\n": "\n"}))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose to the terminal but keeps indented lines (the examples) exactly as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if not line or line.startswith(" "):
                lines.append(indent + line)
            else:
                lines.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent))
        return "\n".join(lines)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _add_target(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", metavar="TARGET",
                   help="the database file or postgresql:// URL (default: $AGENTTUI_DB, else $DATABASE_URL)")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", metavar="R", help="only this run (events with a null run_id are run 'unassigned')")
    p.add_argument("--type", metavar="T", action="append",
                   help="only this event type (repeat for several)")


#: retention --days: beyond this the cutoff would fall before year 1000 (and a date cannot be
#: before year 1); nothing is that old.
MAX_RETENTION_DAYS = 365_000
#: import --max-payload-bytes: PostgreSQL's largest field is 1 GiB.
MAX_PAYLOAD_LIMIT = 1 << 30


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, formatter_class=_Formatter,
        description="An append-only event store for AI-agent runs and a live terminal inspector.",
        epilog=textwrap.dedent("""\
            TARGET is a SQLite file or a postgresql:// URL; omit it when $AGENTTUI_DB or
            $DATABASE_URL is set.

            exit codes:
              0  success
              1  some import lines failed, or rebuild --check found differences
              2  an error: bad usage, a missing or unusable file

            """) + _examples(
            "agenttui demo                              # watch a simulated agent live",
            "agenttui import run.db events.jsonl        # load an agent's JSONL log",
            "agenttui open run.db                       # inspect it",
            "agenttui tail run.db --follow              # print events as they are written",
            "agenttui <command> --help                  # details of one command"))
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    p = sub.add_parser("import", help="append the events of a JSONL file", formatter_class=_Formatter,
                       description="Append every valid line of a JSONL file (one event envelope per line). "
                                   "A bad line is reported with its line number and reason; every good line "
                                   "is kept. Events already stored (same event_id) are skipped.",
                       epilog=_examples("agenttui import run.db events.jsonl",
                                        "zcat events.jsonl.gz | agenttui import run.db -",
                                        "AGENTTUI_DB=run.db agenttui import events.jsonl",
                                        "agenttui import run.db big.jsonl --max-payload-bytes 1000000",
                                        "agenttui import run.db traces.json --format otlp   # collector file"))
    _add_target(p)
    p.add_argument("file", metavar="FILE", help="a JSONL file, or - for standard input")
    p.add_argument("--format", choices=("auto", "jsonl", "otlp"), default="auto",
                   help="jsonl: event envelopes; otlp: OTLP JSON traces, one ExportTraceServiceRequest a line "
                        "(the OpenTelemetry Collector's file exporter), mapped as docs/otel.md says; "
                        "auto (default): told by the first line")
    p.add_argument("--max-payload-bytes", type=int_in(2, MAX_PAYLOAD_LIMIT, why="PostgreSQL's largest field"),
                   default=DEFAULT_MAX_PAYLOAD_BYTES, metavar="N",
                   help=f"refuse events whose payload is larger (default {DEFAULT_MAX_PAYLOAD_BYTES:,})")
    p.add_argument("--commit-batches", action="store_true",
                   help="JSONL: commit every batch of lines as it is stored, for files too big for one transaction "
                        "or to watch them arrive; a failed import then keeps the batches before the failure "
                        "(default: the whole file in one transaction, stored all or nothing, seen by readers "
                        "when it ends)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write events as JSONL", formatter_class=_Formatter,
                       description="Write events as JSONL envelopes in position order. The output re-imports "
                                   "to the same events (ids, run ids, types, timestamps, payloads, metadata).",
                       epilog=_examples("agenttui export run.db > all.jsonl",
                                        "agenttui export run.db --run run-42 -o run-42.jsonl",
                                        "agenttui export run.db --type llm_call_started --type llm_call_completed",
                                        "agenttui export old.db | agenttui import new.db -"))
    _add_target(p)
    _add_filters(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("tail", help="print events, optionally following new ones", formatter_class=_Formatter,
                       description="Print the last events as lines `position time run type node summary` "
                                   "(or JSONL with --json). With --follow, keep printing events as other "
                                   "processes commit them, until Ctrl-C.",
                       epilog=_examples("agenttui tail run.db",
                                        "agenttui tail run.db -n 100 --type node_status_changed",
                                        "agenttui tail run.db --follow --run run-42",
                                        "agenttui tail run.db -n all --json | jq .event_type"))
    _add_target(p)
    _add_filters(p)
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new events until Ctrl-C (waiting for the database to be created)")
    p.add_argument("--json", action="store_true", help="one JSON object per event (envelope + position, seq)")
    p.add_argument("-n", "--lines", type=int_or_all(0), default=10, metavar="N",
                   help="how many recent events to print first: a number or 'all' (default 10)")
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser("rebuild", help="recompute the projections from the events", formatter_class=_Formatter,
                       description="Recompute runs, nodes, edges and snapshots from the events in one "
                                   "transaction. With --check, write nothing: compare the stored projections "
                                   "with a fresh fold and list the differences (exit 1 if any).",
                       epilog=_examples("agenttui rebuild run.db", "agenttui rebuild run.db --check",
                                        "agenttui rebuild run.db --snapshots --every 5000"))
    _add_target(p)
    p.add_argument("--check", action="store_true", help="only compare; exit 1 and list differences if any")
    p.add_argument("--snapshots", action="store_true",
                   help="only add checkpoints of the fold, at least every --every events of each run (the "
                        "projections are left as they are; writers may go on appending)")
    p.add_argument("--every", type=int_in(1, MAX_INT64), metavar="N",
                   help="events between two checkpoints of --snapshots (default 5,000)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("stats", help="storage figures and runs", formatter_class=_Formatter,
                       description="Sizes, counts, time span, event types and the most recent runs.",
                       epilog=_examples("agenttui stats run.db", "agenttui stats run.db --json | jq .events",
                                        "agenttui stats run.db --run R --prices prices.toml"))
    _add_target(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_run_stats_options(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("retention", help="delete events older than N days (audited)", formatter_class=_Formatter,
                       description="Delete events stamped more than N days ago, remove runs left with no events, "
                                   "refold runs that lost some, and record the pass in retention_log. "
                                   "--days 0 keeps everything.",
                       epilog=_examples("agenttui retention run.db --days 30 --dry-run",
                                        "agenttui retention run.db --days 30"))
    _add_target(p)
    p.add_argument("--days", type=int_in(0, MAX_RETENTION_DAYS, why="about a thousand years"), required=True,
                   metavar="N", help="keep the last N days (0: keep all)")
    p.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("demo", help="run a simulated recursive planning agent", formatter_class=_Formatter,
                       description="A simulated recursive planning agent writes a realistic run live: nested "
                                   "plan and execute nodes, status changes, LLM calls with token usage, tool "
                                   "calls, failures and retries, and a finished or failed run. Without "
                                   "--headless it writes a new database and opens the inspector on it.",
                       epilog=_examples("agenttui demo", "agenttui demo --headless --db demo.db",
                                        "agenttui demo --headless --db big.db --rate 0 --events 1000000 --seed 1",
                                        "agenttui demo --headless --db demo.db --rate 5 &  agenttui tail demo.db -f"))
    p.add_argument("--headless", action="store_true", help="only write the run (no inspector)")
    p.add_argument("--db", metavar="PATH", help="the database to write (default without --headless: a new "
                                                "temporary file)")
    p.add_argument("--rate", type=finite_float(0), default=50.0, metavar="EV/S",
                   help="events per second (default 50; 0: as fast as possible)")
    p.add_argument("--seed", type=int_in(MIN_INT64), default=0, metavar="N",
                   help="the same seed makes the same run (default 0)")
    p.add_argument("--events", type=int_in(3, MAX_INT64), metavar="N", help="stop after exactly N events")
    p.add_argument("--nodes", type=int_in(1, 1_000_000), metavar="N", help="size of the initial plan tree")
    p.add_argument("-q", "--quiet", action="store_true", help="no messages or progress bar")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("verify", help="check the events' hash chains for tampering", formatter_class=_Formatter,
                       description="Recompute every run's hash chain (each event's hash covers its content and "
                                   "the previous event of its run) and name the first event of each run that was "
                                   "changed, removed or inserted behind the store's back (exit 1). Events removed "
                                   "by audited retention are accounted for. --heads prints each run's newest hash: "
                                   "keep it elsewhere to detect a rewrite of a whole chain later.",
                       epilog=_examples("agenttui verify run.db", "agenttui verify run.db --run run-42",
                                        "agenttui verify postgresql://agent@db.internal/agents --heads"))
    _add_target(p)
    p.add_argument("--run", metavar="R", help="check only this run")
    p.add_argument("--heads", action="store_true", help="also print each intact run's head hash")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("open", help="open the live inspector", formatter_class=_Formatter,
                       description="Open the terminal inspector on a database (read-only). It follows new "
                                   "events live (on PostgreSQL through LISTEN/NOTIFY) and waits if the file, or "
                                   "the server's store, does not exist yet.",
                       epilog=_examples("agenttui open run.db", "agenttui open run.db --run run-42",
                                        "agenttui open postgresql://agent@db.internal/agents",
                                        "DATABASE_URL=postgresql://agent@db.internal/agents agenttui open",
                                        "agenttui open run.db --type node_status_changed --type run_error"))
    _add_target(p)
    _add_filters(p)
    p.set_defaults(func=cmd_open)

    add_query_command(sub, _Formatter)
    add_serve_command(sub)
    add_copy_command(sub)
    add_diff_command(sub, _Formatter)
    add_report_command(sub, _Formatter)
    return parser


# -------------------------------------------------------------------------------------- main

def _describe(exc: BaseException) -> str:
    path = str(exc).rpartition(": no such database")[0]
    if isinstance(exc, FileNotFoundError) and path and is_empty_file(path):
        return empty_file_message(path)  # (the store calls a 0-byte file "no such database")
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, sqlite3.Error):
        return f"database error: {exc}"
    return str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 'no', 2 error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return args.func(args)
    except UsageError as exc:
        _err(f"{PROG} {args.command}: error: {safe_text(str(exc), 2000)}")
        return EXIT_ERROR
    except (AgentTuiError, OSError, sqlite3.Error, ValueError) as exc:
        if isinstance(exc, BrokenPipeError):
            _silence_stdout()
            return EXIT_OK
        _err(f"{PROG} {args.command}: error: {safe_text(_describe(exc), 2000)}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err(f"{PROG} {args.command}: interrupted")
        return 130


def _silence_stdout() -> None:
    """After the reader of a pipe went away (export | head), keep Python from complaining at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
