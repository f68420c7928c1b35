"""Hostile payloads reach the screen as literal text, and the inspector never writes to its file.

tests/test_tui_app.py already shows markup and ANSI/OSC escapes in payloads, run ids and event types
literally; this module adds what a hostile agent can also send: control characters of every kind,
Textual action markup (`[@click=...]`), bidi overrides, right-to-left and wide (CJK, emoji, ZWJ)
text and 100,000-character lines, in goals, payloads, event types and node ids. Every drawn line
must keep its widget's exact cell width (layout intact) and carry no control character.

The read-only promise is checked twice over: the file's bytes after a session full of keys, and,
while another process writes, every SQL statement the inspector's own connections run (a SQLite
authorizer sees each one) plus the URI mode=ro those connections are opened with.
"""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.detail import DetailPane

from tui_support import (  # noqa: F401  (anyio_backend is a fixture)
    SIZE, anyio_backend, detail_follows, file_digest, make_db, static_text, wait_for, writer_command,
)

pytestmark = pytest.mark.anyio

RUN = "hostile-run"
MARKUP = "[bold]B[/] [/] [link=https://evil.example]L[/link] [@click=app.quit]Q[/] [red on blue]C"
ESCAPES = "\x1b[31mred\x1b[0m \x1b[2J\x1b[H \x1b]0;title\x07 \x1b]8;;http://x\x1b\\ \x9b1m \x1bP+q\x1b\\"
CONTROLS = "nul\x00 bel\x07 bs\x08 cr\r lf\n tab\t vt\x0b ff\x0c del\x7f c1\x85"
RTL = "\u202eRLO override\u202c مرحبا بالعالم שלום \u2067iso\u2069"
WIDE = "漢字テスト 🙂 👩\u200d👩\u200d👧 e\u0301 ｆｕｌｌ"
LONG = "L" * 100_000
HOSTILE = f"{MARKUP} | {ESCAPES} | {CONTROLS} | {RTL} | {WIDE}"
#: Text that must be visible, literally, somewhere on screen.
LITERALS = ("[bold]B[/]", "[@click=app.quit]Q[/]", "[link=https://evil.example]", "漢字テスト", "🙂", "مرحبا")
#: Code points that would move the cursor, restyle, reorder or reflow if they reached the terminal.
FORBIDDEN = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                               *range(0x2066, 0x206A)]}


def _hostile_events() -> list[dict[str, Any]]:
    node = "node " + MARKUP[:40] + " 漢字🙂 \u202eevil"  # ids hold anything but NUL
    child = "child " + RTL[:30]
    return [
        {"event_id": "h-1", "run_id": RUN, "event_type": "run_started",
         "payload": {"input_data": HOSTILE, "config": {"model": ESCAPES}}},
        {"event_id": "h-2", "run_id": RUN, "event_type": "node_created",
         "payload": {"node_id": node, "node_nid": "[red]1[/red]", "node_type": "PLAN_NODE",
                     "task_type": "COMPOSITION", "task_goal": HOSTILE, "layer": 0}},
        {"event_id": "h-3", "run_id": RUN, "event_type": "node_created",
         "payload": {"node_id": child, "node_nid": "1.1", "node_type": "EXECUTE_NODE", "task_type": "RETRIEVAL",
                     "task_goal": WIDE + LONG, "outer_node_id": node, "layer": 1}},
        {"event_id": "h-4", "run_id": RUN, "event_type": "edge_added",
         "payload": {"graph_owner_node_id": node, "parent_node_id": node, "child_node_id": child}},
        {"event_id": "h-5", "run_id": RUN, "event_type": "node_status_changed",
         "payload": {"node_id": child, "node_goal": CONTROLS, "old_status": "READY", "new_status": ESCAPES}},
        {"event_id": "h-6", "run_id": RUN, "event_type": "tool_returned",
         "payload": {"node_id": child, "tool_name": MARKUP, "api_name": RTL, "state": CONTROLS,
                     "result_summary": LONG + HOSTILE, "nested": {MARKUP: [ESCAPES, {WIDE: RTL}], "long": LONG}}},
        {"event_id": "h-7", "run_id": RUN, "event_type": "[bold]custom[/] \x1b[31m 漢字🙂 \u202eevil",
         "payload": {"text": HOSTILE}},
        {"event_id": "h-8", "run_id": RUN, "event_type": "llm_call_completed",
         "payload": {"node_id": node, "model": WIDE, "response": LONG, "result_summary": HOSTILE}},
    ]


def _widget_lines(widget: Any) -> list[Any]:
    return [widget.render_line(y) for y in range(widget.size.height)]


