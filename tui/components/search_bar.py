"""The search input `/` opens: enter searches the run's payloads, escape closes it."""
from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SearchBar(Input):
    DEFAULT_CSS = """
    SearchBar { dock: bottom; height: 3; display: none; border: tall $accent; }
    SearchBar.-open { display: block; }
    """
    BINDINGS = [Binding("escape", "close", "Close search", id="search.close")]

    class Closed(Message):
        """Closed without searching."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="search payloads (case-insensitive); enter to find, esc to cancel", id=id)

    def open(self, text: str = "") -> None:
        self.value = text
        self.add_class("-open")
        self.focus()
        self.cursor_position = len(text)

    def close(self) -> None:
        self.remove_class("-open")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def action_close(self) -> None:
        self.close()
        self.post_message(self.Closed())
