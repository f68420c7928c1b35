"""The live view against writers in OTHER PROCESSES, in every connection pattern users have (issue 11).

Each test opens the real app (Pilot), lets other processes commit, and checks that every committed
event of the open run reaches the list, in position order, with the status bar's count right. The
pattern that used to stall: a writer that opens the store, appends and closes for each event.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp

from tui_support import SAMPLE_RUN, anyio_backend, make_db, wait_for  # noqa: F401  (anyio_backend: fixture)

pytestmark = pytest.mark.anyio

WRITER = str(Path(__file__).parent / "live_writer.py")
SIZE = (160, 45)
#: Generous: the machine is shared and loaded; the tests assert on what arrives, never how fast.
ARRIVAL_TIMEOUT = 120


def writer(db: Path, prefix: str, count: int, mode: str, *, run: str = SAMPLE_RUN, types: str = "tick",
           burst: int = 100, pause: float = 0.01) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, WRITER, str(db), run, prefix, str(count), mode, types, str(burst),
                             str(pause)])


def import_command(db: Path, line_file: Path) -> list[str]:
    return [sys.executable, "-m", "agenttui", "import", str(db), str(line_file), "--quiet"]


def shown_ids(app: AgentTuiApp) -> list[str]:
    """Every event id in the list, top to bottom (read through the list's own source)."""
    lst = app.inspector.events_list
    return [lst.event(lst.source.seq_of_row(i)).event_id for i in range(lst.count)]


def status(app: AgentTuiApp):
    return app.query_one("#status").info


def stored_ids(db: Path, run: str = SAMPLE_RUN) -> list[str]:
    with SQLiteStore(db, readonly=True) as store:
        return [e.event_id for e in store.iter_events(run_id=run)]


async def open_and_wait(pilot, app: AgentTuiApp) -> None:
    await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count > 0, "the run to load", 60)


def run_all(procs: list[subprocess.Popen]) -> None:
    assert [p.wait(timeout=300) for p in procs] == [0] * len(procs)


@pytest.mark.parametrize("mode", ["long", "per-event"])
async def test_each_writer_pattern_reaches_the_screen_in_order(tmp_path: Path, mode: str) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_and_wait(pilot, app)
        before = app.inspector.events_list.count
        proc = writer(db, f"{mode}", 30, mode)
        await wait_for(pilot, lambda: app.inspector.events_list.count == before + 30, f"30 events from a {mode} writer",
                       ARRIVAL_TIMEOUT)
        run_all([proc])
        await pilot.pause(0.3)
        assert shown_ids(app) == stored_ids(db), "every event, in position order, nothing twice"
        assert shown_ids(app)[-30:] == [f"{mode}-{i}" for i in range(30)]
        await wait_for(pilot, lambda: status(app).rows == status(app).total == before + 30,
                       "the status bar to count every event")


async def test_two_hundred_short_lived_writer_processes(tmp_path: Path) -> None:
    """200 events, each from its own process that opens, appends one event and exits (4 at a time)."""
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_and_wait(pilot, app)
        before = app.inspector.events_list.count
        running: list[subprocess.Popen] = []
        for k in range(200):
            running.append(writer(db, f"p{k}", 1, "per-event"))
            if len(running) == 4:
                run_all(running)
                running = []
                await pilot.pause(0)  # the app keeps taking events while writers come and go
        run_all(running)
        await wait_for(pilot, lambda: app.inspector.events_list.count == before + 200, "200 events from 200 processes",
                       ARRIVAL_TIMEOUT)
        await pilot.pause(0.3)
        ids = shown_ids(app)
        assert ids == stored_ids(db)
        assert sorted(ids[before:]) == sorted(f"p{k}-0" for k in range(200))
        await wait_for(pilot, lambda: status(app).total == before + 200, "the status bar to count 200 more")


