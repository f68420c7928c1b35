"""One way to pause Python's cyclic garbage collector around work that makes many long-lived objects.

The bulk load, a snapshot's decode and the OTel span processor's drains each build hundreds of
thousands of containers that live until they finish; every collection meanwhile promotes them, and
the full collections that follow walk the whole heap again. None of that work makes cycles.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["collector_paused"]

_pause_lock = threading.Lock()
_pauses = 0  # drains under way in this process (several processors, or force_flush beside the writer)
_resume = False  # whether the collector was on when the first of them began


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a load, a decode or a drain runs, back on (if it was)
    when the last one under way in the process ends.

    A batch's events (an Event, its payload and the dicts in it: ~3 tracked objects each) all live
    until the batch commits, so each collection meanwhile promoted them to an older generation, and
    the full collections those promotions trigger walk every object of the process: 10-15 us of the
    ~55 us a span cost, measured with bench_otel (the store's bulk loads pause it for the same
    reason). The drain makes no cycles; cycles other threads make meanwhile are collected when it
    ends. A counter, not `gc.isenabled()` alone, so overlapping drains leave it as they found it.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
