"""Giving the C heap's free pages back to the system while the inspector folds a run.

The inspector's workers (the fold, replay windows, the search index) each allocate from their own
glibc arena, and what a worker frees in the middle of an arena (a decoded snapshot's 64 MB of
text, a batch of events, a closed connection's page cache) stays resident: glibc returns only the
free memory at the top of an arena on its own. On a 1M-event run that was ~100 MB of the
inspector's RSS once the run was folded. `malloc_trim(0)` hands every free page of every arena
back (a few milliseconds); the fold and the windows call it after their big transients.
Elsewhere than glibc (macOS, musl) there is no such call and this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any, Callable

__all__ = ["release_free_memory"]


def _malloc_trim() -> Callable[[int], Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # (no glibc: musl has no malloc_trim)
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; False where the platform cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
