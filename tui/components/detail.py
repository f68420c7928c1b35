"""The detail pane: one event's envelope and payload as a highlighted, foldable JSON tree.

Payload text is shown literally: labels are `Text` objects built from JSON-encoded strings (so
control characters appear as `\\u001b` escapes, never reach the terminal), and Rich markup in a
value is just characters. Big payloads stay cheap: containers are filled in only when expanded, at
most `MAX_CHILDREN` children are listed, and strings are cut with a note saying how much was left
out (`y` copies the whole payload).
"""
from __future__ import annotations

import json
from typing import Any, ClassVar

import orjson
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from agenttui.store import Event

from ..colors import type_style
from ..literal import clean
from .quiet_size import QuietTree

#: Characters of a string shown inline on its line.
INLINE_CHARS = 240
#: Lines of a multi-line string listed when it is expanded, and characters per line.
MAX_LINES = 400
LINE_CHARS = 4000
MAX_CHILDREN = 500
#: A long string opens by itself when it wraps to at most this many lines (an error, a traceback).
AUTO_OPEN_LINES = 40
#: The width strings are wrapped at before the pane has been laid out.
DEFAULT_WIDTH = 80
#: Nodes created up front when an event is shown (small containers open automatically).
AUTO_EXPAND_BUDGET = 200

KEY_STYLE = "bold #7fb4ff"
STRING_STYLE = "#a6d189"
NUMBER_STYLE = "#ef9f76"
LITERAL_STYLE = "italic #ca9ee6"
NOTE_STYLE = "dim italic"
PUNCT_STYLE = "grey50"


def _json_string(value: str, limit: int) -> tuple[str, int]:
    """The JSON spelling of (the start of) a string, and how many characters were left out."""
    cut = value[:limit]
    text = orjson.dumps(cut).decode()
    # orjson leaves C1 controls and bidi overrides as they are: make them visible too
    return clean(text), len(value) - len(cut)


def _scalar(value: Any) -> Text:
    if isinstance(value, str):
        shown, left = _json_string(value.split("\n", 1)[0] if "\n" in value else value, INLINE_CHARS)
        text = Text(shown, style=STRING_STYLE, no_wrap=True)
        lines = value.count("\n")
        if lines:
            text.append(f"  ({lines + 1} lines, {len(value):,} chars)", style=NOTE_STYLE)
        elif left:
            text.append(f"  … {left:,} more chars (y copies all)", style=NOTE_STYLE)
        return text
    if isinstance(value, bool) or value is None:
        return Text("true" if value is True else "false" if value is False else "null", style=LITERAL_STYLE)
    if isinstance(value, (int, float)):
        return Text(clean(repr(value)), style=NUMBER_STYLE)
    return Text(clean(repr(value), limit=INLINE_CHARS), style=STRING_STYLE)


def _key(key: Any) -> Text:
    if isinstance(key, int):
        return Text(f"[{key}]", style=PUNCT_STYLE)
    shown, _ = _json_string(str(key), 80)
    return Text(shown[1:-1], style=KEY_STYLE)


def _label(key: Any, value: Any) -> Text:
    label = Text(no_wrap=True)
    if key is not None:
        label.append_text(_key(key))
        label.append(": ", style=PUNCT_STYLE)
    if isinstance(value, dict):
        label.append("{…}" if value else "{}", style=PUNCT_STYLE)
        label.append(f" {len(value)} key{'s' if len(value) != 1 else ''}", style=NOTE_STYLE)
    elif isinstance(value, list):
        label.append("[…]" if value else "[]", style=PUNCT_STYLE)
        label.append(f" {len(value)} item{'s' if len(value) != 1 else ''}", style=NOTE_STYLE)
    else:
        label.append_text(_scalar(value))
    return label


class _Lazy:
    """Tree node data: a value whose children are added on first expansion."""

    __slots__ = ("value", "filled", "key")

    def __init__(self, value: Any, key: Any = None) -> None:
        self.value = value
        self.filled = False
        self.key = key


def _expandable(value: Any, room: int) -> bool:
    """Whether `value` gets children: a non-empty container, or a string that does not fit in
    `room` cells on its line (or has several lines)."""
    if isinstance(value, (dict, list)):
        return bool(value)
    return isinstance(value, str) and ("\n" in value or len(value) + 2 > room)


