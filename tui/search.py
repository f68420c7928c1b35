"""The inspector's search state: every match of the search shown, and the run's search index.

The search text itself is the inspector screen's `search_text` reactive (the status bar and the
search bar follow it); this object holds what the text has found so far and the pre-filter that
finds it, so that answering `n`/`N` and taking live events in is a method here, not scattered
over the screen.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, Iterable

from agenttui.store import Event

from .view_filter import payload_matches

if TYPE_CHECKING:  # numpy comes with the index, after the first paint
    from .data.search_index import SearchIndex

#: Live events a search scans past the search index before a worker extends it (~10 ms of LIKE).
INDEX_LAG = 4096


class Search:
    """What the current search found (`matches`, None while a worker still looks) and the run's
    payload index (SQLite targets), usable while its worker builds it."""

    def __init__(self) -> None:
        #: seqs of every matching event of the view, ascending (None: not all known yet)
        self.matches: array | None = None
        self.index: SearchIndex | None = None
        #: live events of the run since the index was last extended
        self.unindexed = 0

    def forget_index(self) -> None:
        """Another run (or a replaced file): the index's positions mean nothing any more."""
        self.index = None
        self.unindexed = 0

    def take_live(self, count: int) -> bool:
        """Count `count` live events of the run; True when the index should be extended now
        (it is idle and searches would scan more than INDEX_LAG events past it)."""
        self.unindexed += count
        index = self.index
        if index is not None and not index.building and self.unindexed >= INDEX_LAG:
            self.unindexed = 0
            return True
        return False

    def add_live_matches(self, text: str | None, events: Iterable[Event]) -> None:
        """Mark the live events (already in the view) that the search text matches."""
        if not text or self.matches is None:
            return
        needle = text.lower()
        for e in events:
            if e.seq is not None and payload_matches(e, needle):
                self.matches.append(e.seq)

    def match_index(self, seq: int | None) -> int | None:
        """Which match (0-based) `seq` is, if it is one."""
        matches = self.matches
        if matches is None or seq is None:
            return None
        i = bisect_left(matches, seq)
        return i if i < len(matches) and matches[i] == seq else None

    def next_match(self, seq: int, direction: int) -> int | None:
        """The match after (`direction` > 0) or before `seq`, wrapping around; None without matches."""
        matches = self.matches
        if not matches:
            return None
        if direction > 0:
            i = bisect_right(matches, seq)
            return matches[i] if i < len(matches) else matches[0]
        i = bisect_left(matches, seq) - 1
        return matches[i] if i >= 0 else matches[-1]
