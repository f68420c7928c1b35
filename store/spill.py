"""Bytes written once and read back by (offset, length), off the process's heap.

What the inspector holds of a big run but reads only a little at a time (the History's recorded
values, a replay window's compressed snapshot) is written to a temporary file in the user's cache
directory: its pages are the system's cache, not the process's RSS. Here in the store (which must
not import the TUI) so that a snapshot read by the store can use it too.
"""
from __future__ import annotations

import os
import tempfile
from array import array
from typing import Any

__all__ = ["PAGE_CACHE", "SPILL_BUFFER", "Pages", "Spill", "spill_dir"]


#: Bytes a Spill keeps in memory before it writes them to its file.
SPILL_BUFFER = 1 << 20


def spill_dir() -> str:
    """Where Spill files go: the user's cache directory (`AGENTTUI_CACHE_DIR` overrides, as for the
    search index), so that a big run's history is on disk, not in /tmp (often memory itself)."""
    override = os.environ.get("AGENTTUI_CACHE_DIR")
    base = override or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                    os.path.join(os.path.expanduser("~"), ".cache"), "agenttui")
    return os.path.join(base, "history")


class Spill:
    """Bytes written once and read back by (offset, length): the last SPILL_BUFFER bytes in memory,
    the rest in a temporary file (deleted as it is opened: gone with the process).

    What the History records of values and of the nodes it is done with is read a screenful at a
    time, so it need not be in the process's memory: the file's pages are the system's cache, not
    the inspector's RSS (a 1M-event run: ~30 MB; 4M: ~120 MB). A file that cannot be made or
    written keeps the rest in memory."""

    __slots__ = ("_fd", "_file", "_flushed", "_tail", "_memory", "_read", "_buffer")

    #: Reads from the file kept (the nodes on screen are read again every frame, a node's columns a
    #: few times a label): a label and status of a random node of a 100k-event run took 26 us read
    #: from the file each time, 12 us with these, 10 us all in memory.
    KEPT_READS = 1024

    def __init__(self, buffer: int | None = None) -> None:
        """buffer: bytes kept in memory before they are written (SPILL_BUFFER; 0: each put is
        written at once, for callers that buffer themselves, such as Pages)."""
        self._buffer = SPILL_BUFFER if buffer is None else buffer
        self._file: Any = None
        self._fd = -1
        self._flushed = 0          # bytes in the file
        self._tail = bytearray()   # the bytes after them
        self._memory = False       # no file: everything stays in _tail
        self._read: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return self._flushed + len(self._tail)

    def put(self, data: bytes | bytearray | memoryview) -> int:
        """Append `data`; its offset."""
        at = self._flushed + len(self._tail)
        if len(data) >= self._buffer and not self._memory:  # written as it is, not copied to the buffer first
            if self._tail:  # (a replay window's 10 MB snapshot: 10 MB less at its peak)
                self._flush()
            if not self._tail and self._write(data):
                return at
        self._tail += data
        if len(self._tail) >= self._buffer and not self._memory:
            self._flush()
        return at

    def get(self, at: int, n: int, *, keep: bool = True) -> bytes:
        """The `n` bytes put at `at`. keep=False: not kept among the reads from the file (bytes read
        once, such as a row its reader keeps parsed)."""
        flushed = self._flushed
        if at >= flushed:
            return bytes(self._tail[at - flushed:at - flushed + n])
        if at + n <= flushed:
            if n > 4096 or not keep:  # (a big node's columns: not kept, 1,024 of them could be gigabytes)
                return os.pread(self._fd, n, at)
            read = self._read
            data = read.get((at, n))
            if data is None:
                if len(read) >= self.KEPT_READS:
                    del read[next(iter(read))]
                data = read[(at, n)] = os.pread(self._fd, n, at)
            return data
        return os.pread(self._fd, flushed - at, at) + bytes(self._tail[:at + n - flushed])

    def _flush(self) -> None:
        if self._write(self._tail):
            self._tail = bytearray()

    def _write(self, data: bytes | bytearray | memoryview) -> bool:
        """Write `data` to the file after what is in it; False: no file could take it (kept in memory from now on)."""
        try:
            if self._file is None:
                self._file = _temporary_file()
                self._fd = self._file.fileno()
            view = memoryview(data)
            done = 0
            while done < len(view):
                done += os.pwrite(self._fd, view[done:], self._flushed + done)
        except OSError:
            self._memory = True  # (a full disk, a read-only cache: the rest stays in memory)
            return False
        self._flushed += len(view)
        return True


#: Bytes of pages a Pages keeps read (besides the one page each column holds on to).
PAGE_CACHE = 1 << 20


class Pages:
    """Pages of append-only columns, each written once to a Spill when its column has filled it,
    and read back through a small cache of the pages read last (least recently used goes first).

    A run's per-event columns (its event types, timestamps, the changes of its counters) grow with
    its length but are read a few values at a time (a slider step reads one value of each), so
    they need not be in the process's memory: at 4M events they were ~43 MB of it, now the pages
    read lately (PAGE_CACHE) and each column's last, unfilled page. The pages of many columns share
    one file and one cache budget. Where no file can be written, Spill keeps them in memory."""

    __slots__ = ("_spill", "_cache", "_held", "_budget")

    def __init__(self, budget: int | None = None) -> None:
        self._spill = Spill(buffer=0)  # (the columns buffer their last page themselves)
        self._cache: dict[int, array] = {}
        self._held = 0
        self._budget = PAGE_CACHE if budget is None else budget

    def put(self, page: array) -> int:
        """Write a full page; its offset (what `get` takes)."""
        return self._spill.put(memoryview(page).cast("B"))

    def get(self, at: int, count: int, typecode: str) -> array:
        """The page of `count` values of `typecode` put at `at` (shared: do not change it)."""
        cache = self._cache
        page = cache.pop(at, None)
        if page is None:
            page = array(typecode)
            page.frombytes(self._spill.get(at, count * page.itemsize, keep=False))
            self._held += count * page.itemsize
            while self._held > self._budget and cache:
                old = cache.pop(next(iter(cache)))
                self._held -= len(old) * old.itemsize
        cache[at] = page
        return page


def _temporary_file() -> Any:
    where = spill_dir()
    try:
        os.makedirs(where, exist_ok=True)
        return tempfile.TemporaryFile(dir=where, prefix="agenttui-history-")
    except OSError:
        return tempfile.TemporaryFile(prefix="agenttui-history-")
