"""Custom projections: your own folds over the event log, registered by name and queried in time.

The built-in projection (runs, nodes, edges) is the store's; anything else an agent author wants to
know from their events (a balance, a P&L, a cost ledger) is a fold of their own:

    class Balance(Projection):
        name = "balance"
        event_types = {"FundsDeposited", "BetPlaced"}   # optional: only these are read

        def initial(self):
            return 0.0

        def apply(self, state, event):
            amount = event.payload["amount"]
            return state + amount if event.event_type == "FundsDeposited" else state - amount

    register_projection(Balance())                     # globally, or registry_for(store).register(...)
    project(store, "balance", run_id, position=120)    # state as of position 120
    project(store, "balance", run_id, timestamp="2026-03-01T09:00:05Z")

A projection is only ever given events (never the database), so the same class serves the store,
the inspector's live view and its time slider. `Projector` keeps in-memory checkpoints of the fold
so that asking for the state at many positions (a time slider) re-folds only a short stretch.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import sys
import threading
import weakref
from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .envelope import Event, normalize_timestamp
from .errors import AgentTuiError

__all__ = [
    "FunctionProjection", "Projection", "ProjectionError", "ProjectionRegistry", "Projector",
    "global_projections", "load_projections", "project", "register_projection", "registry_for",
]

#: Events folded between two in-memory checkpoints (doubles when a run outgrows MAX_CHECKPOINTS).
DEFAULT_CHECKPOINT_EVERY = 1000
MAX_CHECKPOINTS = 256
_READ_BATCH = 5000


class ProjectionError(AgentTuiError):
    """A projection could not be registered, found or folded; the message names which and where."""


class Projection:
    """Base class for a fold of your own: an initial state and `apply(state, event) -> state`.

    Subclasses set `name` (defaults to the class name), may narrow `event_types` so the store reads
    only those events, and bump `version` when `apply` changes meaning (cached checkpoints of an
    older version are then not reused). `apply` may return a new state or mutate and return the one
    it got; checkpoints are copies, so either is safe. Override `copy` if deepcopy is wrong or slow
    for your state, and `describe` to choose how the state is shown (a flat dict of figures).
    """

    name: str = ""
    version: int = 1
    event_types: Iterable[str] | None = None
    description: str = ""

    def initial(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.initial() must return the empty state")

    def apply(self, state: Any, event: Event) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.apply(state, event) must return the next state")

    def copy(self, state: Any) -> Any:
        return copy.deepcopy(state)

    def describe(self, state: Any) -> dict[str, Any]:
        if dataclasses.is_dataclass(state) and not isinstance(state, type):
            return dataclasses.asdict(state)
        if isinstance(state, dict):
            return dict(state)
        return {"value": state}


class FunctionProjection(Projection):
    """A projection from two functions, for folds too small to deserve a class."""

    def __init__(self, name: str, initial: Callable[[], Any], apply: Callable[[Any, Event], Any], *,
                 event_types: Iterable[str] | None = None, version: int = 1, description: str = "") -> None:
        self.name = name
        self._initial = initial
        self._apply = apply
        self.event_types = frozenset(event_types) if event_types is not None else None
        self.version = version
        self.description = description

    def initial(self) -> Any:
        return self._initial()

    def apply(self, state: Any, event: Event) -> Any:
        return self._apply(state, event)


def projection_name(projection: Any) -> str:
    name = getattr(projection, "name", None)
    return name if isinstance(name, str) and name else type(projection).__name__


def _check_projection(obj: Any) -> Any:
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as exc:
            raise ProjectionError(f"{obj.__name__} cannot be created without arguments ({exc}); "
                                  "register an instance instead") from None
    for method in ("initial", "apply"):
        if not callable(getattr(obj, method, None)):
            raise ProjectionError(f"{type(obj).__name__} is not a projection: it has no {method}() method")
    return obj


class ProjectionRegistry:
    """Projections by name. A store's registry falls back to the global one (see `registry_for`)."""

    def __init__(self, parent: "ProjectionRegistry | None" = None) -> None:
        self._items: dict[str, Any] = {}
        self._parent = parent
        self._lock = threading.Lock()

    def register(self, projection: Any = None, *, name: str | None = None, replace: bool = False) -> Any:
        """Register an instance or a class (created without arguments); usable as a class decorator."""
        if projection is None:
            return lambda p: self.register(p, name=name, replace=replace)
        original = projection
        instance = _check_projection(projection)
        key = name or projection_name(instance)
        with self._lock:
            if key in self._items and not replace and self._items[key] is not instance:
                raise ProjectionError(f"a projection named {key!r} is already registered "
                                      "(pass replace=True to swap it)")
            self._items[key] = instance
        return original

    def unregister(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name, None) is None:
                raise ProjectionError(f"no projection named {name!r} is registered here")

    def get(self, name: str) -> Any:
        found = self._items.get(name)
        if found is not None:
            return found
        if self._parent is not None and name in self._parent:
            return self._parent.get(name)
        known = ", ".join(self.names()) or "none"
        raise ProjectionError(f"no projection named {name!r} (registered: {known})")

    def names(self) -> list[str]:
        names = dict.fromkeys(self._items)
        if self._parent is not None:
            names.update(dict.fromkeys(self._parent.names()))
        return sorted(names)

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self.get(n)) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items or (self._parent is not None and name in self._parent)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


