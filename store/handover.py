"""One way to shorten the interpreter's switch interval while two threads share the GIL with SQLite.

The sqlite3 module releases the GIL around every statement step and takes it back to bind the next
row. If another thread is busy in Python meanwhile, taking it back waits for that thread to be
asked to drop it: a whole switch interval, 5 ms by default, for a step that took microseconds. So
a thread that alternates Python and SQLite runs at a fraction of its speed beside one that only
runs Python:
- the Recorder's flusher beside the agent's thread (~60 ms per batch at 5 ms, over its 50 ms promise);
- the inspector's workers beside its UI thread (the tree came 0.2-0.4 s late).

Uses nest and overlap across threads: a count, so the value the process had is restored when the
last one ends, and a shorter interval someone else set is never lengthened. (Each used to set and
restore it on its own: a Recorder flushing in the same process as the inspector put the
5 ms back under the running inspector when its flush ended.)

Measured and not used: a bulk load's writer thread beside the thread that parses and folds. That
thread holds the GIL ~14 us of every ~20 us an event and the writer ~5, so the load is bound by
the Python side; a 300k-event import A/B at 0.5 ms was within the noise (0.59x vs 0.56x bare).
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["HANDOVER_INTERVAL", "quick_handover", "hold", "release"]

#: Switch interval (seconds) while a handover is held: hand-overs cost a few tenths of a millisecond.
HANDOVER_INTERVAL = 0.0005

_lock = threading.Lock()
_users = 0
_saved = 0.005  # the interval the process had when the first of the current users began


def hold() -> None:
    """Start a use (see the module docstring); pair with `release`."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = sys.getswitchinterval()
            if _saved > HANDOVER_INTERVAL:
                sys.setswitchinterval(HANDOVER_INTERVAL)
        _users += 1


def release() -> None:
    """End a use; the last one restores the process's own interval."""
    global _users
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0:
            sys.setswitchinterval(_saved)


@contextmanager
def quick_handover() -> Iterator[None]:
    """The switch interval at HANDOVER_INTERVAL (or shorter, if it was) for the block."""
    hold()
    try:
        yield
    finally:
        release()
