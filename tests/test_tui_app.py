"""The inspector as a whole: what it shows, what it never does, and the files it copes with."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.detail import DetailPane
from agenttui.tui.components.session_picker import SessionPicker, session_files

from tui_support import (  # noqa: F401  (anyio_backend is a fixture)
    SAMPLE_RUN, SIZE, anyio_backend, detail_follows, file_digest, list_lines, make_db, static_text, wait_for,
)

pytestmark = pytest.mark.anyio

INJECTION = "[bold]bold?[/] [link=https://evil.example]click[/link] \x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 [/]"


def _labels(tree) -> list[str]:
    return [node.label.plain for node in tree._tree_nodes.values()]  # noqa: SLF001


async def _loaded(app: AgentTuiApp, pilot) -> None:
    await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count > 0, "the run to load")
    await pilot.pause()


async def test_the_main_screen_shows_run_tree_list_detail_and_status(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await _loaded(app, pilot)
        header = static_text(app.query_one("#header"))
        assert SAMPLE_RUN in header and "completed" in header
        assert "182 events" in header and "12 nodes" in header
        assert app.inspector.events_list.count == 182
        rows = list_lines(app)
        assert any("run_finished" in row for row in rows), "the newest event is in view"
        assert "LIVE" in static_text(app.query_one("#status"))
        assert len(app.inspector.node_tree.root.children) >= 1
        detail = app.query_one(DetailPane)
        # while following, the detail catches up with the list every DETAIL_FOLLOW (0.25 s)
        await wait_for(pilot, lambda: detail.event is not None, "the detail to show the cursor's event")
        assert detail.event.event_type == "run_finished"
        assert app.inspector.slider.total == 182 and app.inspector.slider.live


async def test_markup_and_escape_sequences_in_events_are_shown_literally(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db", [
        {"event_id": "inject-1", "run_id": SAMPLE_RUN, "event_type": "tool_returned",
         "payload": {"tool_name": INJECTION, "state": "SUCCESS", "result_summary": INJECTION,
                     "nested": {"[bold]key[/]": [INJECTION, "\x9b31m C1 CSI"]}}},
        {"event_id": "inject-2", "run_id": SAMPLE_RUN, "event_type": "node_created",
         "payload": {"node_id": "evil-node", "node_nid": "[red]7[/red]", "task_goal": INJECTION,
                     "node_type": "PLAN_NODE"}},
        {"event_id": "inject-3", "run_id": "[blink]run[/blink]\x1b[2J", "event_type": "[bold]custom[/]",
         "payload": {"x": INJECTION}},
    ])
    app = AgentTuiApp(db, run_id=SAMPLE_RUN)
    async with app.run_test(size=SIZE) as pilot:
        await _loaded(app, pilot)
        await pilot.press("k")  # onto the tool_returned event
        await detail_follows(pilot, app)
        detail = app.query_one(DetailPane)
        assert detail.event.event_id == "inject-1"
        detail.root.expand_all()
        await pilot.pause()
        labels = "\n".join(_labels(detail))
        assert "[bold]bold?[/]" in labels and "[link=https://evil.example]" in labels
        assert "\x1b" not in labels and "\x07" not in labels and "\x9b" not in labels
        assert "\\x1b[31mred" in labels, "escape sequences are shown escaped"
        rows = "\n".join(list_lines(app))
        assert "\x1b" not in rows and "[bold]bold?[/]" in rows
        tree = "\n".join(_labels(app.inspector.node_tree))
        assert "[red]7[/red]" in tree and "\x1b" not in tree
        screen = app.export_screenshot()
        assert "\x1b" not in screen and "\x07" not in screen
        await pilot.press("r")
        await pilot.pause()
        runs = app.screen.runs
        assert any(r["run_id"].startswith("[blink]") for r in runs)
        index = next(i for i, r in enumerate(runs) if r["run_id"].startswith("[blink]"))
        app.screen.query_one("#run-list").highlighted = index
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.inspector.run_id.startswith("[blink]") and app.inspector.events_list.count == 1, "the run")
        await wait_for(pilot, lambda: "[blink]run[/blink]\\x1b[2J" in static_text(app.query_one("#header")),
                       "the header naming the run, literally")
        assert "[bold]custom[/]" in "\n".join(list_lines(app))


async def test_a_session_leaves_the_database_byte_identical(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    before = file_digest(db)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await _loaded(app, pilot)
        await pilot.press("k", "k", "left_square_bracket", "left_curly_bracket", "slash", *"goal", "enter")
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search")
        await pilot.press("t", "n", "space", "enter")
        await wait_for(pilot, lambda: app.inspector.events_list.source.filtered, "the filter")
        await pilot.press("L", "y", "q")
    assert file_digest(db) == before
    # SQLite's read-only WAL readers may leave an empty -wal (and the -shm index): never any content
    wal = db.with_name(db.name + "-wal")
    assert "run.db-wal" in files_before or not wal.exists() or wal.stat().st_size == 0


async def test_a_missing_database_is_waited_for_then_opened(tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "waiting for later.db" in static_text(app.query_one("#message")),
                       "the waiting message")
        assert app.query_one("#message").display and not app.query_one("#body").display
        assert "WAITING" in static_text(app.query_one("#status"))
        make_db(db)
        await wait_for(pilot, lambda: app.inspector.events_list.count == 182, "the database to be opened")
        assert app.query_one("#body").display and not app.query_one("#message").display


async def test_a_file_that_is_not_a_database_gets_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database\n" * 50)
    app = AgentTuiApp(bad, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "cannot open notes.db" in static_text(app.query_one("#message")),
                       "the refusal of a file that is not a database")
        message = static_text(app.query_one("#message"))
        assert "not a SQLite database" in message
        assert "Traceback" not in message
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_newer_schema_gets_a_clear_message(tmp_path: Path) -> None:
    db = make_db(tmp_path / "future.db")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "newer agenttui" in static_text(app.query_one("#message")),
                       "the message naming a newer schema")
        assert "99" in static_text(app.query_one("#message"))


def _other_store(tmp_path: Path) -> Path:
    """Another store (run "other-run", 4 events) to put in the open file's place."""
    other = tmp_path / "other.db"
    with SQLiteStore(other) as store:
        store.append([{"event_id": f"o-{i}", "run_id": "other-run", "event_type": "tick", "payload": {}}
                      for i in range(4)])
    return other