def wrap_lines(value: str, width: int, console: Console) -> list[Text]:
    """`value`'s lines as written (control characters made visible), each wrapped at `width` cells;
    a line longer than LINE_CHARS is cut with a note."""
    out: list[Text] = []
    for line in value.split("\n", MAX_LINES)[:MAX_LINES]:
        shown = clean(line[:LINE_CHARS])
        if not shown:
            out.append(Text(""))
            continue
        out.extend(Text(shown, style=STRING_STYLE).wrap(console, max(8, width), overflow="fold"))
        if len(line) > LINE_CHARS:
            out.append(Text(f"… {len(line) - LINE_CHARS:,} more chars (y copies all)", style=NOTE_STYLE))
        if len(out) >= MAX_LINES:
            break
    return out[:MAX_LINES]


def _shown_whole(value: str) -> bool:
    """Whether opening `value` shows all of it (no line or line count cut)."""
    return value.count("\n") < MAX_LINES and all(len(line) <= LINE_CHARS for line in value.split("\n"))


def _long_label(key: Any, value: str, *, opened: bool) -> Text:
    """The line of a string shown folded open below it: its key and its size; folded, its start."""
    label = Text(no_wrap=True)
    if key is not None:
        label.append_text(_key(key))
        label.append(": ", style=PUNCT_STYLE)
    lines = value.count("\n") + 1
    if not opened:
        shown, left = _json_string(value.split("\n", 1)[0], INLINE_CHARS)
        label.append(shown, style=STRING_STYLE)
        if left and lines == 1:
            label.append(f"  … {left:,} more chars (enter opens, y copies all)", style=NOTE_STYLE)
            return label
        label.append("  ")
    size = f"{lines} lines, {len(value):,} chars" if lines > 1 else f"{len(value):,} chars"
    label.append(f"({size})", style=NOTE_STYLE)
    return label


