"""Column types the history records into: compact, append-only, bisectable.

A 1M-event run is millions of recorded values: these keep them in `array` columns where values
are numbers (an int32 index and an int64 or list value per change), keep the ones that grow with
the run's events in pages on disk (`PagedColumn`: the run's memory stays flat as it gets longer),
cost nothing while a column only counts up by one (seqs; positions in a one-run file), and let the
fold forget rows it has not touched lately (`RowCache`, rebuilt from the history on demand).
"""
from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Any, Callable, Sequence
from weakref import WeakMethod

from agenttui.store.spill import Pages, Spill

__all__ = ["ChangeColumn", "CountingColumn", "NearColumn", "PAGE_BYTES", "PagedColumn", "Pages", "RowCache",
           "SmallCodes", "Spill", "record_offset", "widen"]


class ChangeColumn:
    """The changes of one run column: indices in an int32 column, values in an int32 column while
    they are all ints that fit (a run's counters, steps and nodes; token counts past 2**31 widen it
    to int64) or else a list (in memory: only odd payloads make one). A 4M-event run records ~2M
    such changes: both columns are paged (PagedColumn), ~16 MB of memory less at 4M events."""

    __slots__ = ("initial", "idx", "vals")

    def __init__(self, initial: Any, ints: bool, pages: Pages | None = None) -> None:
        self.initial = initial
        pages = pages if pages is not None else Pages()
        self.idx = PagedColumn("i", pages)
        self.vals: PagedColumn | list = PagedColumn("i", pages) if ints else []

    def add(self, i: int, value: Any) -> None:
        vals = self.vals
        if type(value) is int and not isinstance(vals, list):
            try:
                vals._tail.append(value)  # (PagedColumn.append inlined: the fold's case, ~2M at 4M events)
            except OverflowError:
                try:
                    vals.append(value)  # (widens)
                except OverflowError:  # past int64 (a huge count from a bad payload)
                    self.vals = [*vals.tolist(), value]
        elif isinstance(vals, list):
            vals.append(value)
        else:  # (a bool would come back as 1)
            self.vals = [*vals.tolist(), value]
        self.idx._tail.append(i)  # (an event index: int32, as a History's events are fewer than 2**31)

    def settle(self) -> None:
        """Write out the full pages (see PagedColumn.settle)."""
        self.idx.settle()
        if not isinstance(self.vals, list):
            self.vals.settle()

    def at(self, i: int) -> Any:
        k = self.idx.bisect_right(i)
        return self.vals[k - 1] if k else self.initial


#: The typecodes a PagedColumn widens through, narrowest first.
_WIDTHS = ("B", "H", "i", "q")

#: Bytes of a PagedColumn's page at its first width.
PAGE_BYTES = 1 << 14


