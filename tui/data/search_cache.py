"""The search index's full chunks, kept in the user's cache directory between sessions.

Why: building a 1M-event run's index takes seconds of CPU after every open, and until it is
built a search scans payloads. Events are immutable and positions never change, so a chunk of
blocks indexed once stays right for as long as the store file holds those events: the second
open of a file searches with the index from its first frame.

Where: `$XDG_CACHE_HOME/agenttui/search-index/` (default `~/.cache/...`; `AGENTTUI_CACHE_DIR`
overrides the root), never next to the store: the inspector opens a store read-only and writes
nothing beside it. One directory per (store file, run, block size, bits, chunk size), named by a hash of the
file's real path, device and inode and of the run id:

    meta.json        {"format", "run_id", "chunks", "events", "checks": [[position, event_id], ...]}
    first.npy last.npy  each block's first and last position (int64)
    chunk-000000.npy ...  CHUNK_BLOCKS blocks each, bit-major uint8 (mapped read-only when used)

Trust: a cache is used only while the store still holds, at each chunk's last position, the
event that was there when the chunk was written (one indexed lookup per chunk); a file replaced
by another (same name, other inode) gets another directory; anything unreadable or not matching
is dropped and rebuilt. Files are written to a temporary name and renamed, meta.json last, so
two inspectors on the same file, or a crash mid-write, leave a consistent cache (at worst one
chunk short). Only full chunks are kept: the tail of a run is re-indexed at each open (at most
CHUNK_BLOCKS blocks, a fraction of a second).

Size: 16 bytes of bitmap per event at the default block and bits (16 MB for a 1M-event run). The
cache keeps the most recently used directories up to `MAX_CACHE_BYTES` in all and deletes the
least recently used ones beyond it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

if TYPE_CHECKING:
    from .reader import InspectorReader

__all__ = ["IndexCache", "cache_root", "MAX_CACHE_BYTES", "FORMAT"]

log = logging.getLogger(__name__)

#: Bumped whenever what a chunk holds changes meaning (hashing, text folding, layout).
FORMAT = 1
#: All cached indexes together stay under this (least recently used directories go first).
MAX_CACHE_BYTES = 2 << 30


def cache_root() -> Path:
    """The directory every cached index lives under (see the module docstring)."""
    override = os.environ.get("AGENTTUI_CACHE_DIR")
    if override:
        return Path(override) / "search-index"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "agenttui" / "search-index"


class IndexCache:
    """One run's chunks in one cache directory."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id

    @classmethod
    def for_target(cls, target: str, run_id: str, *, block: int, bits: int, chunk: int) -> IndexCache | None:
        """The cache of `run_id` in the SQLite file `target` (None for a URL, or a file not found)."""
        if "://" in str(target):
            return None
        try:
            real = os.path.realpath(target)
            st = os.stat(real)
        except OSError:
            return None
        key = orjson.dumps([FORMAT, real, st.st_dev, st.st_ino, run_id, block, bits, chunk])
        return cls(cache_root() / hashlib.sha256(key).hexdigest()[:32], run_id)

    # ------------------------------------------------------------------ reading
    def load(self, reader: InspectorReader) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int] | None:
        """(chunks mapped read-only, first and last position of each block, events covered), or None
        when there is nothing usable (a cache that does not match the store is deleted)."""
        meta_path = self.directory / "meta.json"
        if not meta_path.exists():
            return None
        try:
            meta = orjson.loads(meta_path.read_bytes())
            if meta.get("format") != FORMAT or meta.get("run_id") != self.run_id:
                raise ValueError("another format or run")
            n_chunks = int(meta["chunks"])
            checks = meta["checks"]
            if len(checks) != n_chunks:
                raise ValueError("chunk checks missing")
            for position, event_id in checks:
                if reader.event_id_at(self.run_id, int(position)) != event_id:
                    raise ValueError(f"position {position} no longer holds event {event_id}")
            first = np.load(self.directory / "first.npy")
            last = np.load(self.directory / "last.npy")
            chunks = [np.load(self._chunk_path(k), mmap_mode="r") for k in range(n_chunks)]
            blocks = sum(c.shape[1] for c in chunks)
            if len(first) < blocks or len(last) < blocks:
                raise ValueError("block positions missing")
            first, last = first[:blocks], last[:blocks]
            if blocks and int(last[-1]) != int(checks[-1][0]):
                raise ValueError("block positions do not match the chunks")
            self._touch()
            return chunks, first, last, int(meta["events"])
        except Exception as exc:  # unreadable, truncated, another store's: rebuilt from the store
            log.info("search index cache %s not used (%s): rebuilding it", self.directory, exc)
            shutil.rmtree(self.directory, ignore_errors=True)
            return None

    # ------------------------------------------------------------------ writing
    def save_chunk(self, k: int, bitmaps: np.ndarray, first: np.ndarray, last: np.ndarray,
                   events: int) -> np.ndarray | None:
        """Write chunk k (and every block's positions up to its end); the chunk mapped read-only,
        or None when the cache cannot be written (the index then keeps the chunk in memory)."""
        try:
            meta_path = self.directory / "meta.json"
            checks: list = []
            meta: dict[str, Any] = orjson.loads(meta_path.read_bytes()) if k or meta_path.exists() else {"chunks": 0}
            if meta.get("chunks") != k or meta.get("format", FORMAT) != FORMAT:
                # another inspector's cache moved on: its chunk k when it holds these very blocks (two
                # inspectors opened at once); else left alone (the chunk stays in memory), or started
                # over at chunk 0
                same = self._same_chunk(k, meta, first, last)
                if same is not None or k:
                    return same
            elif k:
                checks = meta["checks"]
            self.directory.mkdir(parents=True, exist_ok=True)
            event_id = self._event_id
            if event_id is None:
                return None
            self._write(self._chunk_path(k), lambda f: np.save(f, np.ascontiguousarray(bitmaps)))
            self._write(self.directory / "first.npy", lambda f: np.save(f, first))
            self._write(self.directory / "last.npy", lambda f: np.save(f, last))
            checks = [*checks, [int(last[-1]), event_id(int(last[-1]))]]
            meta = {"format": FORMAT, "run_id": self.run_id, "chunks": k + 1, "events": events, "checks": checks}
            self._write(meta_path, lambda f: f.write(orjson.dumps(meta)))
            prune(cache_root(), keep=self.directory)
            return np.load(self._chunk_path(k), mmap_mode="r")
        except Exception as exc:  # a full disk, a read-only home: the index works from memory
            log.info("search index cache %s not written (%s)", self.directory, exc)
            return None

    def _same_chunk(self, k: int, meta: dict, first: np.ndarray, last: np.ndarray) -> np.ndarray | None:
        """Chunk k as another inspector wrote it, mapped, if its blocks start and end where these do."""
        if meta.get("format") != FORMAT or not isinstance(meta.get("chunks"), int) or meta["chunks"] <= k:
            return None
        theirs_first = np.load(self.directory / "first.npy", mmap_mode="r")
        theirs_last = np.load(self.directory / "last.npy", mmap_mode="r")
        n = len(first)
        if len(theirs_first) < n or len(theirs_last) < n:
            return None
        if not (np.array_equal(theirs_first[:n], first) and np.array_equal(theirs_last[:n], last)):
            return None
        return np.load(self._chunk_path(k), mmap_mode="r")

    def clear(self) -> None:
        """Drop what the directory holds (the index then rebuilds it from chunk 0)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    #: how the cache learns the event id at a chunk's last position (set by the index's builder,
    #: which holds a reader on its own thread); None: chunks are not written
    _event_id: Any = None

    def bind(self, reader: InspectorReader) -> None:
        self._event_id = lambda position: reader.event_id_at(self.run_id, position)

    def _chunk_path(self, k: int) -> Path:
        return self.directory / f"chunk-{k:06d}.npy"

    def _write(self, path: Path, write: Any) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _touch(self) -> None:
        try:
            os.utime(self.directory)
        except OSError:
            pass


def prune(root: Path, *, keep: Path | None = None, limit: int | None = None) -> None:
    """Delete the least recently used cache directories until the rest fit in `limit` bytes (a
    directory's mtime is its last use: `load` touches it, writing a chunk changes it)."""
    limit = MAX_CACHE_BYTES if limit is None else limit
    try:
        entries = []
        for d in root.iterdir():
            if d.is_dir():
                size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
                entries.append((d.stat().st_mtime, size, d))
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    for _, size, d in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if keep is not None and d == keep:
            continue
        shutil.rmtree(d, ignore_errors=True)
        total -= size