def _assert_drawn_safely(app: AgentTuiApp, where: str) -> str:
    """Every line of the list, tree and detail pane: exact width, no control character. Returns the text."""
    texts = []
    for widget in (app.inspector.events_list, app.inspector.node_tree, app.query_one(DetailPane)):
        for y, strip in enumerate(_widget_lines(widget)):
            assert strip.cell_length == widget.size.width, f"{where}: {widget.id} line {y} is {strip.cell_length} cells"
            bad = FORBIDDEN & set(strip.text)
            assert not bad, f"{where}: {widget.id} line {y} draws {sorted(map(hex, map(ord, bad)))}"
            texts.append(strip.text)
    for static in ("#header", "#status"):
        text = static_text(app.query_one(static))
        assert not (FORBIDDEN - {"\n"}) & set(text), f"{where}: {static} holds a control character"
        texts.append(text)
    return "\n".join(texts)


async def test_hostile_text_everywhere_is_drawn_literally_with_the_layout_intact(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db", _hostile_events())
    before = file_digest(db)
    app = AgentTuiApp(db, run_id=RUN)
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count == 8, "the hostile run")
        await pilot.pause(0.1)
        seen.append(_assert_drawn_safely(app, "opened"))
        for seq in (2, 6, 7, 8):  # the hostile goal, the nested tool result, the odd type, the long response
            app.set_focus(app.inspector.events_list)
            await pilot.press(*(["g", *["j"] * (seq - 1)] if seq < 5 else ["G", *["k"] * (8 - seq)]), "enter")
            await detail_follows(pilot, app)
            detail = app.query_one(DetailPane)
            assert detail.event is not None and detail.event.seq == seq
            detail.root.expand_all()
            await pilot.pause(0.05)
            seen.append(_assert_drawn_safely(app, f"event {seq}"))
            if seq == 6:
                await pilot.press("pagedown", "pagedown")
                seen.append(_assert_drawn_safely(app, f"event {seq}, scrolled"))
        app.set_focus(app.inspector.node_tree)
        for key in ("home", "down", "enter", "right", "down", "enter", "end"):
            await pilot.press(key)
            await pilot.pause(0.02)
            seen.append(_assert_drawn_safely(app, f"tree key {key}"))
        app.inspector.node_tree.root.expand_all()
        await pilot.pause(0.05)
        seen.append(_assert_drawn_safely(app, "tree expanded"))
        for key in ("left_square_bracket", "left_curly_bracket", "L", "slash", *"漢字", "enter"):
            await pilot.press(key)
        await pilot.pause(0.1)
        seen.append(_assert_drawn_safely(app, "slider and search"))
        for key in ("G", "p", "p", "e", "x", "x", "y", "question_mark", "escape", "t", "escape", "r", "escape"):
            await pilot.press(key)
        await pilot.pause(0.1)
        seen.append(_assert_drawn_safely(app, "after every other key"))
        screenshot = app.export_screenshot()
        assert app.is_running, "no crash, and [@click=app.quit] did not quit"
        await pilot.press("q")
    assert file_digest(db) == before, "a whole session of keys left the file byte-identical"
    everything = "\n".join(seen)
    for text in LITERALS:
        assert text in everything, f"{text!r} is not shown literally"
    assert "\\x1b[31mred" in everything or "\\u001b[31mred" in everything, "escapes are shown, not obeyed"
    for byte in ("\x1b", "\x07", "\x9b", "\x00", "\u202e"):
        assert byte not in screenshot


class _WriteWatch:
    """Installs a SQLite authorizer on every connection the inspector opens; records write attempts."""

    WRITES = {
        sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE, sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE,
    }
    #: Pragmas that change the file; reading ones (data_version, user_version, ...) are fine.
    WRITE_PRAGMAS = {"journal_mode", "user_version", "application_id", "wal_checkpoint", "optimize",
                     "incremental_vacuum", "auto_vacuum", "page_size"}

    def __init__(self) -> None:
        self.writes: list[tuple] = []
        self.uris: list[str] = []
        self.connections = 0

    def connect(self, real: Any) -> Any:
        def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(database, *args, **kwargs)
            self.connections += 1
            self.uris.append(str(database))
            conn.set_authorizer(self._authorize)
            return conn
        return connect

    def _authorize(self, action: int, arg1: Any, arg2: Any, db: Any, source: Any) -> int:
        if action in self.WRITES:
            self.writes.append((action, arg1, arg2))
        elif action == sqlite3.SQLITE_PRAGMA and arg1 in self.WRITE_PRAGMAS and (
                arg2 is not None or arg1 in ("optimize", "wal_checkpoint", "incremental_vacuum")):
            self.writes.append((action, arg1, arg2))
        return sqlite3.SQLITE_OK


