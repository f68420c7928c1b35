"""A slider step that adds or removes a node line draws again only the lines whose drawing changed.

Lines below a new (or removed) one only move: NodeTree keeps their drawings and re-stamps the line
number a click reports. The oracles: each line as a tree opened afresh at that event draws it
(text, styles and the line a click reports), and as Tree draws it with no cache at all.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Tree

from agenttui.tui.components import NodeTree
from agenttui.tui.history import History

import test_tui_tree_steps
from test_tui_tree_slider import _ev, sample_timeline, screen_lines, synthetic_run
from test_tui_tree_steps import open_fresh

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def growing_run() -> History:
    """A root with two branches that gain children (in the middle of the tree and at its end),
    a grandchild under a then-last sibling, and a status change that adds no line."""
    created = [("r", "0", None), ("a", "0.1", "r"), ("b", "0.2", "r"), ("a1", "0.1.1", "a"),
               *[(f"b{k}", f"0.2.{k}", "b") for k in range(1, 7)],
               ("a1x", "0.1.1.1", "a1"), ("a2", "0.1.2", "a"), (None, "status", "a2"),
               ("b1x", "0.2.1.1", "b1"), ("a3", "0.1.3", "a"), ("c", "0.3", "r"), ("c1", "0.3.1", "c"),
               ("a2x", "0.1.2.1", "a2")]
    events = []
    for position, (node_id, nid, outer) in enumerate(created, 1):
        if node_id is None:
            events.append(_ev(position, "node_status_changed", node_id=outer, new_status="FINISH"))
        else:
            events.append(_ev(position, "node_created", node_id=node_id, node_nid=nid, task_goal=f"goal {nid}",
                              outer_node_id=outer))
    timeline = History("r")
    timeline.extend(events)
    return timeline


class TwoTrees(test_tui_tree_steps.TwoTrees):
    AUTO_FOCUS = None  # (a focused tree draws its cursor and the guides under it in other colours)


@asynccontextmanager
async def stepped_tree(size: tuple[int, int] = SIZE, timeline: History | None = None
                       ) -> AsyncIterator[tuple[TwoTrees, Any, NodeTree, History]]:
    """(app, pilot, the stepped tree, the run: growing_run() unless given): the tree at the run's
    last event, all expanded."""
    timeline = timeline or growing_run()
    app = TwoTrees()
    async with app.run_test(size=size) as pilot:
        tree = app.query_one("#stepped", NodeTree)
        tree.show(timeline, len(timeline) - 1)
        tree.action_expand_all()
        await pilot.pause()
        yield app, pilot, tree, timeline


def shown(tree: NodeTree) -> list[list[tuple[str, Style, tuple]]]:
    """The visible lines as drawn: runs of text with their style, and the meta a click reads
    (the line number, the fold toggle, the node shown: by its store id, as TreeNode ids differ)."""
    lines = []
    for y in range(tree.size.height):
        runs: list[tuple[str, Style, tuple]] = []
        for text, style, _ in tree.render_line(y):
            meta = dict(style.meta) if style else {}
            if "node" in meta:
                meta["node"] = tree.get_node_by_id(meta["node"]).data
            plain = style.clear_meta_and_links() if style else Style()
            mark = tuple(sorted(meta.items()))
            if runs and runs[-1][1:] == (plain, mark):
                runs[-1] = (runs[-1][0] + text, plain, mark)
            else:
                runs.append((text, plain, mark))
        lines.append(runs)
    return lines


def uncached(tree: NodeTree) -> list[Strip]:
    """The visible lines as Textual's Tree draws them with no cache (the tree's state as it is)."""
    strips = []
    scroll_x, scroll_y = tree.scroll_offset
    for y in range(tree.size.height):
        tree._line_cache.clear()
        strips.append(Tree._render_line(tree, y + scroll_y, scroll_x, scroll_x + tree.size.width, tree.rich_style))
    return strips


def drawn_in_a_frame(tree: NodeTree) -> list[Strip]:
    """The visible lines as the screen gets them (render_lines holds the frame's width, scroll and style)."""
    captured: dict[int, Strip] = {}
    draw = tree._render_line

    def capture(y: int, x1: int, x2: int, base_style: Style) -> Strip:
        captured[y] = draw(y, x1, x2, base_style)
        return captured[y]

    tree._render_line = capture  # type: ignore[method-assign]
    try:
        tree._styles_cache.clear()
        tree.render_lines(Region(0, 0, tree.size.width, tree.size.height))
    finally:
        del tree._render_line
    top = tree.scroll_offset.y
    return [captured[y] for y in range(top, top + tree.size.height)]


def assert_drawn_as_uncached(tree: NodeTree, where: str) -> None:
    expected = uncached(tree)
    assert [tree.render_line(y) for y in range(tree.size.height)] == expected, where
    assert drawn_in_a_frame(tree) == expected, f"{where} (in a frame)"


class Draws:
    """The lines Tree draws (by TreeNode id), counted around a step."""

    def __init__(self, monkeypatch) -> None:
        self.ids: list[int | None] = []
        draw = Tree._render_line

        def counting(tree, y, x1, x2, base_style):
            lines = tree._tree_lines
            self.ids.append(lines[y].node.id if y < len(lines) else None)
            return draw(tree, y, x1, x2, base_style)

        monkeypatch.setattr(Tree, "_render_line", counting)


def lines_by_node(tree: NodeTree) -> dict[int, list]:
    """Visible lines as drawn (but for the line number a click reports), by the TreeNode they show."""
    top = tree.scroll_offset.y
    drawn = [[(text, style, tuple(m for m in meta if m[0] != "line")) for text, style, meta in runs]
             for runs in shown(tree)]
    return {line.node.id: runs for line, runs in zip(tree._tree_lines[top:top + tree.size.height], drawn)}


@pytest.mark.parametrize("size", [SIZE, (66, 12)])  # (66, 12): labels cut, a scrollbar comes and goes
async def test_steps_that_add_and_remove_lines_draw_what_a_fresh_tree_draws(size):
    async with stepped_tree(size) as (app, pilot, stepped, timeline):
        last = len(timeline) - 1
        assert stepped.select_node_id("b3")  # the cursor on a line that moves as lines come and go
        await pilot.pause()
        indices = [*range(last, -1, -1), *range(1, last + 1)]  # every node removed, then added again
        compared = 0
        for index in indices:
            stepped.show(timeline, index)
            await pilot.pause()
            assert_drawn_as_uncached(stepped, f"at event index {index}")
            # the scrollbar and offset follow the lines' count (a tree shrunk to fit its pane exactly
            # kept both, scrolled past its end, until set_virtual_size updated them)
            region = stepped.scrollable_content_region
            assert stepped.scroll_offset.y <= stepped.max_scroll_y, f"at event index {index}"
            assert stepped.show_vertical_scrollbar == (len(stepped._tree_lines) > region.height), index
            cursor = stepped.cursor_node.data if stepped.cursor_node else None
            fresh = await open_fresh(app, pilot, timeline, index, cursor)
            fresh.scroll_to(y=stepped.scroll_offset.y, animate=False)
            await pilot.pause()
            # (where the labels were measured for a pane one cell narrower or wider than a fresh
            # tree's, a horizontal scrollbar can differ: a layout matter, not drawing)
            if (stepped.scroll_offset, stepped.scrollable_content_region.size) == (
                    fresh.scroll_offset, fresh.scrollable_content_region.size):
                assert shown(stepped) == shown(fresh), f"at event index {index}"
                compared += 1
        assert compared == len(indices) if size == SIZE else compared > len(indices) // 2
        assert stepped.cursor_node.data == "r"  # (b3 and b were gone at the first events: the cursor went up)


async def test_a_step_that_adds_a_line_draws_the_changed_lines_only(monkeypatch):
    async with stepped_tree() as (app, pilot, tree, timeline):
        last = len(timeline) - 1
        draws = Draws(monkeypatch)
        added = 0
        for index in [*range(last - 1, -1, -1), *range(1, last + 1)]:
            before = lines_by_node(tree)
            draws.ids.clear()
            tree.show(timeline, index)
            await pilot.pause()
            after = lines_by_node(tree)
            visible = sum(1 for text in screen_lines(tree) if text)
            changed = {node for node, runs in after.items() if before.get(node) != runs}
            drawn = set(draws.ids) - {None}
            assert drawn <= changed, f"at event index {index}"  # (a changed line may come from the cache)
            if len(after) != len(before) and len(after) > 5:
                assert len(drawn) < visible, f"every line was drawn again at event index {index}"
                order = list(before)
                moved = [node for k, node in enumerate(after) if node in before and order.index(node) != k]
                added += any(node not in drawn for node in moved)
            assert_drawn_as_uncached(tree, f"at event index {index}")
        assert added > 5, "no step moved lines that kept their drawing"


async def test_appending_a_sibling_turns_the_last_ones_corner_and_its_childrens_guides():
    async with stepped_tree() as (app, pilot, tree, timeline):
        before_a2 = next(i for i in range(len(timeline)) if timeline.node_at("a2", i) is not None) - 1
        tree.show(timeline, before_a2)
        await pilot.pause()
        assert [text for text in screen_lines(tree) if "0.1." in text] == [
            "│  └─ ▼ · 0.1.1  goal 0.1.1 NOT_READY", "│     └─ · 0.1.1.1  goal 0.1.1.1 NOT_READY"]
        tree.show(timeline, before_a2 + 1)
        await pilot.pause()
        assert [text for text in screen_lines(tree) if "0.1." in text] == [
            "│  ├─ ▼ · 0.1.1  goal 0.1.1 NOT_READY", "│  │  └─ · 0.1.1.1  goal 0.1.1.1 NOT_READY",
            "│  └─ · 0.1.2  goal 0.1.2 NOT_READY"]
        fresh = await open_fresh(app, pilot, timeline, before_a2 + 1, tree.cursor_node.data)
        assert shown(tree) == shown(fresh)


async def test_cursor_moves_collapse_expand_and_resize_draw_what_tree_draws(monkeypatch):
    async with stepped_tree() as (app, pilot, tree, timeline):
        last = len(timeline) - 1
        tree.focus()  # (the guides under the cursor take the focused colours)
        await pilot.pause()
        draws = Draws(monkeypatch)
        for key in ["down", "down", "down", "up", "end", "home", "down"]:
            draws.ids.clear()
            await pilot.press(key)
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"after {key}")
        assert tree.cursor_node.data == "a"
        visible = sum(1 for text in screen_lines(tree) if text)
        draws.ids.clear()
        await pilot.press("left")  # collapse "a": the lines below it move up
        await pilot.pause()
        assert not tree.cursor_node.is_expanded
        assert set(draws.ids) - {None} == {tree.cursor_node.id}  # its icon: the lines below only moved up
        assert_drawn_as_uncached(tree, "collapsed")
        fresh = await open_fresh(app, pilot, timeline, last, "a")
        fresh.cursor_node.collapse()
        await pilot.pause()
        app.screen.set_focus(None)  # (blur would hand the focus to the fresh tree)
        await pilot.pause()
        assert shown(tree) == shown(fresh)
        tree.focus()
        await pilot.pause()
        draws.ids.clear()
        await pilot.press("right")  # and open again: they move back down
        await pilot.pause()
        assert tree.cursor_node.is_expanded
        assert len(set(draws.ids) - {None}) < visible
        assert_drawn_as_uncached(tree, "expanded")
        for index in (last - 3, 2, last):  # steps after the cursor moved off the lines it drew
            tree.show(timeline, index)
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"at event index {index}")
        cut = False
        for size in ((70, 30), (40, 30), SIZE):  # labels are cut to the pane
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"at size {size}")
            tree.show(timeline, 5)
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"at size {size}, stepped")
            tree.show(timeline, last)
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"at size {size}, stepped back")
            cut |= any("…" in text for text in screen_lines(tree))
        assert cut, "no label was cut to the pane"


