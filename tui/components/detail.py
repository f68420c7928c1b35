"""The detail pane: one event's envelope and payload as a highlighted, foldable JSON tree.

Payload text is shown literally: labels are `Text` objects built from JSON-encoded strings (so
control characters appear as `\\u001b` escapes, never reach the terminal), and Rich markup in a
value is just characters. Big payloads stay cheap: containers are filled in only when expanded, at
most `MAX_CHILDREN` children are listed, and strings are cut with a note saying how much was left
out (`y` copies the whole payload).
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from rich.text import Text
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
LINE_CHARS = 400
MAX_CHILDREN = 500
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

    __slots__ = ("value", "filled")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.filled = False


def _expandable(value: Any) -> bool:
    if isinstance(value, (dict, list)):
        return bool(value)
    return isinstance(value, str) and ("\n" in value and len(value) > 0)


class DetailPane(QuietTree, Tree[_Lazy]):
    """A foldable view of the selected event (enter/space folds, arrows move).

    QuietTree: showing another event repaints the pane without a layout of the screen (its place
    is fixed), so following a live run or stepping the slider does not repaint every widget.
    """

    DEFAULT_CSS = """
    DetailPane { background: $surface; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("no event selected", style=NOTE_STYLE), id=id, classes=classes)
        self.show_root = True
        self.guide_depth = 3
        self.event: Event | None = None

    def show_event(self, event: Event | None, *, node_label: str = "") -> None:
        """Show another event (None: nothing selected)."""
        self.event = event
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

    def _auto_expand(self, node: TreeNode[_Lazy], budget: list[int], depth: int) -> None:
        if depth >= 2:
            return
        for child in node.children:
            lazy = child.data
            if lazy is None or not isinstance(lazy.value, (dict, list)):
                continue
            size = len(lazy.value)
            if 0 < size <= 12 and budget[0] >= size:
                budget[0] -= size
                self._fill(child)
                child.expand()
                self._auto_expand(child, budget, depth + 1)

    def _add(self, parent: TreeNode[_Lazy], key: Any, value: Any, *, expand: bool) -> TreeNode[_Lazy]:
        label = _label(key, value)
        if _expandable(value):
            return parent.add(label, data=_Lazy(value), expand=expand, allow_expand=True)
        return parent.add_leaf(label, data=_Lazy(value))

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
            lines = value.split("\n", MAX_LINES)
            for line in lines[:MAX_LINES]:
                shown, left = _json_string(line, LINE_CHARS)
                text = Text(shown[1:-1], style=STRING_STYLE, no_wrap=True)
                if left:
                    text.append(f" … {left:,} more chars", style=NOTE_STYLE)
                node.add_leaf(text)
            if len(lines) > MAX_LINES:
                more = lines[MAX_LINES].count("\n") + 1
                self._note_more(node, more, "lines")

    @staticmethod
    def _note_more(node: TreeNode[_Lazy], count: int, what: str) -> None:
        if count > 0:
            node.add_leaf(Text(f"… {count:,} more {what} (y copies the whole payload)", style=NOTE_STYLE))

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[_Lazy]) -> None:
        self._fill(event.node)

    def payload_text(self) -> str | None:
        """The whole event as pretty JSON (what `y` copies)."""
        if self.event is None:
            return None
        env = self.event.to_json()
        try:
            return orjson.dumps(env, option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONEncodeError:  # nested past orjson's depth limit (the envelope adds a level)
            return json.dumps(env, indent=2, ensure_ascii=False)
