"""The node tree stepped through a run event by event draws what a tree built afresh at each
event draws, while a step that only changes labels leaves the other lines' drawings cached
(the slider's step is a key press to a frame: redrawing every line made it miss its target).
"""
from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal

from agenttui.tui.components import NodeTree

from test_tui_tree_slider import sample_timeline, screen_lines

pytestmark = pytest.mark.anyio
#: narrow enough that long labels are cut to the pane (the cut labels are cached per width)
SIZE = (100, 60)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TwoTrees(App):
    CSS = "NodeTree { width: 1fr; height: 1fr; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield NodeTree(id="stepped")
            yield NodeTree(id="fresh")


async def open_fresh(app: App, pilot, timeline, index: int, cursor_on: str | None = None) -> NodeTree:
    """The app's "fresh" tree replaced by one opened directly at `index`, everything expanded
    (and its cursor on the node `cursor_on`)."""
    fresh = NodeTree(id="fresh")
    await app.query_one("#fresh", NodeTree).remove()
    await app.query_one(Horizontal).mount(fresh)
    await pilot.pause()  # (sized first: the indentation depends on the pane's width)
    fresh.show(timeline, index)
    fresh.action_expand_all()
    await pilot.pause()
    if cursor_on is not None:
        fresh.move_cursor(fresh.tree_nodes_of(cursor_on)[0])
        await pilot.pause()
    return fresh


async def test_a_tree_stepped_event_by_event_draws_what_a_fresh_tree_draws():
    timeline, _ = sample_timeline()
    last = len(timeline) - 1
    app = TwoTrees()
    async with app.run_test(size=SIZE) as pilot:
        stepped = app.query_one("#stepped", NodeTree)
        stepped.show(timeline, last)
        stepped.action_expand_all()  # every node that ever has children stays open at earlier events
        await pilot.pause()
        compared = cut = 0
        for index in range(last, -1, -1):
            stepped.show(timeline, index)
            if index % 9 and index > 3:
                continue
            fresh = await open_fresh(app, pilot, timeline, index)
            assert screen_lines(stepped) == screen_lines(fresh), f"at event index {index}"
            compared += 1
            cut += any("…" in line for line in screen_lines(stepped))
        assert compared > 10
        assert cut, "no label was cut to the pane"


async def test_a_step_that_only_changes_labels_redraws_only_their_lines():
    found = 0
    async for tree, index, before in steps_back_with_the_same_lines():
        if screen_lines(tree) == before["text"]:
            continue  # nothing shown changed
        found += 1
        assert tree._updates == before["updates"], f"a label change at event index {index} redrew every line"
    assert found, "no step of the sample run changed labels only"


async def steps_back_with_the_same_lines(before_each=lambda: None):
    """The sample run stepped back from its end, all expanded: (tree, index, before) after each
    step that left the same nodes on the same lines (others draw every line again)."""
    timeline, _ = sample_timeline()
    last = len(timeline) - 1
    app = TwoTrees()
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one("#stepped", NodeTree)
        tree.show(timeline, last)
        tree.action_expand_all()
        await pilot.pause()
        for index in range(last - 1, 0, -1):
            before_lines = [line.node for line in tree._tree_lines]
            before = {"text": screen_lines(tree), "updates": tree._updates, "keys": dict(tree._keys)}
            before_each()
            tree.show(timeline, index)
            await pilot.pause()
            if [line.node for line in tree._tree_lines] == before_lines:
                yield tree, index, before


async def test_a_label_changing_above_other_lines_redraws_its_line_only(monkeypatch):
    """A parent's status changes at many steps; the lines of its children show it only as guides."""
    from textual.widgets import Tree

    drawn: list = []
    draw = Tree._render_line

    def counting(self, y, x1, x2, base_style):
        lines = self._tree_lines
        drawn.append(lines[y].node.id if y < len(lines) else None)
        return draw(self, y, x1, x2, base_style)

    monkeypatch.setattr(Tree, "_render_line", counting)
    above = 0
    async for tree, index, before in steps_back_with_the_same_lines(drawn.clear):
        changed = {tree_id for tree_id, key in tree._keys.items() if before["keys"].get(tree_id) != key}
        visible = tree._tree_lines[tree.scroll_offset.y: tree.scroll_offset.y + tree.size.height]
        assert {tree_id for tree_id in drawn if tree_id is not None} <= changed, f"at event index {index}"
        assert {line.node.id for line in visible if line.node.id in changed} <= set(drawn), f"at event index {index}"
        above += any(node.id in changed for line in visible for node in line.path[:-1])
    assert above, "no step changed the label of a node with lines shown below it"
