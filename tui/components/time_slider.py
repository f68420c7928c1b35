"""The time slider: where the run was busy, where it went wrong, and where the cursor is.

Usage::

    slider = TimeSlider(id="slider")            # one or two lines tall (CSS height: 1 or 2)
    slider.timeline = timeline                  # or TimeSlider(timeline) at construction
    slider.total = len(timeline)                # after live events arrived
    slider.index = i; slider.live = False       # the replay cursor

    def on_time_slider_scrubbed(self, message: TimeSlider.Scrubbed) -> None:
        ...  # message.index: show the state at that event

Line 1 is a sparkline of events per column along the run's time, red
where an error or a failed node happened (`History.marks`); the cursor's column is highlighted
(green while live, amber in replay) and columns after it are dimmed in replay. Its bars are on a
log scale: on a linear one, a run whose first column holds most of its events drew every later
burst as the same lowest bar. Line 2, if the widget is two lines tall, is a track with the cursor
knob, a ▲ under each trouble column (however many marks it holds: `cursor_note` counts those of
the cursor's column for the status bar), and the run's time at its ends: the first event's wall
clock on the left, the elapsed time and the last event's wall clock on the right.
A click or a drag scrubs: the slider moves its cursor and posts `Scrubbed`.

The columns (density and marks, from `History.axis.bucket_bounds`) are computed once per width,
length and timeline and cached, so moving the cursor costs only assembling two strips.

The axis is time, not event count: a burst of events is a tall bar, an agent waiting on a slow
LLM call is a gap. (A run whose events all share one timestamp falls back to event count.)
"""
from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from agenttui.summary import format_elapsed

from ..history import MARK_KINDS, History

__all__ = ["TimeSlider"]

_BARS = " ▁▂▃▄▅▆▇█"
#: Narrower than this, the track has no room for time labels and a readable stretch of marks.
LABELS_MIN_WIDTH = 40
_EPOCH = datetime(1970, 1, 1)
#: What a mark kind is called in the status bar's note on the cursor's column.
MARK_NAMES = {"run_error": "run error", "failed": "failed node", "llm_error": "failed LLM call",
              "tool_error": "failed tool call", "error": "error"}