async def test_a_click_on_a_moved_line_chooses_the_node_it_shows(monkeypatch):
    async with stepped_tree() as (app, pilot, tree, timeline):
        last = len(timeline) - 1
        b4 = tree.tree_nodes_of("b4")[0]
        drawn_at = b4.line
        draws = Draws(monkeypatch)
        tree.show(timeline, last - 2)  # a2's child is gone (and c's): b4 moves up, drawn as it was
        await pilot.pause()
        assert b4.line < drawn_at and b4.id not in draws.ids
        await pilot.click(tree, offset=(8, b4.line - tree.scroll_offset.y))
        await pilot.pause()
        assert tree.chosen == "b4"


async def test_the_sample_run_stepped_with_its_cursor_deep_draws_what_tree_draws():
    # (more lines than fit: the tree scrolls)
    async with stepped_tree((100, 30), sample_timeline()[0]) as (app, pilot, tree, timeline):
        last = len(timeline) - 1
        tree.focus()
        await pilot.pause()
        await pilot.press("end", "up", "up")
        await pilot.pause()
        for index in [*range(last - 1, 0, -3), *range(1, last, 4)]:
            tree.show(timeline, index)
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"at event index {index}")


async def test_a_step_that_only_changes_labels_measures_them_without_rebuilding_the_lines(monkeypatch):
    """The scroll width after a label-only step is what a rebuild of every line would measure."""
    builds: list[int] = []
    build = NodeTree._build

    def counting(tree: NodeTree) -> None:
        builds.append(1)
        build(tree)

    monkeypatch.setattr(NodeTree, "_build", counting)
    timeline = synthetic_run(width=4, depth=2)  # (every node's status changes at its end: labels only)
    async with stepped_tree((180, 30), timeline) as (app, pilot, tree, timeline):  # (labels not cut)
        last = len(timeline) - 1
        relabeled = 0
        for index in [*range(last - 1, last - 12, -1), *range(last - 11, last + 1)]:
            lines = [line.node for line in tree._tree_lines]
            builds.clear()
            tree.show(timeline, index)
            if [line.node for line in tree._tree_lines] != lines:
                continue
            relabeled += 1
            assert not builds, f"the lines were built again at event index {index}"
            measured = tree.virtual_size
            tree._tree_lines_cached = None
            assert tree._tree_lines and tree.virtual_size == measured, f"at event index {index}"
            await pilot.pause()
            assert_drawn_as_uncached(tree, f"at event index {index}")
        assert relabeled > 10
