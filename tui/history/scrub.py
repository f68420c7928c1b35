"""Scrubbing a run before its whole History is folded: the outline and one window at a time.

The inspector folds a run's whole History in the background (~20 s for 1M events). Until it lands,
the time slider draws the run's `RunOutline` (sampled timestamps and trouble marks from the store,
within a second of opening) and the replay cursor is served by a window (`load_window`: the
store's nearest snapshot before the cursor, folded a little past it). A move outside the window
asks for another one; once the whole History is in, it answers everything and the window is let go.

`Scrub` holds that state for one run; the screen owns the workers that fill it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .outline import RunOutline
from .record import History

__all__ = ["Scrub"]


@dataclass
class Scrub:
    """The outline, the window and the index waiting for a window, for one run."""

    run_id: str | None = None
    outline: RunOutline | None = None
    window: History | None = None
    #: the replay index the user asked for that no window holds yet (its window is loading)
    wanted: int | None = None
    #: the index of a window loading before anyone asked (the run's end, as soon as it is open:
    #: `[` is what a post-mortem presses first), None if none
    ahead: int | None = None
    #: the run index the window is growing to (its worker is reading the events; None: it is not)
    reach: int | None = None
    #: load_window's cache: the last full snapshot decoded, shared by the windows built over it
    snapshots: dict[Any, Any] = field(default_factory=dict)

    def reset(self, run_id: str | None) -> None:
        self.run_id, self.outline, self.window, self.wanted, self.ahead = run_id, None, None, None, None
        self.reach = None
        self.snapshots = {}

    def growing_to(self, index: int) -> bool:
        """Whether the window, still growing, will hold `index`."""
        w = self.window
        return w is not None and self.reach is not None and w.first_index <= index < self.reach

    def covers(self, index: int, loading: int | None) -> bool:
        """Whether the window loading for `loading` will hold `index` too (it folds past its index)."""
        return loading is not None and loading - 2_000 < index < loading + 2_000

    @property
    def total(self) -> int:
        """The run's events as the outline counts them (0: not known yet)."""
        return len(self.outline) if self.outline is not None else 0

    def holds(self, index: int) -> bool:
        w = self.window
        return w is not None and w.first_index <= index < len(w)

    def source(self, history: History | None, index: int | None) -> History | None:
        """What answers for replay index `index`: the whole History once folded, else the window
        holding it (None: live, or no window holds it yet)."""
        if history is not None:
            return history
        if index is not None and self.holds(index):
            return self.window
        return None

    def slider_source(self, history: History | None) -> Any:
        """What the slider draws: the whole History's axis and marks, else the outline's."""
        return history if history is not None else self.outline

    def add_live(self, events: list[Any]) -> None:
        """Live events of the run arrived: they extend the outline's count (their time is its last)
        and a window that reached the run's end."""
        outline = self.outline
        if outline is None:
            return
        window = self.window
        if window is not None and len(window) == outline.total:
            window.extend(events)
        outline.total += len(events)
