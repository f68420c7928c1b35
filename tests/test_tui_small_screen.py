"""The inspector at 80x24 and the pieces that make it readable there (issue 14, points 1-3 and 8).

Each test drives the real app with Pilot and checks what a newcomer would see: the header on one
line with the task below it, list columns that leave the summary half the width, a detail pane
that folds away, a zoom key, a help screen that scrolls and names keys as people do, a tree that
says status without colour, and a detail pane that wraps long strings and follows the selection.
"""
from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from rich.text import Text
from textual.containers import VerticalScroll

from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.colors import STATUS_GLYPHS, is_error_event, status_glyph
from agenttui.tui.commands import InspectorCommands
from agenttui.tui.components.event_list import LAYOUTS, column_layout
from agenttui.tui.components.header import FIGURE_PRIORITY, fit_figures
from agenttui.tui.components.help_screen import HelpScreen
from agenttui.tui.components.node_tree import node_label

from tui_support import SAMPLE_RUN, make_db, static_text, wait_for

pytestmark = pytest.mark.anyio

SMALL = (80, 24)
LARGE = (160, 45)
GLYPHS = set(STATUS_GLYPHS.values()) | {"?"}


async def _loaded(app: AgentTuiApp, pilot) -> None:
    await wait_for(pilot, lambda: app.inspector.history is not None and app.inspector.events_list.count > 0
                   and app.inspector.detail.event is not None, "the run to load")
    await pilot.pause()


# ---------------------------------------------------------------------------- 1. layout at 80x24
def test_figures_are_dropped_by_priority_whole() -> None:
    pieces = [("run", Text("run-1")), ("status", Text("  ● completed"))]
    pieces += [(name, Text(f"   1 {name}")) for name in FIGURE_PRIORITY]
    everything = sum(t.cell_len for _, t in pieces)
    assert fit_figures(pieces, everything) == pieces
    kept = [name for name, _ in fit_figures(pieces, everything - 1)]
    assert kept == ["run", "status", *FIGURE_PRIORITY[:-1]], "the least important figure goes first"
    kept = [name for name, _ in fit_figures(pieces, 10)]
    assert kept == ["run", "status"], "run and status stay (cut at the edge if they must)"


