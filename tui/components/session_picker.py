"""The session picker: `agenttui open DIR` lists the folder's store files, newest first."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from agenttui.store.sqlite import is_sqlite_file

from ..literal import clean

SUFFIXES = (".db", ".sqlite", ".sqlite3")


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
            if os.path.exists(entry.path + "-wal"):  # a live writer's commits land there
                mtime = max(mtime, os.stat(entry.path + "-wal").st_mtime)
        except OSError:
            continue
        found.append((mtime, Path(entry.path)))
    found.sort(key=lambda item: (-item[0], item[1].name))
    return [p for _, p in found]


def _prompt(path: Path) -> Text:
    st = path.stat()
    size = st.st_size + (os.path.getsize(f"{path}-wal") if os.path.exists(f"{path}-wal") else 0)
    when = datetime.fromtimestamp(st.st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(clean(path.name, limit=50).ljust(50), style="bold")
    text.append(f"  {when} UTC", style="dim")
    text.append(f"  {size / 1e6:>9.1f} MB")
    return text


class SessionPicker(Screen["str | None"]):
    """Pick one session file of a folder; dismisses with its path (None: quit)."""

    DEFAULT_CSS = """
    SessionPicker { align: center middle; }
    SessionPicker > Vertical { width: 100; height: auto; max-height: 90%; border: thick $accent; }
    SessionPicker OptionList { height: auto; max-height: 40; border: none; }
    SessionPicker Label { padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "cancel", "Quit", id="sessions.cancel")]

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.files = session_files(folder)

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.files:
                yield Label(Text(f"{clean(self.folder)}: {len(self.files)} session file(s), newest first — enter opens"))
                yield OptionList(*(Option(_prompt(p), id=str(p)) for p in self.files), id="session-list")
            else:
                yield Label(Text(f"{clean(self.folder)}: no session files (*.db, *.sqlite) here yet — q quits"))
        yield Footer()

    def on_mount(self) -> None:
        if self.files:
            self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
