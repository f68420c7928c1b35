"""Tool calls: `ToolCall` (tool_invoked ... tool_returned) and the wrappers that make one per call of
an instrumented function.

Kept apart from the Recorder because the wrappers are what runs on every tool call: argument
naming without `inspect.Signature.bind`, one capture of each value reused for the summary, and
separate wrappers for plain, async, generator and async generator functions so none pays for the
others. A recording failure is logged and the tool call goes on; the tool's own exceptions are
recorded and re-raised unchanged.

The run a call is recorded into is found when the tool is CALLED, not when it is wrapped: tools are
usually defined (and decorated) at import time, long before any run exists, and one process may
record several runs one after another.
"""
from __future__ import annotations

import functools
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .capture import args_summary, error_text, is_context_object, jsonable, summary

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = ["ToolCall", "instrument", "instrument_function"]

log = logging.getLogger("agenttui.recorder")


class ToolCall:
    """One tool call: `tool_invoked` when it starts, `tool_returned` when it ends.

    Made by `run.tool_call(...)` for callback-style integrations (a framework's on_tool_start /
    on_tool_end), and by every call of an instrumented function. `complete(result)` or
    `fail(error)` ends it; only the first end counts. As a context manager it starts on entry and
    ends on exit (failed if an exception escapes, which is re-raised).
    """

    __slots__ = ("recorder", "tool_name", "api_name", "node_id", "call_id", "capture_result", "_args", "_extra",
                 "_t0", "_ended")

    def __init__(self, recorder: Recorder, tool_name: str, *, api_name: str | None = None,
                 node_id: str | None = None, args: dict[str, Any] | None = None, capture_result: bool = True,
                 extra: dict[str, Any] | None = None) -> None:
        self.recorder = recorder
        self.tool_name = tool_name
        self.api_name = api_name or tool_name
        self.node_id = node_id
        self.capture_result = capture_result
        self.call_id: str | None = None  # the tool_invoked event's id, once started
        self._args = args
        self._extra = extra
        self._t0: float | None = None
        self._ended = False

    def __repr__(self) -> str:
        state = "ended" if self._ended else ("running" if self._t0 is not None else "new")
        return f"<ToolCall {self.tool_name} {state}>"

    def start(self) -> "ToolCall":
        """Record tool_invoked (once)."""
        if self._t0 is not None:
            return self
        payload: dict[str, Any] = {"tool_name": self.tool_name, "api_name": self.api_name}
        if self._args is None:
            payload["args_summary"] = "(not captured)"
        else:
            captured = jsonable(self._args)
            payload["args_summary"] = args_summary(captured)
            payload["args"] = captured
        if self._extra:
            payload.update(self._extra)
        self.call_id = self.recorder._emit("tool_invoked", payload, self.node_id)
        self._t0 = time.perf_counter()
        return self

    def complete(self, result: Any = None, **extra: Any) -> None:
        """Record tool_returned with state SUCCESS and the result (unless capture_result is off)."""
        self._end(result, None, None, extra)

    def fail(self, error: BaseException | str, *, state: str = "FAILED", **extra: Any) -> None:
        """Record tool_returned with `state` (FAILED; CANCELLED or CLOSED are not counted as errors)."""
        self._end(None, error, state, extra)

    def _end(self, result: Any, error: BaseException | str | None, state: str | None,
             extra: dict[str, Any] | None) -> None:
        if self._ended:
            return
        if self._t0 is None:
            self.start()
        self._ended = True
        duration = time.perf_counter() - (self._t0 or 0.0)
        payload: dict[str, Any] = {"tool_name": self.tool_name, "api_name": self.api_name, "call_id": self.call_id,
                                   "duration_seconds": round(duration, 6)}
        if error is not None:
            text = error_text(error) if isinstance(error, BaseException) else str(error)
            payload["state"] = state or "FAILED"
            payload["result_summary"] = text
            if payload["state"] == "FAILED":
                payload["error"] = text
                if isinstance(error, BaseException):
                    payload["error_type"] = type(error).__name__
        else:
            payload["state"] = "SUCCESS"
            if self.capture_result:
                captured = jsonable(result)
                payload["result_summary"] = summary(result, captured)
                payload["result"] = captured
            else:
                payload["result_summary"] = "(not captured)"
        if extra:
            payload.update({str(k): jsonable(v) for k, v in extra.items()})
        self.recorder._emit("tool_returned", payload, self.node_id)

    def __enter__(self) -> "ToolCall":
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            if not self._ended:
                self.complete()
            return
        state = _cancel_state(exc)
        self.fail(exc, state=state or "FAILED")

    async def __aenter__(self) -> "ToolCall":
        return self.start()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