class TimeSlider(Widget):
    """A density sparkline of the run with trouble marks and a scrubbable cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "time-slider--bar", "time-slider--future", "time-slider--mark", "time-slider--cursor",
        "time-slider--cursor-live", "time-slider--track", "time-slider--label",
    }
    DEFAULT_CSS = """
    TimeSlider { height: 2; width: 1fr; background: $panel; }
    TimeSlider > .time-slider--bar { color: $primary; }
    TimeSlider > .time-slider--future { color: $primary 40%; }
    TimeSlider > .time-slider--mark { color: $error; text-style: bold; }
    TimeSlider > .time-slider--cursor { background: $warning; color: $background; text-style: bold; }
    TimeSlider > .time-slider--cursor-live { background: $success; color: $background; text-style: bold; }
    TimeSlider > .time-slider--track { color: $foreground 30%; }
    TimeSlider > .time-slider--label { color: $foreground 70%; }
    """

    #: the cursor's event index (drawn again only when its column moves: see watch_index)
    index: reactive[int] = reactive(0, repaint=False)
    #: how many events the run has (the slider's length)
    total: reactive[int] = reactive(0)
    #: following the newest event (cursor drawn green) or replaying (amber, later columns dimmed)
    live: reactive[bool] = reactive(True)

    class Scrubbed(Message):
        """The user clicked or dragged the slider to event `index`."""

        def __init__(self, slider: "TimeSlider", index: int) -> None:
            self.slider = slider
            self.index = index
            super().__init__()

        @property
        def control(self) -> "TimeSlider":
            return self.slider

        def __repr__(self) -> str:
            return f"TimeSlider.Scrubbed(index={self.index})"

    def __init__(self, timeline: History | None = None, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._timeline = timeline
        self._columns_key: tuple | None = None
        self._levels: list[int] = []
        self._marks: list[int] = []       # per column: index into MARK_KINDS of its worst mark, -1 none
        self._mark_counts: list[int] = []  # per column: how many marks it holds
        self._labels: tuple[str, str] = ("", "")
        self._dragging = False
        #: the cursor's column as last drawn (None: not drawn since a change of everything else)
        self._drawn_column: int | None = None
        if timeline is not None:
            self.set_reactive(TimeSlider.total, len(timeline))
            self.set_reactive(TimeSlider.index, max(0, len(timeline) - 1))

    # ------------------------------------------------------------------------------- data
    @property
    def timeline(self) -> History | None:
        return self._timeline

    @timeline.setter
    def timeline(self, timeline: History | None) -> None:
        self._timeline = timeline
        self._columns_key = None
        self.total = len(timeline) if timeline is not None else 0
        self.refresh()

    def validate_index(self, index: int) -> int:
        return max(0, min(index, self.total - 1)) if self.total else 0

    def watch_total(self) -> None:
        # live, the cursor rides the newest event; in replay it stays where the user put it
        self.index = self.total - 1 if self.live else self.validate_index(self.index)

    def _columns(self, width: int) -> tuple[list[int], list[int]]:
        """Bar height (0-8) and worst mark per column, cached per width, length and timeline."""
        timeline = self._timeline
        total = self.total
        key = (width, total, id(timeline), timeline.mark_count() if timeline is not None else 0)
        if key == self._columns_key:
            return self._levels, self._marks
        levels = [0] * width
        marks = [-1] * width
        mark_counts = [0] * width
        if width > 0 and timeline is not None and len(timeline):
            bounds = timeline.axis.bucket_bounds(width)
            counts = [bounds[b + 1] - bounds[b] for b in range(width)]
            levels = bar_levels(counts)
            for i, kind in timeline.marks():
                if i >= total:
                    break
                col = min(width - 1, bisect_right(bounds, i) - 1)
                code = MARK_KINDS.index(kind)
                mark_counts[col] += 1
                if marks[col] < 0 or code < marks[col]:
                    marks[col] = code
        elif width > 0 and total:
            levels = [4] * width
        self._columns_key, self._levels, self._marks, self._mark_counts = key, levels, marks, mark_counts
        self._labels = time_labels(timeline) if timeline is not None and width >= LABELS_MIN_WIDTH else ("", "")
        return levels, marks

    def cursor_note(self) -> str:
        """What the cursor's column holds of trouble, for the status bar ("" for none): many marks
        share a column on a big run, and the track shows one ▲ for them all."""
        width = self.size.width
        if width <= 0 or not self.total:
            return ""
        self._columns(width)
        column = self.cursor_column(width)
        count = self._mark_counts[column] if column < len(self._mark_counts) else 0
        if not count:
            return ""
        worst = MARK_NAMES.get(MARK_KINDS[self._marks[column]], "error")
        return f"▲ {count:,} in this column (worst: {worst})" if count > 1 else f"▲ a {worst} in this column"

    def cursor_column(self, width: int | None = None) -> int:
        """The column the cursor is drawn in."""
        width = self.size.width if width is None else width
        if width <= 0 or not self.total:
            return 0
        timeline = self._timeline
        if timeline is not None and self.index < len(timeline):
            return timeline.axis.bucket_of(self.index, width)
        return min(width - 1, self.index * width // self.total)

    def index_at_column(self, column: int, width: int | None = None) -> int:
        """The event a click on `column` means: the last one in that column (or before it)."""
        width = self.size.width if width is None else width
        if not self.total or width <= 0:
            return 0
        column = max(0, min(column, width - 1))
        timeline = self._timeline
        if timeline is not None and len(timeline):
            return min(self.total - 1, timeline.axis.index_at_bucket(column, width))
        return min(self.total - 1, -(-(column + 1) * self.total // width) - 1)

    # -------------------------------------------------------------------------- rendering
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width <= 0:
            return Strip.blank(0)
        base = self.rich_style
        levels, marks = self._columns(width)
        cursor = self._drawn_column = self.cursor_column(width)
        cursor_style = base + self.get_component_rich_style(
            "time-slider--cursor-live" if self.live else "time-slider--cursor")
        mark_style = base + self.get_component_rich_style("time-slider--mark")
        if y == 0:
            past = base + self.get_component_rich_style("time-slider--bar")
            future = past if self.live else base + self.get_component_rich_style("time-slider--future")
            chars = [_BARS[level] for level in levels]
            styles = [mark_style if marks[x] >= 0 else (past if x < cursor else future) for x in range(width)]
            if self.total:
                styles[cursor] = cursor_style
                if chars[cursor] == " ":
                    chars[cursor] = "│"
            return Strip(_runs(chars, styles), width)
        if y == 1:
            track = base + self.get_component_rich_style("time-slider--track")
            chars = ["▲" if marks[x] >= 0 else "─" for x in range(width)]
            styles = [mark_style if marks[x] >= 0 else track for x in range(width)]
            start, end = self._labels
            if start and len(start) + len(end) + 12 <= width:
                # the first and last columns stay track (the cursor sits there at the run's ends);
                # a label gives way to the marks it would hide, and to the cursor (its knob drawn
                # over a digit read as another time: "0●:00:08")
                label = base + self.get_component_rich_style("time-slider--label")
                for x0, text in ((1, f" {start} "), (width - len(end) - 3, f" {end} ")):
                    if (all(marks[x] < 0 for x in range(x0, x0 + len(text)))
                            and not (self.total and x0 <= cursor < x0 + len(text))):
                        chars[x0:x0 + len(text)] = list(text)
                        styles[x0:x0 + len(text)] = [label] * len(text)
            if self.total:
                chars[cursor] = "●"
                styles[cursor] = cursor_style
            return Strip(_runs(chars, styles), width)
        return Strip.blank(width, base)

    def watch_index(self) -> None:
        # a column holds thousands of events on a big run: a slider step inside it draws the same
        if self._drawn_column is None or self.cursor_column() != self._drawn_column:
            self.refresh()

    def watch_live(self, live: bool) -> None:
        if live and self.total:
            self.index = self.total - 1
        self.refresh()

    # ------------------------------------------------------------------------------ mouse
    def _scrub(self, x: int) -> None:
        if not self.total:
            return
        index = self.index_at_column(x)
        self.index = index
        self.post_message(self.Scrubbed(self, index))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if not self.total or event.button not in (0, 1):
            return
        event.stop()
        self._dragging = True
        self.capture_mouse()
        self._scrub(event.x)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._dragging:
            event.stop()
            index = self.index_at_column(event.x)
            if index != self.index:
                self._scrub(event.x)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            event.stop()
            self._dragging = False
            self.release_mouse()


def bar_levels(counts: list[int]) -> list[int]:
    """Bar heights 0-8 for events per column on a log scale: any event shows (1 at least), the
    busiest column is full, and a burst ten times its neighbours stands out however busy the
    busiest column is."""
    top = max(counts, default=0)
    if top <= 0:
        return [0] * len(counts)
    scale = math.log1p(top)
    return [max(1, math.ceil(8 * math.log1p(c) / scale - 1e-9)) if c else 0 for c in counts]


def time_labels(timeline: Any) -> tuple[str, str]:
    """The track's ends: the first event's wall clock; the run's elapsed time and its last event's
    wall clock (UTC, as the store keeps them; with the day when the run spans days)."""
    n = len(timeline)
    if not n:
        return "", ""
    try:
        first, last = timeline.micros_at(0), timeline.newest_micros_at(n - 1)
    except (IndexError, AttributeError):  # (a window: the slider draws the outline instead)
        return "", ""
    if not first:
        return "", ""
    start, end = _EPOCH + timedelta(microseconds=first), _EPOCH + timedelta(microseconds=last)
    clock = "%H:%M:%S" if start.date() == end.date() else "%m-%d %H:%M"
    return start.strftime(clock), f"+{format_elapsed((last - first) / 1e6)} {end.strftime(clock)}"


def _runs(chars: list[str], styles: list[Style]) -> list[Segment]:
    """Join neighbouring cells of one style into one segment (a strip of a few segments, not 200)."""
    segments: list[Segment] = []
    start = 0
    for x in range(1, len(chars) + 1):
        if x == len(chars) or styles[x] is not styles[start]:
            segments.append(Segment("".join(chars[start:x]), styles[start]))
            start = x
    return segments