async def test_the_header_is_one_line_of_figures_and_the_task_line_at_80x24(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    for size in (SMALL, LARGE):
        app = AgentTuiApp(db)
        async with app.run_test(size=size) as pilot:
            await _loaded(app, pilot)
            header = app.inspector.header
            lines = static_text(header).split("\n")
            assert len(lines) == 2
            assert len(lines[0]) <= header.size.width, "the figures line never wraps"
            assert "Write a report" in lines[1], "the task line stays on screen"
            assert SAMPLE_RUN in lines[0] and "completed" in lines[0] and "events" in lines[0]
            if size == LARGE:
                assert "tool calls" in lines[0] and "tokens" in lines[0]
            else:
                assert "tool calls" not in lines[0], "a figure is dropped whole, not cut mid-phrase"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_every_column_layout_leaves_the_summary_half_the_width(anyio_backend) -> None:
    for width in range(30, 260):
        time_w, type_w, node_w = column_layout(width, 6)
        used = 1 + 6 + 1 + sum(w + 1 for w in (time_w, type_w, node_w) if w)
        assert width - used >= (width + 1) // 2 or (time_w, type_w, node_w) == LAYOUTS[-1]
    assert column_layout(200, 6) == LAYOUTS[0], "a wide list shows every column whole"


async def test_the_list_columns_shrink_at_80x24_and_the_titles_follow(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=SMALL) as pilot:
        await _loaded(app, pilot)
        lst = app.inspector.events_list
        width = lst.scrollable_content_region.width
        assert lst.columns != LAYOUTS[0] and lst.columns == column_layout(width, lst.position_width)
        titles = static_text(app.query_one("#list-header"))
        row = lst.render_line(0).text
        summary_at = titles.index("summary")
        assert width - summary_at >= width // 2, "the summary keeps at least half the width"
        assert row[summary_at - 1] == " " and row[summary_at:].strip(), "the titles sit over their columns"
        await pilot.press("z")  # the list alone: wider, so more columns come back
        await wait_for(pilot, lambda: lst.scrollable_content_region.width > width, "the zoomed list")
        await wait_for(pilot, lambda: "summary" in static_text(app.query_one("#list-header"))
                       and static_text(app.query_one("#list-header")) != titles, "the titles to follow")


async def test_the_detail_pane_folds_away_and_back(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=SMALL) as pilot:
        await _loaded(app, pilot)
        lst, detail = app.inspector.events_list, app.inspector.detail
        rows = lst.size.height
        await pilot.press("tab")  # into the detail pane: folding it gives the focus to the list
        assert detail.has_focus
        await pilot.press("d")
        await wait_for(pilot, lambda: lst.size.height > rows, "the list to take the detail's lines")
        assert not detail.display and lst.has_focus
        await pilot.press("k")  # the detail does not follow while folded, and catches up when shown
        await pilot.press("d")
        await wait_for(pilot, lambda: detail.display and lst.size.height == rows, "the detail pane back")
        await wait_for(pilot, lambda: detail.event is not None and detail.event.seq == lst.cursor_seq,
                       "the detail to show the selected event")


async def test_z_zooms_the_focused_pane_and_back(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=SMALL) as pilot:
        await _loaded(app, pilot)
        screen = app.inspector
        footer = " ".join(str(b[1].description) for b in screen.active_bindings.values() if b[1].show)
        assert "Zoom" in footer, "the zoom key is in the footer"
        for pane in ("tree", "events", "detail"):
            widget = screen.query_one(f"#{pane}")
            widget.focus()
            await pilot.press("z")
            await wait_for(pilot, lambda: screen.panes.zoomed == pane, f"{pane} zoomed")
            assert widget.size.width == SMALL[0] or pane != "tree"
            assert widget.size.height >= SMALL[1] - 5, f"{pane} takes the screen"
            others = [w for w in ("tree", "events", "detail", "header", "slider") if w != pane]
            assert not any(screen.query_one(f"#{w}").display and screen.query_one(f"#{w}").size.height
                           for w in others)
            await pilot.press("z")
            await wait_for(pilot, lambda: screen.panes.zoomed is None, f"{pane} back")
            assert all(screen.query_one(f"#{w}").display for w in ("tree", "events", "detail", "header", "slider"))


# ---------------------------------------------------------------------------- 2. help that fits
async def _open_help(app: AgentTuiApp, pilot) -> tuple[HelpScreen, VerticalScroll]:
    await _loaded(app, pilot)
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
    assert isinstance(app.screen, HelpScreen)
    return app.screen, app.screen.query_one(VerticalScroll)


async def test_help_scrolls_with_the_list_keys_and_names_keys_as_people_do(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=SMALL) as pilot:
        help_screen, view = await _open_help(app, pilot)
        await wait_for(pilot, lambda: view.max_scroll_y > 0, "the help to be laid out (taller than 80x24)")
        for key, moves in (("j", 1), ("down", 1), ("k", -1), ("up", -1), ("pagedown", 1), ("pageup", -1),
                           ("space", 1), ("end", 1), ("home", -1)):
            before = view.scroll_y
            await pilot.press(key)
            await wait_for(pilot, lambda: (view.scroll_y - before) * moves > 0, f"{key} to scroll the help")
        await pilot.press("end")
        await wait_for(pilot, lambda: view.scroll_y == view.max_scroll_y, "the end of the help")
        titles = [title for title, _ in help_screen.groups]
        assert titles[:4] == ["Everywhere", "Event list", "Node tree (left pane)", "Detail pane"]
        keys = {keys for keys, _, _ in help_screen.rows}
        for key in ("space", "←", "→", "ctrl+p", "z", "d", "[", "]", "{", "}", "*, O", "C", "enter"):
            assert any(key == k or key in k.split(", ") for k in keys), f"{key!r} is in the help"
        assert not any("_" in k for k in keys), "no key is named like left_square_bracket"
        ids = {binding_id for _, _, binding_id in help_screen.rows}
        assert {"zoom", "toggle_detail", "tree.expand_all", "tree.collapse_all"} <= ids


async def test_the_palette_names_keys_as_the_help_does(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=LARGE) as pilot:
        await _loaded(app, pilot)
        provider = InspectorCommands(app.screen)
        assert provider._key_of("step_back") == "key: ["  # noqa: SLF001
        assert provider._key_of("jump_forward") == "key: }"  # noqa: SLF001
        assert provider._key_of("help") == "key: ?, f1"  # noqa: SLF001


async def test_help_last_row_is_reachable_at_160x45(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=LARGE) as pilot:
        _, view = await _open_help(app, pilot)
        await pilot.press("end")
        await wait_for(pilot, lambda: view.scroll_y == view.max_scroll_y, "the end of the help")
        last = list(view.children)[-1]
        assert last.region.bottom <= view.content_region.bottom, "the last row is on screen"
        assert view.region.bottom <= LARGE[1]


# ---------------------------------------------------------------------------- 3. the tree without colour
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_a_cut_label_keeps_its_glyph_and_status_and_loses_its_goal(anyio_backend) -> None:
    node = {"node_nid": "1.2.3", "task_goal": "a long goal " * 10, "status": "FAILED", "node_type": "PLAN_NODE",
            "task_type": "REASONING", "error_count": 2}
    full = node_label("n", node).plain
    assert full.startswith("✗ 1.2.3  a long goal") and full.endswith("FAILED  ✗2")
    cut = node_label("n", node, width=30).plain
    assert len(cut) <= 30 and cut.startswith("✗ 1.2.3  a") and cut.endswith("FAILED  ✗2") and "…" in cut
    assert "[PLAN" not in cut, "the type goes before the goal is cut to nothing"
    assert status_glyph("FINISH") != status_glyph("FAILED") != status_glyph("DOING") != status_glyph("READY")
    assert node_label("n", {"pending": 1}).plain.startswith("◌ ")


async def test_without_colour_every_tree_line_starts_with_a_status_glyph(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=SMALL) as pilot:
        await _loaded(app, pilot)
        assert app.no_color
        tree = app.inspector.node_tree
        tree.focus()
        await pilot.press("O")
        await wait_for(pilot, lambda: tree.last_line > 10, "every node expanded")
        width = tree.scrollable_content_region.width
        for y in range(min(tree.size.height, tree.last_line + 1)):
            text = tree.render_line(y).text.rstrip()
            label = text.lstrip("│├└─ ▼▶")
            assert label[:1] in GLYPHS, f"line {y} says its status without colour: {text!r}"
            assert len(text) <= width, "labels are cut to the pane, goal first"
        failed = [t for t in tree._tree_nodes.values()  # noqa: SLF001
                  if t.data and tree.source.status_at(t.data, len(tree.source) - 1) == "FAILED"]
        assert failed and all(tree.label_of(t).plain.startswith("✗ ") for t in failed)
        # the list marks error rows with a glyph too (red is grey without colour)
        lst = app.inspector.events_list
        errors = [r for r in range(lst.count) if (e := lst.event(lst.source.seq_of_row(r))) is not None
                  and is_error_event(e.event_type, e.payload)]
        assert errors
        lst.go_to_row(errors[0], scroll="center")
        await pilot.pause()
        assert any(lst.render_line(y).text.startswith("✗") for y in range(lst.size.height))


async def test_expand_all_collapse_all_and_the_selected_events_node_revealed(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=LARGE) as pilot:
        await _loaded(app, pilot)
        screen, tree, lst = app.inspector, app.inspector.node_tree, app.inspector.events_list
        history = screen.history
        last = len(history) - 1
        deep = max(history.node_ids(), key=lambda n: (history.nid_at(n, last) or "").count("."))
        assert (history.nid_at(deep, last) or "").count(".") >= 2
        await pilot.press("g")  # to an event of the deepest node: the tree opens the path to it
        row = next(r for r in range(lst.count) if lst.event(lst.source.seq_of_row(r)).node_id == deep)
        lst.go_to_row(row, scroll="center")
        await wait_for(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data == deep,
                       "the tree cursor on the event's node")
        ancestor = tree.cursor_node.parent
        while ancestor is not None and ancestor is not tree.root:
            assert ancestor.is_expanded
            ancestor = ancestor.parent
        assert not tree.has_focus, "revealing a node leaves the focus on the list"
        tree.focus()
        await pilot.press("C")
        await wait_for(pilot, lambda: tree.last_line == len(history.roots_at(last)) - 1, "every node collapsed")
        await pilot.press("asterisk")
        await wait_for(pilot, lambda: tree.last_line + 1 >= history.node_count_at(last) - 1, "every node expanded")


# ---------------------------------------------------------------------------- 8. the selection and the detail
async def test_the_cursor_row_is_one_colour_pair_whatever_the_event_colour(tmp_path: Path) -> None:
    app = AgentTuiApp(make_db(tmp_path / "run.db"))
    async with app.run_test(size=LARGE) as pilot:
        await _loaded(app, pilot)
        lst = app.inspector.events_list
        cursor = lst.get_component_rich_style("event-list--cursor")
        seen_types = set()
        for row in range(lst.count):
            lst.go_to_row(row)
            seen_types.add(lst.event(lst.source.seq_of_row(row)).event_type)
            strip = lst.render_line(lst.cursor - int(lst.scroll_y))
            colours = {(s.style.color, s.style.bgcolor) for s in strip if s.text.strip() and s.style}
            assert colours == {(cursor.color, cursor.bgcolor)}, f"row {row}: {colours}"
        assert {"tool_returned", "llm_call_completed", "node_status_changed"} <= seen_types


def _error_event(message: str, stack: str) -> dict:
    return {"event_id": "boom", "run_id": SAMPLE_RUN, "event_type": "run_error",
            "timestamp": "2026-03-01T09:00:09.000000Z",
            "payload": {"error_type": "ValueError", "error_message": message, "stack_trace": stack}}


async def test_the_detail_wraps_long_strings_and_shows_a_stack_trace_as_lines(tmp_path: Path) -> None:
    message = "the tool said " + " ".join(f'"word{i}"' for i in range(80))
    try:
        raise ValueError('bad "value"')
    except ValueError:
        stack = traceback.format_exc()
    app = AgentTuiApp(make_db(tmp_path / "run.db", [_error_event(message, stack)]))
    async with app.run_test(size=SMALL) as pilot:
        await _loaded(app, pilot)
        detail = app.inspector.detail
        await wait_for(pilot, lambda: detail.event.event_id == "boom", "the error event")
        await pilot.pause(0.2)
        nodes = {n.data.key: n for n in detail._tree_nodes.values()  # noqa: SLF001
                 if n.data is not None and n.data.key in ("error_message", "stack_trace")}
        for key in ("error_message", "stack_trace"):
            await wait_for(pilot, lambda: nodes[key].is_expanded, f"{key} opened by itself")
        width = detail.scrollable_content_region.width
        wrapped = [c.label.plain for c in nodes["error_message"].children]
        assert len(wrapped) > 1 and "".join(wrapped).replace(" ", "") == message.replace(" ", "")
        for y in range(detail.size.height):
            assert len(detail.render_line(y).text.rstrip()) <= width + 2  # (padding)
        lines = [c.label.plain for c in nodes["stack_trace"].children]
        assert lines[0] == "Traceback (most recent call last):"
        assert any(line.strip() == 'ValueError: bad "value"' for line in lines), "quotes as written, not \\\""
        assert not any('\\"' in line for line in lines)


async def test_the_detail_follows_the_selection_while_live(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    app = AgentTuiApp(db, poll_interval=0.05)
    async with app.run_test(size=SMALL) as pilot:
        await _loaded(app, pilot)
        detail, lst = app.inspector.detail, app.inspector.events_list
        with SQLiteStore(db) as store:
            for i in range(3):
                store.append([{"event_id": f"live-{i}", "run_id": SAMPLE_RUN, "event_type": "decision",
                               "timestamp": f"2026-03-01T09:00:1{i}.000000Z", "payload": {"chosen_action": i}}])
                await wait_for(pilot, lambda: detail.event is not None and detail.event.event_id == f"live-{i}",
                               f"the detail to follow the newest event (live-{i})", timeout=20)
        await pilot.press("k")  # the user's own moves: the detail follows them too
        await wait_for(pilot, lambda: detail.event.seq == lst.cursor_seq and detail.event.event_id == "live-1",
                       "the detail to follow the selection")
