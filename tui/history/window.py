"""Windows of a run's history: the state at any index without folding the run from its start.

The store keeps snapshots of each run's fold (store/snapshots.py): the append path every ~10k
events, further apart when a run has many nodes (every 2x its node count: 120k events apart late
in a 1M-event run of 58k nodes), and `agenttui rebuild --snapshots` every 5,000 events as small
deltas. A window is a `History.from_state` seeded with the newest snapshot at or before the
wanted index, then folded forward with the one fold, a little past that index, so steps and
playback around it are bisects. Opening a 1M-event run, the time slider can show any index as soon
as its window is folded, instead of after the whole run.

What a window costs: the snapshot's decode (a full snapshot's header, ~50 ms for 58k nodes: its
rows are parsed when read; each delta after it a few ms), seeding (a node's recorded history is
made only when the screen reads it or the fold touches it), and the fold of the events from the
snapshot to the index and `after` past it (~45 us an event, reading included). A `cache` dict kept
between calls holds the last full snapshot decoded, so the next window from the same stretch of
the run skips that decode.

    cache = {}
    window = load_window(reader, run_id, index, cache=cache)      # in a worker: its own reader
    window.first_index <= index < len(window)                     # run indices, as in a whole-run History
"""
from __future__ import annotations

from typing import Any, Callable

from agenttui.store.fold import RunState

from .heap import release_free_memory
from .record import History

__all__ = ["WINDOW_AFTER", "load_window"]

#: Events folded past the index asked for: room for `]`, `}` and playback before the next window.
WINDOW_AFTER = 5_000


def load_window(
    reader: Any,
    run_id: str,
    index: int,
    *,
    after: int = WINDOW_AFTER,
    batch: int = 5_000,
    cancelled: Callable[[], bool] | None = None,
    cache: dict[Any, RunState] | None = None,
) -> History:
    """A window holding run index `index` (unless the run is shorter), from the newest snapshot at
    or before it; `reader` is an InspectorReader of this thread. If cancelled() turns true the fold
    stops between batches and the window is returned as far as it got. cache: see the module
    docstring (the window shares rows with it, never changing them)."""
    if index < 0:
        raise ValueError(f"index must be 0 or more, got {index}")
    # the state before the event at `index` (seq index + 1), so the window's first event is at most it
    found = reader.store.nearest_snapshot(run_id, seq=index, cache=cache) if index else None
    state = found[1] if found is not None else RunState(run_id)
    if found is not None:
        release_free_memory()  # (a full snapshot's decode leaves tens of MB free in this thread's arena)
    window = History.from_state(state) if state.run.get("event_count") else History(run_id)
    want = index + 1 + after - window.first_index
    pending = []
    for event in reader.events_after(run_id, state.position, batch=batch):
        pending.append(event)
        if len(pending) >= batch or len(pending) >= want:
            window.extend(pending)
            want -= len(pending)
            pending = []
            if want <= 0 or (cancelled is not None and cancelled()):
                return window
    if pending:
        window.extend(pending)
    return window
