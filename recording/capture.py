"""Capturing arbitrary Python values as small, JSON-safe payload fields (for the Recorder).

An instrumented function can receive or return anything: sockets, DataFrames, objects whose
`__repr__` raises, NaN, cyclic lists, a 50 MB string. Recording must never fail the agent and never
produce a payload the store would refuse, so every captured value goes through here first.

Structured values keep their structure: pydantic models (`model_dump`) and dataclasses become JSON
objects, because a cut repr of a message list is unreadable and unqueryable. Framework context
objects (pydantic-ai's RunContext and its kin) are never captured: they carry the agent's
dependencies, often clients holding secrets. They are recognised by class name and module, so
no framework has to be imported to know them.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
import reprlib
import uuid
from pathlib import PurePath
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


#: Framework objects handed to tools as context: (module prefix, class name). Subclasses count too.
CONTEXT_CLASSES: frozenset[tuple[str, str]] = frozenset({
    ("pydantic_ai", "RunContext"),                                     # pydantic-ai tools and prompts
    ("agents", "RunContextWrapper"), ("agents", "ToolContext"),        # OpenAI Agents SDK
    ("google.adk", "ToolContext"), ("google.adk", "CallbackContext"),  # Google ADK
    ("google.adk", "InvocationContext"), ("google.adk", "ReadonlyContext"),
    ("langchain_core", "CallbackManagerForToolRun"),                   # LangChain tool callbacks
    ("langchain_core", "AsyncCallbackManagerForToolRun"),
    ("langgraph", "Runtime"),                                          # LangGraph's runtime context
    ("mcp.server.fastmcp", "Context"), ("fastmcp", "Context"),         # MCP servers' request context
    ("strands", "ToolContext"), ("smolagents", "AgentMemory"),
})
_context_types: dict[type, bool] = {}


def _is_context_class(cls: type) -> bool:
    for base in cls.__mro__:
        module = getattr(base, "__module__", "") or ""
        for prefix, name in CONTEXT_CLASSES:
            if base.__name__ == name and (module == prefix or module.startswith(prefix + ".")):
                return True
    return False


def is_context_object(value: Any) -> bool:
    """True for a framework context object (see CONTEXT_CLASSES); one dict lookup per type after the
    first, since this runs on every captured argument."""
    t = type(value)
    hit = _context_types.get(t)
    if hit is None:
        hit = _context_types[t] = _is_context_class(t)
    return hit


def context_placeholder(value: Any) -> str:
    return f"<{type(value).__name__} left out>"


def _structured(value: Any) -> Any:
    """The fields of a pydantic model or a dataclass instance, else _MISSING. Never raises."""
    t = type(value)
    dump = getattr(t, "model_dump", None)
    if dump is not None and hasattr(t, "model_fields"):
        try:
            return value.model_dump(mode="json")
        except Exception:  # a field pydantic cannot serialise as JSON: its Python form, bounded below
            try:
                return value.model_dump()
            except Exception:
                return _MISSING
    if hasattr(t, "__dataclass_fields__") and not isinstance(value, type):
        try:
            return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        except Exception:
            return _MISSING
    return _MISSING


def _scalar(value: Any) -> Any:
    """Common value types that have an obvious JSON form, else _MISSING."""
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, (str, int, float, bool)) else value.name
    return _MISSING


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
    if is_context_object(value):
        return context_placeholder(value)
    scalar = _scalar(value)
    if scalar is not _MISSING:
        return _jsonable(scalar, max_string, max_items, depth, seen)
    fields = _structured(value)
    if fields is not _MISSING:
        key = id(value)
        if depth <= 0 or key in seen:
            return short_repr(value) if depth <= 0 else f"<cycle: {_type_name(value)}>"
        seen.add(key)
        try:
            return _jsonable(fields, max_string, max_items, depth, seen)
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
