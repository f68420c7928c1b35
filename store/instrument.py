"""Instrumented tools: wrapping a function so each call records tool_invoked and tool_returned.

Kept apart from the Recorder because the wrappers are what runs on every tool call: argument
naming without `inspect.Signature.bind`, one capture of each value reused for the summary, and
separate wrappers for plain, async, generator and async generator functions so none pays for the
others. A recording failure is logged and the tool call goes on; the tool's own exceptions are
recorded and re-raised unchanged.
"""
from __future__ import annotations

import functools
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from .capture import args_summary, error_text, jsonable, summary

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = ["instrument_function"]

log = logging.getLogger("agenttui.recorder")


class _ToolCall:
    """The bookkeeping of one instrumented call between tool_invoked and tool_returned."""

    __slots__ = ("rec", "tool", "api", "node_id", "call_id", "t0", "capture_result")

    def __init__(self, rec: Recorder, tool: str, api: str, names: _ArgNames, args: tuple,
                 kwargs: dict, capture_args: bool, capture_result: bool) -> None:
        self.rec = rec
        self.tool = tool
        self.api = api
        self.capture_result = capture_result
        node = rec.current_node()
        self.node_id = node.node_id if node else None
        payload: dict[str, Any] = {"tool_name": tool, "api_name": api}
        if capture_args:
            captured = jsonable(names.bind(args, kwargs))
            payload["args_summary"] = args_summary(captured)
            payload["args"] = captured
        else:
            payload["args_summary"] = "(not captured)"
        self.call_id = rec._emit("tool_invoked", payload, self.node_id)
        self.t0 = time.perf_counter()

    def done(self, result: Any = None, error: BaseException | None = None, state: str | None = None) -> None:
        duration = time.perf_counter() - self.t0
        payload: dict[str, Any] = {"tool_name": self.tool, "api_name": self.api, "call_id": self.call_id,
                                   "duration_seconds": round(duration, 6)}
        if error is not None:
            payload["state"] = state or "FAILED"
            payload["result_summary"] = error_text(error)
            if state is None:
                payload["error"] = error_text(error)
                payload["error_type"] = type(error).__name__
        else:
            payload["state"] = "SUCCESS"
            if self.capture_result:
                captured = jsonable(result)
                payload["result_summary"] = summary(result, captured)
                payload["result"] = captured
            else:
                payload["result_summary"] = "(not captured)"
        self.rec._emit("tool_returned", payload, self.node_id)


class _ArgNames:
    """Maps a call's arguments to parameter names without inspect's full (slow) binding.

    The call itself validates its arguments; recording only needs names for what was passed.
    """

    __slots__ = ("positional", "varargs", "varkw")

    def __init__(self, sig: inspect.Signature | None) -> None:
        self.positional: tuple[str, ...] = ()
        self.varargs: str | None = None
        self.varkw: str | None = None
        if sig is None:
            return
        P = inspect.Parameter
        self.positional = tuple(n for n, p in sig.parameters.items()
                                if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD))
        for n, p in sig.parameters.items():
            if p.kind is P.VAR_POSITIONAL:
                self.varargs = n
            elif p.kind is P.VAR_KEYWORD:
                self.varkw = n

    def bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        names = self.positional
        if len(args) <= len(names):
            out = dict(zip(names, args))
        else:
            out = dict(zip(names, args))
            extra = args[len(names):]
            if self.varargs is not None:
                out[self.varargs] = list(extra)
            else:  # more than the function takes: the call will raise; record what was passed
                out.update((f"arg{len(names) + i}", a) for i, a in enumerate(extra))
        if kwargs:
            out.update(kwargs)
        return out


def _cancel_state(exc: BaseException) -> str | None:
    """Cancellation and generator close are how callers stop work, not tool failures."""
    if isinstance(exc, GeneratorExit):
        return "CLOSED"
    if type(exc).__name__ == "CancelledError":
        return "CANCELLED"
    return None


def instrument_function(rec: Recorder, fn: Callable[..., Any], name: str | None, api_name: str | None,
                capture_args: bool, capture_result: bool) -> Callable[..., Any]:
    tool = name or getattr(fn, "__name__", None) or type(fn).__name__
    api = api_name or f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', tool)}"
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    names = _ArgNames(sig)

    def begin(args: tuple, kwargs: dict) -> _ToolCall | None:
        if rec._state != "open":
            return None
        try:
            return _ToolCall(rec, tool, api, names, args, kwargs, capture_args, capture_result)
        except Exception as exc:  # recording must never break the tool call itself
            log.warning("agenttui: could not record call of %s: %s", tool, exc)
            return None

    def end(call: _ToolCall | None, result: Any = None, error: BaseException | None = None) -> None:
        if call is None:
            return
        try:
            call.done(result, error, _cancel_state(error) if error is not None else None)
        except Exception as exc:
            log.warning("agenttui: could not record the return of %s: %s", tool, exc)

    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(args, kwargs)
            n = 0
            try:
                async for item in fn(*args, **kwargs):
                    n += 1
                    yield item
            except BaseException as exc:
                end(call, error=exc)
                raise
            end(call, f"<async generator: {n} items>")

        wrapper: Callable[..., Any] = agen_wrapper
    elif inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(args, kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                end(call, error=exc)
                raise
            end(call, result)
            return result

        wrapper = async_wrapper
    elif inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(args, kwargs)
            try:
                result = yield from fn(*args, **kwargs)
            except BaseException as exc:
                end(call, error=exc)
                raise
            end(call, result)
            return result

        wrapper = gen_wrapper
    else:
        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(args, kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                end(call, error=exc)
                raise
            end(call, result)
            return result

        wrapper = sync_wrapper
    wrapper.__agenttui_recorder__ = rec  # type: ignore[attr-defined]
    return wrapper

