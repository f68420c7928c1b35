"""Resizing and quitting leave no lines on the shell screen (issue 14.8): the inspector run in a real
pseudo-terminal draws only inside the alternate screen, and q, Ctrl-C and SIGTERM all leave it."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from tui_support import make_db

ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"


class Terminal:
    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a terminal of its own, Ctrl-C and SIGTERM at their defaults
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.environ["TERM"] = "xterm-256color"
            os.execvp(argv[0], argv)
        self.output = b""
        self.resize(24, 80)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)

    def read_until(self, marker: bytes, timeout: float = 60.0) -> bool:
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while marker not in self.output[start:] and time.monotonic() < deadline:
            if not self._read(0.05):
                break
        return marker in self.output[start:]

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if ready:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                return False
            if not data:
                return False
            self.output += data
        return True

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.01):
                    pass
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the inspector did not exit")


@pytest.mark.parametrize("how", ["q", "ctrl+c", "sigterm"])
def test_resizing_and_quitting_leave_nothing_on_the_shell_screen(tmp_path: Path, how: str) -> None:
    db = make_db(tmp_path / "run.db")
    term = Terminal([sys.executable, "-m", "agenttui", "open", str(db)])
    assert term.read_until(b"Quit"), "the inspector drew its footer"
    for rows, cols in ((45, 160), (20, 70), (24, 80)):
        term.resize(rows, cols)
        assert term.read_until(b"\x1b"), "the inspector redrew at the new size"
    if how == "sigterm":
        os.kill(term.pid, signal.SIGTERM)
    else:
        os.write(term.fd, b"q" if how == "q" else b"\x03")
    assert term.wait() == 0
    out = term.output
    assert out.startswith(ALT_ON), f"nothing before the alternate screen: {out[:200]!r}"
    after = out[out.rindex(ALT_OFF) + len(ALT_OFF):]
    printable = bytes(b for b in after.replace(b"\x1b[", b"") if 0x20 <= b < 0x7f and not chr(b).isdigit()
                      and chr(b) not in "?;hl")
    assert printable == b"", f"after leaving the alternate screen only mode resets: {after!r}"
