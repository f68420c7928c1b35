"""SVG snapshots of the inspector's main screens, at 80x24 and at 160x45.

80x24 is a first-class size (the header drops figures, the list's columns shrink, the help
scrolls); 160x45 is a usual desktop terminal. Every main screen is drawn at both.

A snapshot catches what the Pilot tests cannot see: a column that slid, a colour that went missing,
a modal drawn under the list. Each screen is reached the way a user reaches it (keys), after the
run has been loaded and folded, so the picture does not depend on how fast the machine is.

Determinism: the app gets a fixed clock (the header's elapsed time of a running run comes from it),
the database lives in a temporary folder whose path the screens never show, and the sample run's
events carry their own timestamps. Regenerate after an intended change with
`pytest tests/test_tui_snapshots.py --snapshot-update`, then look at the SVGs before committing.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from textual.containers import VerticalScroll

from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.help_screen import HelpScreen
from agenttui.tui.components.type_picker import TypePicker

from tui_support import SAMPLE_RUN, make_db, wait_for

#: The size other modules' snapshots (an OpenTelemetry run, compare) are taken at.
TERMINAL = (140, 40)
#: Every screen at both sizes (ids name the size in the snapshot's file name).
SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
#: "Now" for every snapshot: a replayed run is shown as running, and its elapsed time must not move.
FROZEN_NOW = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)

#: Every way a payload could try to take over the terminal or the markup parser.
HOSTILE = ("[bold]x[/] [link=http://x]y[/link] \x1b[31mred\x1b[0m "
           "\x1b]52;c;ZXZpbA==\x07 [/] [red on white]z")
HOSTILE_EVENTS = [
    {"event_id": "hostile-node", "run_id": SAMPLE_RUN, "event_type": "node_created",
     "timestamp": "2026-03-01T09:00:09.000000Z",
     "payload": {"node_id": "hostile-node", "node_nid": "[red]9[/red]", "node_type": "EXECUTE_NODE",
                 "task_type": "RETRIEVAL", "task_goal": HOSTILE, "layer": 1}},
    {"event_id": "hostile-tool", "run_id": SAMPLE_RUN, "event_type": "tool_returned",
     "timestamp": "2026-03-01T09:00:09.500000Z", "node_id": "hostile-node",
     "payload": {"tool_name": "[bold]x[/]", "api_name": "[link=http://x]y[/link]", "state": "SUCCESS",
                 "result_summary": HOSTILE, "args": {"[bold]key[/]": ["\x1b[31m", "\x1b]52;c;ZXZpbA==\x07"]}}},
]


def _app(db: Path) -> AgentTuiApp:
    return AgentTuiApp(db, clock=lambda: FROZEN_NOW)


def _settled(extra: Callable[[AgentTuiApp], bool] = lambda app: True) -> Callable[[Any], Any]:
    """A run_before that waits until the run is folded, the list filled and the detail pane drawn."""

    async def run_before(pilot: Any) -> None:
        app: AgentTuiApp = pilot.app

        def ready() -> bool:
            return (app.inspector.history is not None and app.inspector.events_list.count > 0 and not app.inspector.busy
                    and app.inspector.detail.event is not None and extra(app))

        await wait_for(pilot, ready, "the run to load and the detail pane to show the selected event")
        await wait_for(pilot, lambda: _caught_up(app), "the detail and the tree to follow the cursor")

    return run_before


def _caught_up(app: AgentTuiApp) -> bool:
    """The detail shows the list cursor's event and the tree's reveal of its node has run."""
    return app.inspector.caught_up()


def _after_keys(*keys: str, until: Callable[[AgentTuiApp], bool]) -> Callable[[Any], Any]:
    """A run_before that loads the run, presses `keys`, and waits for what they lead to."""
    settle = _settled()

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        # One key at a time, each followed by the detail and the tree's reveal: those run when the
        # keys rest (REVEAL_REST), and a reveal on the way opens the nodes above its node, so keys
        # pressed all at once gave one picture or another with the machine's load.
        for key in keys:
            await pilot.press(key)
            await wait_for(pilot, lambda: _caught_up(pilot.app), f"the detail and the tree to follow {key}")
        await wait_for(pilot, lambda: until(pilot.app), f"the screen after pressing {' '.join(keys)}")
        await wait_for(pilot, lambda: _caught_up(pilot.app), "the detail and the tree to follow the cursor")
        await pilot.pause()

    return run_before


@SIZES
def test_main_screen_live(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """The sample run, finished, followed live: header counts, tree, list on the newest event, detail."""
    db = make_db(tmp_path / "run.db")
    assert snap_compare(_app(db), terminal_size=size, run_before=_settled())


@SIZES
def test_type_filter_picker(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`t` opens the picker with counts per type; llm_call_completed has been unticked."""
    db = make_db(tmp_path / "run.db")
    run_before = _after_keys("t", "down", "space", "down", until=lambda app: isinstance(app.screen, TypePicker))
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_type_filter_applied(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Only LLM calls shown (`t`, none, tick the two llm_call types, enter): the list and status say so."""
    db = make_db(tmp_path / "run.db")

    def filtered(app: AgentTuiApp) -> bool:
        return (not isinstance(app.screen, TypePicker) and app.inspector.events_list.source.filtered
                and app.inspector.events_list.count == 48 and not app.inspector.busy)

    run_before = _after_keys("t", "n", "down", "space", "down", "space", "enter", until=filtered)
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_replayed_state(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Two steps back and 5% more: the tree, header and slider show the run as of event #173."""
    db = make_db(tmp_path / "run.db")
    run_before = _after_keys("left_square_bracket", "left_square_bracket", "left_curly_bracket",
                             until=lambda app: app.inspector.replay == 170)
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_search_with_every_match_marked(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`/web.search` then `n`: the second match selected, every match marked, the status bar's count."""
    db = make_db(tmp_path / "run.db")

    def second_match(app: AgentTuiApp) -> bool:
        matches = app.inspector.search.matches
        return (matches is not None and len(matches) > 1 and not app.inspector.busy
                and app.inspector.events_list.cursor_seq == matches[1])

    run_before = _after_keys("slash", *"web.search", "enter", "n", until=second_match)
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_help_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`?` lists every key with what it does and its id (for remapping)."""
    db = make_db(tmp_path / "run.db")
    run_before = _after_keys("question_mark", until=lambda app: isinstance(app.screen, HelpScreen))
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_hostile_payload_is_shown_literally(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Markup, a link, ANSI colours and an OSC 52 clipboard write in a payload: all drawn as text.

    The snapshot is the proof a reader can check: `[bold]x[/]` appears with its brackets, in the
    list, the tree and the detail pane, and nothing turned red, bold or clickable.
    """
    db = make_db(tmp_path / "run.db", HOSTILE_EVENTS)

    def hostile_selected(app: AgentTuiApp) -> bool:
        return app.inspector.detail.event is not None and app.inspector.detail.event.event_id == "hostile-tool"

    assert snap_compare(_app(db), terminal_size=size, run_before=_settled(hostile_selected))


@SIZES
def test_help_screen_scrolled_to_its_end(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`?` then End: the help's last rows (the tree's status glyphs) are on screen, at either size."""
    db = make_db(tmp_path / "run.db")

    def at_end(app: AgentTuiApp) -> bool:
        if not isinstance(app.screen, HelpScreen):
            return False
        view = app.screen.query_one(VerticalScroll)
        return view.scroll_y >= view.max_scroll_y

    run_before = _after_keys("question_mark", "end", until=at_end)
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_event_list_zoomed(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`z` on the list: the list alone (with its column titles), the status bar and the footer."""
    db = make_db(tmp_path / "run.db")
    run_before = _after_keys("k", "k", "z", until=lambda app: app.inspector.panes.zoomed == "events")
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


@SIZES
def test_detail_collapsed_and_tree_expanded(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`d` folds the detail pane away (the list takes its rows); `*` in the tree opens every node."""
    db = make_db(tmp_path / "run.db")
    run_before = _after_keys("d", "shift+tab", "asterisk",
                             until=lambda app: not app.inspector.detail.display and app.inspector.node_tree.has_focus)
    assert snap_compare(_app(db), terminal_size=size, run_before=run_before)


def test_main_screen_without_colour(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR at 80x24: statuses read from the tree's glyphs, errors from the list's ✗, the cursor
    from reverse video."""
    monkeypatch.setenv("NO_COLOR", "1")
    db = make_db(tmp_path / "run.db")
    assert snap_compare(_app(db), terminal_size=(80, 24), run_before=_settled())
