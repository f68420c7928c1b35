"""Bytes written once and read back by (offset, length), off the process's heap.

What the inspector holds of a big run but reads only a little at a time (the History's recorded
values, a replay window's compressed snapshot) is written to a temporary file in the user's cache
directory: its pages are the system's cache, not the process's RSS. Here in the store (which must
not import the TUI) so that a snapshot read by the store can use it too.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

__all__ = ["SPILL_BUFFER", "Spill", "spill_dir"]


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

    __slots__ = ("_fd", "_file", "_flushed", "_tail", "_memory", "_read")

    #: Reads from the file kept (the nodes on screen are read again every frame, a node's columns a
    #: few times a label): a label and status of a random node of a 100k-event run took 26 us read
    #: from the file each time, 12 us with these, 10 us all in memory.
    KEPT_READS = 1024

    def __init__(self) -> None:
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
        if len(data) >= SPILL_BUFFER and not self._memory:  # written as it is, not copied to the buffer first
            if self._tail:  # (a replay window's 10 MB snapshot: 10 MB less at its peak)
                self._flush()
            if not self._tail and self._write(data):
                return at
        self._tail += data
        if len(self._tail) >= SPILL_BUFFER and not self._memory:
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


def _temporary_file() -> Any:
    where = spill_dir()
    try:
        os.makedirs(where, exist_ok=True)
        return tempfile.TemporaryFile(dir=where, prefix="agenttui-history-")
    except OSError:
        return tempfile.TemporaryFile(prefix="agenttui-history-")
