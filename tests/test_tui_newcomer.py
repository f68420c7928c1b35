"""The inspector as a newcomer meets it (issue 14, points 4-9): replay from the selection, keys
that quit, a keymap that names its mistakes, the clipboard inside tmux (Pilot, 120x40)."""
from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp, keymap_problems, known_binding_ids
from agenttui.tui.clipboard import clipboard_warning
from agenttui.tui.components.run_picker import RunPicker

from tui_support import SAMPLE_RUN, SIZE, anyio_backend, make_db, static_text, wait_for  # noqa: F401

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("newcomer") / "run.db")


async def _ready(app: AgentTuiApp, pilot) -> None:
    await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count > 0,
                   "the run to load")
    await pilot.pause()


def _notices(app: AgentTuiApp) -> str:
    return "\n".join(n.message for n in app._notifications)


# ----------------------------------------------------------------------------- replay from here

async def test_time_keys_start_from_the_selected_event(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        ins, lst = app.inspector, app.inspector.events_list
        await pilot.press("g", *["j"] * 9)  # event #10 of the run selected
        assert lst.cursor_seq == 10 and ins.replay is None
        await pilot.press("left_square_bracket")
        assert ins.replay == ins.history.index_of_seq(10) - 1, "one event back from the selection, not the end"
        assert lst.cursor_seq == 9 and ins.slider.index == ins.replay


async def test_R_replays_to_the_selected_event_and_the_list_moves_the_time_cursor(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        ins = app.inspector
        await pilot.press("g", "j", "j", "j")
        await pilot.press("R")
        assert ins.replay == ins.history.index_of_seq(4) and "REPLAY" in static_text(app.query_one("#status"))
        await pilot.press("j", "j")
        await wait_for(pilot, lambda: ins.replay == ins.history.index_of_seq(6), "the time cursor to follow the list")
        assert ins.slider.index == ins.replay and not ins.slider.live
        await pilot.press("k")
        await wait_for(pilot, lambda: ins.replay == ins.history.index_of_seq(5), "the time cursor to follow back")


async def test_R_after_a_search_replays_to_the_match(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        ins, lst = app.inspector, app.inspector.events_list
        await pilot.press("slash", *"web.search", "enter")
        await wait_for(pilot, lambda: ins.search.matches is not None, "search matches")
        await pilot.press("n")
        match = lst.cursor_seq
        assert match in ins.search.matches
        await pilot.press("R")
        assert ins.replay == ins.history.index_of_seq(match) and lst.cursor_seq == match
        assert ins.history.seq_of_index(ins.replay) == match


async def test_R_on_a_tree_node_replays_to_its_first_then_its_last_event(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        ins = app.inspector
        tree = ins.node_tree
        tree.focus()
        await wait_for(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data is not None,
                       "a node under the tree's cursor")
        own = ins.history.events_of(tree.cursor_node.data)
        assert len(own) > 1
        await pilot.press("R")
        assert ins.replay == own[0]
        await pilot.press("R")
        assert ins.replay == own[-1]


# ----------------------------------------------------------------------------- quitting

# (Ctrl-C quits: tests/test_tui_keys.py::test_q_quits)
async def test_sigterm_quits_the_inspector_cleanly(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_for(pilot, lambda: app._exit_renderables is not None or not app.is_running, "the app to exit")
    assert app.return_code == 0
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None), "the handler is gone with the app"


# ----------------------------------------------------------------------------- keymap

def test_keymap_problems_name_unknown_ids_and_malformed_entries() -> None:
    known = known_binding_ids()
    assert {"search", "quit", "list.down", "runs.cancel", "sessions.cancel"} <= known
    assert keymap_problems("search=ctrl+f;quit=ctrl+q", known) == []
    problems = keymap_problems("serch=ctrl+f down=x nonsense", known)
    assert problems[0].startswith("no key has the id 'serch'")
    assert "list.down" in problems[1]
    assert problems[2] == "'nonsense' is not id=keys (e.g. search=ctrl+f)"


async def test_an_unknown_keymap_entry_is_reported_on_screen(sample_db: Path, monkeypatch) -> None:
    monkeypatch.setenv("AGENTTUI_KEYMAP", "serch=ctrl+f;pick_types=ctrl+t")
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        assert "no key has the id 'serch'" in _notices(app)
        assert "pick_types" not in _notices(app)


# ----------------------------------------------------------------------------- clipboard

def _fake_tmux(folder: Path, value: str) -> dict[str, str]:
    tmux = folder / "tmux"
    tmux.write_text(f"#!/bin/sh\n[ \"$*\" = 'show -gv set-clipboard' ] && echo {value} && exit 0\nexit 1\n")
    tmux.chmod(tmux.stat().st_mode | stat.S_IEXEC)
    return {"TMUX": "/tmp/tmux-0/default,1,0", "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_clipboard_warning_inside_tmux(tmp_path: Path) -> None:
    assert clipboard_warning({"PATH": os.environ["PATH"]}) is None, "outside tmux nothing is said"
    assert clipboard_warning(_fake_tmux(tmp_path, "on")) is None
    warning = clipboard_warning(_fake_tmux(tmp_path, "external"))
    assert warning and "set-clipboard is external" in warning and "set -g set-clipboard on" in warning
    no_tmux = {"TMUX": "x", "PATH": str(tmp_path / "nowhere")}
    assert "could not be asked" in clipboard_warning(no_tmux)


async def test_y_inside_tmux_without_set_clipboard_says_so(sample_db: Path, tmp_path: Path, monkeypatch) -> None:
    for name, value in _fake_tmux(tmp_path, "off").items():
        monkeypatch.setenv(name, value)
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("k")
        await wait_for(pilot, lambda: app.inspector.detail.event is not None, "the detail pane")
        await pilot.press("y")
        assert app.clipboard and "tmux set-clipboard is off" in _notices(app)


# ----------------------------------------------------------------------------- runs by name

async def test_a_run_named_that_is_not_there_yet_is_said_then_opened_when_it_comes(tmp_path: Path) -> None:
    path = make_db(tmp_path / "run.db")
    app = AgentTuiApp(path, run_id="run-later")
    async with app.run_test(size=SIZE) as pilot:
        message = app.query_one("#message")
        await wait_for(pilot, lambda: "no run 'run-later' yet" in static_text(message), "the message")
        assert f"run.db: no run 'run-later' yet (runs here: {SAMPLE_RUN}, unassigned)" in static_text(message) \
            or f"run.db: no run 'run-later' yet (runs here: unassigned, {SAMPLE_RUN})" in static_text(message)
        assert "WAITING" in static_text(app.query_one("#status"))
        with SQLiteStore(path) as store:
            store.append({"event_type": "step_started", "run_id": "run-later", "payload": {"step": 1}})
        await wait_for(pilot, lambda: app.inspector.events_list.count == 1, "the run's first event")
        await wait_for(pilot, lambda: not app.inspector.has_class("-no-store"), "the message to go")
        assert app.inspector.run_id == "run-later"
        assert "run-later" in static_text(app.query_one("#header"))


# ----------------------------------------------------------------------------- the unassigned run

async def test_the_unassigned_run_has_no_status_and_no_clock(sample_db: Path) -> None:
    app = AgentTuiApp(sample_db, run_id="unassigned")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.count == 2, "the unassigned events")
        header = static_text(app.query_one("#header"))
        assert "unassigned  events without a run id" in header
        assert "running" not in header and "⏱" not in header
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunPicker), "the run picker")
        options = app.screen.query_one("#run-list")
        prompts = [options.get_option_at_index(i).prompt.plain for i in range(options.option_count)]
        (unassigned,) = [p for p in prompts if "unassigned" in p]
        assert "events without a run id" in unassigned and "running" not in unassigned
        (sample,) = [p for p in prompts if SAMPLE_RUN in p]
        assert "events without a run id" not in sample


def test_stats_shows_the_unassigned_run_without_status_or_duration(sample_db: Path, cli) -> None:
    code, out, _ = cli("stats", sample_db)
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.strip().startswith("unassigned")]
    assert "running" not in line and line.rstrip().endswith("events without a run id")
    assert line.split()[1] == "-"


async def test_the_header_and_stats_show_one_duration(sample_db: Path, cli) -> None:
    code, out, _ = cli("stats", sample_db)
    (line,) = [line for line in out.splitlines() if line.strip().startswith(SAMPLE_RUN)]
    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        header = static_text(app.query_one("#header"))
    elapsed = header.split("⏱ ")[1].split()[0]
    assert elapsed in line.split(), (elapsed, line)


# ----------------------------------------------------------------------------- a readable slider

def test_the_density_row_shows_a_burst_beside_a_much_busier_column() -> None:
    from agenttui.tui.components.time_slider import bar_levels

    levels = bar_levels([5000, 2, 2, 40, 2, 0])
    assert levels[0] == 8 and levels[5] == 0 and min(levels[:5]) >= 1
    assert levels[3] >= levels[1] + 2, "a burst 20x its neighbours stands out (linear: both 1/8)"
    assert bar_levels([]) == [] and bar_levels([0, 0]) == [0, 0]


async def test_the_slider_track_has_the_run_time_at_its_ends_and_the_status_counts_a_columns_marks(
        sample_db: Path) -> None:
    from agenttui.tui.components.time_slider import time_labels

    app = AgentTuiApp(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        ins, slider = app.inspector, app.inspector.slider
        tl = ins.history
        start, end = time_labels(tl)
        assert start == tl.timestamp_text_at(0)[11:19], (start, tl.timestamp_text_at(0))
        assert end.endswith(tl.timestamp_text_at(len(tl) - 1)[11:19]) and end.startswith("+")
        track = slider.render_line(1).text
        assert track.startswith(f"─ {start} ")
        marks = {tl.axis.bucket_of(i, slider.size.width) for i, _ in tl.marks()}
        assert marks <= {x for x, ch in enumerate(track) if ch in "▲●"}, "a label never hides a mark"
        await pilot.press("G", "E")
        assert ins.replay is not None
        column = slider.cursor_column()
        in_column = [i for i, _ in tl.marks() if tl.axis.bucket_of(i, slider.size.width) == column]
        status = static_text(app.query_one("#status"))
        expected = f"▲ {len(in_column)} in this column" if len(in_column) > 1 else "in this column"
        assert expected in status, status
        await pilot.press("L")
        assert "in this column" not in static_text(app.query_one("#status"))


def test_run_stats_of_the_unassigned_run_say_what_it_is(sample_db: Path, cli) -> None:
    code, out, _ = cli("stats", sample_db, "--run", "unassigned")
    assert code == 0
    assert out.splitlines()[0] == "Run unassigned: events without a run id" and "running" not in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("wall time")] == ["-"]
