"""Giving the C heap's free pages back to the system while the inspector folds a run.

The inspector's workers (the fold, replay windows, the search index) each allocate from their own
glibc arena, and what a worker frees in the middle of an arena (a decoded snapshot's 64 MB of
text, a batch of events, a closed connection's page cache) stays resident: glibc returns only the
free memory at the top of an arena on its own. On a 1M-event run that was ~100 MB of the
inspector's RSS once the run was folded. `malloc_trim(0)` hands every free page of every arena
back (a few milliseconds); the fold and the windows call it after their big transients.
Elsewhere than glibc (macOS, musl) there is no such call and this does nothing.

glibc also raises its mmap threshold (blocks above it get pages of their own, unmapped when freed)
to the size of any mapped block freed: after the first big transient (a snapshot header inflated,
a batch of rows) every block up to that size comes from the arenas instead, where blocks freed
between live ones stay resident until a trim, and the next transient lands elsewhere again. The
inspector fixes the threshold at glibc's starting 128 KB (`keep_big_blocks_mapped`, which turns
that adjustment off): peak RSS 1M events 106-111 -> 98 MB, 4M 153 -> 136 MB, the fold's time
unchanged.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any, Callable

__all__ = ["keep_big_blocks_mapped", "release_free_memory"]

#: mallopt's M_MMAP_THRESHOLD, and the threshold the inspector keeps (glibc's starting value).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def _glibc(name: str) -> Callable[..., Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # (no glibc: musl has no malloc_trim)
        return None


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt") if _TRIM is not None else None  # (musl has a mallopt that does nothing)


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; False where the platform cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def keep_big_blocks_mapped() -> bool:
    """Fix glibc's mmap threshold (see the module docstring) for this process; False where the
    platform cannot. Process-wide: the inspector calls it as it starts."""
    if _MALLOPT is None:
        return False
    return bool(_MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
