"""The detail pane never runs past its width: stepping from event to event must not show or hide
a scrollbar (each one lays out the whole screen, a slider step's worst case), and a line too long
for the pane ends in "…" instead of scrolling sideways."""
from __future__ import annotations

from pathlib import Path

import pytest

from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.detail import DetailPane

from test_quiet_size import count_layouts
from tui_support import SAMPLE_RUN, anyio_backend, make_db, wait_for  # noqa: F401  (anyio_backend is a fixture)

pytestmark = pytest.mark.anyio

LONG_KEY = "a_key_long_enough_to_run_past_any_detail_pane_" * 3


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_long_titles_and_keys_are_cut_to_the_pane_and_no_scrollbar_comes_or_goes(tmp_path: Path, size) -> None:
    events = [{"event_id": f"e{i}", "run_id": SAMPLE_RUN, "event_type": "custom_" + "x" * 150,
               "payload": {LONG_KEY: 1.2345678901234567e300 * (i + 1), "short": "y" * (i * 30)}} for i in range(6)]
    app = AgentTuiApp(make_db(tmp_path / "run.db", events), run_id=SAMPLE_RUN)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load")
        detail = app.query_one(DetailPane)
        layouts: list[int] = []
        seen = 0
        screen = app.inspector
        for _ in range(5):  # from the newest event back over the long ones (the sample run's fit)
            await pilot.press("left_square_bracket")
            await wait_for(pilot, lambda: detail.event is not None and screen.replay is not None
                           and detail.event.seq == screen.events_list.cursor_seq, "the detail to show the step's event")
            await pilot.pause()
            if not seen:
                layouts = count_layouts(app)
            seen += 1
            width = detail.scrollable_content_region.width
            assert detail.virtual_size.width <= width, f"at #{detail.event.position}"
            assert not detail.show_horizontal_scrollbar
            lines = list(detail._tree_lines)
            guides = [line._get_guide_width(detail.guide_depth, detail.show_root) for line in lines]
            assert any(g + line.node._label.cell_len > width for g, line in zip(guides, lines)), "nothing too long"
            drawn = [detail.render_label(line.node, detail.rich_style, detail.rich_style).plain for line in lines]
            assert any(text.endswith("…") for text in drawn)
        assert seen == 5
        assert not layouts, "a step laid out the screen"
