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


def count_layouts(app: App) -> list[int]:
    layouts: list[int] = []
    original = app.screen._refresh_layout

    def counting(*args, **kwargs):
        layouts.append(1)
        return original(*args, **kwargs)

    app.screen._refresh_layout = counting  # type: ignore[method-assign]
    return layouts


async def test_growing_within_a_shown_scrollbar_updates_the_range_without_a_layout() -> None:
    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        lines = app.query_one(Lines)
        set_virtual_size(lines, Size(30, 50))  # a scrollbar appears: the loud path (a layout)
        await pilot.pause()
        assert lines.virtual_size == Size(30, 50) and lines.max_scroll_y == 40
        layouts = count_layouts(app)
        set_virtual_size(lines, Size(30, 80))  # the scrollbar stays: the quiet path
        await pilot.pause()
        assert lines.virtual_size == Size(30, 80)
        assert lines.max_scroll_y == 70, "the scroll range follows the new size"
        assert not layouts, "no layout of the screen for a size change the scrollbars do not show"


class FixedBars(ScrollView):
    """Like the detail pane: the vertical scrollbar always shown, never one below."""
    DEFAULT_CSS = "FixedBars { height: 10; width: 40; overflow-y: scroll; overflow-x: hidden; }"


class FixedHost(App):
    def compose(self) -> ComposeResult:
        yield FixedBars()


async def test_crossing_the_height_with_fixed_scrollbars_needs_no_layout() -> None:
    app = FixedHost()
    async with app.run_test(size=(60, 20)) as pilot:
        pane = app.query_one(FixedBars)
        set_virtual_size(pane, Size(30, 5))
        await pilot.pause()
        layouts = count_layouts(app)
        for size in (Size(30, 50), Size(90, 3), Size(30, 40)):  # taller and wider than the pane, and back
            set_virtual_size(pane, size)
            await pilot.pause()
            assert pane.virtual_size == size
        assert pane.max_scroll_y == 40 - pane.scrollable_content_region.height
        assert not layouts, "no scrollbar can come or go: no layout"
