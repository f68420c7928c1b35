"""The event-type picker (`t`): tick the types to show, with how many events of each the run has."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList
from textual.widgets.selection_list import Selection

from ..colors import type_style
from ..literal import clean


class TypePicker(ModalScreen["frozenset[str] | None"]):
    """Dismisses with the set of types to show, or None when cancelled."""

    DEFAULT_CSS = """
    TypePicker { align: center middle; }
    TypePicker > Vertical { width: 64; max-height: 80%; height: auto; border: thick $accent; background: $surface; }
    TypePicker SelectionList { height: auto; max-height: 30; border: none; }
    TypePicker Label { width: 100%; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="types.cancel"),
        Binding("enter", "apply", "Apply", id="types.apply", priority=True),
        Binding("a", "all", "All", id="types.all"),
        Binding("n", "none", "None", id="types.none"),
        Binding("i", "invert", "Invert", id="types.invert"),
    ]

    def __init__(self, counts: dict[str, int], shown: frozenset[str] | None) -> None:
        """counts: events per type in the run; shown: types shown now (None: all)."""
        super().__init__()
        self.counts = counts
        self.shown = shown

    def compose(self) -> ComposeResult:
        width = max((len(t) for t in self.counts), default=10)
        selections = []
        for event_type, count in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            prompt = Text(no_wrap=True)
            prompt.append(clean(event_type, limit=40).ljust(min(width, 40)), style=type_style(event_type))
            prompt.append(f"  {count:>9,}", style="dim")
            selected = self.shown is None or event_type in self.shown
            selections.append(Selection(prompt, event_type, selected))
        with Vertical():
            yield Label(Text("Event types to show — space toggles, a all, n none, i invert, enter applies"))
            yield SelectionList[str](*selections, id="type-list")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @property
    def _list(self) -> SelectionList[str]:
        return self.query_one(SelectionList)

    def action_all(self) -> None:
        self._list.select_all()

    def action_none(self) -> None:
        self._list.deselect_all()

    def action_invert(self) -> None:
        self._list.toggle_all()

    def action_apply(self) -> None:
        self.dismiss(frozenset(self._list.selected))

    def action_cancel(self) -> None:
        self.dismiss(None)
