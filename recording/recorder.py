"""The Recorder: how a Python agent writes its run into a store without touching SQL.

    with Recorder("run.db", task="write a market report") as run:
        with run.node("Research competitors", task_type="RETRIEVAL"):
            search = run.instrument(web_search)
            search("agent observability")

Design points, each because an agent author would otherwise pay for it:

* Recording calls only build an event and put it in a buffer; a background thread commits the buffer
  in one transaction every `flush_interval` (10 ms by default), so an agent never waits for a
  commit per event, yet a new event is on disk, visible to `agenttui open`, within ~50 ms.
* The buffer is flushed when the run ends (normally or by exception), on `flush()` and at
  interpreter exit. A crash (SIGKILL, power loss) loses at most the last uncommitted window, never
  a committed event: each batch is one transaction of the store.
* The current node lives in a `contextvars.ContextVar`, so nesting follows asyncio tasks for free
  and threads through `run.bind(fn)` (a thread started without it records under the root node).
* Captured arguments and results go through `capture.jsonable`, so odd values are summarised and a
  recording problem is logged, never raised into the agent.

This module never imports Textual or Rich.
"""
from __future__ import annotations

import atexit
import contextvars
import functools
import logging
import os
import platform
import re
import secrets
import sys
import threading
import time
import traceback
import unicodedata
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from .capture import (
    MAX_STRING, clip, error_message, error_text, jsonable, scrub_surrogates, short_repr, summary,
)
from agenttui.store import EnvelopeError, Event, open_store
from agenttui.store.envelope import MAX_ID_LENGTH
from agenttui.store.handover import quick_handover
from agenttui.store.ids import new_event_id, uuid7_at

from .instrument import ToolCall, instrument_function

__all__ = ["LLMCall", "Node", "Recorder", "ToolCall", "current_recorder", "session_filename"]

log = logging.getLogger("agenttui.recorder")

F = TypeVar("F", bound=Callable[..., Any])

#: How long the flusher lets events gather before committing them (seconds).
DEFAULT_FLUSH_INTERVAL = 0.010
#: Events buffered before the recording thread itself waits for a commit (backpressure).
DEFAULT_MAX_BUFFER = 50_000
#: Longest prompt preview kept beside the full prompt.
PROMPT_PREVIEW = 200

#: The innermost open node of the current thread/task, whatever recorder it belongs to.
_current_node: contextvars.ContextVar["Node | None"] = contextvars.ContextVar("agenttui_current_node", default=None)

#: The run started in this context (a `with Recorder(...)` block, and asyncio tasks created inside it).
_current_run: contextvars.ContextVar["Recorder | None"] = contextvars.ContextVar("agenttui_current_run", default=None)

#: Recorders whose run is open, so interpreter exit can flush and close them.
_open_recorders: "weakref.WeakSet[Recorder]" = weakref.WeakSet()
_open_lock = threading.Lock()


# ------------------------------------------------------------------------------ ids and times

