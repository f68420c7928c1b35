"""Capturing arbitrary Python values as small, JSON-safe payload fields (for the Recorder).

An instrumented function can receive or return anything: sockets, DataFrames, objects whose
`__repr__` raises, NaN, cyclic lists, a 50 MB string. Recording must never fail the agent and never
produce a payload the store would refuse, so every captured value goes through here first.
"""
from __future__ import annotations

import math
import reprlib
from typing import Any

import orjson

#: Longest string kept inside a captured value (arguments, results, extra fields).
MAX_STRING = 2000
#: Items kept from one list/dict/set; the rest are counted, not stored.
MAX_ITEMS = 50
#: Nesting kept before a branch is replaced by its summary.
MAX_DEPTH = 6
#: Longest one-line summary (`args_summary`, `result_summary`).
MAX_SUMMARY = 300

_INT_LIMIT = 1 << 63


class _SafeRepr(reprlib.Repr):
    """reprlib with tighter limits and a fallback for objects whose repr raises."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 120
        self.maxother = 120
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = 8
        self.maxdict = 8

    def repr_instance(self, obj: Any, level: int) -> str:
        try:
            text = repr(obj)
        except Exception:
            return f"<{_type_name(obj)} object (repr failed)>"
        if len(text) > self.maxother:
            half = (self.maxother - 3) // 2
            text = text[:half] + "..." + text[len(text) - half:]
        return text


_repr = _SafeRepr()


def _type_name(obj: Any) -> str:
    t = type(obj)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def short_repr(value: Any) -> str:
    """A bounded one-line repr that never raises."""
    try:
        text = _repr.repr(value)
    except Exception:  # reprlib itself can trip over exotic containers
        text = f"<{_type_name(value)} object>"
    return clip(text.replace("\n", "\\n"), MAX_SUMMARY)


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


def jsonable(value: Any, *, max_string: int = MAX_STRING, max_items: int = MAX_ITEMS,
             max_depth: int = MAX_DEPTH) -> Any:
    """A JSON-safe copy of `value`, bounded in size; unknown objects become their short repr."""
    return _jsonable(value, max_string, max_items, max_depth, set())


def _jsonable(value: Any, max_string: int, max_items: int, depth: int, seen: set[int]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if len(value) <= max_string else clip(value, max_string)
    if isinstance(value, int):
        return value if -_INT_LIMIT <= value < _INT_LIMIT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if depth <= 0:
            return short_repr(value)
        key = id(value)
        if key in seen:
            return f"<cycle: {_type_name(value)}>"
        seen.add(key)
        try:
            if isinstance(value, dict):
                out: dict[str, Any] = {}
                for i, (k, v) in enumerate(value.items()):
                    if i >= max_items:
                        out["\u2026"] = f"{len(value) - max_items} more keys"
                        break
                    name = k if isinstance(k, str) else short_repr(k)
                    out[name] = _jsonable(v, max_string, max_items, depth - 1, seen)
                return out
            items = list(value) if isinstance(value, (set, frozenset)) else value
            lst = [_jsonable(v, max_string, max_items, depth - 1, seen) for v in items[:max_items]]
            if len(items) > max_items:
                lst.append(f"\u2026 {len(items) - max_items} more items")
            return lst
        finally:
            seen.discard(key)
    return short_repr(value)


#: Longest rendering of one argument inside `args_summary`.
MAX_BRIEF = 80
_PLAIN = (int, float, bool, type(None))
_MISSING = object()


def brief(value: Any, limit: int = MAX_BRIEF) -> str:
    """A short rendering of one value already made JSON-safe by `jsonable` (repr for text and numbers,
    compact JSON for containers: orjson is far cheaper than reprlib on the hot path)."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit - 3] + "...")
    if isinstance(value, _PLAIN):
        return repr(value)
    try:
        return clip(orjson.dumps(value).decode(), limit)
    except (TypeError, orjson.JSONEncodeError):
        return clip(short_repr(value), limit)


def summary(value: Any, captured: Any = _MISSING) -> str:
    """One bounded line for a result; `captured` is its `jsonable` form when already computed."""
    if isinstance(value, str):
        text = value if len(value) <= MAX_SUMMARY * 2 else value[: MAX_SUMMARY * 2]
        return clip(" ".join(text.split()), MAX_SUMMARY)
    if isinstance(value, _PLAIN):
        return repr(value)
    if captured is _MISSING:
        captured = jsonable(value)
    return brief(captured, MAX_SUMMARY)


def args_summary(arguments: dict[str, Any]) -> str:
    """`name=value, ...` in one bounded line (the shape of the recursive agent's tool events), from
    arguments already made JSON-safe by `jsonable`."""
    return clip(", ".join(f"{name}={brief(value)}" for name, value in arguments.items()), MAX_SUMMARY)


def scrub_surrogates(value: Any) -> Any:
    """`value` with lone surrogates (from undecodable bytes, e.g. os.fsdecode of a bad file name)
    written as visible `\\udcff` escapes, so UTF-8 JSON can hold it. Only the retry path pays."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_surrogates(v) for v in value]
    return value


def error_message(exc: BaseException) -> str:
    """The exception's message, never raising even if its __str__ does."""
    try:
        return clip(str(exc), MAX_STRING)
    except Exception:
        return "<str() of the exception failed>"


def error_text(exc: BaseException) -> str:
    """`Type: message` in one string (tool and LLM errors), never raising."""
    msg = error_message(exc)
    name = type(exc).__name__
    return clip(f"{name}: {msg}" if msg else name, MAX_STRING)