#: The process-wide registry; every store's registry sees what is registered here.
global_projections = ProjectionRegistry()
register_projection = global_projections.register

_store_registries: "weakref.WeakKeyDictionary[Any, ProjectionRegistry]" = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def registry_for(store: Any) -> ProjectionRegistry:
    """The registry of projections for one store: its own registrations plus the global ones."""
    with _registries_lock:
        reg = _store_registries.get(store)
        if reg is None:
            reg = _store_registries[store] = ProjectionRegistry(parent=global_projections)
        return reg


# ------------------------------------------------------------------------------------ folding

def _after_timestamp(ts: str) -> str:
    """The smallest stored timestamp strictly after `ts` (stored form has microsecond precision)."""
    dt = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(microseconds=1)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Projector:
    """Folds one projection over one run (or the whole store) and answers "state at" queries.

    The fold of the newest events is kept and extended incrementally (`latest()` reads only what
    was committed since the last call); a copy of the state is kept every `checkpoint_every` events,
    so `state_at(position)` starts from the nearest checkpoint instead of the beginning. Returned
    states are copies: mutating one never corrupts later answers.
    """

    def __init__(self, store: Any, projection: Any, run_id: str | None = None, *,
                 checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        self.store = store
        self.projection = _check_projection(projection)
        self.name = projection_name(self.projection)
        self.run_id = run_id
        types = getattr(self.projection, "event_types", None)
        self.event_types: list[str] | None = sorted(types) if types is not None else None
        self.checkpoint_every = checkpoint_every
        self._lock = threading.RLock()
        self._state = self.projection.initial()
        self._frontier = 0  # position of the last event folded into _state
        self._since_checkpoint = 0
        self._checkpoints: list[tuple[int, Any]] = []  # (position, state copy), ascending
        self.events_folded = 0

    # -- reading the store ----------------------------------------------------------------------
    def _filter(self, since: str | None = None) -> Any:
        from .rows import EventFilter  # late: keeps this module importable without the backend

        return EventFilter(run_id=self.run_id, types=self.event_types, since=since)

    def _events(self, after: int, until: int | None) -> Iterator[tuple[int, Event]]:
        """(position, event) pairs: a stored event always has its position, which the fold records."""
        last = after
        while True:
            page = self.store.events(self._filter(), after=last, limit=_READ_BATCH)
            if not page:
                return
            for e in page:
                position: int = e.position
                if until is not None and position > until:
                    return
                yield position, e
            last = page[-1].position

    def _apply(self, state: Any, event: Event) -> Any:
        try:
            new = self.projection.apply(state, event)
        except Exception as exc:
            raise ProjectionError(
                f"projection {self.name!r} failed on event at position {event.position} "
                f"({event.event_type}, {event.event_id}): {type(exc).__name__}: {exc}") from exc
        return state if new is None else new

    # -- the main line of the fold ---------------------------------------------------------------
    def _advance(self, until: int | None) -> None:
        if until is not None and until <= self._frontier:
            return
        proj_copy = self.projection.copy
        for position, e in self._events(self._frontier, until):
            try:
                self._state = self._apply(self._state, e)
            except ProjectionError:
                # apply may have half-mutated the state before failing: fall back to a clean copy
                if self._checkpoints:
                    self._frontier, self._state = self._checkpoints[-1][0], proj_copy(self._checkpoints[-1][1])
                else:
                    self._frontier, self._state = 0, self.projection.initial()
                self._since_checkpoint = 0
                raise
            self._frontier = position
            self.events_folded += 1
            self._since_checkpoint += 1
            if self._since_checkpoint >= self.checkpoint_every:
                self._checkpoints.append((self._frontier, proj_copy(self._state)))
                self._since_checkpoint = 0
                if len(self._checkpoints) > MAX_CHECKPOINTS:
                    self._checkpoints = self._checkpoints[1::2]
                    self.checkpoint_every *= 2

    def _start_for(self, position: int) -> tuple[int, Any]:
        """The latest known state at or before `position` (a checkpoint or the frontier), copied."""
        if position >= self._frontier:
            return self._frontier, self.projection.copy(self._state)
        lo, hi = 0, len(self._checkpoints)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._checkpoints[mid][0] <= position:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return 0, self.projection.initial()
        pos, state = self._checkpoints[lo - 1]
        return pos, self.projection.copy(state)

    # -- queries ------------------------------------------------------------------------------------
    def latest(self) -> Any:
        """The state after every event committed so far."""
        return self.state_at()

    def state_at(self, position: int | None = None, *, timestamp: Any = None, exclude: Iterable[str] = ()) -> Any:
        """The state as of a position (inclusive) and/or a timestamp, optionally without some events.

        With a timestamp, the events stamped at or before it are folded in log order (as the
        store's own `state_at` does). `exclude` takes event ids: "what if these had not happened".
        """
        if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 0):
            raise ValueError(f"position must be a non-negative integer, got {position!r}")
        ts = normalize_timestamp(timestamp, field_name="timestamp") if timestamp is not None else None
        excluded = set(exclude)
        with self._lock:
            # every event up to prefix_end is folded; past it, some are filtered out
            prefix_end = position
            if ts is not None:
                first_late = self.store.events(self._filter(since=_after_timestamp(ts)), limit=1)
                if first_late:
                    p = first_late[0].position - 1
                    prefix_end = p if prefix_end is None else min(prefix_end, p)
            for eid in excluded:
                e = self.store.get_event(eid)
                if e is not None and e.position is not None:
                    p = e.position - 1
                    prefix_end = p if prefix_end is None else min(prefix_end, p)
            self._advance(prefix_end)
            start, state = self._start_for(self._frontier if prefix_end is None else prefix_end)
            if prefix_end is None and position is None and not excluded and ts is None:
                return state
            for _, e in self._events(start, position):
                if (ts is not None and e.timestamp > ts) or (excluded and e.event_id in excluded):
                    continue
                state = self._apply(state, e)
            return state

    def describe(self, state: Any) -> dict[str, Any]:
        describe = getattr(self.projection, "describe", None)
        return describe(state) if callable(describe) else {"value": state}


