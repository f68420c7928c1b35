"""Column types the history records into: compact, append-only, bisectable.

A 1M-event run is millions of recorded values: these keep them in `array` columns where values
are numbers (an int32 index and an int64 or list value per change), cost nothing while a column
only counts up by one (seqs; positions in a one-run file), and let the fold forget rows it has
not touched lately (`RowCache`, rebuilt from the history on demand).
"""
from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Any, Callable, Sequence
from weakref import WeakMethod

from agenttui.store.spill import Spill

__all__ = ["ChangeColumn", "CountingColumn", "NearColumn", "RowCache", "SmallCodes", "Spill", "record_offset", "widen"]


class ChangeColumn:
    """The changes of one run column: indices in an int array, values in an int32 array while they
    are all ints that fit (a run's counters, steps and nodes; token counts past 2**31 widen it to
    int64, see `widen`) or else a list. A 4M-event run records ~2M such changes: 8 MB less than
    int64 values."""

    __slots__ = ("initial", "idx", "vals")

    def __init__(self, initial: Any, ints: bool) -> None:
        self.initial = initial
        self.idx = array("i")
        self.vals: array | list = array("i") if ints else []

    def add(self, i: int, value: Any) -> None:
        vals = self.vals
        if type(vals) is array and type(value) is not int:  # (a bool would come back as 1)
            vals = self.vals = list(vals)
        try:
            vals.append(value)
        except OverflowError:  # past int32: int64, or a list past that (a huge count from a bad payload)
            self.vals = widen(vals, (value,))
        self.idx.append(i)

    def at(self, i: int) -> Any:
        k = bisect_right(self.idx, i)
        return self.vals[k - 1] if k else self.initial


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

    def __init__(self) -> None:
        self._bases = array("q")
        self._offsets = array("i")
        self._far: dict[int, int] = {}
        self._n = 0

    def append(self, value: int) -> None:
        n = self._n
        if not n % self.BLOCK:
            self._bases.append(value)
        offset = value - self._bases[n // self.BLOCK]
        if self._FAR < offset < (1 << 31):
            self._offsets.append(offset)
        else:
            self._offsets.append(self._FAR)
            self._far[n] = value
        self._n = n + 1

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> int:
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        offset = self._offsets[i]
        if offset == self._FAR:
            return self._far[i]
        return self._bases[i // self.BLOCK] + offset


class SmallCodes:
    """Codes (event types) in one byte each while there are at most 256 of them, then two."""

    __slots__ = ("codes",)

    def __init__(self) -> None:
        self.codes = array("B")

    def append(self, code: int) -> None:
        try:
            self.codes.append(code)
        except OverflowError:
            self.codes = array("H" if code < 1 << 16 else "l", self.codes)
            self.codes.append(code)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> int:
        return self.codes[i]
