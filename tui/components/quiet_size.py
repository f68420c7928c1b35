"""Growing or shrinking a scrollable widget's content without a layout of the whole screen.

Assigning `virtual_size` (Textual's reactive) asks for a layout of the screen, after which the
compositor repaints every widget. A live list that grows by one row per commit, or a detail pane
that shows another event at each slider step, would pay that on every frame, though its own size
on screen does not change. When the scrollbars stay as they are (shown or hidden), updating the
scrollbars and repainting the widget itself is all it takes.

This reaches into Textual 8's private API (`Widget._scroll_update`, Tree's line cache and
`_invalidate`), which is why pyproject.toml pins textual to <9: a new major version must be checked
against this module (tests/test_tui_fast_paths.py fails if the quiet path stops working).
"""
from __future__ import annotations

from typing import cast

from textual.geometry import Size
from textual.widget import Widget


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Set `widget.virtual_size`, with a layout only if a scrollbar appears or disappears."""
    old = Widget.virtual_size.__get__(widget, type(widget))
    if size == old:
        return
    region = widget.scrollable_content_region
    width, height = region.width, region.height
    styles = widget.styles
    # a scrollbar comes or goes only where overflow is "auto" (one set to "scroll" or "hidden" stays as it is)
    same_x = styles.overflow_x != "auto" or (old.width > width) == (size.width > width)
    same_y = styles.overflow_y != "auto" or (old.height > height) == (size.height > height)
    if widget.is_mounted and width and height and same_x and same_y:
        widget.set_reactive(Widget.virtual_size, size)
        widget._scroll_update(size)
        widget.refresh()
    else:
        Widget.virtual_size.__set__(widget, size)
        if widget.is_mounted:
            # (a ScrollView's layout updates its scrollbars only when its region changes: a tree
            # shrunk to fit its pane exactly kept its scrollbar and a scroll offset past the end)
            widget._scroll_update(size)


class QuietTree:
    """Mix into a `Tree` whose place on screen is fixed by CSS (put it before Tree in the bases).

    Tree asks for a layout of the screen whenever its lines change (nodes added, expanded, a label
    changed, lines rebuilt); here such changes only repaint the tree, unless a scrollbar comes or goes.
    """

    @property
    def virtual_size(self) -> Size:
        tree = cast(Widget, self)  # a mixin: self is the Tree it is mixed into
        return Widget.virtual_size.__get__(tree, type(tree))

    @virtual_size.setter
    def virtual_size(self, size: Size) -> None:
        set_virtual_size(cast(Widget, self), size)

    def _invalidate(self) -> None:
        self._clear_line_cache()  # type: ignore[attr-defined]
        self._updates += 1  # type: ignore[attr-defined]
        self.root._reset()  # type: ignore[attr-defined]
        self.refresh()  # type: ignore[attr-defined]
