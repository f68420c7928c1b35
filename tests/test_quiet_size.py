"""tui/components/quiet_size.py reaches into Textual 8's private API (pinned <9 in pyproject.toml).

These tests fail if a Textual release changes what it relies on: the quiet path must still update
the widget's virtual size and scroll range without a layout, and the loud path must still lay out
when a scrollbar comes or goes.
"""
from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Size
from textual.scroll_view import ScrollView

from agenttui.tui.components.quiet_size import set_virtual_size

from tui_support import anyio_backend  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio


class Lines(ScrollView):
    DEFAULT_CSS = "Lines { height: 10; width: 40; }"


class Host(App):
    def compose(self) -> ComposeResult:
        yield Lines()


async def test_growing_within_a_shown_scrollbar_updates_the_range_without_a_layout() -> None:
    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        lines = app.query_one(Lines)
        set_virtual_size(lines, Size(30, 50))  # a scrollbar appears: the loud path (a layout)
        await pilot.pause()
        assert lines.virtual_size == Size(30, 50) and lines.max_scroll_y == 40
        layouts = []
        original = app.screen._refresh_layout

        def counting(*args, **kwargs):
            layouts.append(1)
            return original(*args, **kwargs)

        app.screen._refresh_layout = counting  # type: ignore[method-assign]
        set_virtual_size(lines, Size(30, 80))  # the scrollbar stays: the quiet path
        await pilot.pause()
        assert lines.virtual_size == Size(30, 80)
        assert lines.max_scroll_y == 70, "the scroll range follows the new size"
        assert not layouts, "no layout of the screen for a size change the scrollbars do not show"
