"""Slider geometry: where an event index sits along the run's time axis, and back.

The time slider cuts the run's time span into columns (buckets); these answer which column an
index falls in, which index a column or a fraction of the run means, and how many events each
column holds. Time is the newest timestamp so far at each index (the run's updated_at), so it
never goes backwards even when an agent's clock does; when time stands still the axis counts
events instead.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Protocol

__all__ = ["TimeAxis"]


class Timeline(Protocol):
    """What the axis reads of a run's events: a History, or the outline of one not folded yet."""

    def __len__(self) -> int: ...

    def check_index(self, i: int) -> int: ...

    def micros_at(self, i: int) -> int: ...

    def newest_micros_at(self, i: int) -> int: ...


class TimeAxis:
    """The time axis of one History (it reads the history's timestamps, never copies them)."""

    def __init__(self, history: Timeline) -> None:
        self._history = history

    def _span(self) -> tuple[int, int]:
        n = len(self._history)
        if n < 2:
            return 0, 0
        t0 = self._history.micros_at(0)
        return t0, self._history.newest_micros_at(n - 1) - t0

    def fraction_at(self, index: int) -> float:
        """Where event index sits along the run, 0.0 .. 1.0: by time, or by count if time stands still.

        Time is the newest timestamp so far (the run's updated_at), so it never goes backwards
        even when an agent's clock does.
        """
        index = self._history.check_index(index)
        t0, span = self._span()
        if span <= 0:
            n = len(self._history)
            return index / (n - 1) if n > 1 else 1.0
        return (self._history.newest_micros_at(index) - t0) / span

    def index_at_fraction(self, fraction: float) -> int:
        """The last event at or before `fraction` of the run (the state a user pointing there means)."""
        n = len(self._history)
        if n == 0:
            raise IndexError("the history is empty")
        fraction = min(1.0, max(0.0, fraction))
        t0, span = self._span()
        if span <= 0:
            return round(fraction * (n - 1))
        k = bisect_right(range(n), t0 + fraction * span, key=self._history.newest_micros_at)
        return max(0, k - 1)

    def bucket_of(self, index: int, buckets: int) -> int:
        """The bucket (slider column) of event index when the run is cut into `buckets` equal parts."""
        index = self._history.check_index(index)
        t0, span = self._span()
        if span <= 0:
            n = len(self._history)
            return min(buckets - 1, index * buckets // n)
        return min(buckets - 1, (self._history.newest_micros_at(index) - t0) * buckets // span)

    def index_at_bucket(self, bucket: int, buckets: int) -> int:
        """The last event in `bucket` or, if it has none, the last one before it (0 if none)."""
        n = len(self._history)
        if n == 0:
            raise IndexError("the history is empty")
        bucket = min(buckets - 1, max(0, bucket))
        t0, span = self._span()
        if span <= 0:
            return max(0, min(n - 1, -(-(bucket + 1) * n // buckets) - 1))
        # events of buckets <= b are those with (tmax - t0) * buckets < (b + 1) * span
        limit = t0 + -(-(bucket + 1) * span // buckets)
        k = bisect_left(range(n), limit, key=self._history.newest_micros_at) if bucket < buckets - 1 else n
        return max(0, k - 1)

    def bucket_bounds(self, buckets: int) -> list[int]:
        """Where each bucket starts: bucket b holds event indices bounds[b] .. bounds[b+1]-1.

        (buckets + 1 numbers, the last is len(self).) The slider maps many marks to columns with
        one C-level bisect each over these, instead of a `bucket_of` call per mark.
        """
        if buckets <= 0:
            raise ValueError(f"buckets must be positive, got {buckets}")
        n = len(self._history)
        if n == 0:
            return [0] * (buckets + 1)
        t0, span = self._span()
        bounds = [0]
        for b in range(1, buckets):
            if span <= 0:
                bounds.append(-(-b * n // buckets))
            else:
                bounds.append(bisect_left(range(n), t0 + -(-b * span // buckets), key=self._history.newest_micros_at))
        bounds.append(n)
        return bounds

    def density(self, buckets: int) -> list[int]:
        """Events per bucket when the run's time span is cut into `buckets` equal parts."""
        bounds = self.bucket_bounds(buckets)
        return [bounds[b + 1] - bounds[b] for b in range(buckets)]