class DetailPane(QuietTree, Tree[_Lazy]):
    """A foldable view of the selected event (enter/space folds, arrows move).

    QuietTree: showing another event repaints the pane without a layout of the screen (its place
    is fixed), so following a live run or stepping the slider does not repaint every widget.
    """

    DEFAULT_CSS = """
    DetailPane { background: $surface; padding: 0 1; overflow-x: hidden; overflow-y: scroll; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="detail.down", tooltip="Next line"),
        Binding("k", "cursor_up", "Up", show=False, id="detail.up", tooltip="Previous line"),
    ]
    #: Keys the pane inherits from Textual's Tree (for the help screen; they have no ids).
    HELP_EXTRA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("↑, ↓", "Previous / next line"),
        ("enter, space", "Fold or open the value (a long string opens into its wrapped lines)"),
        ("shift+←", "To the enclosing value"),
        ("pgup, pgdn, home, end", "A page up / down, the first / last line"),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("no event selected", style=NOTE_STYLE), id=id, classes=classes)
        self.show_root = True
        self.guide_depth = 3
        self.event: Event | None = None
        self._node_label = ""
        self._wrap_width = 0

    def show_event(self, event: Event | None, *, node_label: str = "") -> None:
        """Show another event (None: nothing selected)."""
        self.event = event
        self._node_label = node_label
        self._wrap_width = self._content_width()
        self.clear()
        if event is None:
            self.root.set_label(Text("no event selected", style=NOTE_STYLE))
            return
        title = Text(no_wrap=True)
        title.append(f"#{event.position} ", style="bold")
        title.append(clean(event.event_type, limit=60), style=type_style(event.event_type, event.payload))
        title.append(f"  {clean(event.timestamp)}", style=NOTE_STYLE)
        self.root.set_label(title)
        self.root.data = None
        for key, value in (("event_id", event.event_id), ("run_id", event.run_id), ("seq", event.seq),
                           ("node_id", event.node_id)):
            if value is not None:
                label = _label(key, value)
                if key == "node_id" and node_label:
                    label.append(f"  ({clean(node_label, limit=40)})", style=NOTE_STYLE)
                self.root.add_leaf(label)
        if event.metadata:
            self._add(self.root, "metadata", event.metadata, expand=False)
        budget = [AUTO_EXPAND_BUDGET]
        payload = self._add(self.root, "payload", event.payload, expand=False)
        self._fill(payload)
        payload.expand()
        self._auto_expand(payload, budget, depth=0)
        self.root.expand()
        self.scroll_home(animate=False)
        self.move_cursor(payload)

    def _content_width(self) -> int:
        width = self.scrollable_content_region.width
        return width if width > 0 else DEFAULT_WIDTH

    def on_resize(self) -> None:
        """Strings are wrapped at the pane's width: a new width wraps them anew."""
        if self.event is not None and self._content_width() != self._wrap_width:
            self.show_event(self.event, node_label=self._node_label)

    def render_label(self, node: TreeNode[_Lazy], base_style: Style, style: Style) -> Text:
        # a line never runs past the pane (its values are wrapped; a title or a key that still
        # does not fit ends in "…"): the pane then never scrolls sideways, and stepping from
        # event to event never shows or hides a scrollbar, which would lay out the whole screen
        text = super().render_label(node, base_style, style)
        room = self._content_width() - self._depth(node) * self.guide_depth
        if 0 < room < text.cell_len:
            text.truncate(room, overflow="ellipsis")
        return text

    def _depth(self, node: TreeNode[_Lazy]) -> int:
        depth = 0
        while node.parent is not None:
            depth += 1
            node = node.parent
        return depth

    def _room(self, parent: TreeNode[_Lazy], key: Any) -> int:
        """Cells left for a value on a line under `parent` (its guides, the fold icon, its key)."""
        indent = (self._depth(parent) + 1) * self.guide_depth + 2
        return self._wrap_width - indent - len(str(key)) - 2

    def _auto_expand(self, node: TreeNode[_Lazy], budget: list[int], depth: int) -> None:
        if depth >= 2:
            return
        for child in node.children:
            lazy = child.data
            if lazy is not None and isinstance(lazy.value, str) and child.allow_expand:
                if len(lazy.value) > AUTO_OPEN_LINES * LINE_CHARS or not _shown_whole(lazy.value):
                    continue  # (a blob: opened by the user, not on every step)
                self._fill(child)  # a long string: open when it is short enough (an error, a traceback)
                size = len(child.children)
                if size <= AUTO_OPEN_LINES and budget[0] >= size:
                    budget[0] -= size
                    child.expand()
                continue
            if lazy is None or not isinstance(lazy.value, (dict, list)):
                continue
            size = len(lazy.value)
            if 0 < size <= 12 and budget[0] >= size:
                budget[0] -= size
                self._fill(child)
                child.expand()
                self._auto_expand(child, budget, depth + 1)

    def _add(self, parent: TreeNode[_Lazy], key: Any, value: Any, *, expand: bool) -> TreeNode[_Lazy]:
        if isinstance(value, str) and _expandable(value, self._room(parent, key)):
            return parent.add(_long_label(key, value, opened=expand), data=_Lazy(value, key), expand=expand,
                              allow_expand=True)
        label = _label(key, value)
        if _expandable(value, 1 << 30):
            return parent.add(label, data=_Lazy(value, key), expand=expand, allow_expand=True)
        return parent.add_leaf(label, data=_Lazy(value, key))

    def _fill(self, node: TreeNode[_Lazy]) -> None:
        lazy = node.data
        if lazy is None or lazy.filled:
            return
        lazy.filled = True
        value = lazy.value
        if isinstance(value, dict):
            items = list(value.items())
            for k, v in items[:MAX_CHILDREN]:
                self._add(node, k, v, expand=False)
            self._note_more(node, len(items) - MAX_CHILDREN, "keys")
        elif isinstance(value, list):
            for i, v in enumerate(value[:MAX_CHILDREN]):
                self._add(node, i, v, expand=False)
            self._note_more(node, len(value) - MAX_CHILDREN, "items")
        elif isinstance(value, str):
            width = self._wrap_width - (self._depth(node) + 1) * self.guide_depth - 1
            for line in wrap_lines(value, width, self.app.console):
                node.add_leaf(line)
            lines = value.count("\n") + 1
            if lines > MAX_LINES or len(node.children) >= MAX_LINES:
                self._note_more(node, max(0, lines - MAX_LINES), "lines")

    @staticmethod
    def _note_more(node: TreeNode[_Lazy], count: int, what: str) -> None:
        if count > 0:
            node.add_leaf(Text(f"… {count:,} more {what} (y copies the whole payload)", style=NOTE_STYLE))

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[_Lazy]) -> None:
        self._fill(event.node)
        self._relabel_string(event.node, opened=True)

    def _on_tree_node_collapsed(self, event: Tree.NodeCollapsed[_Lazy]) -> None:
        self._relabel_string(event.node, opened=False)

    @staticmethod
    def _relabel_string(node: TreeNode[_Lazy], *, opened: bool) -> None:
        """An open string's line shows its size (its text is below); a folded one its start."""
        lazy = node.data
        if lazy is not None and isinstance(lazy.value, str):
            node.set_label(_long_label(lazy.key, lazy.value, opened=opened))

    def payload_text(self) -> str | None:
        """The whole event as pretty JSON (what `y` copies)."""
        if self.event is None:
            return None
        env = self.event.to_json()
        try:
            return orjson.dumps(env, option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONEncodeError:  # nested past orjson's depth limit (the envelope adds a level)
            return json.dumps(env, indent=2, ensure_ascii=False)
