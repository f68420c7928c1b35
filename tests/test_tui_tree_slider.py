"""The node tree and the time slider, driven through Textual's Pilot over Timelines.

A tiny app mounts the two widgets over a History of the real sample run (or a synthetic one) and
records the messages they post, so each test checks what a user sees and what the app is told.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from textual.app import App, ComposeResult

from agenttui.store import Event
from agenttui.store.envelope import format_datetime
from agenttui.tui.colors import status_glyph, status_style
from agenttui.tui.components import NodeTree, TimeSlider, node_label
from agenttui.tui.history import History

from store_fixtures import SAMPLE_RUN, sample_events

SIZE = (110, 30)
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sample_timeline() -> tuple[History, list[Event]]:
    events = [e for e in sample_events() if e.run_id == SAMPLE_RUN]
    for k, e in enumerate(events, 1):
        e.position, e.seq = k + 2, k
    timeline = History(SAMPLE_RUN)
    timeline.extend(events)
    return timeline, events


class TreeSliderApp(App):
    CSS = "NodeTree { height: 1fr; } TimeSlider { height: 2; }"

    def __init__(self, timeline: History, index: int | None = None) -> None:
        super().__init__()
        self.timeline = timeline
        self.start_index = index
        self.messages: list = []

    def compose(self) -> ComposeResult:
        yield NodeTree(id="tree")
        yield TimeSlider(self.timeline, id="slider")

    def on_mount(self) -> None:
        self.query_one(NodeTree).show(self.timeline, self.start_index)
        self.query_one(NodeTree).focus()

    def on_node_tree_node_chosen(self, message: NodeTree.NodeChosen) -> None:
        self.messages.append(("chosen", message.node_id))

    def on_time_slider_scrubbed(self, message: TimeSlider.Scrubbed) -> None:
        self.messages.append(("scrubbed", message.index))


def screen_lines(tree: NodeTree) -> list[str]:
    return [tree.render_line(y).text.rstrip() for y in range(tree.size.height)]


def by_nid(tree: NodeTree, nid: str):
    found = [t for t in tree._tree_nodes.values() if t.data and tree.source.nid_at(t.data, tree._i) == nid]
    assert len(found) == 1, f"nid {nid} shown {len(found)} times"
    return found[0]


async def test_the_root_opens_on_first_paint_and_children_load_when_expanded():
    timeline, _ = sample_timeline()
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        root_id = timeline.roots_at(len(timeline) - 1)[0]
        top = tree.root.children
        assert [t.data for t in top] == [root_id] and top[0].is_expanded
        kids = top[0].children
        assert [k.data for k in kids] == timeline.children_at(root_id, len(timeline) - 1)
        # lazily: the children of collapsed nodes have no TreeNodes yet, only an expand arrow
        plan = next(k for k in kids if timeline.has_children_at(k.data, len(timeline) - 1))
        assert plan.allow_expand and not plan.is_expanded and len(plan.children) == 0
        assert len(tree._tree_nodes) == 1 + 1 + len(kids)
        lines = screen_lines(tree)
        assert lines[0].startswith("▼ ✓ 0  Goal 0")
        assert lines[1].startswith("├─ ▶ ✗ 1  Goal 1")
        # cursor onto the plan node, then right arrow expands it and loads its children
        await pilot.press("down", *["down"] * kids.index(plan))
        assert tree.cursor_node is plan
        await pilot.press("right")
        await pilot.pause()
        assert plan.is_expanded
        assert [c.data for c in plan.children] == timeline.children_at(plan.data, len(timeline) - 1)
        assert any(line.lstrip("│├└─ ▼▶✓✗◐◑○·◌?").startswith(f"{timeline.nid_at(plan.children[0].data, len(timeline) - 1)}  ")
                   for line in screen_lines(tree))
        await pilot.press("left")  # collapses
        assert not plan.is_expanded
        await pilot.press("left")  # on a collapsed node: up to the parent
        assert tree.cursor_node is top[0]


async def test_labels_show_nid_goal_type_and_a_coloured_status():
    timeline, _ = sample_timeline()
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        last = len(timeline) - 1
        for tree_node in tree.root.children[0].children:
            node = timeline.node_at(tree_node.data, last)
            label = tree_node.label
            assert label.plain.startswith(f"{status_glyph(node['status'])} {node['node_nid']}  {node['task_goal']}")
            short = {"PLAN_NODE": "PLAN", "EXECUTE_NODE": "EXECUTE"}[node["node_type"]]
            assert f"[{short}·{node['task_type']}] {node['status']}" in label.plain
            status_at = label.plain.index(f"] {node['status']}") + 2
            styles = {str(span.style) for span in label.spans if span.start <= status_at < span.end}
            assert styles == {status_style(node["status"])}
        failed = by_nid(tree, "1")
        assert "FAILED  ✗1" in failed.label.plain
        assert str(status_style("FAILED")) == "bold red" and status_style("FINISH") == "bold green"


async def test_a_node_whose_status_came_first_is_pending_then_real():
    timeline, events = sample_timeline()
    first = next(i for i, e in enumerate(events) if e.event_type == "node_status_changed")
    node_id = events[first].node_id
    created = next(i for i, e in enumerate(events) if e.event_type == "node_created" and e.node_id == node_id)
    app = TreeSliderApp(timeline, index=first)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        shown = tree.tree_nodes_of(node_id)
        assert len(shown) == 1
        label = shown[0].label
        assert label.plain.endswith(" pending") and "goal of 1.2" in label.plain
        pending_span = [s for s in label.spans if label.plain[s.start:s.end] == " pending"]
        assert pending_span and str(pending_span[0].style) == status_style("PENDING")
        assert any(line.endswith("pending") for line in screen_lines(tree))
        tree.show(timeline, created + 20)
        await pilot.pause()
        # by now it hangs under its parent, which is collapsed: reveal it
        assert not tree.tree_nodes_of(node_id) and node_id not in timeline.roots_at(created + 20)
        assert tree.select_node_id(node_id)
        await pilot.pause()
        (real,) = tree.tree_nodes_of(node_id)
        assert tree.cursor_node is real
        assert "pending" not in real.label.plain
        assert real.label.plain.startswith("○ " + timeline.nid_at(node_id, created) + "  ")


async def test_an_early_index_hides_later_nodes_and_shows_earlier_statuses():
    timeline, events = sample_timeline()
    last = len(timeline) - 1
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        root = tree.root.children[0]
        assert len(root.children) == 4
        early = next(i for i in range(len(events)) if timeline.child_count_at(root.data, i) == 2)
        tree.show(timeline, early)
        await pilot.pause()
        assert tree.index == early
        assert [c.data for c in root.children] == timeline.children_at(root.data, early)
        assert len(root.children) == 2
        assert timeline.status_at(root.data, early) != timeline.status_at(root.data, last)
        assert root.label.plain.endswith(" " + timeline.status_at(root.data, early))
        lines = [line for line in screen_lines(tree) if line]
        # the root, its two children, and a node so far only referenced (a pending root of its own)
        assert len(timeline.roots_at(early)) == 2 and lines[-1].endswith("goal of 1.2 pending")
        assert len(lines) == 4 and all("Goal 3" not in line for line in lines)
        tree.show(timeline, None)
        await pilot.pause()
        assert len(root.children) == 4 and root.label.plain.endswith(" FINISH") and tree.index is None


async def test_scrubbing_back_keeps_expansions_and_moves_the_cursor_to_a_surviving_ancestor():
    timeline, _ = sample_timeline()
    last = len(timeline) - 1
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        root = tree.root.children[0]
        plan = next(k for k in root.children if timeline.has_children_at(k.data, last))
        plan_born = timeline.node_at(plan.data, last)["first_position"]
        kid = next(k for k in reversed(timeline.children_at(plan.data, last))
                   if timeline.node_at(k, last)["first_position"] > plan_born + 1)
        assert tree.select_node_id(kid)
        grandchild = tree.cursor_node
        assert grandchild.parent is plan and plan.is_expanded
        born = timeline.node_at(grandchild.data, last)["first_position"]
        before = timeline.index_of_position(born) - 1
        tree.show(timeline, before)
        await pilot.pause()
        assert tree.cursor_node is not None and tree.cursor_node.data in (plan.data, root.data)
        assert grandchild.data not in {t.data for t in tree._tree_nodes.values()}
        tree.show(timeline, None)
        await pilot.pause()
        # the plan node is still expanded: its children are back
        assert [c.data for c in plan.children] == timeline.children_at(plan.data, last)


async def test_live_growth_adds_nodes_without_collapsing_or_moving_the_cursor():
    timeline, events = sample_timeline()
    root_id = timeline.roots_at(-1)[0]
    cut = next(i for i in range(len(events)) if timeline.child_count_at(root_id, i) == 2) + 1
    half = History(SAMPLE_RUN)
    half.extend(events[:cut])
    app = TreeSliderApp(half)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        root = tree.root.children[0]
        await pilot.press("down", "down")
        cursor = tree.cursor_node
        before = len(root.children)
        assert before == 2 and cursor is root.children[1]
        half.extend(events[cut:])
        tree.show(half, None)
        await pilot.pause()
        assert root.is_expanded and len(root.children) > before
        assert tree.cursor_node is cursor and tree.cursor_line == cursor.line


async def test_choosing_a_node_toggles_the_filter():
    timeline, _ = sample_timeline()
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        await pilot.press("down", "enter")
        chosen = tree.cursor_node
        await pilot.pause()
        assert app.messages == [("chosen", chosen.data)]
        assert tree.chosen == chosen.data and chosen.label.plain.startswith("● ")
        assert not chosen.is_expanded  # choosing does not toggle the node
        await pilot.press("enter")
        await pilot.pause()
        assert app.messages == [("chosen", chosen.data), ("chosen", None)]
        assert tree.chosen is None and not chosen.label.plain.startswith("● ")
        await pilot.click("#tree", offset=(12, 2))  # a click on a label chooses it too
        await pilot.pause()
        assert app.messages[-1] == ("chosen", tree.get_node_at_line(2).data)
        tree.set_chosen(None)  # the app cleared the filter: no message, marker gone
        await pilot.pause()
        assert len(app.messages) == 3 and not any(t.label.plain.startswith("● ") for t in tree._tree_nodes.values()
                                                  if t.data)


async def test_markup_and_escape_sequences_in_goals_render_literally():
    goal = "[bold]x[/] \x1b[31mred\x1b[0m [link=http://e]y[/link]"
    events = [_ev(1, "node_created", node_id="root", node_nid="0", task_goal=goal, node_type="PLAN_NODE"),
              _ev(2, "node_created", node_id="kid", node_nid="0.1", task_goal="[/]", outer_node_id="root"),
              _ev(3, "node_status_changed", node_id="kid", new_status="[red]DONE[/red]")]
    timeline = History("r")
    timeline.extend(events)
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        root = tree.root.children[0]
        assert "[bold]x[/] \\x1b[31mred\\x1b[0m [link=http://e]y[/link]" in root.label.plain
        kid = root.children[0]
        assert kid.label.plain == "? 0.1  [/] [red]DONE[/red]"  # (an unknown status: no glyph of its own)
        strips = [tree.render_line(y) for y in range(2)]
        text = "".join(strip.text for strip in strips)
        assert "[bold]x[/]" in text and "\\x1b[31m" in text and "[red]DONE[/red]" in text
        assert all("\x1b" not in seg.text for strip in strips for seg in strip)
        assert all(not (seg.style and (seg.style.bold and seg.text == "x")) for strip in strips for seg in strip)


async def test_a_ten_thousand_node_run_builds_and_paints():
    timeline = synthetic_run(width=100, depth=2)  # 1 + 100 + 10,000 nodes
    assert len(timeline.live.nodes) == 10_101
    flat = synthetic_run(width=10_000, depth=1)  # one level of 10,000
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        assert len(tree.root.children[0].children) == 100
        assert len(tree._tree_nodes) == 102  # only the expanded level has TreeNodes
        assert screen_lines(tree)[1].startswith("├─ ▶ ✓ 0.1  goal 0.1")
        tree.show(flat, None)
        await pilot.pause()
        root = tree.root.children[0]
        assert len(root.children) == 10_000 and tree.last_line == 10_000
        assert screen_lines(tree)[2].startswith("├─ ✓ 0.2  goal 0.2")
        # labels are built for the lines drawn, the others on demand
        far = root.children[-1]
        assert far.label.plain == "" and tree.label_of(far).plain == "✓ 0.10000  goal 0.10000  [EXECUTE] FINISH"
        # back to early in the run: thousands of siblings vanish at once, then come back
        tree.show(flat, 50)
        await pilot.pause()
        assert flat.child_count_at("n0", 50) == 25  # each leaf: node_created, then its status
        assert len(root.children) == 25 and tree.last_line == 25
        tree.show(flat, None)
        await pilot.pause()
        assert [c.data for c in root.children] == flat.children_at("n0", len(flat) - 1)
        await pilot.press("end")
        assert tree.cursor_node is root.children[-1]
        assert screen_lines(tree)[-1].startswith("└─ ✓ 0.10000  goal 0.10000")


async def test_clicking_and_dragging_the_slider_scrubs():
    timeline, _ = sample_timeline()
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        slider = app.query_one(TimeSlider)
        await pilot.pause()
        width = slider.size.width
        assert slider.total == len(timeline) and width == SIZE[0]
        await pilot.click("#slider", offset=(30, 0))
        await pilot.pause()
        expected = timeline.axis.index_at_bucket(30, width)
        assert app.messages == [("scrubbed", expected)] and slider.index == expected
        assert slider.cursor_column() == timeline.axis.bucket_of(expected, width) <= 30
        await pilot.mouse_down("#slider", offset=(80, 1))
        await pilot.hover("#slider", offset=(90, 1))
        await pilot.mouse_up("#slider", offset=(90, 1))
        await pilot.pause()
        assert app.messages[-2:] == [("scrubbed", timeline.axis.index_at_bucket(80, width)),
                                     ("scrubbed", timeline.axis.index_at_bucket(90, width))]
        assert slider.index == timeline.axis.index_at_bucket(90, width)


async def test_the_slider_draws_density_marks_and_cursor_without_recounting():
    timeline, _ = sample_timeline()
    calls = []
    bucket_bounds = timeline.axis.bucket_bounds
    timeline.axis.bucket_bounds = lambda buckets: calls.append(buckets) or bucket_bounds(buckets)
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        slider = app.query_one(TimeSlider)
        await pilot.pause()
        width = slider.size.width
        bar, track = slider.render_line(0).text, slider.render_line(1).text
        assert len(bar) == len(track) == width
        mark_columns = {timeline.axis.bucket_of(i, width) for i, _ in timeline.marks()}
        assert {x for x, ch in enumerate(track) if ch == "▲"} == mark_columns - {slider.cursor_column()}
        assert track[slider.cursor_column()] == "●" and slider.cursor_column() == width - 1
        bounds = bucket_bounds(width)
        counts = [bounds[b + 1] - bounds[b] for b in range(width)]
        assert all((ch == " ") == (count == 0) for ch, count in zip(bar[:-1], counts[:-1]))
        top = max(counts)
        assert bar[counts.index(top)] == "█"
        red = slider.get_component_rich_style("time-slider--mark").color
        strip = slider.render_line(0)
        x = 0
        for seg in strip:
            for _ in seg.text:
                if x in mark_columns and x != slider.cursor_column():
                    assert seg.style.color == red
                x += 1
        for i in (0, 10, 60, 120):
            slider.index, slider.live = i, False
            await pilot.pause()
            assert slider.render_line(1).text[timeline.axis.bucket_of(i, width)] == "●"
        assert calls == [width]  # cached: moving the cursor never recounts
        timeline.extend([_ev(10_000, "custom_metric", run_id=SAMPLE_RUN)])
        slider.total = len(timeline)
        slider.render_line(0)
        assert calls == [width, width]  # a longer run does


# ------------------------------------------------------------------------------ builders

_BASE = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def _ev(position: int, event_type: str, *, run_id: str = "r", node_id: str | None = None, **payload) -> Event:
    if node_id is not None:
        payload["node_id"] = node_id
    return Event(event_type, payload, run_id=run_id, event_id=f"e-{position}", node_id=node_id,
                 timestamp=format_datetime(_BASE + timedelta(milliseconds=10 * position)), position=position,
                 seq=position)


def synthetic_run(width: int, depth: int) -> History:
    """A root with `width` children per node down to `depth` levels, all created then finished."""
    events: list[Event] = []

    def add(node_id: str, nid: str, outer: str | None, layer: int) -> None:
        events.append(_ev(len(events) + 1, "node_created", node_id=node_id, node_nid=nid, task_goal=f"goal {nid}",
                          node_type="PLAN_NODE" if layer < depth else "EXECUTE_NODE", outer_node_id=outer,
                          layer=layer))
        if layer < depth:
            for k in range(1, width + 1):
                add(f"{node_id}.{k}", f"{nid}.{k}", node_id, layer + 1)
        events.append(_ev(len(events) + 1, "node_status_changed", node_id=node_id, new_status="FINISH"))

    add("n0", "0", None, 0)
    timeline = History("r")
    timeline.extend(events)
    return timeline


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_node_label_is_plain_text_with_styles_only_from_us(anyio_backend):
    label = node_label("abcdef1234567890", {"node_nid": None, "task_goal": None, "pending": 1, "status": "PENDING"})
    assert label.plain == "◌ abcdef12345…  (no goal yet) pending"
    long_goal = node_label("x", {"node_nid": "1", "task_goal": "g" * 500, "status": "DOING", "pending": 0})
    assert len(long_goal.plain) < 130 and "…" in long_goal.plain


async def test_a_reloaded_timeline_of_the_same_run_keeps_expansions_choice_and_cursor():
    timeline, events = sample_timeline()
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        last = len(timeline) - 1
        plan = next(k for k in tree.root.children[0].children if timeline.has_children_at(k.data, last))
        kid = timeline.children_at(plan.data, last)[0]
        assert tree.select_node_id(kid)
        await pilot.press("enter")
        await pilot.pause()
        reloaded = History(SAMPLE_RUN)
        reloaded.extend(events)
        tree.show(reloaded, None)
        await pilot.pause()
        assert tree.source is reloaded and tree.chosen == kid
        assert tree.cursor_node.data == kid and tree.cursor_node.parent.is_expanded
        assert tree.cursor_node.label.plain.startswith("● ")
        other = synthetic_run(width=3, depth=1)  # another run: a fresh tree
        tree.show(other, None)
        await pilot.pause()
        assert tree.chosen is None and [c.data for c in tree.root.children] == ["n0"]
        assert tree.cursor_line == 0


async def test_edges_that_loop_show_the_node_again_without_its_subtree():
    events = [_ev(1, "node_created", node_id="r", node_nid="0"),
              _ev(2, "node_created", node_id="a", node_nid="0.1", outer_node_id="r"),
              _ev(3, "edge_added", parent_node_id="a", child_node_id="b", child_node_nid="0.1.1"),
              _ev(4, "edge_added", parent_node_id="b", child_node_id="a")]
    timeline = History("r")
    timeline.extend(events)
    assert timeline.children_at("b", 3) == ["a"] and timeline.roots_at(3) == ["r"]
    app = TreeSliderApp(timeline)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(NodeTree)
        await pilot.pause()
        assert tree.select_node_id("b")
        b = tree.cursor_node
        await pilot.press("right")
        await pilot.pause()
        (a_again,) = b.children
        assert a_again.data == "a" and not a_again.allow_expand
        a_again._expanded = True  # even if it were open (remembered from elsewhere), it is not walked
        tree.show(timeline, None)
        await pilot.pause()
        assert not a_again.is_expanded and not a_again.children
        assert [line for line in screen_lines(tree) if line] == [
            "▼ · 0  (no goal yet) NOT_READY", "└─ ▼ · 0.1  (no goal yet) NOT_READY",
            "   └─ ▼ ◌ 0.1.1  (no goal yet) pending", "      └─ · 0.1  (no goal yet) NOT_READY"]
