"""Which of the inspector's panes are on screen: one zoomed to the whole screen, the detail collapsed.

At 80x24 the inspector's three panes share 16 lines and 80 columns; a user reading one of them
wants all of it. Zooming hides everything but the focused pane, the status bar and the footer
(the pane keeps its state, so zooming back shows the screen as it was); collapsing the detail pane
gives its lines to the event list. Both are toggles, and unzooming never shows a pane the user
had collapsed.
"""
from __future__ import annotations

from textual.screen import Screen
from textual.widget import Widget

#: The panes that zoom, by id; a focused widget inside one zooms that one.
ZOOMABLE = ("tree", "events", "detail")
#: What a zoom hides, by id, unless it is the zoomed pane or holds it.
HIDDEN_BY_ZOOM = ("header", "slider", "tree", "right", "list-header", "events", "detail")


class PaneLayout:
    """The zoom and the detail pane's fold, for one screen composed with the ids above."""

    def __init__(self) -> None:
        #: the id of the zoomed pane (None: the usual layout)
        self.zoomed: str | None = None
        self._hidden: list[Widget] = []

    def toggle_zoom(self, screen: Screen) -> str | None:
        """Zoom the focused pane (the event list if none is), or back; returns the zoomed pane's id."""
        if self.zoomed is not None:
            self.unzoom(screen)
            return None
        pane = _pane_of(screen.focused) or "events"
        target = screen.query_one(f"#{pane}")
        keep = {pane, *(a.id for a in target.ancestors if a.id)}
        if pane == "events":
            keep.add("list-header")  # (the column titles belong to the list)
        self._hidden = []
        for widget_id in HIDDEN_BY_ZOOM:
            widget = screen.query_one(f"#{widget_id}")
            if widget_id not in keep and widget.display:
                widget.display = False
                self._hidden.append(widget)
        target.add_class("-zoomed")
        target.display = True
        target.focus()
        self.zoomed = pane
        return pane

    def unzoom(self, screen: Screen) -> None:
        if self.zoomed is None:
            return
        screen.query_one(f"#{self.zoomed}").remove_class("-zoomed")
        for widget in self._hidden:
            widget.display = True
        self._hidden = []
        self.zoomed = None

    def toggle_detail(self, screen: Screen) -> bool:
        """Collapse the detail pane (its lines go to the event list), or show it again; returns
        whether it is shown."""
        detail = screen.query_one("#detail")
        if self.zoomed is not None:
            self.unzoom(screen)
        detail.display = not detail.display
        if not detail.display and _pane_of(screen.focused) == "detail":
            screen.query_one("#events").focus()
        return bool(detail.display)


def _pane_of(widget: Widget | None) -> str | None:
    """The id of the zoomable pane `widget` is (or is inside of)."""
    node = widget
    while node is not None:
        if node.id in ZOOMABLE:
            return node.id
        parent = node.parent
        node = parent if isinstance(parent, Widget) else None
    return None