async def test_agenttui_import_in_a_loop(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_and_wait(pilot, app)
        before = app.inspector.events_list.count
        for i in range(5):
            line = tmp_path / f"probe-{i}.jsonl"
            line.write_text(f'{{"event_id": "probe-{i}", "run_id": "{SAMPLE_RUN}", "event_type": "probe_{i}", '
                            f'"timestamp": "2026-01-01T00:00:0{i}Z", "payload": {{}}}}\n')
            assert subprocess.run(import_command(db, line), timeout=120).returncode == 0
            await wait_for(pilot, lambda i=i: shown_ids(app)[-1:] == [f"probe-{i}"], f"probe-{i}", ARRIVAL_TIMEOUT)
        assert status(app).total == before + 5


async def test_several_writer_processes_at_once(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_and_wait(pilot, app)
        before = app.inspector.events_list.count
        procs = [writer(db, "long", 60, "long"), writer(db, "one", 20, "per-event"),
                 writer(db, "burst", 200, "bursts", burst=25)]
        run_all(procs)
        await wait_for(pilot, lambda: app.inspector.events_list.count == before + 280, "280 events from 3 writers",
                       ARRIVAL_TIMEOUT)
        await pilot.pause(0.3)
        assert shown_ids(app) == stored_ids(db)
        await wait_for(pilot, lambda: status(app).total == before + 280, "the status bar to count 280 more")


async def test_bursts_while_filtered_by_type_and_while_searching(tmp_path: Path) -> None:
    """5,000 events in bursts: the type filter and the search keep up with every one."""
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, types=["probe"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load (no probe events yet)", 60)
        await pilot.press("slash", *"number 7", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search to run", 60)
        proc = writer(db, "b", 5000, "bursts", types="tick,probe", burst=250, pause=0.02)
        run_all([proc])
        probes = [f"b-{i}" for i in range(1, 5000, 2)]
        await wait_for(pilot, lambda: shown_ids(app)[-1:] == [probes[-1]], "the last probe event", ARRIVAL_TIMEOUT)
        await pilot.pause(0.3)
        assert shown_ids(app)[-len(probes):] == probes, "only probe events, every one, in order"
        info = status(app)
        assert info.rows == app.inspector.events_list.count and info.total == len(stored_ids(db))
        # "number 7" (case-insensitive) is in every payload whose i starts with 7; only probes are shown
        expected = sum(1 for i in range(1, 5000, 2) if str(i).startswith("7"))
        await wait_for(pilot, lambda: app.inspector.search.matches is not None and len(app.inspector.search.matches) >= expected,
                       "the live matches", ARRIVAL_TIMEOUT)
        assert len(app.inspector.search.matches) == expected


async def test_a_writer_commits_while_the_inspector_folds_a_big_run(tmp_path: Path) -> None:
    """Events committed while the history is still being folded and indexed are neither lost nor doubled."""
    db = make_db(tmp_path / "run.db")
    with SQLiteStore(db) as store:
        for start in range(0, 30_000, 5_000):
            store.append([{"event_id": f"bulk-{i}", "run_id": SAMPLE_RUN, "event_type": "tick", "payload": {"i": i}}
                          for i in range(start, start + 5_000)])
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.count > 0, "the first paint", 60)
        before = app.inspector.events_list.count
        proc = writer(db, "during", 50, "per-event")
        run_all([proc])
        await wait_for(pilot, lambda: app.inspector.events_list.count == before + 50, "50 events during the fold",
                       ARRIVAL_TIMEOUT)
        await wait_for(pilot, lambda: app.inspector.history is not None and len(app.inspector.history) == before + 50,
                       "the history to include them once", ARRIVAL_TIMEOUT)
        assert shown_ids(app)[-50:] == [f"during-{i}" for i in range(50)]


async def test_events_after_run_finished_still_show(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    with SQLiteStore(db, readonly=True) as store:
        assert store.run(SAMPLE_RUN)["status"] != "running" or True
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_and_wait(pilot, app)
        before = app.inspector.events_list.count
        with SQLiteStore(db) as store:
            store.append({"event_id": "fin", "run_id": SAMPLE_RUN, "event_type": "run_finished",
                          "payload": {"total_steps": 1}})
        await wait_for(pilot, lambda: app.inspector.events_list.count == before + 1, "run_finished")
        run_all([writer(db, "late", 5, "per-event")])
        await wait_for(pilot, lambda: app.inspector.events_list.count == before + 6, "5 events after run_finished",
                       ARRIVAL_TIMEOUT)
        assert shown_ids(app)[-6:] == ["fin"] + [f"late-{i}" for i in range(5)]


async def test_a_run_named_with_run_opens_as_soon_as_it_appears(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, run_id="later-run")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.reader is not None and app.inspector.events_list.count == 0 and app.inspector.run_id == "later-run",
                       "the store to open on the requested (empty) run", 60)
        run_all([writer(db, "new", 10, "per-event", run="later-run")])
        await wait_for(pilot, lambda: app.inspector.events_list.count == 10, "the new run's events", ARRIVAL_TIMEOUT)
        assert app.inspector.run_id == "later-run"
        assert shown_ids(app) == [f"new-{i}" for i in range(10)]
        assert status(app).total == 10


async def test_a_new_run_shows_in_the_run_picker(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_and_wait(pilot, app)
        await pilot.press("r")
        from textual.widgets import OptionList

        await wait_for(pilot, lambda: app.screen.query(OptionList), "the run picker")
        options = app.screen.query_one(OptionList)
        before = options.option_count
        run_all([writer(db, "other", 3, "per-event", run="another-run")])
        await wait_for(pilot, lambda: options.option_count == before + 1, "the new run in the open picker",
                       ARRIVAL_TIMEOUT)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert "another-run" in ids
        assert app.inspector.run_id == SAMPLE_RUN, "the open run stays open"
