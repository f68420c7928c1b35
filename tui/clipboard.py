"""Whether a copy (`y`, sent to the terminal as OSC 52) can reach the user's clipboard.

The inspector cannot see the clipboard; it can only tell when a known layer in between drops the
sequence. tmux does unless its `set-clipboard` option is `on` (`external` lets only tmux itself set
the outer clipboard; `off` keeps nothing), so inside tmux the copy asks tmux and says so.
"""
from __future__ import annotations

import os
import subprocess

__all__ = ["clipboard_warning"]


def clipboard_warning(environ: dict[str, str] | None = None) -> str | None:
    """A sentence for the user when the copy may not arrive, else None."""
    env = os.environ if environ is None else environ
    if not env.get("TMUX"):
        return None
    fix = "tmux set -g set-clipboard on"
    try:
        done = subprocess.run(["tmux", "show", "-gv", "set-clipboard"], capture_output=True, text=True,
                              timeout=2, env=dict(env))
    except (OSError, subprocess.SubprocessError):
        return f"inside tmux, which could not be asked about set-clipboard: the copy may not arrive ({fix})"
    value = done.stdout.strip()
    if done.returncode != 0 or not value:
        return f"inside tmux, which could not be asked about set-clipboard: the copy may not arrive ({fix})"
    if value == "on":
        return None
    return f"tmux set-clipboard is {value}: the copy may not reach your clipboard ({fix})"
