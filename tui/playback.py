"""Playback of a run in its own timing: which event is due on each frame, at which speed.

The time cursor itself is the inspector screen's `replay` reactive (an event index of the run's
History, None while live); this object decides how far one frame moves it. Playback follows the
run's own timestamps, times the chosen speed, with idle gaps capped so a quiet minute does not
stall the replay.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.timer import Timer

    from .history import History

SPEEDS = (1, 2, 5, 10)
#: Longest pause playback makes between two events, in run time (seconds), so idle gaps do not stall it.
MAX_PLAY_GAP = 3.0
#: Playback frame interval (seconds): events due within one frame are shown together.
PLAY_FRAME = 1 / 30
#: Most events one frame moves past (a huge speed-up over a dense run still paints).
MAX_FRAME_STEPS = 5000


class Playback:
    """Whether the run is playing, how fast, and the frame timer's anchor."""

    def __init__(self) -> None:
        self.playing = False
        self.speed_index = 0
        self.timer: Timer | None = None
        #: (wall time, run seconds still owed) as of the last frame that moved; None: start afresh
        self.anchor: tuple[float, float] | None = None

    @property
    def speed(self) -> int:
        return SPEEDS[self.speed_index]

    def start(self, timer: Timer) -> None:
        self.playing = True
        self.anchor = None
        self.timer = timer

    def stop(self) -> None:
        self.playing = False
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def change_speed(self, delta: int) -> int:
        """One speed step faster (delta > 0) or slower; the new speed."""
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        if self.playing:
            self.anchor = None  # the time owed was counted at the old speed
        return self.speed

    def advance(self, history: History, index: int, now: float | None = None) -> int:
        """The last event index due by `now` (monotonic seconds), playing from `index`."""
        now = time.monotonic() if now is None else now
        if self.anchor is None:
            self.anchor = (now, 0.0)
        wall0, budget0 = self.anchor
        budget = budget0 + (now - wall0) * self.speed  # run seconds we may advance since the anchor
        total = len(history)
        spent = 0.0
        moved = 0
        while index < total - 1 and moved < MAX_FRAME_STEPS:
            gap = min(MAX_PLAY_GAP, max(0.0, history.timestamp_at(index + 1) - history.timestamp_at(index)))
            if spent + gap > budget:
                break
            spent += gap
            index += 1
            moved += 1
        if moved:
            self.anchor = (now, budget - spent)
        return index