class PagedColumn:
    """An append-only int column whose full pages are in a Pages file, not in the process's memory.

    Appends go to the last page, in memory; the full ones are written out by `settle` (called by
    whoever appends, every few thousand values: a check per batch, not per value, which the fold
    of a 4M-event run would feel) and read back through the Pages' small cache (each column also
    holds on to the page it read last: a slider step reads values next to the last ones). An
    ascending column bisects through the first value of each page (in memory) and then one page.
    A value that does not fit widens the column (uint8, uint16, int32, int64) from the last page
    on: the pages written keep their width, so widening costs a page, not the column. A 4M-event
    run's per-event columns were ~43 MB in arrays.
    """

    __slots__ = ("_pages", "_tail", "_per", "_out", "_at", "_codes", "_firsts", "_k", "_page")

    def __init__(self, typecode: str, pages: Pages | None = None) -> None:
        self._pages = pages if pages is not None else Pages()
        self._tail = array(typecode)
        self._per = max(1, PAGE_BYTES // self._tail.itemsize)  # values a page (each page's, at any width)
        self._out = 0                 # values written out (those before the tail)
        self._at = array("q")         # each written page's offset in the file ...
        self._codes = bytearray()     # ... its typecode ...
        self._firsts = array("q")     # ... and its first value (the sparse index bisects go through)
        self._k = -1                  # the page read last, and its values
        self._page: array | None = None

    @property
    def typecode(self) -> str:
        """The width values appended now are kept in (the pages written keep theirs)."""
        return self._tail.typecode

    def append(self, value: int) -> None:
        try:
            self._tail.append(value)
        except OverflowError:
            self._widen(value)

    def _widen(self, value: int) -> None:
        for typecode in _WIDTHS[_WIDTHS.index(self._tail.typecode) + 1:]:
            try:
                wider = array(typecode, self._tail)
                wider.append(value)
            except OverflowError:
                continue
            self._tail = wider
            return
        raise OverflowError(f"{value} does not fit in int64")

    def settle(self) -> None:
        """Write out the full pages of what was appended since the last call."""
        tail, per = self._tail, self._per
        full = len(tail) - len(tail) % per
        if not full:
            return
        put, code = self._pages.put, ord(tail.typecode)
        for start in range(0, full, per):
            self._at.append(put(tail[start:start + per]))
            self._codes.append(code)
            self._firsts.append(tail[start])
        self._out += full
        del tail[:full]

    def __len__(self) -> int:
        return self._out + len(self._tail)

    def __getitem__(self, i: int) -> int:
        if i < 0:
            i += self._out + len(self._tail)
            if i < 0:
                raise IndexError("column index out of range")
        r = i - self._out
        if r >= 0:
            return self._tail[r]  # (IndexError past the end)
        k, r = divmod(i, self._per)
        if k != self._k:
            return self._read(k)[r]
        return self._page[r]  # type: ignore[index]

    def span(self, k: int) -> tuple[int, int]:
        """(value k - 1, or 0 for k = 0; value k): where the k-th of values laid end to end starts
        and ends, in one call (the fold reads the arena's recent values' ends for every shared
        small dict it meets)."""
        r = k - self._out
        if r > 0:
            tail = self._tail
            return tail[r - 1], tail[r]
        return (self[k - 1] if k else 0), self[k]

    def _read(self, k: int) -> array:
        page = self._page = self._pages.get(self._at[k], self._per, chr(self._codes[k]))
        self._k = k
        return page

    def bisect_right(self, value: int) -> int:
        """How many values are <= value (the column is ascending)."""
        firsts, tail = self._firsts, self._tail
        k = bisect_right(firsts, value)  # the pages that start at or before value
        if k == len(firsts) and tail and tail[0] <= value:
            return k * self._per + bisect_right(tail, value)
        if not k:
            return 0
        k -= 1
        page = self._page if k == self._k else self._read(k)
        return k * self._per + bisect_right(page, value)  # type: ignore[arg-type]

    def tolist(self) -> list[int]:
        """Every value, the pages read in order (once)."""
        values: list[int] = []
        for k in range(len(self._at)):
            values.extend(self._pages.get(self._at[k], self._per, chr(self._codes[k])))
        values.extend(self._tail)
        return values


def widen(values: array | list, more: tuple) -> array | list:
    """`values` + `more` in the narrowest of int32, int64 or a list that holds them all."""
    widths = ("i", "q")
    start = widths.index(values.typecode) if isinstance(values, array) and values.typecode in widths else 2
    for typecode in widths[start:]:
        try:
            return array(typecode, list(values) + list(more))
        except OverflowError:
            continue
    return list(values) + list(more)


class RowCache(dict):
    """The fold's node or edge rows: only the ones it touched lately are held as dicts.

    A row the fold asks for again after it was evicted is rebuilt from the history (which is
    exact at every index, so the rebuilt row equals the one the fold let go). A 1M-event run has
    ~60k nodes: as dicts they cost ~2 KB each on top of their history.

    The rebuild method is held weakly: a History holding its own bound method is a reference
    cycle, which only the cyclic collector frees, and the inspector freezes the collector's view of
    the heap while it folds a run (gc.freeze): every replay window dropped after that was kept for
    good (a late window of a 1M-event run with its snapshot: ~60 MB each).
    """

    __slots__ = ("_rebuild",)

    def __init__(self, rebuild: Callable[[Any], dict[str, Any] | None]) -> None:
        super().__init__()
        self._rebuild = WeakMethod(rebuild)

    def _row(self, key: Any) -> dict[str, Any] | None:
        rebuild = self._rebuild()
        return rebuild(key) if rebuild is not None else None

    def __missing__(self, key: Any) -> dict[str, Any]:
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        self[key] = row
        return row

    def get(self, key: Any, default: Any = None) -> Any:
        row = dict.get(self, key)
        if row is None:
            row = self._row(key)
            if row is None:
                return default
            self[key] = row
        return row


class CountingColumn:
    """An int64 column that costs nothing while it counts up by one (a run's seqs 1, 2, 3...; its
    positions in a one-run file): the array is made only when a value breaks the count."""

    __slots__ = ("start", "n", "values")

    def __init__(self) -> None:
        self.start = 0
        self.n = 0
        self.values: array | None = None

    def append(self, value: int) -> None:
        if self.values is not None:
            self.values.append(value)
        elif self.n and value == self.start + self.n:
            self.n += 1
        elif not self.n:
            self.start, self.n = value, 1
        else:
            self.values = array("q", range(self.start, self.start + self.n))
            self.values.append(value)

    def __len__(self) -> int:
        return self.n if self.values is None else len(self.values)

    def __getitem__(self, i: int) -> int:
        if self.values is not None:
            return self.values[i]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.start + i

    def bisect_right(self, value: int) -> int:
        """How many values are <= value (the column is ascending)."""
        if self.values is not None:
            return bisect_right(self.values, value)
        return min(self.n, max(0, value - self.start + 1))


def record_offset(values: Sequence[int], stride: int, i: int) -> int:
    """Offset of the last record at or before index i in a column of `stride`-int records, each
    starting with its event index (a node's first record is where it was born, so one exists)."""
    n = len(values) // stride
    if n == 1 or values[stride] > i:
        return 0
    return (bisect_right(range(n), i, key=lambda r: values[r * stride]) - 1) * stride




class NearColumn:
    """An int64 column of values near each other (a run's event timestamps in microseconds) in 4
    bytes a value: each block of BLOCK values is an int64 base (its first value) and int32
    offsets from it; a value more than ~35 minutes off its block's base is kept in a dict. At 8
    bytes a value, a 4M-event run's timestamps alone were 32 MB."""

    __slots__ = ("_bases", "_offsets", "_far", "_n")

    BLOCK = 4096
    _FAR = -(1 << 31)  # (an offset slot whose value is in _far)

    def __init__(self, pages: Pages | None = None) -> None:
        self._bases = array("q")
        self._offsets = PagedColumn("i", pages)  # (the bases are one in 4096 values: in memory)
        self._far: dict[int, int] = {}
        self._n = 0

    def append(self, value: int) -> None:
        n = self._n
        if not n % self.BLOCK:
            self._bases.append(value)
        offset = value - self._bases[n // self.BLOCK]
        if not self._FAR < offset < (1 << 31):
            self._far[n] = value
            offset = self._FAR
        self._offsets._tail.append(offset)  # (PagedColumn.append inlined: the fold appends one an event)
        self._n = n + 1

    def settle(self) -> None:
        """Write out the full pages (see PagedColumn.settle)."""
        self._offsets.settle()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> int:
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        offsets = self._offsets  # (the last page's values read here: the fold reads its events' own)
        offset = offsets._tail[i - offsets._out] if i >= offsets._out else offsets[i]
        if offset == self._FAR:
            return self._far[i]
        return self._bases[i // self.BLOCK] + offset


class SmallCodes(PagedColumn):
    """Codes (event types) in one byte each while there are at most 256 of them, then wider."""

    __slots__ = ()

    def __init__(self, pages: Pages | None = None) -> None:
        super().__init__("B", pages)
