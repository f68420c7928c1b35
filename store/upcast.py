"""Upcasters: old payload versions become current ones on read; the stored event never changes.

Register a function per (event_type, from_version); it receives the payload dict and returns the
payload of version from_version + 1. Chains run until no upcaster matches.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from .envelope import Event
from .errors import UpcastError

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UpcasterRegistry:
    def __init__(self) -> None:
        self._fns: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def decorator(fn: Upcaster) -> Upcaster:
            self.add(event_type, from_version, fn)
            return fn

        return decorator

    def add(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        if (event_type, from_version) in self._fns:
            raise ValueError(f"an upcaster for {event_type!r} v{from_version} is already registered")
        self._fns[(event_type, from_version)] = fn

    def __bool__(self) -> bool:
        return bool(self._fns)

    def upcast(self, event: Event) -> Event:
        if not self._fns:
            return event
        version = event.schema_version
        fn = self._fns.get((event.event_type, version))
        if fn is None:
            return event
        payload = dict(event.payload)
        while fn is not None:
            try:
                payload = fn(payload)
            except Exception as exc:  # a bug in user code must say which event and step it hit
                raise UpcastError(event.event_id, event.event_type, version, f"{type(exc).__name__}: {exc}") from exc
            if not isinstance(payload, dict):
                raise UpcastError(event.event_id, event.event_type, version,
                                  f"it returned {type(payload).__name__}, not a payload dict")
            version += 1
            fn = self._fns.get((event.event_type, version))
        meta = dict(event.metadata or {})
        meta["schema_version"] = version
        meta.setdefault("upcast_from", event.schema_version)
        return replace(event, payload=payload, metadata=meta)


#: The process-wide default registry; stores use it unless given their own.
upcasters = UpcasterRegistry()