class _Stamper:
    """Event ids (the store's UUIDv7) and timestamps without a system call per event: the
    timestamp's date-time prefix is formatted once per second, from the same clock reading as the id.

    No lock of its own (the id generator holds one): the (second, prefix) pair is one tuple,
    swapped atomically, and the clamp below only keeps a stepped-back clock from going backwards.
    """

    __slots__ = ("_last_us", "_second")

    def __init__(self) -> None:
        self._last_us = 0
        self._second: tuple[int, str] = (-1, "")

    def ids(self) -> str:
        return new_event_id()

    def next(self) -> tuple[str, str]:
        ns = time.time_ns()
        us = ns // 1000
        if us < self._last_us:  # the wall clock stepped back (NTP): keep log order = time order
            us = self._last_us
        self._last_us = us
        sec, micros = divmod(us, 1_000_000)
        second = self._second
        if second[0] != sec:
            second = self._second = (sec, datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
        return uuid7_at(ns), f"{second[1]}.{micros:06d}Z"


_stamper = _Stamper()


# ------------------------------------------------------------------------------ session files

def _slug(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "session"


def session_filename(task: str | None, *, when: datetime | None = None, short_id: str | None = None) -> str:
    """`YYYYmmdd-HHMMSS-task-slug-id.db`, time in UTC, so a folder of sessions sorts by start time."""
    when = when or datetime.now(timezone.utc)
    short_id = short_id or secrets.token_hex(4)
    return f"{when.strftime('%Y%m%d-%H%M%S')}-{_slug(task or '')}-{short_id}.db"


# ------------------------------------------------------------------------------------- nodes

class Node:
    """One node of the run's plan tree: a unit of work with a goal, a status and maybe a result.

    Use it as a context manager (`with run.node(...) as node:`): entering records node_created, the
    edge from its parent and DOING; leaving records FINISH, or FAILED if an exception escapes. While
    it is open, nodes, tool calls, LLM calls, decisions and artifacts recorded in the same thread or
    asyncio task belong to it.
    """

    __slots__ = ("recorder", "node_id", "nid", "goal", "task_type", "node_type", "layer", "parent",
                 "status", "is_root", "_children", "_child_lock", "_token", "_outer", "_started", "_finished")

    def __init__(self, recorder: "Recorder", goal: str, *, task_type: str | None, node_type: str,
                 parent: "Node | None", is_root: bool = False) -> None:
        self.recorder = recorder
        self.node_id = _stamper.ids().replace("-", "")
        self.nid: str | None = None
        self.goal = clip(goal, MAX_STRING)  # repeated in every status change: keep it bounded
        self.task_type = task_type
        self.node_type = node_type
        self.parent = parent
        self.is_root = is_root
        self.layer: int = parent.layer + 1 if parent is not None else (0 if is_root else 1)
        self.status = "NOT_READY"
        self._children = 0
        self._child_lock = threading.Lock()
        self._token: contextvars.Token | None = None
        self._outer: Node | None = None
        self._started = False
        self._finished = False

    def __repr__(self) -> str:
        return f"<Node {self.nid or '?'} {self.goal!r} {self.status}>"

    def _next_child_nid(self) -> str:
        with self._child_lock:
            self._children += 1
            n = self._children
        return str(n) if self.is_root else f"{self.nid}.{n}"  # the root is "0", its children "1", "2"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Node":
        """Record the node (created, linked to its parent, DOING) without making it current."""
        if self._started:
            return self
        self._started = True
        rec = self.recorder
        parent = self.parent
        if self.is_root:
            self.nid = "0"
        elif parent is not None:
            self.nid = parent._next_child_nid()
        else:  # no root node (root_node=False): top-level nodes are "1", "2", ...
            self.nid = rec._next_top_nid()
        top = self
        while top.parent is not None:
            top = top.parent
        root_id = top.node_id
        rec._emit("node_created", {
            "node_id": self.node_id, "node_nid": self.nid, "node_type": self.node_type,
            "task_type": self.task_type, "task_goal": self.goal, "layer": self.layer,
            "outer_node_id": parent.node_id if parent else None, "root_node_id": root_id,
            "initial_parent_nids": [parent.nid] if parent else [],
        }, self.node_id)
        if parent is not None:
            rec._emit("node_added", {"graph_owner_node_id": parent.node_id, "added_node_id": self.node_id,
                                     "added_node_nid": self.nid}, self.node_id)
            rec._emit("edge_added", {"graph_owner_node_id": parent.node_id, "parent_node_id": parent.node_id,
                                     "child_node_id": self.node_id, "parent_node_nid": parent.nid,
                                     "child_node_nid": self.nid}, self.node_id)
        self.set_status("DOING")
        return self

    def set_status(self, new_status: str, **details: Any) -> None:
        """Record a status change (any of the agent's statuses: READY, PLAN_DONE, FINISH, ...)."""
        old, self.status = self.status, new_status
        payload = {"node_id": self.node_id, "node_goal": self.goal, "old_status": old, "new_status": new_status}
        if details:
            payload.update(_capture_fields(details))
        self.recorder._emit("node_status_changed", payload, self.node_id)

    def result(self, value: Any, *, action_name: str = "result") -> None:
        """Attach the node's result (summarised; the full value is kept when small and JSON-able)."""
        captured = jsonable(value)
        self.recorder._emit("node_result_available", {
            "node_id": self.node_id, "action_name": action_name, "result_summary": summary(value, captured),
            "result": captured,
        }, self.node_id)

    def finish(self, error: BaseException | None = None, *, status: str | None = None) -> None:
        """Close the node: FINISH, or FAILED with the error's type and message."""
        if self._finished or not self._started:
            return
        self._finished = True
        if error is not None:
            origin = self.recorder._error_origin
            if origin is None or origin[0] is not error:  # exceptions unwind innermost node first
                self.recorder._error_origin = (error, self.node_id)
            self.set_status(status or "FAILED", error_type=type(error).__name__, error_message=error_message(error))
        else:
            self.set_status(status or "FINISH")

    def __enter__(self) -> "Node":
        self.start()
        self._outer = _current_node.get()
        self._token = _current_node.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._token is not None:
            try:
                _current_node.reset(self._token)
            except ValueError:  # exited in another context than it was entered in
                _current_node.set(self._outer)
            self._token = None
        self.finish(exc if exc is not None and not isinstance(exc, GeneratorExit) else None)

    async def __aenter__(self) -> "Node":
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


# --------------------------------------------------------------------------------- LLM calls

class LLMCall:
    """One model call: `llm_call_started` when it begins, `llm_call_completed` when it ends.

    As a context manager the call starts on entry and completes on exit (with the error if one
    escapes); `complete(...)` inside the block records the response and token usage. Without a
    `with`, call `start()` and later `complete(...)`.
    """

    __slots__ = ("recorder", "model", "prompt", "agent_class", "extra", "node_id", "call_id", "_t0",
                 "_completed")

    def __init__(self, recorder: "Recorder", model: str | None, prompt: Any, agent_class: str | None,
                 extra: dict[str, Any], node_id: str | None) -> None:
        self.recorder = recorder
        self.model = model
        self.prompt = prompt
        self.agent_class = agent_class
        self.extra = extra
        self.node_id = node_id
        self.call_id: str | None = None
        self._t0: float | None = None
        self._completed = False

    def start(self) -> "LLMCall":
        if self._t0 is not None:
            return self
        payload = {"agent_class": self.agent_class, "model": self.model, "prompt": jsonable(self.prompt),
                   "prompt_preview": _preview(self.prompt)}
        if self.extra:
            payload.update(self.extra)
        self.call_id = self.recorder._emit("llm_call_started", payload, self.node_id)
        self._t0 = time.perf_counter()
        return self

    def complete(self, response: Any = None, *, prompt_tokens: int | None = None,
                 completion_tokens: int | None = None, token_usage: dict[str, Any] | None = None,
                 error: BaseException | str | None = None, result_summary: str | None = None,
                 **extra: Any) -> None:
        """Record the response (or error), token usage and the call's duration. Only the first counts."""
        if self._completed:
            return
        if self._t0 is None:
            self.start()
        self._completed = True
        duration = time.perf_counter() - (self._t0 or time.perf_counter())
        usage = dict(token_usage) if isinstance(token_usage, dict) else {}
        captured = jsonable(response)
        if prompt_tokens is not None:
            usage["prompt_tokens"] = prompt_tokens
        if completion_tokens is not None:
            usage["completion_tokens"] = completion_tokens
        payload: dict[str, Any] = {
            "agent_class": self.agent_class, "model": self.model, "duration_seconds": round(duration, 6),
            "response": captured, "call_id": self.call_id,
            "result_summary": result_summary if result_summary is not None else summary(response, captured),
        }
        if usage:
            payload["token_usage"] = jsonable(usage)
        if error is not None:
            payload["error"] = error_text(error) if isinstance(error, BaseException) else clip(str(error), MAX_STRING)
        if extra:
            payload.update(_capture_fields(extra))
        self.recorder._count_tokens(usage)
        self.recorder._emit("llm_call_completed", payload, self.node_id)

    def __enter__(self) -> "LLMCall":
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.complete(error=exc) if exc is not None else self.complete()

    async def __aenter__(self) -> "LLMCall":
        return self.start()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


# ---------------------------------------------------------------------------------- recorder

class Recorder:
    """Records one agent run into a store (a SQLite file path, or an open store you keep owning).

    `with Recorder(target, task=...) as run:` records run_started, a root node "0" for the task, and on
    leaving either run_finished with the run's totals or, if an exception escapes, run_error with its
    type, message and stack trace (the exception is re-raised). `start()` / `finish()` do the same
    without a `with`; a run still open at interpreter exit is closed then.
    """

    def __init__(
        self,
        target: Any,
        *,
        task: str | None = None,
        run_id: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        config: dict[str, Any] | None = None,
        run_mode: str | None = None,
        input_data: Any = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        root_node: bool = True,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be > 0 seconds")
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        if run_id is not None and (not isinstance(run_id, str) or not run_id or len(run_id) > MAX_ID_LENGTH
                                   or "\x00" in run_id):
            raise ValueError(f"run_id must be a non-empty string of at most {MAX_ID_LENGTH} characters "
                             f"without NUL, got {short_repr(run_id)}")
        if isinstance(target, (str, os.PathLike)):
            self.store = open_store(target)
            self._owns_store = True
        elif hasattr(target, "append"):
            self.store = target
            self._owns_store = False
        else:
            raise TypeError(f"Recorder target must be a database path or a store, got {type(target).__name__}")
        self.path: str | None = getattr(self.store, "path", None)
        self.run_id = run_id or _stamper.ids()
        self.task = task
        self.agent = agent
        self.model = model
        self.config = dict(config or {})
        self.run_mode = run_mode
        self.input_data = input_data
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._want_root = root_node
        self._root: Node | None = None
        self._state = "new"  # new -> open -> closed
        self._t0 = 0.0
        # buffer: appended under _buf_lock; the writer drains it holding _write_lock so batches
        # reach the store in the order they were recorded
        self._buf: list[Event] = []
        self._buf_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._stopping = False
        self._first_at = 0.0  # when the oldest buffered event was recorded (perf_counter)
        self._flusher: threading.Thread | None = None
        self._counts: dict[str, int] = {}
        self._tokens = [0, 0]
        self._dropped_warned = False
        self._error_origin: tuple[BaseException, str] | None = None
        self._top_nids = 0
        self._top_lock = threading.Lock()
        self._run_token: contextvars.Token | None = None
        self._failures = 0
        #: Events committed by this recorder and events it could not store (see `stats`).
        self.committed = 0
        self.lost = 0

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def session(cls, directory: str | os.PathLike[str], *, task: str | None = None, **kwargs: Any) -> "Recorder":
        """A Recorder on a new file `directory/YYYYmmdd-HHMMSS-task-slug-id.db` (one file per session)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            path = d / session_filename(task)
            if not path.exists():
                break
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(f"{d}: could not find a free session file name")
        return cls(path, task=task, **kwargs)

    def __repr__(self) -> str:
        return f"<Recorder run {self.run_id} {self._state} {self.path or self.store!r}>"

    # -- run lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Recorder":
        """Record run_started (and the root node) and start the background flusher."""
        if self._state != "new":
            raise RuntimeError(f"run {self.run_id} was already started; a Recorder records one run")
        self._state = "open"
        self._t0 = time.perf_counter()
        self._flusher = threading.Thread(target=self._flush_loop, name=f"agenttui-recorder-{self.run_id[:8]}",
                                         daemon=True)
        self._flusher.start()
        with _open_lock:
            _open_recorders.add(self)
        self._run_token = _current_run.set(self)
        config = dict(self.config)
        if self.model is not None:
            config.setdefault("model", self.model)
        payload: dict[str, Any] = {
            "task": self.task, "agent": self.agent, "config": jsonable(config), "run_mode": self.run_mode,
            "recorder": {"pid": os.getpid(), "host": platform.node(), "python": platform.python_version(),
                         "argv": jsonable(sys.argv[:20])},
        }
        if self.input_data is not None:
            payload["input_data"] = jsonable(self.input_data)
        elif self.task is not None:
            payload["input_data"] = {"data": {"prompt": self.task}}
        self._emit("run_started", payload, None)
        if self._want_root:
            self._root = Node(self, self.task or "run", task_type=None, node_type="PLAN_NODE", parent=None,
                              is_root=True)
            self._root.start()
        return self

    def finish(self, error: BaseException | None = None, *, tb: Any = None) -> None:
        """End the run: run_finished with totals, or run_error for `error`; then flush and close."""
        if self._state != "open":
            return
        try:
            if self._root is not None:
                self._root.finish(error)
            if error is None:
                self._emit("run_finished", self.totals(), None)
            else:
                trace = "".join(traceback.format_exception(type(error), error, tb or error.__traceback__))
                payload = {"error_type": type(error).__name__, "error_message": error_message(error),
                           "stack_trace": clip(trace, 64_000)}
                origin = self._error_origin
                if origin is not None and origin[0] is error and self._root is not None \
                        and origin[1] != self._root.node_id:
                    payload["node_id"] = origin[1]
                payload.update(self.totals())
                self._emit("run_error", payload, None)
        finally:
            self._state = "closed"
            self._error_origin = None  # do not keep the exception's frames alive
            if self._run_token is not None:
                try:
                    _current_run.reset(self._run_token)
                except ValueError:  # finished in another context than it started in: that one ends with it
                    pass
                self._run_token = None
            with _open_lock:
                _open_recorders.discard(self)
            self._stop_flusher()
            if self._owns_store:
                try:
                    self.store.close()
                except Exception as exc:  # closing must not mask the agent's own exception
                    log.warning("agenttui: closing %s failed: %s", self.path, exc)

    def __enter__(self) -> "Recorder":
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and not (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.finish(exc, tb=tb)
        else:
            self.finish()

    async def __aenter__(self) -> "Recorder":
        return self.start()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    @property
    def root(self) -> Node | None:
        """The root node "0" standing for the whole task (None with root_node=False)."""
        return self._root

    def totals(self) -> dict[str, Any]:
        """The run's figures so far, as run_finished reports them."""
        c = self._counts
        nodes = c.get("node_created", 0)
        return {
            "total_steps": nodes - (1 if self._root is not None else 0),
            "duration_seconds": round(time.perf_counter() - self._t0, 6) if self._t0 else 0.0,
            "total_nodes": nodes,
            "total_llm_calls": c.get("llm_call_started", 0),
            "total_tool_calls": c.get("tool_invoked", 0),
            "token_usage_summary": {"prompt_tokens": self._tokens[0], "completion_tokens": self._tokens[1],
                                    "total_tokens": self._tokens[0] + self._tokens[1]},
        }

    # -- what agents record -------------------------------------------------------------------------
    def node(self, goal: str, *, task_type: str | None = None, node_type: str = "EXECUTE_NODE",
             parent: Node | None = None) -> Node:
        """A child of `parent`, else of the current node, else of the root. Enter it with `with`."""
        self._require_open("node")
        return Node(self, str(goal), task_type=task_type, node_type=node_type,
                    parent=parent if parent is not None else (self._current() or self._root))

    def current_node(self) -> Node | None:
        """The innermost open node of this thread/task (the root if none is open)."""
        return self._current() or self._root

    def bind(self, fn: F) -> F:
        """`fn` bound to the current node, so a thread or pool worker running it records under it.

        Threads do not inherit context variables: `pool.submit(run.bind(work))` or
        `Thread(target=run.bind(work))` carries the node across; each call runs in its own copy.
        """
        ctx = contextvars.copy_context()

        @functools.wraps(fn)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return ctx.copy().run(fn, *args, **kwargs)

        return bound  # type: ignore[return-value]

    def llm_call(self, model: str | None = None, prompt: Any = None, *, agent_class: str | None = None,
                 node: "Node | str | None" = None, **extra: Any) -> LLMCall:
        """An LLM call to record: `with run.llm_call(...) as call: call.complete(response, ...)`.

        It belongs to `node` (a Node or a node id) if given, else to the current node: callback-style
        integrations, which learn of a call away from where its node was entered, pass the node.
        """
        self._require_open("llm_call")
        return LLMCall(self, model or self.model, prompt, agent_class, _capture_fields(extra), self._node_id(node))

    def tool_call(self, tool_name: str, args: dict[str, Any] | None = None, *, api_name: str | None = None,
                  node: "Node | str | None" = None, capture_result: bool = True, **extra: Any) -> ToolCall:
        """A tool call to record by hand, for integrations that see a call start and end in separate
        callbacks: `call = run.tool_call("search", {"q": ...}, node=node).start()` ...
        `call.complete(result)` or `call.fail(error)`; or `with run.tool_call(...) as call:`.

        `args` are recorded as given (by name); it belongs to `node` if given, else to the current node.
        """
        self._require_open("tool_call")
        if not isinstance(tool_name, str) or not tool_name:
            raise ValueError(f"tool_name must be a non-empty string, got {short_repr(tool_name)}")
        if args is not None and not isinstance(args, dict):
            raise TypeError(f"tool_call() args must be a dict of arguments by name, got {type(args).__name__}")
        return ToolCall(self, tool_name, api_name=api_name, node_id=self._node_id(node), args=args,
                        capture_result=capture_result, extra=_capture_fields(extra) if extra else None)

    def decision(self, decision_type: str, *, context: Any = None, reasoning: Any = None,
                 chosen_action: Any = None, **extra: Any) -> str | None:
        """Why the agent chose what it chose. Returns the event id."""
        payload = {"decision_type": decision_type, "context": jsonable(context), "reasoning": jsonable(reasoning),
                   "chosen_action": jsonable(chosen_action)}
        payload.update(_capture_fields(extra))
        return self._emit_here("decision", payload)

    def artifact(self, artifact_type: str, *, path: str | os.PathLike[str] | None = None, content: Any = None,
                 **extra: Any) -> str | None:
        """Something the agent produced (a file, a report, a chart). Returns the event id."""
        payload = {"artifact_type": artifact_type, "path": None if path is None else os.fspath(path),
                   "content": jsonable(content, max_string=1_000_000)}
        payload.update(_capture_fields(extra))
        return self._emit_here("artifact", payload)

    def event(self, event_type: str, payload: dict[str, Any] | None = None, **fields: Any) -> str | None:
        """Any event of your own (e.g. FundsDeposited for a custom projection). Returns the event id."""
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 200:
            raise ValueError(f"event_type must be a string of 1 to 200 characters, got {short_repr(event_type)}")
        data = dict(payload or {})
        data.update(fields)
        return self._emit_here(event_type, _capture_fields(data))

    def instrument(self, fn: Callable[..., Any] | None = None, *, name: str | None = None,
                   api_name: str | None = None, capture_args: bool = True, capture_result: bool = True,
                   skip_args: Any = (), skip_context: bool = True) -> Any:
        """Wrap a tool so each call records tool_invoked and tool_returned (args, result or error, time).

        Works as `@run.instrument`, `@run.instrument(name=...)` or `run.instrument(fn)`, on plain,
        async, generator and async generator functions. Exceptions are recorded and re-raised
        unchanged. `skip_args` names arguments never recorded; framework context objects are left
        out unless `skip_context=False`; `capture_args` / `capture_result` = False record neither.
        A call made after this run ended is recorded into the run current then, if any
        (`agenttui.recording.instrument` is the same decorator bound to no run).
        """
        if fn is None:
            return lambda f: self.instrument(f, name=name, api_name=api_name, capture_args=capture_args,
                                             capture_result=capture_result, skip_args=skip_args,
                                             skip_context=skip_context)
        if not callable(fn):
            raise TypeError(f"instrument() needs a function, got {type(fn).__name__}")
        return instrument_function(self, fn, name, api_name, capture_args, capture_result, skip_args, skip_context)

    # -- flushing -------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Commit everything recorded so far now (the flusher would within `flush_interval`)."""
        self._write_pending()

    def stats(self) -> dict[str, Any]:
        with self._buf_lock:
            buffered = len(self._buf)
        return {"run_id": self.run_id, "state": self._state, "buffered": buffered, "committed": self.committed,
                "lost": self.lost, "counts": dict(self._counts)}

    # -- internals ----------------------------------------------------------------------------------
    def _require_open(self, what: str) -> None:
        if self._state == "new":
            raise RuntimeError(f"run.{what}(): the run has not started; use `with Recorder(...)` or call start()")

    def _next_top_nid(self) -> str:
        with self._top_lock:
            self._top_nids += 1
            return str(self._top_nids)

    def _node_id(self, node: "Node | str | None") -> str | None:
        if node is None:
            current = self.current_node()
            return current.node_id if current else None
        if isinstance(node, Node):
            if node.recorder is not self:
                raise ValueError(f"{node!r} belongs to run {node.recorder.run_id}, not to run {self.run_id}")
            return node.node_id
        if isinstance(node, str) and node:
            return node
        raise TypeError(f"node must be a Node or a node id, got {short_repr(node)}")

    def _current(self) -> Node | None:
        node = _current_node.get()
        while node is not None and node.recorder is not self:
            node = node._outer
        return node

    def _emit_here(self, event_type: str, payload: dict[str, Any]) -> str | None:
        self._require_open(event_type)
        node = self.current_node()
        return self._emit(event_type, payload, node.node_id if node else None)

    def _emit(self, event_type: str, payload: dict[str, Any], node_id: str | None) -> str | None:
        if self._state != "open":
            if self._state != "new" and not self._dropped_warned:
                self._dropped_warned = True
                why = ("this is a forked child process; create a Recorder in the child to record there"
                       if self._state == "forked" else "the run is closed")
                log.warning("agenttui: run %s: %s; %s and later events are not recorded", self.run_id, why,
                            event_type)
            return None
        with self._buf_lock:  # stamped under the lock: log order, id order and time order agree
            event_id, timestamp = _stamper.next()
            event = Event(event_type, payload, run_id=self.run_id, event_id=event_id, timestamp=timestamp,
                          node_id=node_id)
            buf = self._buf
            buf.append(event)
            self._counts[event_type] = self._counts.get(event_type, 0) + 1
            n = len(buf)
            if n == 1:
                self._first_at = time.perf_counter()
                self._wake.set()
        if n >= self.max_buffer:  # the writer is behind: let it catch up before recording more
            self._write_pending()
        return event.event_id

    def _count_tokens(self, usage: dict[str, Any]) -> None:
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        with self._buf_lock:
            if isinstance(pt, int) and not isinstance(pt, bool):
                self._tokens[0] += pt
            if isinstance(ct, int) and not isinstance(ct, bool):
                self._tokens[1] += ct

    def _flush_loop(self) -> None:
        backoff = 0.0
        while not self._stopping:
            # a drain elsewhere may clear the wake-up meant for a stop: never wait unboundedly
            if not self._wake.wait(0.5):
                continue
            with quick_handover():  # from here to the commit, get the GIL back promptly
                # let a burst gather into one transaction, counting from the first event of the
                # batch (not from this wake-up, which can itself take milliseconds); a stop cuts it short
                delay = self.flush_interval + backoff - (time.perf_counter() - self._first_at)
                if delay > 0 and not self._stopping:
                    self._urgent.wait(delay)
                if self._stopping:
                    return
                ok = self._write_pending()
            backoff = 0.0 if ok else min(1.0, max(0.05, backoff * 2))

    def _write_pending(self) -> bool:
        """Drain the buffer into the store; on failure the events go back to the front."""
        with self._write_lock:
            with self._buf_lock:
                batch, self._buf = self._buf, []
                self._wake.clear()
            if not batch:
                return True
            try:
                with quick_handover():  # also when the agent's thread flushes itself
                    self._append(batch)
            except Exception as exc:
                with self._buf_lock:
                    self._buf[:0] = batch
                    self._first_at = time.perf_counter()  # the retry waits its back-off from now
                    self._wake.set()
                self._failures += 1
                if self._failures == 1 or self._failures % 100 == 0:
                    log.warning("agenttui: could not write %d events to %s (attempt %d, will retry): %s",
                                len(batch), self.path or "the store", self._failures, exc)
                return False
            self._failures = 0
            return True

    def _append(self, batch: list[Event]) -> None:
        try:
            self.store.append(batch)
        except EnvelopeError:
            # one event the store refuses (e.g. over its size limit) must not sink its neighbours
            for event in batch:
                try:
                    self.store.append(event)
                except EnvelopeError as refused:
                    exc: Exception = refused
                    scrubbed = scrub_surrogates(event.payload)
                    if scrubbed != event.payload:  # undecodable text: keep the event, escapes visible
                        event.payload = scrubbed
                        try:
                            self.store.append(event)
                            self.committed += 1
                            continue
                        except EnvelopeError as still:
                            exc = still
                    log.warning("agenttui: event %s (%s) could not be stored as recorded: %s",
                                event.event_id, event.event_type, exc)
                    event.payload = {"recording_error": clip(str(exc), MAX_STRING),
                                     "node_id": event.payload.get("node_id")}
                    try:
                        self.store.append(event)
                    except EnvelopeError as again:  # not the payload's fault: retrying cannot help
                        self.lost += 1
                        log.error("agenttui: event %s (%s) dropped: %s", event.event_id, event.event_type, again)
                        continue
                self.committed += 1
            return
        self.committed += len(batch)

    def _stop_flusher(self) -> None:
        self._stopping = True
        self._urgent.set()
        self._wake.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=10)
        # final drain in this thread; a store that still refuses gets a few quick retries
        for attempt in range(5):
            if self._write_pending():
                return
            time.sleep(0.05 * (attempt + 1))
        with self._buf_lock:
            self.lost += len(self._buf)
            lost, self._buf = len(self._buf), []
        log.error("agenttui: %d events of run %s could not be written to %s and are lost",
                  lost, self.run_id, self.path or "the store")

    def _close_at_exit(self) -> None:
        """Interpreter exit with the run still open: close it, as an error if the program died of one."""
        exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
        if isinstance(exc, BaseException) and not (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.finish(exc, tb=getattr(sys, "last_traceback", None))
        else:
            self.finish()


def current_recorder() -> "Recorder | None":
    """The run a tool called now belongs to: the run of the innermost open node of this thread or
    task, else the run started in this context, else the only run open in the process (a framework
    that runs tools in threads of its own without copying the context); None if there is no such run."""
    node = _current_node.get()
    while node is not None:
        if node.recorder._state == "open":
            return node.recorder
        node = node._outer
    run = _current_run.get()
    if run is not None and run._state == "open":
        return run
    with _open_lock:
        if len(_open_recorders) == 1:
            for only in _open_recorders:
                return only if only._state == "open" else None
    return None


def _close_open_recorders() -> None:
    with _open_lock:
        open_now = list(_open_recorders)
    for rec in open_now:
        try:
            rec._close_at_exit()
        except Exception as exc:  # one broken recorder must not stop the others from flushing
            log.error("agenttui: closing run %s at exit failed: %s", rec.run_id, exc)


def _after_fork_in_child() -> None:
    """A forked child must not write through its parent's SQLite connection (SQLite forbids it)."""
    global _open_lock
    _open_lock = threading.Lock()
    for rec in list(_open_recorders):
        rec._state = "forked"
        rec._buf_lock = threading.Lock()
        rec._write_lock = threading.Lock()
        rec._buf = []
    _open_recorders.clear()


atexit.register(_close_open_recorders)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -------------------------------------------------------------------------------- instrument

def _capture_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {str(k): jsonable(v) for k, v in fields.items()}


def _preview(prompt: Any) -> str:
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict) and "content" in prompt[-1]:
        prompt = prompt[-1]["content"]
    text = prompt if isinstance(prompt, str) else short_repr(prompt)
    return clip(" ".join(text.split()), PROMPT_PREVIEW)
