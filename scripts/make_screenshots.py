"""Regenerate the README's screenshots (screenshots/*.svg) from a simulated agent run.

    python scripts/make_screenshots.py                 # all of them, into screenshots/
    python scripts/make_screenshots.py --only replay   # one (main-live, main-80x24, zoom-80x24, type-filter, replay, search, help, node-tree-large, otel-run, compare, summary)
    python scripts/make_screenshots.py --out /tmp/shots

Each picture is the real inspector driven by Textual's Pilot at a fixed terminal size, on a demo
run generated from a fixed seed and start time, with the app's clock frozen: the same code gives
the same SVGs byte for byte, so a changed screenshot in a diff means the screen really changed.
The databases live in a temporary folder that is removed afterwards (its path is never shown).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from agenttui.demo import generate_run
from agenttui.store import Event, SQLiteStore
from agenttui.tui.app import AgentTuiApp
from agenttui.tui.components.help_screen import HelpScreen
from agenttui.tui.components.type_picker import TypePicker

ROOT = Path(__file__).resolve().parent.parent
SIZE = (150, 45)
#: The smallest terminal the inspector is designed for (the 80x24 shots).
SMALL = (80, 24)
SEED = 7
START = "2026-03-01T09:00:00Z"
RUN_ID = "research-agent-7"
#: The "live" screenshot shows the run while it is still going: this share of its events written.
LIVE_SHARE = 0.6
#: How long after its newest event the live screenshot pretends to be taken (the header's elapsed time).
LIVE_LAG = timedelta(seconds=1.4)
LARGE_NODES = 10_000
LARGE_RUN_ID = "research-agent-large"


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def write_store(path: Path, events: list[Event]) -> Path:
    with SQLiteStore(path) as store:
        for i in range(0, len(events), 20_000):
            store.append(events[i:i + 20_000])
    return path


async def wait_until(pilot: Any, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Let the app work until `condition` holds; fail loudly (naming `what`) rather than shoot a half-drawn screen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        await pilot.pause(0.02)


def settled(app: AgentTuiApp) -> bool:
    """The run is folded, the list filled, nothing busy, and the detail pane shows the selected event."""
    return (app.inspector.history is not None and app.inspector.events_list.count > 0 and not app.inspector.busy
            and app.inspector.detail.event is not None)


def caught_up(app: AgentTuiApp) -> bool:
    """The detail shows the list cursor's event and the tree's reveal of its node has run: both follow
    the cursor once the keys rest (the screen's timers), so a shot waits for them, not for a guess."""
    return app.inspector.caught_up()


async def press_each(app: AgentTuiApp, pilot: Any, *keys: str) -> None:
    """Keys one at a time, each followed by the detail and the tree: a reveal on the way opens the
    nodes above its node, so keys pressed all at once would give a picture timed by the machine."""
    for key in keys:
        await pilot.press(key)
        await wait_until(pilot, lambda: caught_up(app), f"the screen to follow {key}")


async def expand_tree(app: AgentTuiApp, pilot: Any, levels: int, per_level: int = 4) -> None:
    """Open the first `per_level` expandable nodes of each of the tree's first `levels` levels."""
    frontier = list(app.inspector.node_tree.root.children)
    for _ in range(levels):
        opened = [node for node in frontier if node.allow_expand][:per_level]
        for node in opened:
            node.expand()
        await pilot.pause(0.05)
        frontier = [child for node in opened for child in node.children]


@dataclass
class Shot:
    """One screenshot: which database, what to do before shooting, and "now" for the header."""

    name: str
    db: Path
    clock: datetime
    prepare: Callable[[AgentTuiApp, Any], Awaitable[None]]
    timeout: float = 60.0
    size: tuple[int, int] = SIZE


async def shoot(shot: Shot, out: Path) -> Path:
    app = AgentTuiApp(shot.db, clock=lambda: shot.clock)
    async with app.run_test(size=shot.size) as pilot:
        await wait_until(pilot, lambda: settled(app), f"{shot.name}: the run to load", shot.timeout)
        await wait_until(pilot, lambda: caught_up(app), f"{shot.name}: the detail and the tree", shot.timeout)
        await shot.prepare(app, pilot)
        await wait_until(pilot, lambda: caught_up(app), f"{shot.name}: the detail and the tree to follow", shot.timeout)
        await pilot.pause(0.15)  # (a modal's footer is drawn a few frames after it opens)
        await pilot.wait_for_scheduled_animations()
        target = out / f"{shot.name}.svg"
        target.write_text(app.export_screenshot(title="agenttui"), encoding="utf-8")
    return target


# ---------------------------------------------------------------------------- what each screen shows

async def main_live(app: AgentTuiApp, pilot: Any) -> None:
    """Following the newest event, with the tree's current branch opened."""
    await expand_tree(app, pilot, levels=2, per_level=3)


async def small_zoomed(app: AgentTuiApp, pilot: Any) -> None:
    """At 80x24: a few events up, then `z` gives the list the whole screen."""
    await pilot.press("k", "k", "k", "z")
    await wait_until(pilot, lambda: app.inspector.panes.zoomed == "events", "the zoomed list")


async def nothing(app: AgentTuiApp, pilot: Any) -> None:
    """The screen as it opens."""


async def type_filter(app: AgentTuiApp, pilot: Any) -> None:
    """The picker with the noisiest type (status changes) unticked, the cursor on the next one."""
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(app.screen, TypePicker), "the type picker")
    await pilot.press("space", "down", "down")