@pytest.mark.parametrize("how", ["mv", "cp"])
async def test_a_replaced_file_is_reopened_and_a_deleted_one_waited_for(tmp_path: Path, how: str) -> None:
    """Replaced by `mv` (a new inode) or overwritten in place by `cp` (the same inode, issue 17.8)."""
    import shutil

    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await _loaded(app, pilot)
        other = _other_store(tmp_path)
        inode = os.stat(db).st_ino
        if how == "mv":
            os.replace(other, db)
        else:
            shutil.copyfile(other, db)
            assert os.stat(db).st_ino == inode
        await wait_for(pilot, lambda: app.inspector.run_id == "other-run" and app.inspector.events_list.count == 4,
                       "the new file", 30)
        os.remove(db)
        await wait_for(pilot, lambda: "was deleted" in static_text(app.query_one("#message")), "the deletion")
        make_db(db)
        await wait_for(pilot, lambda: app.inspector.events_list.count == 182, "the file to come back")


async def test_a_folder_lists_its_session_files_newest_first(tmp_path: Path) -> None:
    old = make_db(tmp_path / "old.db")
    new = make_db(tmp_path / "new.db")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    (tmp_path / "readme.db").write_text("not sqlite")
    assert session_files(tmp_path) == [new, old]
    app = AgentTuiApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SessionPicker)
        await pilot.press("down", "enter")
        await _loaded(app, pilot)
        assert app.path == str(old)


async def test_a_10_mb_payload_is_shown_cut_with_a_note(tmp_path: Path) -> None:
    huge = "x" * (10 * 1024 * 1024)
    db = make_db(tmp_path / "run.db", [
        {"event_id": "huge", "run_id": SAMPLE_RUN, "event_type": "artifact",
         "payload": {"artifact_type": "blob", "path": "big.txt", "content": huge,
                     "lines": "line\n" * 100_000}},
    ])
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await _loaded(app, pilot)
        await detail_follows(pilot, app)
        detail = app.query_one(DetailPane)
        assert detail.event.event_id == "huge"
        labels = _labels(detail)
        content = next(label for label in labels if label.startswith("content:"))
        assert len(content) < 400 and "more chars" in content
        lines_node = next(n for n in detail._tree_nodes.values() if n.label.plain.startswith("lines:"))  # noqa: SLF001
        lines_node.expand()
        await pilot.pause()
        assert "more lines" in lines_node.children[-1].label.plain
        await pilot.press("y")
        assert len(app.clipboard) > len(huge), "y copies the whole event"


async def test_a_run_with_10000_nodes_opens(tmp_path: Path) -> None:
    db = tmp_path / "big.db"

    def created(node_id: str, nid: str, outer: str | None) -> dict:
        payload = {"node_id": node_id, "node_nid": nid, "task_goal": f"goal {nid}", "node_type": "PLAN_NODE"}
        if outer:
            payload["outer_node_id"] = outer
        return {"event_id": f"e-{node_id}", "run_id": "wide", "event_type": "node_created", "payload": payload}

    events = [created("root", "0", None)]
    for i in range(99):  # 1 + 99 + 99 * 100 = 10,000 nodes
        events.append(created(f"n{i}", f"0.{i}", "root"))
        events.extend(created(f"n{i}-{j}", f"0.{i}.{j}", f"n{i}") for j in range(100))
    with SQLiteStore(db) as store:
        store.append(events)
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load", 60)
        await pilot.pause()
        assert "10,000 nodes" in static_text(app.query_one("#header"))
        root = app.inspector.node_tree.root.children[0]
        assert root.is_expanded and len(root.children) == 99
        await pilot.press("G", "left_curly_bracket")
        assert app.inspector.replay == 10_000 - 1 - 500


async def test_a_locked_database_gets_a_message_and_opens_once_released(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("CREATE TABLE scratch (x)")  # takes the exclusive lock; rolled back below
    app = AgentTuiApp(db, poll_interval=0.05)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "database is locked" in static_text(app.query_one("#message")),
                           "the message that the database is locked")
            locker.execute("ROLLBACK")
            locker.close()
            await wait_for(pilot, lambda: app.inspector.events_list.count == 182, "the database to open once unlocked")
    finally:
        locker.close()
