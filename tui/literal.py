"""Turning event data into text that is displayed literally.

Event payloads come from agents and the web: they may hold Rich markup (`[bold]`, `[/]`,
`[link=...]`) or terminal escape sequences (`\\x1b[31m`, an OSC 52 clipboard write). Every widget
builds `rich.text.Text` objects from plain strings (never `Text.from_markup`) and passes strings
through `clean` first, so no byte of event data can style, move the cursor or reach the terminal
as a control sequence. The characters escaped are the CLI's too (agenttui.terminal_text); only
how line breaks look differs.
"""
from __future__ import annotations

from rich.style import Style
from rich.text import Text

from agenttui.terminal_text import escape_controls

#: One display line: a line break shows as ⏎ (so a reader sees it was there), a CR is dropped.
_ONE_LINE = {"\n": "⏎", "\r": "", "\t": " "}
#: The detail pane's multi-line values keep their line breaks; tabs become four spaces.
_MULTI_LINE = {"\n": "\n", "\r": "", "\t": "    "}


def clean(value: object, *, limit: int | None = None) -> str:
    """One display line: control characters shown as `\\xNN`, newlines as ⏎, cut at `limit`."""
    return escape_controls(value, limit, whitespace=_ONE_LINE)


def clean_lines(value: str) -> str:
    """Like `clean` but keeps line breaks (for multi-line values in the detail pane)."""
    return escape_controls(value, whitespace=_MULTI_LINE)


def literal(value: object, style: str | Style = "", *, limit: int | None = None) -> Text:
    """A Text that shows `value` exactly as written, in one line."""
    return Text(clean(value, limit=limit), style=style, no_wrap=True, end="")
