"""The session picker tells sessions apart (issue 14.6): names cut in the middle keeping what is
unique, each session's status, events, duration and errors, and a key back to the folder."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.session_picker import SessionPicker, cut_name, read_figures, shared_prefix

from tui_support import SIZE, anyio_backend, wait_for  # noqa: F401

pytestmark = pytest.mark.anyio

PREFIX = "20261206-021530-write-a-market-report-on-q3-"


def _session(folder: Path, suffix: str, *, steps: int, fail: bool, age: float) -> Path:
    path = folder / f"{PREFIX}{suffix}.db"
    events = [{"event_type": "run_started", "run_id": f"run-{suffix}", "timestamp": "2026-12-06T02:15:30Z",
               "payload": {"input_data": {"prompt": "q3"}}}]
    events += [{"event_type": "step_started", "run_id": f"run-{suffix}", "timestamp": f"2026-12-06T02:16:{i:02d}Z",
                "payload": {"step": i}} for i in range(steps)]
    last = "2026-12-06T02:20:30Z"
    if fail:
        events.append({"event_type": "run_error", "run_id": f"run-{suffix}", "timestamp": last,
                       "payload": {"error_type": "E", "error_message": "boom"}})
    else:
        events.append({"event_type": "run_finished", "run_id": f"run-{suffix}", "timestamp": last, "payload": {}})
    with SQLiteStore(path) as store:
        store.append(events)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _session(tmp_path, "1a2b3c4d", steps=3, fail=False, age=60)
    _session(tmp_path, "9f8e7d6c", steps=7, fail=True, age=0)
    return tmp_path


def test_names_are_cut_in_the_middle_keeping_the_unique_suffix() -> None:
    names = [f"{PREFIX}1a2b3c4d.db", f"{PREFIX}9f8e7d6c.db"]
    shared = shared_prefix(names)
    cut = [cut_name(n, 34, shared) for n in names]
    assert all(len(c) == 34 and "…" in c for c in cut)
    assert cut[0].endswith("1a2b3c4d.db") and cut[1].endswith("9f8e7d6c.db")
    assert cut[0] != cut[1]
    assert cut_name("short.db", 34) == "short.db"
    assert shared_prefix(["only.db"]) == 0


def test_figures_of_a_session(folder: Path) -> None:
    ok, failed = sorted(folder.glob("*.db"))
    f = read_figures(ok)
    assert (f.status, f.events, f.errors, f.runs, f.seconds) == ("completed", 5, 0, 1, 300.0)
    f = read_figures(failed)
    assert (f.status, f.events, f.errors) == ("error", 9, 1)
    broken = folder / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    assert read_figures(broken).problem


async def test_the_picker_shows_each_session_and_o_goes_back_to_the_folder(folder: Path) -> None:
    app = AgentTuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker), "the session picker")
        picker = app.screen
        await wait_for(pilot, lambda: len(picker.figures) == 2, "each session's figures")
        options = picker.query_one("#session-list")
        rows = [options.get_option_at_index(i).prompt.plain for i in range(options.option_count)]
        assert "9f8e7d6c.db" in rows[0] and "error" in rows[0] and "9 ev" in rows[0] and "1 err" in rows[0]
        assert "1a2b3c4d.db" in rows[1] and "completed" in rows[1] and "5 ev" in rows[1] and "05:00" in rows[1]
        assert all(len(r) <= 78 for r in rows), "a row fits an 80-column terminal"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.inspector.run_id == "run-9f8e7d6c", "the newest session")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker), "the picker again")
        options = app.screen.query_one("#session-list")
        assert options.get_option_at_index(options.highlighted).id == app.path, "the open session is highlighted"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SessionPicker), "back to the open session")
        assert app.is_running and app.inspector.run_id == "run-9f8e7d6c"
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker), "the picker")
        other = next(i for i, p in enumerate(app.screen.files) if str(p) != app.path)
        app.screen.query_one("#session-list").highlighted = other
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.inspector.run_id == "run-1a2b3c4d"
                       and app.inspector.events_list.count == 5, "the other session")
        assert app.path.endswith("1a2b3c4d.db")


async def test_o_on_a_single_file_says_there_is_no_folder(tmp_path: Path) -> None:
    db = _session(tmp_path, "1a2b3c4d", steps=1, fail=False, age=0)
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.count == 3, "the run")
        await pilot.press("o")
        await pilot.pause()
        assert not isinstance(app.screen, SessionPicker)
        assert any("not a folder of sessions" in n.message for n in app._notifications)
