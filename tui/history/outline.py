"""The run's outline: what the time slider draws over the whole run, before (or without) its fold.

A whole-run History answers the slider's geometry and marks exactly, but only once every event is
folded (~20 s for 1M events). The outline answers them from the store: the timestamp of every
`GROUP`-th event (point lookups in the run's seq index: ~30 ms for 1M events), then the events the
fold counts as trouble (run errors, failed LLM calls and tools, nodes turning FAILED; ~0.6 s for
1M events, added when read). It holds 8 bytes per GROUP events and 9 per mark.

Its `axis` is the History's own TimeAxis over the samples: an event's time is taken as the newest
sample at or before it, so a column boundary may fall up to GROUP events off the whole History's
(a 1M-event run drawn 150 columns wide has ~6,700 events a column). Its marks are the store's
reading of the fold's rule, with one difference: a node reported FAILED twice is marked twice (the
fold counts only the first). The History's own axis and marks replace the outline's once folded.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta

from agenttui.store.envelope import normalize_timestamp

from .axis import TimeAxis
from .record import MARK_KINDS

__all__ = ["GROUP", "RunOutline"]

#: Consecutive events (by seq) summarised as one point of the time axis.
GROUP = 256

_EPOCH = datetime(1970, 1, 1)


def _micros(text: str | None) -> int:
    if not text:
        return 0
    try:
        return (datetime.fromisoformat(normalize_timestamp(text)[:26]) - _EPOCH) // timedelta(microseconds=1)
    except Exception:  # an odd stamp: no place of its own on the axis
        return 0


class RunOutline:
    """A run's slider geometry and trouble marks from the store (see the module docstring)."""

    def __init__(self, run_id: str, total: int, first_micros: int, newest: array,
                 marks: list[tuple[int, str]], group: int = GROUP) -> None:
        self.run_id = run_id
        self.total = total
        self.group = group
        self._first = first_micros
        self._newest = newest            # per group: the newest sampled timestamp so far (running max)
        self._mark_idx = array("q")
        self._mark_kind = array("B")
        self.set_marks(marks)
        self.axis = TimeAxis(self)

    @classmethod
    def load(cls, reader, run_id: str, *, group: int = GROUP, marks: bool = True) -> RunOutline | None:
        """The outline of `run_id` through an InspectorReader (None where the reader cannot tell:
        PostgreSQL, whose JSON functions differ; the slider then waits for the fold). marks=False
        leaves the marks for `load_marks` (the slider can draw the density first)."""
        samples = reader.slider_samples(run_id, group)
        if samples is None:
            return None
        total, stamps = samples
        newest = array("q")
        top = _micros(stamps[0]) if stamps else 0
        for stamp in stamps[:-1]:
            top = max(top, _micros(stamp))
            newest.append(top)
        if stamps:  # the last event's stamp closes the axis
            newest[-1] = max(newest[-1], _micros(stamps[-1]))
        outline = cls(run_id, total, _micros(stamps[0]) if stamps else 0, newest, [], group)
        if marks:
            outline.load_marks(reader)
        return outline

    def load_marks(self, reader) -> None:
        self.set_marks([(seq - 1, kind) for seq, kind in reader.trouble_marks(self.run_id)])

    def set_marks(self, marks: list[tuple[int, str]]) -> None:
        self._mark_idx = array("q", (i for i, _ in marks))
        self._mark_kind = array("B", (MARK_KINDS.index(k) for _, k in marks))

    # -------------------------------------------------------- what TimeAxis reads
    def __len__(self) -> int:
        return self.total

    def check_index(self, i: int) -> int:
        n = self.total
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"event index {i} is outside this run's 0..{n - 1}")
        return i

    def micros_at(self, i: int) -> int:
        return self._first if i == 0 else self.newest_micros_at(i)

    def newest_micros_at(self, i: int) -> int:
        g = min(i // self.group, len(self._newest) - 1)
        return self._newest[g] if g >= 0 else self._first

    # -------------------------------------------------------- trouble
    def marks(self) -> list[tuple[int, str]]:
        return [(i, MARK_KINDS[k]) for i, k in zip(self._mark_idx, self._mark_kind)]

    def mark_count(self) -> int:
        return len(self._mark_idx)

    def next_mark(self, i: int) -> int | None:
        k = bisect_right(self._mark_idx, i)
        return self._mark_idx[k] if k < len(self._mark_idx) else None

    def prev_mark(self, i: int) -> int | None:
        k = bisect_left(self._mark_idx, i)
        return self._mark_idx[k - 1] if k else None