async def test_while_another_process_writes_the_inspector_issues_no_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_db(tmp_path / "run.db")
    watch = _WriteWatch()
    monkeypatch.setattr(sqlite3, "connect", watch.connect(sqlite3.connect))
    writer = subprocess.Popen(writer_command(db, "live-run", 40))
    try:
        app = AgentTuiApp(db, run_id="live-run")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count > 0, "the live run",
                           timeout=30)
            for key in ("g", "enter", "tab", "down", "left_square_bracket", "L", "slash", *"goal", "enter", "G"):
                await pilot.press(key)
                await pilot.pause(0.02)
            await wait_for(pilot, lambda: app.inspector.events_list.count == 40, "every live event", timeout=30)
            await pilot.press("q")
    finally:
        writer.wait(30)
    assert writer.returncode == 0
    assert watch.connections >= 1, "the inspector opened the database through sqlite3.connect"
    assert all("mode=ro" in uri for uri in watch.uris), f"a connection not opened read-only: {watch.uris}"
    assert watch.writes == [], f"the inspector tried to write: {watch.writes[:5]}"
    with SQLiteStore(db, readonly=True) as store:
        assert store.count_events(run_id="live-run") == 40, "only the writer's events were added"
        assert store.check() == []


async def test_the_write_watch_catches_a_write() -> None:
    """The authorizer above is not blind: a write through a watched connection is recorded."""
    watch = _WriteWatch()
    conn = watch.connect(sqlite3.connect)(":memory:")
    seen = []
    for sql in ("CREATE TABLE t (x)", "INSERT INTO t VALUES (1)", "UPDATE t SET x = 2", "DELETE FROM t",
                "PRAGMA user_version = 3", "SELECT * FROM t", "PRAGMA user_version", "PRAGMA data_version"):
        before = len(watch.writes)
        conn.execute(sql)
        seen.append(len(watch.writes) > before)
    conn.close()
    assert seen == [True] * 5 + [False] * 3


def test_agenttui_tail_prints_hostile_events_as_one_safe_line_each(tmp_path: Path, cli: Any) -> None:
    db = make_db(tmp_path / "run.db", _hostile_events())
    code, out, err = cli("tail", db, "--run", RUN, "-n", "20")
    assert code == 0 and "Traceback" not in err
    lines = out.splitlines()
    assert len(lines) == 8, "one line per event: no newline or CR in a payload splits one"
    for line in lines:
        assert not FORBIDDEN & set(line), f"tail printed a control character: {line[:80]!r}"
        assert len(line) < 1000, "a 100,000-character value is cut"
    assert "[bold]custom[/]" in out and "漢字" in out
    code, out, _ = cli("tail", db, "--run", RUN, "--json", "-n", "20")
    assert code == 0
    events = [json.loads(line) for line in out.split("\n") if line]  # JSON Lines split on \n only
    assert [e["event_id"] for e in events] == [f"h-{i}" for i in range(1, 9)]
    assert events[1]["payload"]["task_goal"] == HOSTILE, "--json gives the exact value, escaped as JSON"
    assert "\x1b" not in out and "\x07" not in out, "JSON escapes the C0 controls"


def test_retention_passes_are_visible_in_agenttui_stats(tmp_path: Path, cli: Any) -> None:
    """What was deleted, when and by whom: recorded by `retention`, shown by `stats` long afterwards."""
    db = tmp_path / "r.db"
    old = (datetime.now(timezone.utc) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with SQLiteStore(db) as store:
        store.append([{"event_type": "step_started", "run_id": "gone", "timestamp": old, "payload": {}},
                      {"event_type": "step_started", "run_id": "kept", "timestamp": old, "payload": {}},
                      {"event_type": "step_started", "run_id": "kept", "payload": {}}])
    code, out, _ = cli("stats", db)
    assert code == 0 and "retention passes  0" in out and "retention passes (" not in out
    code, out, _ = cli("retention", db, "--days", "30")
    assert code == 0 and "deleted 2 events" in out and "recorded in retention_log by " in out
    who = out.split("recorded in retention_log by ", 1)[1].strip()
    assert "pid" in who
    code, out, _ = cli("stats", db)
    assert code == 0
    section = out.split("retention passes (oldest first)", 1)[1].strip().splitlines()[0]
    assert f"by {who}: deleted 2 events stamped before " in section
    assert "(older than 30 days), positions 1..2, 1 runs removed" in section
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z  by ", section), "when it ran"
    code, out, _ = cli("stats", db, "--json")
    [entry] = json.loads(out)["retention_log"]
    assert entry["executed_by"] == who and entry["events_deleted"] == 2
    assert entry["details"] == {"per_run": {"gone": 1, "kept": 1}, "runs_deleted": ["gone"], "runs_refolded": ["kept"]}
    with SQLiteStore(db, readonly=True) as store:
        assert store.count_events() == 1 and store.check() == []
