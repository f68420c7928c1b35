"""A slider step draws only what changed, and what the inspector does besides answering it gives way
to the keys: the detail and the tree's reveal wait while a key is on its way (a key handled after
them waits for their redraw), and a replay window grows past a cursor it already holds only while
the user is not typing (each chunk is folded on the UI thread), unless the cursor waits for it."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.events import Key, MouseMove

from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.event_list import EventList
from agenttui.tui.components.time_slider import TimeSlider
from agenttui.tui.screens import inspector

from test_tui_scrub_early import _store  # (a 3,000-event run with a snapshot every 400 events)
from tui_support import SIZE, anyio_backend, detail_follows, make_db, wait_for  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_a_step_draws_the_two_rows_it_moves_between_and_the_slider_only_if_its_column_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: dict[type, list[int]] = {EventList: [], TimeSlider: []}
    for cls in drawn:
        def spy(self, y, _cls=cls, _original=cls.render_line):
            drawn[_cls].append(int(self.scroll_y) + y if _cls is EventList else y)
            return _original(self, y)
        monkeypatch.setattr(cls, "render_line", spy)
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    app = AgentTuiApp(_store(tmp_path / "w.db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inspector
        await wait_for(pilot, lambda: screen.history is not None and not screen.busy, "the fold", 60)
        lst, slider = screen.events_list, screen.slider
        await pilot.press("up", "up")  # (live, the list scrolled to the run's end; it stops following)
        await pilot.pause(0.3)
        assert int(lst.scroll_y) > 0 and screen.replay is None
        drawn[EventList].clear()
        await pilot.press("up")
        await wait_for(pilot, lambda: bool(drawn[EventList]), "the move's frame")
        assert sorted(set(drawn[EventList])) == [lst.cursor, lst.cursor + 1], "a move draws the rows it left, entered"
        screen.replay = 1500
        await wait_for(pilot, lambda: screen.node_tree.index == 1500, "the cursor's state", 30)
        await pilot.pause(0.3)  # (the detail and the reveal have run)
        top = int(lst.scroll_y)
        assert top > 0, "the list is scrolled: its rows on screen are not its rows in the run"
        column = slider.cursor_column()
        assert slider.index_at_column(column) > 1500, "a step back stays in the slider's column"
        for cls in drawn:
            drawn[cls].clear()
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: screen.node_tree.index == 1499 and bool(drawn[EventList]), "the step's frame")
        assert int(lst.scroll_y) == top
        assert sorted(set(drawn[EventList])) == [lst.cursor, lst.cursor + 1], "the rows left and entered"
        assert drawn[TimeSlider] == [], "the slider draws the same"
        # a jump to another column draws the slider again
        screen.replay = 10
        await wait_for(pilot, lambda: bool(drawn[TimeSlider]), "the slider's frame")


async def test_the_detail_and_the_reveal_wait_for_a_queued_key(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "s.db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inspector
        await pilot.press("home")
        await detail_follows(pilot, app)
        assert not screen._input_waiting()
        shown = screen.detail.event
        lst = screen.events_list
        assert shown is not None and lst.cursor_seq is not None
        # no await from here on: the cursor moves and a key waits in the focused list's queue
        lst.go_to_seq(lst.cursor_seq + 3)
        focused = app.focused
        assert focused is not None
        focused.post_message(Key("f12", None))
        assert screen._input_waiting()
        screen._show_detail_at_rest()
        screen._reveal_selection()
        assert screen.detail.event is shown, "the detail waits for the key"
        assert screen._detail_timer is not None and screen._reveal_timer is not None, "and looks again later"
        await detail_follows(pilot, app)  # once the key is handled
        e = screen._selected_event()
        assert e is not None and e.node_id is not None
        await wait_for(pilot, lambda: screen.node_tree.cursor_node is not None
                       and screen.node_tree.cursor_node.data == e.node_id, "the tree's reveal")
        # a key queued to the app (the driver's thread puts it there) counts too; the mouse's moves do not
        assert not screen._input_waiting()
        app.post_message(MouseMove(None, 1, 1, 0, 0, 0, False, False, False))
        assert not screen._input_waiting()
        app.post_message(Key("f12", None))
        assert screen._input_waiting()


async def test_a_window_grows_past_the_cursor_only_while_the_user_rests_or_the_cursor_waits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    release = threading.Event()
    original = inspector.load_history

    def held(*args, **kwargs):  # the whole run's fold waits: the window answers the slider
        release.wait(60)
        return original(*args, **kwargs)

    monkeypatch.setattr(inspector, "load_history", held)
    try:
        app = AgentTuiApp(_store(tmp_path / "w.db"))
        async with app.run_test(size=SIZE) as pilot:
            screen = app.inspector
            await wait_for(pilot, lambda: screen.scrub.outline is not None, "the outline", 30)
            typing = [True]
            screen._last_input = lambda: inspector.time.monotonic() if typing[0] else 0.0
            at = 1000
            screen.replay = at
            await wait_for(pilot, lambda: screen.scrub.holds(at) and screen.node_tree.index == at,
                           "the window at the cursor", 30)
            window = screen.scrub.window
            first = len(window)
            assert first == at + 1 + inspector.WINDOW_FIRST
            await pilot.pause(0.5)
            assert screen.scrub.window is window and len(window) == first, "no growth while the user types"
            beyond = first + 100  # past the window, within the growth it was started for
            assert screen.scrub.growing_to(beyond)
            screen.replay = beyond
            await wait_for(pilot, lambda: screen.scrub.holds(beyond), "the growth the cursor waits for", 30)
            assert screen.scrub.window is window, "the same window grew"
            grown = len(window)
            typing[0] = False
            await wait_for(pilot, lambda: len(window) > grown, "the growth once the user rests", 30)
    finally:
        release.set()


async def test_the_time_keys_step_from_any_pane_and_are_typed_in_the_search_bar(tmp_path: Path) -> None:
    from agenttui.tui.components.search_bar import SearchBar

    app = AgentTuiApp(make_db(tmp_path / "s.db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inspector
        await wait_for(pilot, lambda: screen.history is not None and not screen.busy, "the fold")
        total = len(screen.history)
        await pilot.press("slash", *"a[b]{c}")
        bar = screen.query_one(SearchBar)
        assert bar.value == "a[b]{c}" and screen.replay is None, "typed, not the time cursor"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not bar.has_focus, "the search bar closed")
        screen.node_tree.focus()
        await pilot.press("left_square_bracket")
        assert screen.replay == total - 2
        await pilot.press("left_curly_bracket")
        assert screen.replay == total - 2 - max(1, round(total * 0.05))


async def test_a_time_key_draws_its_frame_before_its_handler_returns(tmp_path: Path) -> None:
    """Not at the screen's next 60 Hz tick (see InspectorScreen._paint_now)."""
    app = AgentTuiApp(make_db(tmp_path / "s.db"))
    frames: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inspector
        await wait_for(pilot, lambda: screen.history is not None and not screen.busy, "the fold")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause(0.3)
        display = app._display

        def counted(*args, **kwargs):
            frames.append(1)
            return display(*args, **kwargs)

        app._display = counted
        drawn_in_handler: list[int] = []
        step = screen.action_step

        def stepped(delta: int) -> None:
            before = len(frames)
            step(delta)
            drawn_in_handler.append(len(frames) - before)

        screen.action_step = stepped  # type: ignore[method-assign]
        await pilot.press("left_square_bracket")
        assert drawn_in_handler == [1], "the step's frame, drawn in its handler"
        header = screen.header
        assert not header._repaint_required and "REPLAY" in str(screen._status_bar().render())