async def replay(app: AgentTuiApp, pilot: Any) -> None:
    """Scrubbed back to 65% of the run: statuses, counts and the slider as they were then."""
    total = len(app.inspector.history)
    await press_each(app, pilot, *["left_curly_bracket"] * 7)
    await wait_until(pilot, lambda: app.inspector.replay is not None and app.inspector.replay < total * 0.7, "the replay cursor")
    await expand_tree(app, pilot, levels=2, per_level=3)


async def search(app: AgentTuiApp, pilot: Any) -> None:
    """`/` for a term, then `n` twice: the third match selected, every match marked in the list."""
    await pilot.press("slash", *"timeline", "enter")
    await wait_until(pilot, lambda: app.inspector.search.matches is not None and not app.inspector.busy, "the search's matches")
    await press_each(app, pilot, "n", "n")


async def help_screen(app: AgentTuiApp, pilot: Any) -> None:
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")


async def node_tree_large(app: AgentTuiApp, pilot: Any) -> None:
    """A 10,000-node plan, several levels open, the tree focused."""
    await expand_tree(app, pilot, levels=3, per_level=2)
    app.set_focus(app.inspector.node_tree)
    await press_each(app, pilot, "down", "down", "down")


async def otel_run(app: AgentTuiApp, pilot: Any) -> None:
    """A run that came in as OpenTelemetry GenAI spans: planner, two researcher sub-agents, a failed tool."""
    await expand_tree(app, pilot, levels=2, per_level=3)


def make_shots(workdir: Path, only: set[str] | None) -> list[Shot]:
    events = list(generate_run(SEED, run_id=RUN_ID, start=START))
    cut = int(len(events) * LIVE_SHARE)
    live_db = write_store(workdir / "live.db", events[:cut])
    full_db = write_store(workdir / "full.db", events)
    end = parse_ts(events[-1].timestamp)
    shots = [
        Shot("main-live", live_db, parse_ts(events[cut - 1].timestamp) + LIVE_LAG, main_live),
        Shot("main-80x24", live_db, parse_ts(events[cut - 1].timestamp) + LIVE_LAG, nothing, size=SMALL),
        Shot("zoom-80x24", full_db, end, small_zoomed, size=SMALL),
        Shot("type-filter", full_db, end, type_filter),
        Shot("replay", full_db, end, replay),
        Shot("search", full_db, end, search),
        Shot("help", full_db, end, help_screen),
    ]
    if only is None or "otel-run" in only:
        from agenttui.otel import import_otlp

        otel_db = workdir / "otel.db"
        with SQLiteStore(otel_db) as store:
            import_otlp(store, ROOT / "examples" / "otel_collector_trace.jsonl")
        shots.append(Shot("otel-run", otel_db, parse_ts("2026-03-01T09:00:10Z"), otel_run))
    if only is None or "node-tree-large" in only:
        large = list(generate_run(SEED, n_nodes=LARGE_NODES, run_id=LARGE_RUN_ID, start=START))
        large_db = write_store(workdir / "large.db", large)
        shots.append(Shot("node-tree-large", large_db, parse_ts(large[-1].timestamp), node_tree_large, 300.0))
    return [s for s in shots if only is None or s.name in only]


