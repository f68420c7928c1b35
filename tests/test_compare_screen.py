"""The compare screen of `agenttui diff`, driven with Pilot, and its SVG snapshot."""
from __future__ import annotations

from typing import Any

import pytest

from agenttui.compare import Comparison, Side
from agenttui.tui.screens.compare import AlignedTree, CompareApp
from compare_fixtures import BASE, store_with, variant
from tui_support import wait_for

SIZE = (140, 36)
HOSTILE = "[bold]x[/] \x1b[31mred\x1b[0m"


def _comparison(tmp_path, spec_b=None) -> Comparison:
    spec_b = spec_b if spec_b is not None else variant(**{"0.2": {"tools": [("web.fetch", "https://x/DIET-v2")]}})
    store = store_with(tmp_path / "runs.db", baseline=BASE, candidate=spec_b)
    return Comparison.of_trees(Side.load(store, "baseline", "baseline"), Side.load(store, "candidate", "candidate"))


def _text(app: CompareApp, selector: str) -> str:
    return str(app.query_one(selector).render())


@pytest.mark.anyio
async def test_jump_to_first_divergence_and_diff_its_payloads(tmp_path):
    app = CompareApp(_comparison(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.steps_ready, "the steps to load")
        assert "First divergence" in _text(app, "#heading")
        assert "tool_invoked arguments differs" in _text(app, "#heading")
        await pilot.press("d")
        tree = app.query_one(AlignedTree)
        await wait_for(pilot, lambda: tree.states is not None, "both runs replayed to the divergence")
        pair = app.cmp.pairs[tree.cursor]
        assert app.cmp.a.tree.nodes[pair.a]["node_nid"] == "0.2"
        detail = _text(app, "#detail")
        assert "tool_invoked" in detail
        assert "- args_summary: https://x/diet" in detail and "+ args_summary: https://x/DIET-v2" in detail
        # both runs were replayed to the divergent step: the node is running in both, later ones not made yet
        sa, sb = tree.states
        assert sa.nodes[pair.a]["status"] == "DOING" and sb.nodes[pair.b]["status"] == "DOING"
        assert "step " in _text(app, "#heading")


@pytest.mark.anyio
async def test_time_cursor_moves_both_runs(tmp_path):
    app = CompareApp(_comparison(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.steps_ready, "the steps to load")
        tree = app.query_one(AlignedTree)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: tree.states is not None, "the first step replayed")
        assert app.step == 0
        sa, sb = tree.states
        # step 1 is the setup: only the root exists in either run
        assert len(sa.nodes) == len(sb.nodes) == 1
        for _ in range(3):
            await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: app.step == 3 and tree.states[0].position == app.cmp.cursor[3][0],
                       "step 4 replayed")
        assert tree.states[1].position == app.cmp.cursor[3][1]
        await pilot.press("escape")
        assert tree.states is None and app.step is None


@pytest.mark.anyio
async def test_one_sided_rows_and_identical_runs(tmp_path):
    removed = [n for n in BASE if n["nid"] != "0.3"]
    app = CompareApp(_comparison(tmp_path, removed))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.steps_ready, "the steps to load")
        tree = app.query_one(AlignedTree)
        row = next(i for i, p in enumerate(app.cmp.pairs) if p.b is None)
        assert "only in A" in "".join(seg.text for seg in tree.render_line(row))
    same = CompareApp(_comparison(tmp_path / "x", BASE) if (tmp_path / "x").mkdir() is None else None)
    async with same.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: same.steps_ready, "the steps to load")
        assert "No divergence" in _text(same, "#heading")
        await pilot.press("d")  # nothing to jump to: says so, changes nothing
        assert same.step is None


@pytest.mark.anyio
async def test_hostile_goal_is_shown_literally(tmp_path):
    app = CompareApp(_comparison(tmp_path, variant(**{"0.4": {"goal": HOSTILE}})))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.steps_ready, "the steps to load")
        tree = app.query_one(AlignedTree)
        text = "".join("".join(s.text for s in tree.render_line(y)) for y in range(len(app.cmp.pairs)))
        assert "[bold]x[/]" in text and "\\x1b[31m" in text and "\x1b" not in text


def test_compare_screen_snapshot(snap_compare, tmp_path):
    app = CompareApp(_comparison(tmp_path))

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.steps_ready, "the steps to load")
        await pilot.press("d")
        tree = app.query_one(AlignedTree)
        await wait_for(pilot, lambda: tree.states is not None, "the divergence replayed")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
