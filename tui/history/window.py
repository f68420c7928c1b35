"""Windows of a run's history: the state at any index without folding the run from its start.

The store keeps snapshots of each run's fold (store/base.py: every ~10k events, further apart when a
run has many nodes). A window is a `History.from_state` seeded with the newest snapshot at or before
the wanted index, then folded forward with the one fold, a little past that index, so steps and
playback around it are bisects. Opening a 1M-event run, the time slider can show any index as soon
as its window is folded (a snapshot decode plus the events since it), instead of after the whole run.

    window = load_window(reader, run_id, index)      # in a worker: its own reader
    window.first_index <= index < len(window)        # run indices, as in a whole-run History

How far a window reaches back is set by the store's snapshots: a run whose snapshots are far apart
(a run with tens of thousands of nodes is checkpointed every 2x its node count) makes slower
windows; `agenttui rebuild` writes them afresh.
"""
from __future__ import annotations

from typing import Any, Callable

from agenttui.store.fold import RunState

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
) -> History:
    """A window holding run index `index` (unless the run is shorter), from the newest snapshot at
    or before it; `reader` is an InspectorReader of this thread. If cancelled() turns true the fold
    stops between batches and the window is returned as far as it got."""
    if index < 0:
        raise ValueError(f"index must be 0 or more, got {index}")
    snapshot = reader.snapshot_before(run_id, index + 1)
    if snapshot is not None:
        position, _ = snapshot
        state = reader.state_at(run_id, position)
        if int(state.run.get("event_count") or 0) > index:  # (seqs with gaps: the snapshot is past it)
            state = RunState(run_id)
    else:
        state = RunState(run_id)
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
