"""Helpers for the inspector's tests: sample databases, a writer process, and waiting on the app."""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from agenttui.store import SQLiteStore

from store_fixtures import SAMPLE, SAMPLE_RUN, sample_events  # noqa: F401  (re-exported for the TUI tests)

SIZE = (120, 40)


def make_db(path: Path, events: list[Any] | None = None) -> Path:
    """A store file holding the sample run (plus `events`), closed so only the .db file remains."""
    with SQLiteStore(path) as store:
        store.append(sample_events())
        if events:
            store.append(events)
    return path


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def wait_for(pilot: Any, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Let the app run until `condition` holds; fail naming `what` if it never does.

    The timeout only guards against a hang: the tests assert on what happened, not how fast.
    """
    from textual.css.query import NoMatches

    def holds() -> bool:
        try:
            return condition()
        except NoMatches:  # the screen is being swapped (a message screen comes or goes): not yet
            return False

    deadline = time.monotonic() + timeout
    while not holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def detail_follows(pilot: Any, app: Any) -> None:
    """Wait until the detail pane shows the event under the list's cursor (it follows after a short
    debounce: a fixed pause missed it on a loaded machine)."""
    def shows() -> bool:
        detail, seq = app.inspector.detail, app.inspector.events_list.cursor_seq
        return detail.event is not None and detail.event.seq == seq

    await wait_for(pilot, shows, "the detail pane to show the selected event")


def list_lines(app: Any) -> list[str]:
    """The event list's visible rows as plain text."""
    lst = app.query_one("#events")
    return [lst.render_line(y).text for y in range(lst.size.height)]


def static_text(widget: Any) -> str:
    """A Static's current text as plain text."""
    content = widget.render()
    return getattr(content, "plain", str(content))


WRITER = r'''
import sys, time
from agenttui.store import SQLiteStore
path, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SQLiteStore(path)
for i in range(count):
    store.append({"event_id": f"live-{i}", "run_id": run_id, "event_type": "node_created",
                  "payload": {"node_id": f"live-node-{i}", "node_nid": f"9.{i}", "node_type": "EXECUTE_NODE",
                              "task_type": "RETRIEVAL", "task_goal": f"live goal {i}"}})
    time.sleep(0.02)
store.close()
'''


def writer_command(path: Path, run_id: str, count: int) -> list[str]:
    return [sys.executable, "-c", WRITER, str(path), run_id, str(count)]


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio (through anyio's pytest plugin)."""
    return "asyncio"
