"""Every key of the inspector does what the help screen says (Pilot, 120x40)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.command import CommandList

from agenttui.tui.app import SPEEDS, AgentTuiApp
from agenttui.tui.components.detail import DetailPane
from agenttui.tui.components.event_list import EventList
from agenttui.tui.components.help_screen import HelpScreen
from agenttui.tui.components.run_picker import RunPicker
from agenttui.tui.components.type_picker import TypePicker

from tui_support import (  # noqa: F401  (anyio_backend is a fixture)
    SAMPLE_RUN, SIZE, anyio_backend, detail_follows, make_db, static_text, wait_for,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("keys") / "run.db")


async def _ready(app: AgentTuiApp, pilot) -> EventList:
    await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count > 0, "the run to load")
    await pilot.pause()
    return app.inspector.events_list


def _held(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> threading.Event:
    """Make `module.name` (a worker's slow step) wait until the returned event is set."""
    release = threading.Event()
    real = getattr(module, name)

    def held(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return release


def _status(app: AgentTuiApp) -> str:
    return static_text(app.query_one("#status"))


async def test_moving_the_cursor_j_k_g_G_and_follow(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        last = lst.count - 1
        assert lst.cursor == last and lst.follow
        assert "LIVE" in _status(app) and "following" in _status(app)
        await pilot.press("k", "k", "up")
        assert lst.cursor == last - 3
        assert not lst.follow, "moving up stops following"
        await pilot.press("j", "down")
        assert lst.cursor == last - 1
        await pilot.press("g")
        assert lst.cursor == 0 and lst.cursor_seq == 1
        await pilot.press("G")
        assert lst.cursor == last and lst.follow
        await pilot.press("f")
        assert not lst.follow and "paused" in _status(app)
        await pilot.press("f")
        assert lst.follow


async def test_enter_opens_the_event_and_tab_cycles_panes(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        assert app.focused is lst
        await pilot.press("g", "enter")
        detail = app.query_one(DetailPane)
        await wait_for(pilot, lambda: app.focused is detail and detail.event is not None and detail.event.seq == 1,
                       "enter to focus the detail on the first event")
        await pilot.press("tab")
        assert app.focused is not detail
        focused = []
        for _ in range(4):
            focused.append(app.focused)
            await pilot.press("tab")
        assert {type(w).__name__ for w in focused} >= {"NodeTree", "EventList", "DetailPane"}


async def test_search_slash_n_N_and_escape(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"web.search", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "search matches")
        matches = list(app.inspector.search.matches)
        assert matches, "the sample has web.search tool calls"
        assert lst.cursor_seq in matches
        first = lst.cursor_seq
        await pilot.press("n")
        assert lst.cursor_seq in matches and lst.cursor_seq != first or len(matches) == 1
        await pilot.press("N")
        assert lst.cursor_seq == first
        assert "matches" in _status(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.inspector.search.matches is None, "the search to clear")
        assert app.inspector.search_text is None


async def test_n_finds_the_next_match_while_all_matches_are_still_being_marked(sample_db: Path,
                                                                             monkeypatch) -> None:
    """Marking every match of a common term in a big run takes a second; `n` and `N` meanwhile go
    to the next and previous match anyway (a short read from the cursor)."""
    from agenttui.tui.data.reader import InspectorReader

    release = _held(monkeypatch, InspectorReader, "matching_seqs")
    app = AgentTuiApp(sample_db)
    notices: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        monkeypatch.setattr(app, "notify", lambda message, **kw: notices.append(str(message)))
        await pilot.press("g", "slash", *"web.search", "enter")
        await wait_for(pilot, lambda: lst.cursor_seq is not None and lst.cursor_seq > 1, "the first match")
        first = lst.cursor_seq
        await pilot.press("n")
        await pilot.pause()
        second = lst.cursor_seq
        assert app.inspector.search.matches is None and second > first
        await pilot.press("N")
        await pilot.pause()
        assert lst.cursor_seq == first and app.inspector.search.matches is None and not notices, notices
        release.set()
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "every match")
        assert list(app.inspector.search.matches)[:2] == [first, second]


async def test_t_picks_event_types_and_escape_clears_the_filter(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        total = lst.count
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TypePicker)
        await pilot.press("n")  # none
        # tick only the first listed type (the most frequent)
        await pilot.press("space", "enter")
        await wait_for(pilot, lambda: lst.source.filtered, "the filtered view")
        kinds = {lst.event(lst.source.seq_of_row(r)).event_type for r in range(lst.count)}
        assert kinds == {"node_status_changed"}
        assert 0 < lst.count < total
        assert "types" in _status(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not lst.source.filtered, "the filter to clear")
        assert lst.count == total


async def test_time_slider_keys_step_jump_and_return_to_live(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        n = len(app.inspector.history)
        await pilot.press("left_square_bracket")
        assert app.inspector.replay == n - 2
        assert "REPLAY" in _status(app)
        assert lst.replay_seq == app.inspector.history.seq_of_index(n - 2)
        assert lst.cursor_seq == lst.replay_seq, "the list follows the time cursor"
        await pilot.press("left_square_bracket", "right_square_bracket", "right_square_bracket")
        assert app.inspector.replay == n - 1
        step = max(1, round(n * 0.05))
        await pilot.press("left_curly_bracket")
        assert app.inspector.replay == n - 1 - step
        await pilot.press("left_curly_bracket", "right_curly_bracket")
        assert app.inspector.replay == n - 1 - step
        header = static_text(app.query_one("#header"))
        assert f"{n - step} events" in header, "the header shows the state as of the cursor"
        assert app.inspector.slider.index == app.inspector.replay and not app.inspector.slider.live
        await pilot.press("L")
        assert app.inspector.replay is None and lst.follow
        assert "LIVE" in _status(app)
        assert f"{n} events" in static_text(app.query_one("#header"))


async def test_p_plays_and_pauses_plus_minus_change_speed(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("g", "p")
        assert app.inspector.playback.playing and app.inspector.replay is not None
        assert "PLAY" in _status(app)
        await wait_for(pilot, lambda: (app.inspector.replay or 0) > 0, "playback to advance")
        await pilot.press("p")
        assert not app.inspector.playback.playing
        stopped = app.inspector.replay
        await pilot.pause(0.2)
        assert app.inspector.replay == stopped, "paused playback stays put"
        assert "REPLAY" in _status(app)
        await pilot.press("plus", "plus")
        assert SPEEDS[app.inspector.playback.speed_index] == 5
        await pilot.press("minus")
        assert SPEEDS[app.inspector.playback.speed_index] == 2
        for _ in range(5):
            await pilot.press("plus")
        assert SPEEDS[app.inspector.playback.speed_index] == SPEEDS[-1]
        await pilot.press("p")
        await wait_for(pilot, lambda: not app.inspector.playback.playing, "playback to reach the end of the run")
        assert app.inspector.replay == len(app.inspector.history) - 1


async def test_e_and_E_jump_between_error_marks(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        marks = [i for i, _ in app.inspector.history.marks()]
        assert marks, "the sample run has failures"
        await pilot.press("G", "left_square_bracket")  # into replay at the last-but-one event
        await pilot.press("E")
        earlier = [m for m in marks if m < len(app.inspector.history) - 2]
        assert app.inspector.replay == earlier[-1]
        await pilot.press("e")
        later = [m for m in marks if m > earlier[-1]]
        assert app.inspector.replay == (later[0] if later else earlier[-1])


async def test_r_picks_another_run(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        assert app.inspector.run_id == SAMPLE_RUN
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RunPicker)
        assert {r["run_id"] for r in app.screen.runs} == {SAMPLE_RUN, "unassigned"}
        # the other run is the one not highlighted
        index = next(i for i, r in enumerate(app.screen.runs) if r["run_id"] == "unassigned")
        app.screen.query_one("#run-list").highlighted = index
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.inspector.run_id == "unassigned" and app.inspector.events_list.count == 2, "the other run")
        await pilot.press("r", "escape")
        assert app.inspector.run_id == "unassigned"


async def test_y_copies_the_event_and_x_narrows_to_its_node(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        await pilot.press("k", "k")
        await detail_follows(pilot, app)
        await pilot.press("y")
        event = app.query_one(DetailPane).event
        assert event is not None
        assert f'"event_id": "{event.event_id}"' in app.clipboard
        assert event.node_id
        await pilot.press("x")
        await wait_for(pilot, lambda: lst.source.filtered, "the node filter")
        assert all(lst.event(lst.source.seq_of_row(r)).node_id == event.node_id for r in range(lst.count))
        await pilot.press("x")
        await wait_for(pilot, lambda: not lst.source.filtered, "the node filter to clear")


async def test_help_screen_and_command_palette_list_the_keys(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        for binding_id in ("search", "next_match", "pick_types", "clear", "follow", "step_back", "step_forward",
                           "jump_back", "jump_forward", "live", "play", "faster", "slower", "pick_run", "copy",
                           "quit", "help", "next_pane", "list.first", "list.last"):
            assert binding_id in ids
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("left_square_bracket")
        assert app.inspector.replay is not None
        await pilot.press("ctrl+p")
        await pilot.press(*"back to live")
        commands = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: commands.option_count > 0, "the palette to offer commands")
        prompt = commands.get_option_at_index(0).prompt
        assert "Back to live" in getattr(prompt, "plain", str(prompt))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.inspector.replay is None, "the palette command to run")


async def test_a_user_keymap_remaps_a_binding(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db, keymap={"pick_types": "ctrl+t"})
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, TypePicker)
        assert app.binding_keys("pick_types") == "ctrl+t"


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_q_quits(sample_db: Path, key: str) -> None:
    """q, and Ctrl-C as in htop, k9s and lazygit."""
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press(key)
        await pilot.pause()
    assert app.return_code == 0


def test_agenttui_keymap_parses_ids_and_keys() -> None:
    from agenttui.tui.app import parse_keymap

    assert parse_keymap("search=ctrl+f;quit=ctrl+q,f10  live=l") == [
        ("search", "ctrl+f"), ("quit", "ctrl+q,f10"), ("live", "l")]
    assert parse_keymap("nonsense;=x;y=") == []


async def test_enter_on_a_tree_node_narrows_the_list_to_its_events(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        lst = await _ready(app, pilot)
        app.inspector.node_tree.focus()
        app.inspector.node_tree.cursor_line = 0
        await pilot.press("enter")
        node_id = app.inspector.node_tree.chosen
        assert node_id is not None
        await wait_for(pilot, lambda: lst.source.filtered, "the node filter")
        assert lst.count > 0
        assert all(lst.event(lst.source.seq_of_row(r)).node_id == node_id for r in range(lst.count))
        assert "node" in _status(app)
        await pilot.press("enter")  # the same node again: all events
        await wait_for(pilot, lambda: not lst.source.filtered, "the filter to clear")
        assert app.inspector.node_tree.chosen is None


async def test_a_search_for_markup_is_literal_in_the_notice_and_status(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("slash", *"[bold]no[/]", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search to finish")
        assert len(app.inspector.search.matches) == 0
        assert "/[bold]no[/]" in _status(app)
        notices = [n.message for n in app._notifications]  # noqa: SLF001
        assert any("[bold]no[/]" in m for m in notices)


async def test_time_keys_say_so_until_the_outline_is_in_then_work_before_the_history(sample_db: Path,
                                                                                      monkeypatch) -> None:
    """A big run's history folds in the background for a while; the slider works from the run's
    outline (read from the store at once) before it. Until the outline is in, `[`, `{` and `p`
    answer with a notice instead of doing nothing."""
    import agenttui.tui.history.outline as outline_module
    import agenttui.tui.screens.inspector as app_module

    release = _held(monkeypatch, app_module, "load_history")
    outline = threading.Event()
    real_load = outline_module.RunOutline.load.__func__

    def held_outline(cls, *args, **kwargs):
        outline.wait(30)
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(outline_module.RunOutline, "load", classmethod(held_outline))
    app = AgentTuiApp(sample_db)
    notices: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: notices.append(str(message)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.count > 0, "the rows")
        for key in ("left_square_bracket", "left_curly_bracket", "p"):
            await pilot.press(key)
        await pilot.pause()
        assert len(notices) == 3 and all("outline is still loading" in n for n in notices), notices
        assert app.inspector.replay is None and not app.inspector.playback.playing
        outline.set()
        await wait_for(pilot, lambda: app.inspector.scrub.outline is not None, "the outline")
        await pilot.press("left_square_bracket")
        total = app.inspector.events_list.count
        await wait_for(pilot, lambda: app.inspector.scrub.holds(total - 2), "the window at the cursor")
        assert app.inspector.replay == total - 2 and app.inspector.history is None
        release.set()
        await wait_for(pilot, lambda: app.inspector.history is not None, "the history")
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert app.inspector.replay == len(app.inspector.history) - 3
