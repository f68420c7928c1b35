"""Workers that read a run through once do it on a reader with a small SQLite page cache.

Their pages are not read again, so the readers' default cache only kept the last megabytes they
read alive while they ran: the fold's reader was part of the inspector's peak RSS on big runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agenttui.tui import screens
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.data.reader import SCAN_CACHE_MB, InspectorReader
from agenttui.store.sqlite import READER_CACHE_MB

from tui_support import make_db, wait_for

pytestmark = pytest.mark.anyio


def _cache_kib(reader: InspectorReader) -> int:
    return -int(reader.store._conn.execute("PRAGMA cache_size").fetchone()[0])


def test_a_scan_reader_has_a_small_page_cache_and_a_plain_one_the_default(tmp_path: Path) -> None:
    db = make_db(tmp_path / "run.db")
    assert SCAN_CACHE_MB < READER_CACHE_MB
    with InspectorReader.open_scan(str(db)) as scan, InspectorReader.open(str(db)) as plain:
        assert _cache_kib(scan) == 1024 * SCAN_CACHE_MB
        assert _cache_kib(plain) == 1024 * READER_CACHE_MB


@pytest.mark.parametrize("loader", ["load_history", "load_window"])
async def test_the_inspector_folds_the_run_and_its_windows_on_scan_readers(tmp_path: Path, monkeypatch: Any,
                                                                          loader: str) -> None:
    """The fold of the whole run, and the replay window loaded ahead of the first `[` (a snapshot
    read once, then a short fold)."""
    db = make_db(tmp_path / "run.db")
    seen: list[int] = []
    real = getattr(screens.inspector, loader)

    def recording(reader: InspectorReader, *args: Any, **kwargs: Any) -> Any:
        seen.append(_cache_kib(reader))
        return real(reader, *args, **kwargs)

    monkeypatch.setattr(screens.inspector, loader, recording)
    app = AgentTuiApp(db)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(seen) and app.inspector.history is not None, f"the inspector's {loader}",
                       timeout=60)
    assert set(seen) == {1024 * SCAN_CACHE_MB}
