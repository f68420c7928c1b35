"""The help screen (`?`, F1): every key the inspector answers to, as currently bound, by pane.

It lists the live bindings (after any user keymap), so a remapped key shows its new name, under
the pane that answers to it (the inspector's own keys work everywhere). It scrolls with the keys
of the list (j/k, arrows, page keys, space, home/end), so it fits an 80x24 terminal.
"""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..colors import GLYPH_LEGEND

INTRO = (
    "agenttui inspects an agent run live. The list shows the run's events; the tree its nodes as of "
    "the time cursor; the slider along the bottom scrubs through the run (replaying the projections). "
    "Remap any key by its id: AGENTTUI_KEYMAP='search=ctrl+f;quit=ctrl+q'."
)

#: (keys, what they do, binding id) — the id is what AGENTTUI_KEYMAP names
Row = tuple[str, str, str]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: 100%; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    HelpScreen .help-group { margin-top: 1; text-style: bold; color: $accent; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close", tooltip="Close this help"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="help.down", tooltip="Scroll down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="help.up", tooltip="Scroll up"),
        Binding("pagedown,space,ctrl+d", "scroll('page_down')", "Page down", show=False, id="help.page_down",
                tooltip="One page down"),
        Binding("pageup,ctrl+u", "scroll('page_up')", "Page up", show=False, id="help.page_up",
                tooltip="One page up"),
        Binding("home,g", "scroll('home')", "Top", show=False, id="help.top", tooltip="To the top"),
        Binding("end,G", "scroll('end')", "Bottom", show=False, id="help.bottom", tooltip="To the bottom"),
    ]

    def __init__(self, groups: list[tuple[str, list[Row]]]) -> None:
        """groups: (pane title, rows) in the order shown."""
        super().__init__()
        self.groups = groups
        self.rows: list[Row] = [row for _, rows in groups for row in rows]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Keys  (j/k, pgup/pgdn, space, home/end scroll; esc or q closes)", style="bold"))
            yield Static(Text(INTRO, style="italic"))
            key_width = max((len(keys) for keys, _, _ in self.rows), default=8)
            for title, rows in self.groups:
                yield Static(Text(title), classes="help-group")
                yield Static(self._table(rows, key_width))
            yield Static(Text("Node status glyphs (the tree)"), classes="help-group")
            legend = Text()
            for glyph, meaning in GLYPH_LEGEND:
                legend.append(f"  {glyph} ", style="bold")
                legend.append(f"{meaning}\n")
            legend.rstrip()
            yield Static(legend)

    @staticmethod
    def _table(rows: list[Row], key_width: int) -> Table:
        """One pane's keys; every pane's key column is as wide, so the columns line up."""
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column("key", style="bold", no_wrap=True, width=min(key_width, 24))
        table.add_column("does", ratio=1)
        table.add_column("id", style="dim", no_wrap=True)
        for keys, description, binding_id in rows:
            table.add_row(Text(keys), Text(description), Text(binding_id))
        return table

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_scroll(self, how: str) -> None:
        view = self.query_one(VerticalScroll)
        {"down": view.scroll_down, "up": view.scroll_up, "page_down": view.scroll_page_down,
         "page_up": view.scroll_page_up, "home": view.scroll_home, "end": view.scroll_end}[how](animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
