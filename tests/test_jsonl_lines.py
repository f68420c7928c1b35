"""The import's line reader: chunked reads must give exactly the physical lines, whatever the chunk
boundaries, and drop over-long lines without holding them."""
from __future__ import annotations

import io

import pytest

from agenttui.store import jsonl


def _expected(data: bytes, limit: int) -> list[tuple[bytes | None, int]]:
    out: list[tuple[bytes | None, int]] = []
    pieces = data.split(b"\n")
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        if last and not piece:
            break
        size = len(piece) + (0 if last else 1)
        out.append((None if len(piece) > limit else piece, size))
    return out


SAMPLES = [
    b"",
    b"\n",
    b"a\nbb\nccc\n",
    b"a\nbb\nccc",  # no final line feed
    b"\n\n\nx\n\n",
    b"short\n" + b"L" * 40 + b"\nafter\n",  # one over-long line between two good ones
    b"L" * 40,  # an over-long last line without a line feed
    b"ok\r\n" + b"x" * 12 + b"\r\nend",
    b"".join(b"line %d\n" % i for i in range(200)),
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 16, 1 << 20])
@pytest.mark.parametrize("data", SAMPLES)
def test_lines_match_the_physical_lines_at_any_chunk_size(monkeypatch, data, chunk):
    monkeypatch.setattr(jsonl, "READ_CHUNK", chunk)
    got = list(jsonl._lines(io.BytesIO(data), 20))
    assert got == _expected(data, 20)
    assert sum(size for _, size in got) == len(data)  # progress counts every byte once


class _Pipe:
    """A source with `read` only, returning a few bytes per call (like a slow pipe)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.at = data, step, 0

    def read(self, n: int) -> bytes:
        out = self.data[self.at:self.at + min(n, self.step)]
        self.at += len(out)
        return out


def test_lines_from_a_source_without_read1():
    data = b"".join(b'{"n": %d}\n' % i for i in range(50)) + b"tail"
    assert list(jsonl._lines(_Pipe(data, 3), 100)) == _expected(data, 100)
