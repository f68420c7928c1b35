"""The status bar: LIVE or REPLAY (with the cursor's position and time), follow state, the active
filter and search, and the latest notice (file waiting/replaced, filter progress)."""
from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

from ..literal import clean


@dataclass
class StatusInfo:
    mode: str = "LIVE"  # LIVE, REPLAY, PLAY, WAITING
    position: int | None = None
    timestamp: str | None = None
    speed: int = 1
    follow: bool = True
    unseen: int = 0
    row: int = 0
    rows: int = 0
    total: int = 0
    filters: list[str] = field(default_factory=list)
    search: str | None = None
    match_index: int | None = None
    match_count: int | None = None
    busy: str = ""
    notice: str = ""
    #: the trouble in the slider cursor's column (TimeSlider.cursor_note), in replay
    column: str = ""


class StatusBar(Widget):
    """One line; redrawn in place (no relayout) since it changes on every cursor move."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = StatusInfo()
        self._text = Text()

    def show(self, info: StatusInfo) -> None:
        self.info = info
        text = self._render_text()
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text:
        return self._text

    def _render_text(self) -> Text:
        i = self.info
        text = Text(no_wrap=True, overflow="ellipsis")
        if i.mode == "LIVE":
            text.append(" LIVE ", style="bold black on green")
            if i.follow:
                text.append(" following", style="green")
            elif i.unseen:
                text.append(f" {i.unseen:,} new", style="bold yellow")
                text.append(" (f follows)", style="dim")
            else:
                text.append(" paused", style="dim")
        elif i.mode == "WAITING":
            text.append(" WAITING ", style="bold black on yellow")
        else:
            label = "PLAY" if i.mode == "PLAY" else "REPLAY"
            text.append(f" {label} ", style="bold black on yellow")
            if i.position is not None:
                text.append(f" #{i.position}", style="bold")
            if i.timestamp:
                text.append(f"  {clean(i.timestamp)}")
            if i.mode == "PLAY":
                text.append(f"  {i.speed}x", style="bold yellow")
            if i.unseen:
                text.append(f"  {i.unseen:,} new", style="yellow")
            if i.column:
                text.append(f"  {clean(i.column)}", style="bold red")
        if i.rows:
            text.append(f"  {i.row + 1:,}/{i.rows:,}", style="dim")
            if i.rows != i.total:
                text.append(f" of {i.total:,}", style="dim")
        for f in i.filters:
            text.append("  ")
            text.append(clean(f, limit=60), style="bold cyan")
        if i.search:
            text.append(f"  /{clean(i.search, limit=40)}", style="bold magenta")
            if i.match_count is not None:
                where = f"{i.match_index + 1}/" if i.match_index is not None else ""
                text.append(f" {where}{i.match_count:,} matches", style="magenta")
        if i.busy:
            text.append(f"  {clean(i.busy)}", style="italic yellow")
        if i.notice:
            text.append(f"  {clean(i.notice)}", style="yellow")
        return text
