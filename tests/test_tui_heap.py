"""tui/history/heap.py: with the mmap threshold fixed, blocks bigger than it freed between live
ones go back to the system at once; with glibc's own adjustment (after one big block was freed)
they stay resident until a trim. Each side runs in a fresh process, since the setting is
process-wide."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from agenttui.tui.history import heap

_PROBE = textwrap.dedent("""
    import json, sys
    from agenttui.tui.history import heap

    def anon_kb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon"):
                return int(line.split()[1])

    fixed = heap.keep_big_blocks_mapped() if sys.argv[1] == "fixed" else None
    big = bytearray(16 << 20)  # a big transient (a snapshot header inflated) ...
    del big                    # ... freed: glibc's own threshold rises to its size
    blocks = [bytearray(300 << 10) for _ in range(120)]  # 36 MB of blocks above 128 KB, each touched
    before = anon_kb()
    del blocks[::2]  # every other one freed, between live ones
    print(json.dumps({"fixed": fixed, "released_mb": (before - anon_kb()) / 1024}))
""")


def _released(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(heap._MALLOPT is None, reason="glibc only: elsewhere keep_big_blocks_mapped does nothing")
def test_blocks_freed_between_live_ones_go_back_with_the_threshold_fixed() -> None:
    fixed, adjusted = _released("fixed"), _released("adjusted")
    assert fixed["fixed"] is True
    assert fixed["released_mb"] > 14, fixed        # (18 MB freed: each block was a mapping of its own)
    assert adjusted["released_mb"] < 4, adjusted    # (the blocks came from the arena: their holes stay)


def test_it_is_a_no_op_where_there_is_no_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_MALLOPT", None)
    assert heap.keep_big_blocks_mapped() is False
