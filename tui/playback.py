"""Moving through time: the slider's keys, error marks and playback in the run's own timing.

The time cursor is an event index of the run's History (None while live); every pane shows the
state as of that event. Playback advances it frame by frame by the run's own timestamps, times the
chosen speed, with idle gaps capped so a quiet minute does not stall the replay.

A mixin of `AgentTuiApp` (it uses the app's History and widgets).
"""
from __future__ import annotations

import time

from .components.time_slider import TimeSlider

SPEEDS = (1, 2, 5, 10)
#: Longest pause playback makes between two events, in run time (seconds), so idle gaps do not stall it.
MAX_PLAY_GAP = 3.0
#: Playback frame interval (seconds): events due within one frame are shown together.
PLAY_FRAME = 1 / 30


class PlaybackMixin:
    """Time-slider keys and playback (see the module docstring)."""

    def _history_ready(self) -> bool:
        """Whether the slider can move; if not, say why instead of ignoring the key (a 1M-event
        run's history takes ~20 s to fold in the background)."""
        tl = self.timeline
        if tl is not None and len(tl):
            return True
        if tl is None and self.run_id is not None:
            busy = f" ({self.busy})" if self.busy.startswith("loading run") else ""
            self.notify(f"the run's history is still loading{busy}: the time slider works once it is in",
                        timeout=2, markup=False)
        return False

    def on_time_slider_scrubbed(self, message: TimeSlider.Scrubbed) -> None:
        if not self._history_ready():
            return
        self._stop_playing()
        self._set_replay(message.index)

    def action_step(self, delta: int) -> None:
        if not self._history_ready():
            return
        tl = self.timeline
        self._stop_playing()
        total = len(tl)
        current = self.replay if self.replay is not None else total - 1
        self._set_replay(max(0, min(total - 1, current + delta)))

    def action_jump(self, fraction: float) -> None:
        if not self._history_ready():
            return
        tl = self.timeline
        total = len(tl)
        step = max(1, round(total * abs(fraction)))
        self.action_step(step if fraction > 0 else -step)

    def action_live(self) -> None:
        self._stop_playing()
        self._set_replay(None)

    def action_error_mark(self, direction: int) -> None:
        if not self._history_ready():
            return
        tl = self.timeline
        if not tl.mark_count():
            self.notify("no errors or failed nodes in this run", timeout=3, markup=False)
            return
        current = self.replay if self.replay is not None else len(tl)
        target = tl.next_mark(current) if direction > 0 else tl.prev_mark(current)
        if target is None:
            self.notify("no more errors that way", timeout=2, markup=False)
            return
        self._stop_playing()
        self._set_replay(target)

    # ------------------------------------------------------------------ playback
    def action_play(self) -> None:
        if self.playing:
            self._stop_playing()
            self._update_status()
            return
        if not self._history_ready():
            return
        tl = self.timeline
        total = len(tl)
        if self.replay is None:
            seq = self.events_list.cursor_seq or 1
            start = seq - 1 if seq < total else 0
        else:
            start = self.replay if self.replay < total - 1 else 0
        self.playing = True
        self._set_replay(start)
        self._play_anchor = None
        self._play_timer = self.set_interval(PLAY_FRAME, self._play_frame)

    def _stop_playing(self) -> None:
        self.playing = False
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None

    def _play_frame(self) -> None:
        """Advance to the last event due by now, in the run's own timing times the speed."""
        tl = self.timeline
        if not self.playing or tl is None or self.replay is None:
            self._stop_playing()
            return
        total = len(tl)
        speed = SPEEDS[self.speed_index]
        now = time.monotonic()
        if self._play_anchor is None:
            self._play_anchor = (now, 0.0)
        wall0, budget0 = self._play_anchor
        budget = budget0 + (now - wall0) * speed  # run seconds we may advance since the anchor
        index = self.replay
        spent = 0.0
        moved = 0
        while index < total - 1 and moved < 5000:
            gap = min(MAX_PLAY_GAP, max(0.0, tl.timestamp_at(index + 1) - tl.timestamp_at(index)))
            if spent + gap > budget:
                break
            spent += gap
            index += 1
            moved += 1
        if moved:
            self._play_anchor = (now, budget - spent)
            self._set_replay(index)
        if index >= total - 1:
            self._stop_playing()
            self._update_status()

    def action_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        if self.playing:
            self._play_anchor = None
        self.notify(f"playback {SPEEDS[self.speed_index]}x", timeout=1.5, markup=False)
        self._update_status()
