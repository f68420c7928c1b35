"""The help screen (`?`, F1): every key the inspector answers to, as currently bound.

It lists the live bindings (after any user keymap), so a remapped key shows its new name.
"""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "agenttui inspects an agent run live. The list shows the run's events; the tree its nodes as of "
    "the time cursor; the slider along the bottom scrubs through the run (replaying the projections). "
    "Remap any key by its id: AGENTTUI_KEYMAP='search=ctrl+f;quit=ctrl+q'."
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-height: 90%; height: auto; border: thick $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        """rows: (keys, description, binding id)."""
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id", style="dim", no_wrap=True)
        for keys, description, binding_id in self.rows:
            table.add_row(Text(keys), Text(description), Text(binding_id))
        with VerticalScroll():
            yield Static(Text("Keys", style="bold"))
            yield Static(Text(INTRO, style="italic"))
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
