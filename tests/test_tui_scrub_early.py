"""The time slider, replay and playback work before the run's whole History is folded: the slider
draws the store's outline, the cursor's state comes from a window started at a stored snapshot,
and what it shows is what the whole History shows once it lands."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agenttui.demo import generate_run
from agenttui.store import SQLiteStore
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.history import load_history
from agenttui.tui.history.outline import RunOutline

from tui_support import SIZE, anyio_backend, wait_for  # noqa: F401

pytestmark = pytest.mark.anyio
RUN = "run-scrub"


def _store(path: Path, n: int = 3000) -> Path:
    events = list(generate_run(5, n_events=n, run_id=RUN, start="2026-03-01T09:00:00Z"))
    with SQLiteStore(path, snapshot_every=400) as writer:
        for k in range(0, len(events), 200):
            writer.append(events[k:k + 200])
    return path


@pytest.fixture
def held_fold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The whole-run fold waits until the test releases it."""
    import agenttui.tui.screens.inspector as inspector

    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    release = threading.Event()
    original = inspector.load_history

    def held(*args, **kwargs):
        release.wait(60)
        return original(*args, **kwargs)

    monkeypatch.setattr(inspector, "load_history", held)
    yield release
    release.set()


async def test_slider_replay_and_playback_before_the_fold_match_the_whole_history(tmp_path: Path, held_fold) -> None:
    db = _store(tmp_path / "s.db")
    with SQLiteStore(db, readonly=True) as store:
        whole = load_history(InspectorReader(store), RUN)
    total = len(whole)
    app = AgentTuiApp(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.inspector
        await wait_for(pilot, lambda: screen.scrub.outline is not None and screen.scrub.outline.mark_count() > 0,
                       "the outline and its marks", 30)
        assert screen.history is None, "the fold is held"
        assert screen.slider.timeline is screen.scrub.outline and screen.slider.total == total

        async def shows(index: int, what: str) -> None:
            await wait_for(pilot, lambda: screen.replay == index and screen.scrub.holds(index)
                           and screen.node_tree.source is screen.scrub.window and screen.node_tree.index == index,
                           what, 30)
            window = screen.scrub.window
            assert window.run_at(index) == whole.run_at(index)
            assert window.roots_at(index) == whole.roots_at(index)
            for node_id in whole.node_ids()[:50]:
                assert window.node_at(node_id, index) == whole.node_at(node_id, index)

        await pilot.press("left_square_bracket")
        await shows(total - 2, "the state one event back")
        await pilot.press("left_curly_bracket")  # 5% back: another window
        await shows(total - 2 - round(total * 0.05), "the state 5% back")
        await pilot.press("left_square_bracket", "right_square_bracket", "right_square_bracket")
        await shows(total - 1 - round(total * 0.05), "steps inside the window")

        # the marks e/E jump between are the whole History's
        start = 10
        screen.replay = start
        await shows(start, "an early state")
        await pilot.press("e")
        await shows(whole.next_mark(start), "the next error mark")

        # playback runs from the window (and asks for the next one at its end)
        screen.replay = 100
        await shows(100, "the playback's start")
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.replay is not None and screen.replay > 100, "playback moving", 30)
        await pilot.press("p")
        assert not screen.playback.playing

        # the whole History lands: it answers from then on, at the same cursor
        at = screen.replay
        held_fold.set()
        await wait_for(pilot, lambda: screen.history is not None, "the fold", 60)
        await wait_for(pilot, lambda: screen.node_tree.source is screen.history, "the tree on the whole history", 30)
        assert screen.replay == at and screen.scrub.window is None
        assert screen.slider.timeline is screen.history


def test_the_outline_is_the_whole_historys_axis_at_group_one_and_its_marks(tmp_path: Path) -> None:
    db = _store(tmp_path / "o.db", n=2500)
    with SQLiteStore(db, readonly=True) as store:
        reader = InspectorReader(store)
        whole = load_history(reader, RUN)
        exact = RunOutline.load(reader, RUN, group=1)
        coarse = RunOutline.load(reader, RUN)
    assert exact is not None and coarse is not None
    assert len(exact) == len(coarse) == len(whole)
    assert exact.marks() == whole.marks() and coarse.marks() == whole.marks()
    assert whole.mark_count() > 0
    for width in (1, 7, 80, 150):
        assert exact.axis.bucket_bounds(width) == whole.axis.bucket_bounds(width)
        coarse_bounds = coarse.axis.bucket_bounds(width)
        assert all(abs(a - b) <= coarse.group for a, b in zip(coarse_bounds, whole.axis.bucket_bounds(width)))
        for index in (0, 1, 500, len(whole) - 1):
            assert exact.axis.bucket_of(index, width) == whole.axis.bucket_of(index, width)
        for column in (0, width // 2, width - 1):
            assert exact.axis.index_at_bucket(column, width) == whole.axis.index_at_bucket(column, width)
    for i in (0, 17, 1000, len(whole) - 1):
        assert exact.next_mark(i) == whole.next_mark(i) and exact.prev_mark(i) == whole.prev_mark(i)