async def test_a_label_that_changed_off_screen_is_drawn_anew_when_it_comes_into_view(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NodeTree looks at the labels of nodes far from the screen only when their lines are drawn."""
    from agenttui.tui.components.node_tree import node_label

    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    app = AgentTuiApp(_store(tmp_path / "t.db"))
    async with app.run_test(size=(100, 20)) as pilot:
        screen = app.inspector
        await wait_for(pilot, lambda: screen.history is not None and not screen.busy, "the fold", 60)
        history, tree = screen.history, screen.node_tree
        early, late = 600, len(history) - 1
        screen.replay = early
        await wait_for(pilot, lambda: tree.index == early, "the early state")
        tree.action_expand_all()
        await pilot.pause(0.3)
        tree.scroll_to(y=0, animate=False)
        await pilot.pause(0.1)
        beyond = tree._near_screen()[1]
        far = [t for t in tree._tree_nodes.values() if t.data is not None and t._line >= beyond
               and history.display_at(t.data, early) != history.display_at(t.data, late)]
        assert far, "nodes far below the screen whose labels change"
        screen.replay = late
        await wait_for(pilot, lambda: tree.index == late, "the late state")
        assert any(t.id in tree._unsure for t in far), "their labels were not looked at"
        for t in far[:3]:
            tree.scroll_to(y=t._line, animate=False)
            await pilot.pause(0.1)
            drawn = tree.render_line(t._line - int(tree.scroll_y)).text
            expected = node_label(t.data, history.display_at(t.data, late), chosen=t.data == tree.chosen).plain
            head, tail = expected.split("  ")[0], expected.split()[-1]  # (status glyph and nid; status)
            assert head in drawn and drawn.rstrip().endswith(tail), (drawn, expected)  # (the goal is cut)
            assert tree.label_of(t).plain == expected
