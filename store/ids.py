"""Event ids: UUIDv7, time-ordered, so every writer appends to the right edge of the unique index.

One generator for the whole process (the store's `new_event_id`, the Recorder's stamps). Its random
bits come from a PRNG seeded from os.urandom, not from os.urandom per id: that system call releases
the GIL, and a thread getting it back while another thread is busy (the Recorder's flusher folding
a batch) waits up to the interpreter's switch interval per id. A 128-bit seed keeps ids unique
across processes; a forked child reseeds, so parent and child never draw the same bits.
"""
from __future__ import annotations

import os
import random
import threading
import time

__all__ = ["new_event_id", "uuid7_at"]


class _Uuid7:
    """Monotonic within the process: ids of the same millisecond count up (RFC 9562, method 1)."""

    __slots__ = ("lock", "rng", "last_ms", "counter")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(os.urandom(16))
        self.last_ms = 0
        self.counter = 0

    def reseed(self) -> None:
        self.lock = threading.Lock()  # a lock held by another thread at fork stays held in the child
        self.rng.seed(os.urandom(16))

    def at(self, ns: int) -> str:
        """The next id for a clock reading of `ns` nanoseconds since the epoch."""
        with self.lock:
            ms = ns // 1_000_000
            if ms <= self.last_ms:
                ms = self.last_ms
                counter = self.counter + 1
                if counter >= 1 << 12:
                    ms += 1
                    counter = 0
            else:
                counter = self.rng.getrandbits(10)
            self.last_ms, self.counter = ms, counter
            rand = self.rng.getrandbits(62)
        h = f"{(ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_source = _Uuid7()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_source.reseed)

#: uuid7_at(ns): the next id for a clock reading the caller already took (it also stamps the time).
uuid7_at = _source.at


def new_event_id() -> str:
    """A new UUIDv7 (see the module docstring)."""
    return _source.at(time.time_ns())
