"""The event list: a Line-API view over a run's events that stays fast at a million rows.

Only the visible rows are ever fetched or rendered. Row i of the unfiltered view is the run's event
with seq i + 1 (seqs are gapless per run), so no index has to be built to open a run; a filtered
view is a sorted array of matching seqs (8 bytes a row, built by a worker). Fetched events and
rendered strips sit in small LRU caches keyed by seq, so scrolling back and forth costs nothing
and a live append only renders the new rows.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from typing import Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agenttui.store import Event
from agenttui.summary import summarize

from ..colors import ERROR_STYLE, is_error_event, type_style
from ..literal import clean
from ..data.reader import InspectorReader
from .quiet_size import set_virtual_size

#: Events kept whole (payload and all) by seq: a few screens' worth around the cursor. 4,096 of a
#: demo run's held ~10 MB of payloads; the rows on screen are ~50, fetched with FETCH_MARGIN.
EVENT_CACHE = 1024
STRIP_CACHE = 1024
#: Rows fetched around the visible window on a cache miss (so small scrolls hit the cache).
FETCH_MARGIN = 32
TYPE_WIDTH = 21
NODE_WIDTH = 8
TIME_WIDTH = 12
#: Column widths (time, type, node; 0 hides a column) from the widest to the narrowest: a list
#: takes the first layout that leaves the summary at least half its width, so at 80 columns the
#: summary still reads as a sentence, and the columns shrink or go in the order they matter least.
LAYOUTS: tuple[tuple[int, int, int], ...] = (
    (TIME_WIDTH, TYPE_WIDTH, NODE_WIDTH),
    (TIME_WIDTH, 16, NODE_WIDTH),
    (8, 16, NODE_WIDTH),
    (8, 16, 4),
    (0, 16, 4),
    (0, 13, 4),
    (0, 13, 0),
    (0, 10, 0),
    (0, 0, 0),
)


def column_layout(width: int, position_width: int) -> tuple[int, int, int]:
    """(time, type, node) widths for a list `width` cells wide (see LAYOUTS)."""
    fixed = 1 + position_width + 1  # the gutter, the position and its space
    for time_w, type_w, node_w in LAYOUTS:
        used = fixed + sum(w + 1 for w in (time_w, type_w, node_w) if w)
        if width - used >= (width + 1) // 2:
            return time_w, type_w, node_w
    return LAYOUTS[-1]


def _cell(text: str, width: int) -> str:
    """`text` in a column `width` wide and the space after it (cut with … when longer)."""
    if len(text) > width:
        text = text[:max(0, width - 1)] + "…"
    return text.ljust(width) + " "


class AllRows:
    """Every event of the run: row i is seq i + 1."""

    filtered = False

    def __init__(self, count: int) -> None:
        self.count = count

    def seq_of_row(self, row: int) -> int:
        return row + 1

    def row_of(self, seq: int) -> int | None:
        return seq - 1 if 1 <= seq <= self.count else None

    def row_near(self, seq: int) -> int:
        """The row of `seq`, or of the last event before it."""
        return max(0, min(self.count - 1, seq - 1))

    def extend(self, seqs: Iterable[int]) -> int:
        added = 0
        for s in seqs:
            if s > self.count:
                added += s - self.count
                self.count = s
        return added


class FilteredRows:
    """Only matching events: the sorted seqs of the matches."""

    filtered = True

    def __init__(self, seqs: array) -> None:
        self.seqs = seqs

    @property
    def count(self) -> int:
        return len(self.seqs)

    def seq_of_row(self, row: int) -> int:
        return self.seqs[row]

    def row_of(self, seq: int) -> int | None:
        i = bisect_left(self.seqs, seq)
        return i if i < len(self.seqs) and self.seqs[i] == seq else None

    def row_near(self, seq: int) -> int:
        return max(0, bisect_right(self.seqs, seq) - 1)

    def extend(self, seqs: Iterable[int]) -> int:
        last = self.seqs[-1] if self.seqs else 0
        added = 0
        for s in seqs:
            if s > last:
                self.seqs.append(s)
                last = s
                added += 1
        return added


class TailRows:
    """A filtered view while a worker builds its full seq array: the exact row count (from per-type
    counts) and the seqs of the last rows, so the newest matches show at once. Earlier rows are
    placeholders until `FilteredRows` replaces this (seq_of_row gives None for them)."""

    filtered = True

    def __init__(self, count: int, tail: array) -> None:
        self.tail = tail
        self.count = max(count, len(tail))

    @property
    def _first(self) -> int:
        return self.count - len(self.tail)

    def seq_of_row(self, row: int) -> int | None:
        k = row - self._first
        return self.tail[k] if 0 <= k < len(self.tail) else None

    def row_of(self, seq: int) -> int | None:
        i = bisect_left(self.tail, seq)
        return self._first + i if i < len(self.tail) and self.tail[i] == seq else None

    def row_near(self, seq: int) -> int:
        return max(0, self._first + bisect_right(self.tail, seq) - 1)

    def extend(self, seqs: Iterable[int]) -> int:
        last = self.tail[-1] if self.tail else 0
        added = 0
        for s in seqs:
            if s > last:
                self.tail.append(s)
                self.count += 1
                last = s
                added += 1
        return added


RowSource = AllRows | FilteredRows | TailRows


class EventList(ScrollView, can_focus=True):
    """Scrollable, cursor-driven list of a run's events; see the module docstring."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="list.down", tooltip="Next event"),
        Binding("k,up", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous event (stops following)"),
        Binding("g,home", "first", "First", show=False, id="list.first", tooltip="First event"),
        Binding("G,end", "last", "Last", show=False, id="list.last", tooltip="Last event (and follow again)"),
        Binding("pagedown,ctrl+d", "page_down", "Page down", show=False, id="list.page_down", tooltip="One page down"),
        Binding("pageup,ctrl+u", "page_up", "Page up", show=False, id="list.page_up", tooltip="One page up"),
    ]

    COMPONENT_CLASSES = {
        "event-list--cursor",
        "event-list--cursor-blurred",
        "event-list--replay",
        "event-list--future",
        "event-list--match",
        "event-list--position",
        "event-list--time",
    }

    DEFAULT_CSS = """
    EventList { background: $surface; }
    EventList > .event-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                      text-style: bold; }
    EventList > .event-list--cursor-blurred { background: $block-cursor-blurred-background; color: $text; }
    EventList > .event-list--replay { color: $warning; text-style: bold; }
    EventList > .event-list--future { color: $text-disabled; }
    EventList > .event-list--match { color: $success; text-style: bold; }
    EventList > .event-list--position { color: $text-muted; }
    EventList > .event-list--time { color: $text-muted; }
    """

    class CursorMoved(Message):
        """The cursor is on another event (seq None: the list is empty)."""

        def __init__(self, seq: int | None) -> None:
            super().__init__()
            self.seq = seq

    class FollowChanged(Message):
        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    class ColumnsChanged(Message):
        """The columns were laid out anew (a resize): the column titles above the list follow."""

    class Opened(Message):
        """Enter on a row: open its event."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.reader: InspectorReader | None = None
        self.run_id: str | None = None
        self.source: RowSource = AllRows(0)
        self.cursor = 0
        self.follow = True
        #: events that arrived while not following (the "N new" counter)
        self.unseen = 0
        #: the replay cursor's seq (None when live): its row is marked, later rows dimmed
        self.replay_seq: int | None = None
        self.matches: array | None = None
        self.nid_of: Callable[[str], str | None] = lambda _node_id: None
        self.position_width = 5
        #: (time, type, node) column widths for the current width (see column_layout)
        self.columns = (TIME_WIDTH, TYPE_WIDTH, NODE_WIDTH)
        self._events: OrderedDict[int, Event] = OrderedDict()
        self._strips: OrderedDict[tuple, Strip] = OrderedDict()
        self._missing: set[int] = set()

    # ---------------------------------------------------------------- data
    def attach(self, reader: InspectorReader | None, run_id: str | None, source: RowSource, *,
               last_position: int = 0) -> None:
        """Show another run (or the same run from a reopened file)."""
        self.reader = reader
        self.run_id = run_id
        self._events.clear()
        self._missing.clear()
        self.matches = None
        self.replay_seq = None
        self.unseen = 0
        self.position_width = max(5, len(str(last_position)))
        self._layout_columns()
        self.set_source(source, keep_seq=None)

    def set_source(self, source: RowSource, *, keep_seq: int | None) -> None:
        """Swap in a new row set, keeping the cursor on `keep_seq` (or the nearest earlier row)."""
        self.source = source
        self._strips.clear()
        self._update_virtual_size()
        if self.follow and self.replay_seq is None:
            self._set_cursor(source.count - 1, scroll="end")
        elif keep_seq is not None and source.count:
            self._set_cursor(source.row_near(keep_seq), scroll="center")
        else:
            self._set_cursor(min(self.cursor, source.count - 1), scroll="nearest")
        self.refresh()

    def append(self, events: list[Event]) -> int:
        """Live events of this run that belong in the view; returns how many rows were added."""
        for e in events:
            if e.seq is not None:
                self._remember(e.seq, e)
                self._missing.discard(e.seq)
        added = self.source.extend(e.seq for e in events if e.seq is not None)
        if not added:
            return 0
        self._update_virtual_size()
        for e in events:
            if e.position is not None and len(str(e.position)) > self.position_width:
                self.position_width = len(str(e.position))
                self._strips.clear()
                self._layout_columns()
        if self.follow and self.replay_seq is None:
            self._set_cursor(self.source.count - 1, scroll="end")
        else:
            self.unseen += added
        self.refresh()
        return added

    def event(self, seq: int) -> Event | None:
        """The event with this seq, from the cache or the store."""
        e = self._events.get(seq)
        if e is None and self.reader is not None and self.run_id is not None:
            self._fetch([seq])
            e = self._events.get(seq)
        return e

    def forget_nids(self) -> None:
        """Node nids changed (a node_created arrived late): re-render rows naming nodes."""
        self._strips.clear()
        self.refresh()

    def refresh_rows(self) -> None:
        self._strips.clear()
        self.refresh()

    @property
    def cursor_seq(self) -> int | None:
        if not self.source.count:
            return None
        return self.source.seq_of_row(max(0, min(self.cursor, self.source.count - 1)))  # None: not known yet

    @property
    def count(self) -> int:
        return self.source.count

    # ---------------------------------------------------------------- cursor and follow
    def set_follow(self, follow: bool) -> None:
        if follow == self.follow:
            return
        self.follow = follow
        if follow:
            self.unseen = 0
            self._set_cursor(self.source.count - 1, scroll="end")
        self.post_message(self.FollowChanged(follow))
        self.refresh()

    def go_to_seq(self, seq: int, *, scroll: str = "center") -> None:
        """Put the cursor on `seq`'s row (or the nearest earlier one in a filtered view)."""
        if self.source.count:
            self._set_cursor(self.source.row_near(seq), scroll=scroll)

    def go_to_row(self, row: int, *, scroll: str = "nearest") -> None:
        if self.source.count:
            self._set_cursor(max(0, min(row, self.source.count - 1)), scroll=scroll)

    def _user_moved(self, row: int, scroll: str = "nearest") -> None:
        """A move by the user: leaving the last row stops following."""
        if not self.source.count:
            return
        row = max(0, min(row, self.source.count - 1))
        if self.follow and row < self.source.count - 1:
            self.follow = False
            self.post_message(self.FollowChanged(False))
        self._set_cursor(row, scroll=scroll)

    def _set_cursor(self, row: int, *, scroll: str = "nearest") -> None:
        row = max(0, row)
        changed = row != self.cursor
        old = self.cursor
        self.cursor = row
        self._scroll_to_cursor(scroll)
        if changed:
            self._refresh_row(old)
            self._refresh_row(row)
        self.post_message(self.CursorMoved(self.cursor_seq))

    def _scroll_to_cursor(self, how: str) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_y)
        row = self.cursor
        if how == "end":
            target = max(0, self.source.count - height)
        elif how == "center" and not (top <= row < top + height):
            target = max(0, row - height // 2)
        elif row < top:
            target = row
        elif row >= top + height:
            target = row - height + 1
        else:
            return
        self.scroll_to(y=target, animate=False, immediate=True, force=True)

    def _refresh_row(self, row: int) -> None:
        if 0 <= row - int(self.scroll_y) < self.size.height:
            self.refresh_line(row)  # (ScrollView's: the row in the list, not on screen)

    def set_replay_seq(self, seq: int | None) -> None:
        """Mark `seq`'s row as the replay cursor's (None: live, no row marked). Only the rows whose
        look changes are drawn again: the one marked before, the one marked now and those between
        (a row after the replay cursor is drawn dimmed, as the future); a slider step is two rows."""
        old = self.replay_seq
        if seq == old:
            return
        self.replay_seq = seq
        if old is None or seq is None:
            self.refresh()
            return
        low, high = min(old, seq), max(old, seq)
        top = int(self.scroll_y)
        for row in range(top, min(self.source.count, top + self.size.height)):
            shown = self.source.seq_of_row(row)
            if shown is not None and low <= shown <= high:
                self.refresh_line(row)

    # ---------------------------------------------------------------- actions
    def action_cursor_down(self) -> None:
        self._user_moved(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._user_moved(self.cursor - 1)

    def action_first(self) -> None:
        self._user_moved(0)

    def action_last(self) -> None:
        """Jump to the newest event and, while live, follow again."""
        if self.replay_seq is None:
            self.set_follow(True)
        self._user_moved(self.source.count - 1, scroll="end")

    def action_page_down(self) -> None:
        self._user_moved(self.cursor + max(1, self.scrollable_content_region.height - 1))

    def action_page_up(self) -> None:
        self._user_moved(self.cursor - max(1, self.scrollable_content_region.height - 1))

    async def _on_click(self, event: events.Click) -> None:  # Widget._on_click (text selection) runs too
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = int(self.scroll_y) + offset.y
        if row < self.source.count:
            seq = self.source.seq_of_row(row)
            if event.chain >= 2 and seq is not None:
                self.post_message(self.Opened(seq))
            self._user_moved(row)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.follow:
            self.follow = False
            self.post_message(self.FollowChanged(False))

    def key_enter(self) -> None:
        seq = self.cursor_seq
        if seq is not None:
            self.post_message(self.Opened(seq))

    # ---------------------------------------------------------------- rendering
    def _update_virtual_size(self) -> None:
        # a live append must not cost a layout of the whole screen per commit (see quiet_size)
        set_virtual_size(self, Size(self.scrollable_content_region.width, self.source.count))

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._layout_columns()
        self._update_virtual_size()
        if self.follow and self.replay_seq is None:
            self._scroll_to_cursor("end")

    def _layout_columns(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            return  # (not laid out yet: the first resize lays the columns out)
        columns = column_layout(width, self.position_width)
        if columns != self.columns:
            self.columns = columns
            self._strips.clear()
            self.post_message(self.ColumnsChanged())

    def _remember(self, seq: int, e: Event) -> None:
        self._events[seq] = e
        self._events.move_to_end(seq)
        while len(self._events) > EVENT_CACHE:
            self._events.popitem(last=False)

    def _fetch(self, seqs: list[int]) -> None:
        if self.reader is None or self.run_id is None:
            return
        try:
            got = self.reader.events_by_seqs(self.run_id, seqs)
        except Exception as exc:  # the file went away under us: the app reopens it; show placeholders
            self.log.warning(f"reading rows {seqs[:1]}..{seqs[-1:]} failed: {exc!r}")
            return
        for s in seqs:
            e = got.get(s)
            if e is None:
                self._missing.add(s)
            else:
                self._remember(s, e)

    def _row_event(self, row: int) -> Event | None:
        seq = self.source.seq_of_row(row)
        if seq is None:
            return None
        e = self._events.get(seq)
        if e is not None:
            return e
        if seq in self._missing:
            return None
        top = int(self.scroll_y)
        first = max(0, min(row, top) - FETCH_MARGIN)
        last = min(self.source.count, max(row, top + self.size.height) + FETCH_MARGIN)
        want = [s for s in (self.source.seq_of_row(r) for r in range(first, last))
                if s is not None and s not in self._events]
        self._fetch(want)
        return self._events.get(seq)

    def header_text(self) -> list[Segment]:
        """The column titles, laid out like the rows."""
        time_w, type_w, node_w = self.columns
        text = " " + "#".rjust(self.position_width) + " "
        for title, w in (("time", time_w), ("type", type_w), ("node", node_w)):
            text += _cell(title, w) if w else ""
        return [Segment(text + "summary")]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = int(self.scroll_y) + y
        base = self.rich_style
        if row >= self.source.count or width <= 0:
            return Strip.blank(width, base)
        seq = self.source.seq_of_row(row)
        if seq is None:  # a filtered view still being built: only its newest rows are known
            strip = Strip([Segment(" " + "…".rjust(self.position_width), self.get_component_rich_style(
                "event-list--position"))]).crop_extend(0, width, None)
            if row == self.cursor:
                strip = strip.apply_style(self.get_component_rich_style(
                    "event-list--cursor" if self.has_focus else "event-list--cursor-blurred"))
            return strip.apply_style(base)
        is_cursor = row == self.cursor
        replay = self.replay_seq
        flags = (
            is_cursor and self.has_focus, is_cursor and not self.has_focus,
            replay is not None and seq == replay, replay is not None and seq > replay,
            self.is_match(seq),
        )
        e = self._row_event(row)
        nid = (self.nid_of(e.node_id) or "") if e is not None and e.node_id else ""
        key = (seq, width, flags, nid, self.position_width, self.columns)
        cached = self._strips.get(key)
        if cached is not None:
            self._strips.move_to_end(key)
            return cached
        strip = self._render_row(seq, e, nid, width, flags, base)
        self._strips[key] = strip
        while len(self._strips) > STRIP_CACHE:
            self._strips.popitem(last=False)
        return strip

    def is_match(self, seq: int) -> bool:
        m = self.matches
        if not m:
            return False
        i = bisect_left(m, seq)
        return i < len(m) and m[i] == seq

    def _render_row(self, seq: int, e: Event | None, nid: str, width: int, flags: tuple, base: Style) -> Strip:
        cursor_focus, cursor_blur, is_replay, is_future, is_match = flags
        style = self.get_component_rich_style
        pos_style = style("event-list--position")
        time_style = style("event-list--time")
        error = e is not None and is_error_event(e.event_type, e.payload)
        if is_replay:
            gutter = Segment("▶", style("event-list--replay"))
        elif is_match:
            gutter = Segment("●", style("event-list--match"))
        elif error:  # (without colour too: NO_COLOR leaves the red of an error row grey)
            gutter = Segment("✗", Style.parse(ERROR_STYLE))
        else:
            gutter = Segment(" ")
        if e is None:
            segments = [gutter, Segment(" " * self.position_width + " "),
                        Segment(f"(event #{seq} is not readable)", time_style)]
        else:
            time_w, type_w, node_w = self.columns
            ts = e.timestamp or ""
            segments = [
                gutter,
                Segment(str(e.position if e.position is not None else "").rjust(self.position_width) + " ", pos_style),
            ]
            if time_w:
                segments.append(Segment(_cell(clean(ts[11:11 + time_w]), time_w), time_style))
            if type_w:
                segments.append(Segment(_cell(clean(e.event_type, limit=60), type_w),
                                        Style.parse(type_style(e.event_type, e.payload))))
            if node_w:
                segments.append(Segment(_cell(clean(nid or (e.node_id or "")[:node_w], limit=40), node_w)))
            segments.append(Segment(summarize(e, self.nid_of)))
        strip = Strip(segments).crop_extend(0, width, None)
        if is_future:
            strip = Strip(Segment.remove_color(strip._segments)).apply_style(style("event-list--future"))
        if cursor_focus or cursor_blur:
            # the cursor's row in one colour pair: a type's colour on the cursor's background
            # (red on brown, blue on blue) was unreadable for some types
            strip = Strip(Segment.remove_color(strip._segments)).apply_style(
                style("event-list--cursor" if cursor_focus else "event-list--cursor-blurred"))
        if is_replay and not (cursor_focus or cursor_blur):
            strip = strip.apply_style(Style(bold=True))
        return strip.apply_style(base)

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()
