"""Turning event data into text that is displayed literally.

Event payloads come from agents and the web: they may hold Rich markup (`[bold]`, `[/]`,
`[link=...]`) or terminal escape sequences (`\\x1b[31m`, an OSC 52 clipboard write). Every widget
builds `rich.text.Text` objects from plain strings (never `Text.from_markup`) and passes strings
through `clean` first, so no byte of event data can style, move the cursor or reach the terminal
as a control sequence.
"""
from __future__ import annotations

from rich.style import Style
from rich.text import Text


def _escape_table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in list(range(0x00, 0x20)) + [0x7F] + list(range(0x80, 0xA0)):
        table[code] = f"\\x{code:02x}"
    table[ord("\t")] = "    " if keep_newlines else " "
    if keep_newlines:
        del table[ord("\n")]
        table[ord("\r")] = ""
    else:
        table[ord("\n")] = "⏎"
        table[ord("\r")] = ""
    # line/paragraph separators and bidi overrides would reflow or reorder the surrounding cells
    for code in (0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069):
        table[code] = f"\\u{code:04x}"
    return table


_ONE_LINE = _escape_table(keep_newlines=False)
_MULTI_LINE = _escape_table(keep_newlines=True)


def clean(value: object, *, limit: int | None = None) -> str:
    """One display line: control characters shown as `\\xNN`, newlines as ⏎, cut at `limit`."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit * 2]  # escaping only grows the text; cut before translating big strings
        text = text.translate(_ONE_LINE)
        return text[: max(0, limit - 1)] + "…" if len(text) > limit else text
    return text.translate(_ONE_LINE)


def clean_lines(value: str) -> str:
    """Like `clean` but keeps line breaks (for multi-line values in the detail pane)."""
    return value.translate(_MULTI_LINE)


def literal(value: object, style: str | Style = "", *, limit: int | None = None) -> Text:
    """A Text that shows `value` exactly as written, in one line."""
    return Text(clean(value, limit=limit), style=style, no_wrap=True, end="")
