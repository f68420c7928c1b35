"""Numeric command-line options with their bounds, so an out-of-range number is a usage error.

argparse's `type=int` accepts any integer Python can hold; the first thing to choke on
`--days 1000000000` or `-n 99999999999999999999` used to be a timedelta or SQLite's 64-bit
integers, deep inside a command, as a traceback. These types refuse such values while parsing,
with the option's range in a one-line message (exit code 2).
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

from agenttui.terminal_text import escape_controls

__all__ = ["MAX_INT64", "MIN_INT64", "finite_float", "int_in", "int_or_all"]

#: SQLite's and PostgreSQL's largest integer: no count, position or limit can exceed it.
MAX_INT64 = 2 ** 63 - 1
MIN_INT64 = -(2 ** 63)


def _range(low: int, high: int) -> str:
    return f"from {low:,} to {high:,}"


def _parse_int(value: str, expected: str) -> int:
    try:
        return int(value)
    except ValueError:  # also a number of over 4,300 digits (Python's int() limit)
        raise argparse.ArgumentTypeError(f"expected {expected}, got {_shown(value)}") from None


def int_in(low: int, high: int = MAX_INT64, *, why: str = "") -> Callable[[str], int]:
    """An argparse type for a whole number from `low` to `high`; `why` explains the upper bound."""
    def parse(value: str) -> int:
        n = _parse_int(value, "a whole number")
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"must be {_range(low, high)}{f' ({why})' if why else ''}, "
                                             f"got {_shown(value)}")
        return n

    return parse


def int_or_all(low: int = 0, high: int = MAX_INT64) -> Callable[[str], "int | None"]:
    """Like `int_in`, or the word 'all' (returned as None)."""

    def parse(value: str) -> int | None:
        if value == "all":
            return None
        n = _parse_int(value, "a whole number or 'all'")
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"must be 'all' or {_range(low, high)}, got {_shown(value)}")
        return n

    return parse


def finite_float(low: float = 0.0) -> Callable[[str], float]:
    """An argparse type for a finite number >= `low` (float() would take 'nan', 'inf' and 1e400)."""

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {_shown(value)}") from None
        if not math.isfinite(x) or x < low:
            raise argparse.ArgumentTypeError(f"must be a finite number >= {low:g}, got {_shown(value)}")
        return x

    return parse


def _shown(value: str, limit: int = 40) -> str:
    shown = escape_controls(value, limit)
    return shown if len(value) <= limit else f"{shown} ({len(value):,} characters)"