class _ArgNames:
    """Maps a call's arguments to parameter names without inspect's full (slow) binding, leaving out
    the names in `skip` and framework context objects.

    The call itself validates its arguments; recording only needs names for what was passed.
    """

    __slots__ = ("positional", "varargs", "varkw", "skip", "skip_context")

    def __init__(self, sig: inspect.Signature | None, skip: frozenset[str], skip_context: bool) -> None:
        self.positional: tuple[str, ...] = ()
        self.varargs: str | None = None
        self.varkw: str | None = None
        self.skip = skip
        self.skip_context = skip_context
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

    def bind(self, args: tuple, kwargs: dict) -> tuple[dict[str, Any], list[str]]:
        """(arguments by name, names left out)."""
        names = self.positional
        out = dict(zip(names, args))
        if len(args) > len(names):
            extra = args[len(names):]
            if self.varargs is not None:
                out[self.varargs] = list(extra)
            else:  # more than the function takes: the call will raise; record what was passed
                out.update((f"arg{len(names) + i}", a) for i, a in enumerate(extra))
        if kwargs:
            out.update(kwargs)
        left_out: list[str] = []
        if self.skip:
            for name in self.skip:
                if name in out:
                    del out[name]
                    left_out.append(name)
        if self.skip_context:
            context = [name for name, value in out.items() if is_context_object(value)]
            for name in context:
                del out[name]
            left_out += context
        return out, left_out


def _cancel_state(exc: BaseException) -> str | None:
    """Cancellation and generator close are how callers stop work, not tool failures."""
    if isinstance(exc, GeneratorExit):
        return "CLOSED"
    if type(exc).__name__ == "CancelledError":
        return "CANCELLED"
    return None


def _check_names(skip_args: Iterable[str] | str) -> frozenset[str]:
    if isinstance(skip_args, str):
        return frozenset({skip_args})
    names = frozenset(skip_args)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(f"skip_args must be parameter names (strings), got {bad[0]!r}")
    return names


def instrument_function(rec: Recorder | None, fn: Callable[..., Any], name: str | None, api_name: str | None,
                        capture_args: bool, capture_result: bool, skip_args: Iterable[str] | str = (),
                        skip_context: bool = True) -> Callable[..., Any]:
    """`fn` wrapped so each call is a ToolCall of `rec` if that run is open when the call happens,
    else of the current run (`current_recorder()`); with no run at all the call just goes through."""
    from .recorder import current_recorder

    tool = name or getattr(fn, "__name__", None) or type(fn).__name__
    api = api_name or tool
    function = f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', tool)}"
    extra = {"function": function} if function != f"?.{tool}" else None
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    names = _ArgNames(sig, _check_names(skip_args), skip_context)

    def begin(args: tuple, kwargs: dict) -> ToolCall | None:
        run = rec if rec is not None and rec._state == "open" else current_recorder()
        if run is None:
            return None
        try:
            node = run.current_node()
            call = ToolCall(run, tool, api_name=api, node_id=node.node_id if node else None,
                            capture_result=capture_result, extra=extra)
            if capture_args:
                bound, left_out = names.bind(args, kwargs)
                call._args = bound
                if left_out:
                    call._extra = {**(extra or {}), "args_left_out": left_out}
            return call.start()
        except Exception as exc:  # recording must never break the tool call itself
            log.warning("agenttui: could not record call of %s: %s", tool, exc)
            return None

    def end(call: ToolCall | None, result: Any = None, error: BaseException | None = None) -> None:
        if call is None:
            return
        try:
            if error is None:
                call._end(result, None, None, None)
            else:
                call._end(None, error, _cancel_state(error), None)
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


def instrument(fn: Callable[..., Any] | None = None, *, name: str | None = None, api_name: str | None = None,
               capture_args: bool = True, capture_result: bool = True, skip_args: Iterable[str] | str = (),
               skip_context: bool = True) -> Any:
    """Decorate a tool once, at import time; each call is recorded into the run current when it is
    CALLED (the innermost open node's run, else the run started in this context, else the only open
    run of the process), and just goes through when no run is open.

        @instrument(skip_args=["api_key"])
        def search(ctx: RunContext[Deps], query: str, api_key: str) -> list[str]: ...

    `skip_args` names arguments never recorded; framework context objects (pydantic-ai's RunContext,
    the OpenAI Agents SDK's RunContextWrapper, ...) are left out unless `skip_context=False`.
    """
    if fn is None:
        return lambda f: instrument(f, name=name, api_name=api_name, capture_args=capture_args,
                                    capture_result=capture_result, skip_args=skip_args, skip_context=skip_context)
    if not callable(fn):
        raise TypeError(f"instrument() needs a function, got {type(fn).__name__}")
    return instrument_function(None, fn, name, api_name, capture_args, capture_result, skip_args, skip_context)
