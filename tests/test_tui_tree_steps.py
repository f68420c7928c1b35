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
            fresh = NodeTree(id="fresh")
            await app.query_one("#fresh", NodeTree).remove()
            await app.query_one(Horizontal).mount(fresh)
            await pilot.pause()  # (sized first: the indentation depends on the pane's width)
            fresh.show(timeline, index)
            fresh.action_expand_all()
            await pilot.pause()
            assert screen_lines(stepped) == screen_lines(fresh), f"at event index {index}"
            compared += 1
            cut += any("…" in line for line in screen_lines(stepped))
        assert compared > 10
        assert cut, "no label was cut to the pane"


async def test_a_step_that_only_changes_labels_redraws_only_their_lines():
    timeline, _ = sample_timeline()
    last = len(timeline) - 1
    app = TwoTrees()
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one("#stepped", NodeTree)
        tree.show(timeline, last)
        tree.action_expand_all()
        await pilot.pause()
        found = 0
        for index in range(last - 1, 0, -1):
            before_lines = [line.node for line in tree._tree_lines]
            before_text = screen_lines(tree)
            updates = tree._updates
            tree.show(timeline, index)
            await pilot.pause()
            if [line.node for line in tree._tree_lines] != before_lines or screen_lines(tree) == before_text:
                continue  # nodes came or went (every line is drawn again), or nothing shown changed
            found += 1
            assert tree._updates == updates, f"a label change at event index {index} redrew every line"
        assert found, "no step of the sample run changed labels only"