# --------------------------------------------------------------------------- one-call querying

_projectors: "weakref.WeakKeyDictionary[Any, OrderedDict[tuple[int, str | None], Projector]]" = \
    weakref.WeakKeyDictionary()
_PROJECTORS_PER_STORE = 32


def project(store: Any, projection: Any, run_id: str | None = None, *, position: int | None = None,
            timestamp: Any = None, exclude: Iterable[str] = ()) -> Any:
    """State of `projection` (an instance or a registered name) for a run, or the whole store.

    run_id=None folds every run's events in log order. Projectors are cached per store, so repeated
    queries (a slider, a dashboard refresh) reuse their checkpoints and fold only new events.
    """
    proj = registry_for(store).get(projection) if isinstance(projection, str) else _check_projection(projection)
    with _registries_lock:
        cache = _projectors.get(store)
        if cache is None:
            cache = _projectors[store] = OrderedDict()
        key = (id(proj), run_id)
        projector = cache.get(key)
        if projector is None or projector.projection is not proj:
            projector = cache[key] = Projector(store, proj, run_id)
        cache.move_to_end(key)
        while len(cache) > _PROJECTORS_PER_STORE:
            cache.popitem(last=False)
    return projector.state_at(position, timestamp=timestamp, exclude=exclude)


# ------------------------------------------------------------------------------ loading files

def load_projections(spec: str) -> list[Any]:
    """Projections from a file or module: `path.py`, `path.py:Name`, `package.module[:Name]`.

    Without `:Name`, the module's `PROJECTIONS` list is used if it has one, else every Projection
    subclass defined in it. Loading a module also runs its own register_projection calls.
    """
    target, attr = spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail.isidentifier():
        target, attr = head, tail
    path = Path(target)
    if target.endswith(".py") or path.exists():
        if not path.is_file():
            raise ProjectionError(f"{target}: no such projection file")
        mod_name = f"agenttui_projections_{abs(hash(str(path.resolve())))}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec_obj = importlib.util.spec_from_file_location(mod_name, path)
            if spec_obj is None or spec_obj.loader is None:
                raise ProjectionError(f"{target}: cannot be loaded as a Python module")
            module = importlib.util.module_from_spec(spec_obj)
            sys.modules[mod_name] = module
            try:
                spec_obj.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(mod_name, None)
                raise ProjectionError(f"{target}: loading failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ProjectionError(f"{target}: no such projection file or module ({exc})") from None
    if attr:
        if not hasattr(module, attr):
            raise ProjectionError(f"{target} has no attribute {attr!r}")
        obj = getattr(module, attr)
        items = obj if isinstance(obj, (list, tuple)) else [obj]
        return [_check_projection(o) for o in items]
    declared = getattr(module, "PROJECTIONS", None)
    if declared is not None:
        return [_check_projection(o) for o in declared]
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Projection) and obj.__module__ == module.__name__
             and obj not in (Projection, FunctionProjection)]
    if not found:
        raise ProjectionError(f"{target} defines no projection (a Projection subclass or a PROJECTIONS list)")
    return [_check_projection(o) for o in found]
