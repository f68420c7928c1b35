"""Live: another process appends while the inspector runs, and the list, tree and header keep up."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp

from tui_support import (  # noqa: F401  (anyio_backend is a fixture)
    SAMPLE_RUN, SIZE, anyio_backend, make_db, static_text, wait_for, writer_command,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("use_file_events", [True, False], ids=["inotify", "poll"])
async def test_events_from_a_writer_process_appear_in_the_list_tree_and_header(
        tmp_path: Path, use_file_events: bool) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, use_file_events=use_file_events, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load")
        lst = app.inspector.events_list
        before = lst.count
        writer = subprocess.Popen(writer_command(db, SAMPLE_RUN, 5))
        try:
            await wait_for(pilot, lambda: lst.count == before + 5, "5 events from the writer process", 30)
        finally:
            assert writer.wait(timeout=30) == 0
        await wait_for(pilot, lambda: lst.follow and lst.cursor == lst.count - 1,
                       "follow mode to keep the newest event in view")
        assert lst.event(lst.cursor_seq).event_id == "live-4"
        assert "live-node-4" in app.inspector.history.live.nodes
        tree = app.inspector.node_tree
        await wait_for(pilot, lambda: "live-node-0" in {n.data for n in tree._tree_nodes.values()},  # noqa: SLF001
                       "the new root node in the tree")
        await wait_for(pilot, lambda: f"{before + 5} events" in static_text(app.query_one("#header")),
                       f"the header counting {before + 5} events")


async def test_scrolling_up_stops_following_and_counts_new_events(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load")
        lst = app.inspector.events_list
        await pilot.press("k", "k")
        cursor, before = lst.cursor, lst.count
        with SQLiteStore(db) as writer:
            writer.append([{"event_id": f"n-{i}", "run_id": SAMPLE_RUN, "event_type": "tick", "payload": {}}
                           for i in range(3)])
        await wait_for(pilot, lambda: lst.count == before + 3, "3 new events")
        assert lst.cursor == cursor, "the cursor stays where the user put it"
        assert lst.unseen == 3
        await wait_for(pilot, lambda: "3 new" in static_text(app.query_one("#status")), "the status counting 3 new")
        await pilot.press("f")
        assert lst.cursor == lst.count - 1 and lst.unseen == 0


async def test_live_events_respect_the_type_filter(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, types=["tool_invoked"], poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.source.filtered, "the filtered view")
        lst = app.inspector.events_list
        before = lst.count
        with SQLiteStore(db) as writer:
            writer.append([
                {"event_id": "t-1", "run_id": SAMPLE_RUN, "event_type": "tick", "payload": {}},
                {"event_id": "t-2", "run_id": SAMPLE_RUN, "event_type": "tool_invoked",
                 "payload": {"tool_name": "probe"}},
            ])
        await wait_for(pilot, lambda: app.inspector.history is not None and len(app.inspector.history) == 184, "the new events")
        assert lst.count == before + 1
        assert lst.event(lst.source.seq_of_row(lst.count - 1)).event_id == "t-2"


async def test_a_run_that_starts_after_the_app_opens_an_empty_file(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    SQLiteStore(db).close()  # schema, no events
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert app.inspector.run_id is None and app.inspector.events_list.count == 0
        with SQLiteStore(db) as writer:
            writer.append({"event_id": "first", "run_id": "late-run", "event_type": "run_started",
                           "payload": {"input_data": "hello"}})
        await wait_for(pilot, lambda: app.inspector.run_id == "late-run" and app.inspector.events_list.count == 1, "the new run")


async def test_the_status_bar_counts_the_run_as_of_the_newest_event_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between two redraws of the header the run row is stale: the status bar's "of N" must not be
    (it once read "54/101 of 97" with a type filter on a live run)."""
    import agenttui.tui.screens.inspector as app_module

    monkeypatch.setattr(app_module, "LIVE_REFRESH", 60.0)  # the header would not catch up in this test
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, types=["tick"], poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.type_counts is not None, "the run to load")
        total = app.inspector.history.run_at(len(app.inspector.history) - 1)["event_count"]
        with SQLiteStore(db) as writer:
            writer.append([{"event_id": f"t-{i}", "run_id": SAMPLE_RUN, "event_type": "tick", "payload": {}}
                           for i in range(4)])
        await wait_for(pilot, lambda: app.inspector.events_list.count == 4, "the 4 new ticks in the filtered list")
        await wait_for(pilot, lambda: f"4/4 of {total + 4:,}" in static_text(app.query_one("#status")),
                       f"the status counting 4/4 of {total + 4:,}")