# -------------------------------------------------- screens with apps of their own: diff and summary

def _candidate(events: list[Event]) -> list[Event]:
    """The demo run again as run B, with what a prompt change might do: one tool argument changed
    halfway, and the node of a later tool call failing."""
    tools = [i for i, e in enumerate(events) if e.event_type == "tool_invoked"]
    changed, failing = tools[len(tools) // 2], tools[len(tools) * 3 // 4]
    failing_node = events[failing].node_id
    out = []
    for i, e in enumerate(events):
        payload = dict(e.payload)
        if i == changed:
            payload["args_summary"] = f"{payload.get('args_summary', '')} site:archive.org"
        if (e.node_id == failing_node and e.event_type in ("node_status_changed", "step_finished")
                and "FINISH" in (payload.get("new_status"), payload.get("status_after"))):
            payload["new_status" if e.event_type == "node_status_changed" else "status_after"] = "FAILED"
        out.append(Event(e.event_type, payload, run_id=f"{RUN_ID}-b", event_id=f"b-{i:06d}", timestamp=e.timestamp,
                         node_id=e.node_id, metadata=e.metadata))
    return out


async def shoot_compare(workdir: Path, out: Path) -> Path:
    """`agenttui diff`: jumped to the first divergence, its payloads diffed."""
    from agenttui.compare import Comparison, Side
    from agenttui.tui.screens.compare import AlignedTree, CompareApp

    events = list(generate_run(SEED, run_id=RUN_ID, start=START))
    store = write_store(workdir / "diff.db", events + _candidate(events))
    with SQLiteStore(store, readonly=True) as s:
        cmp = Comparison.of_trees(Side.load(s, RUN_ID, RUN_ID), Side.load(s, f"{RUN_ID}-b", f"{RUN_ID}-b"))
        app = CompareApp(cmp)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.steps_ready, "compare: the steps")
            await pilot.press("d")
            await wait_until(pilot, lambda: app.query_one(AlignedTree).states is not None, "compare: the replay")
            await pilot.pause(0.15)
            target = out / "compare.svg"
            target.write_text(app.export_screenshot(title="agenttui diff"), encoding="utf-8")
    return target


async def shoot_summary(workdir: Path, out: Path) -> Path:
    """The run summary panel over the finished demo run."""
    from textual.app import App

    from agenttui.tui.screens.summary import SummaryScreen

    db = write_store(workdir / "summary.db", list(generate_run(SEED, run_id=RUN_ID, start=START)))

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(SummaryScreen(db, RUN_ID))

    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: getattr(app.screen, "summary", None) is not None, "summary: the figures")
        await pilot.pause(0.1)
        target = out / "summary.svg"
        target.write_text(app.export_screenshot(title="agenttui"), encoding="utf-8")
    return target


EXTRA_SHOTS = {"compare": shoot_compare, "summary": shoot_summary}
NAMES = ("main-live", "main-80x24", "zoom-80x24", "type-filter", "replay", "search", "help", "node-tree-large", "otel-run", *EXTRA_SHOTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="folder for the SVGs")
    parser.add_argument("--only", action="append", choices=NAMES, help="make only this screenshot (repeatable)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agenttui-shots-") as tmp:
        for shot in make_shots(Path(tmp), set(args.only) if args.only else None):
            started = time.monotonic()
            target = asyncio.run(shoot(shot, args.out))
            print(f"{target}  ({time.monotonic() - started:.1f} s)")
        for name, make in EXTRA_SHOTS.items():
            if not args.only or name in args.only:
                started = time.monotonic()
                target = asyncio.run(make(Path(tmp), args.out))
                print(f"{target}  ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
