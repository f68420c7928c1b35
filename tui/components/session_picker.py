"""The session picker: `agenttui open DIR` lists the folder's store files, newest first.

Session files of one agent look alike (`20261206-021530-write-a-report-1a2b3c4d.db`): each row keeps
the part of its name that tells it apart (the prefix all share is cut from the middle, never the
unique suffix), and says what is in it: the status of its newest run, its events, how long it ran
and its errors. Those figures are read on a thread after the list is drawn (one small query per
file), so a folder of hundreds of sessions opens at once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from agenttui.store import open_store
from agenttui.store.sqlite import is_sqlite_file
from agenttui.summary import elapsed_of, format_elapsed

from ..colors import status_style
from ..literal import clean

SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: Cells for a session's name in its row (the figures take 49 more: a row fits 80 columns).
NAME_WIDTH = 26
#: Characters of the unique part kept at the start of a cut name (a session file's start time).
UNIQUE_HEAD = 6


def session_files(folder: str | os.PathLike[str]) -> list[Path]:
    """SQLite files in `folder` (by suffix and header), most recently modified first."""
    found: list[tuple[float, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not entry.is_file() or not entry.name.endswith(SUFFIXES):
            continue
        try:
            if not is_sqlite_file(entry.path):
                continue
            mtime = entry.stat().st_mtime
            wal = entry.path + "-wal"
            if os.path.exists(wal) and os.path.getsize(wal):  # a live writer's commits land there
                mtime = max(mtime, os.stat(wal).st_mtime)  # (an empty one: a reader's, like ours)
        except OSError:
            continue
        found.append((mtime, Path(entry.path)))
    found.sort(key=lambda item: (-item[0], item[1].name))
    return [p for _, p in found]


def shared_prefix(names: list[str]) -> int:
    """Length of the prefix every name shares (0 for one name: nothing to tell apart)."""
    if len(names) < 2:
        return 0
    return len(os.path.commonprefix(names))


def cut_name(name: str, width: int, shared: int = 0) -> str:
    """`name` in `width` cells, cut in the middle: the start, the first UNIQUE_HEAD characters
    after the `shared` prefix, and as much of the end as fits (where a session's id is)."""
    if len(name) <= width:
        return name
    head = max(1, min(shared + UNIQUE_HEAD, width // 2))
    return f"{name[:head]}…{name[len(name) - (width - head - 1):]}"


@dataclass
class SessionFigures:
    """What a session file holds, for its row (`problem`: why it could not be read)."""

    runs: int = 0
    events: int = 0
    errors: int = 0
    status: str | None = None
    seconds: float | None = None
    problem: str | None = None


def read_figures(path: Path, now: datetime | None = None) -> SessionFigures:
    """The figures of one session file, from its runs table (the store's projection)."""
    try:
        with open_store(str(path), readonly=True) as store:
            runs = store.runs()
    except Exception as exc:  # (a writer creating it, a locked or damaged file): said in its row
        return SessionFigures(problem=clean(str(exc).rpartition(": ")[2] or type(exc).__name__, limit=40))
    figures = SessionFigures(runs=len(runs), events=sum(r.get("event_count") or 0 for r in runs),
                             errors=sum(r.get("error_count") or 0 for r in runs))
    timed = [r for r in runs if r["run_id"] != "unassigned" and r.get("start_time")]
    if timed:
        newest = max(timed, key=lambda r: r["start_time"])
        figures.status = newest.get("status")
        span: dict[str, Any] = {
            "start_time": min(r["start_time"] for r in timed),
            "end_time": None if any(not r.get("end_time") for r in timed) else max(r["end_time"] for r in timed),
            "updated_at": max((r.get("updated_at") or r["start_time"]) for r in timed),
            "status": "running" if any(r.get("status") == "running" for r in timed) else figures.status,
        }
        figures.seconds = elapsed_of(span, now or datetime.now(timezone.utc))
    return figures


def session_prompt(path: Path, shared: int, figures: SessionFigures | None = None) -> Text:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    when = datetime.fromtimestamp(mtime, timezone.utc).strftime("%m-%d %H:%M")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(clean(cut_name(path.name, NAME_WIDTH, shared)).ljust(NAME_WIDTH), style="bold")
    if figures is None:
        text.append("  reading…", style="dim italic")
    elif figures.problem:
        text.append(f"  {figures.problem}", style="yellow")
    else:
        status = figures.status or "-"
        text.append(f" {clean(status, limit=9):<9}", style=status_style(status) if figures.status else "dim")
        text.append(f" {figures.events:>7,} ev")
        text.append(f" {format_elapsed(figures.seconds):>7}")
        text.append(f" {figures.errors:>3,} err", style="bold red" if figures.errors else "dim")
    text.append(f" {when}", style="dim")
    if figures is not None and figures.runs > 1:
        text.append(f"  {figures.runs} runs", style="dim")
    return text


class SessionPicker(Screen["str | None"]):
    """Pick one session file of a folder; dismisses with its path (None: quit at the start, or back
    to the session already open)."""

    DEFAULT_CSS = """
    SessionPicker { align: center middle; }
    SessionPicker > Vertical { width: 100%; max-width: 110; height: auto; max-height: 90%; border: thick $accent; }
    SessionPicker OptionList { height: auto; max-height: 40; border: none; }
    SessionPicker Label { padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "cancel", "Quit", id="sessions.cancel")]

    def __init__(self, folder: str, current: str | None = None) -> None:
        super().__init__()
        self.folder = folder
        #: the session open now (None: at the start, where escape quits)
        self.current = current
        self.files = session_files(folder)
        self.shared = shared_prefix([p.name for p in self.files])
        self.figures: dict[str, SessionFigures] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            back = "esc goes back" if self.current else "q quits"
            if self.files:
                yield Label(Text(f"{clean(self.folder)}: {len(self.files)} session file(s), newest first — "
                                 f"enter opens, {back}"))
                yield OptionList(*(Option(session_prompt(p, self.shared), id=str(p)) for p in self.files),
                                 id="session-list")
            else:
                yield Label(Text(f"{clean(self.folder)}: no session files (*.db, *.sqlite) here yet — {back}"))
        yield Footer()

    def on_mount(self) -> None:
        if self.files:
            options = self.query_one(OptionList)
            options.focus()
            for i, p in enumerate(self.files):
                if str(p) == self.current:
                    options.highlighted = i
            self._read_figures(list(self.files))

    @work(thread=True, exclusive=True, group="session-figures", exit_on_error=False)
    def _read_figures(self, files: list[Path]) -> None:
        worker = get_current_worker()
        for path in files:
            if worker.is_cancelled:
                return
            figures = read_figures(path)
            self.app.call_from_thread(self._show_figures, path, figures)

    def _show_figures(self, path: Path, figures: SessionFigures) -> None:
        if not self.is_attached:
            return
        self.figures[str(path)] = figures
        self.query_one(OptionList).replace_option_prompt(str(path), session_prompt(path, self.shared, figures))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
