"""Fan-out of committed events to live subscribers, with a bounded buffer per subscriber.

The hub is fed by the store's follower (agenttui.serve.live) while any subscriber is connected, on
the event loop, so its `high_water` (the last position it has handed out, or the one the follower
started from) splits every subscriber's world in two: positions up to it come from the store's
history, positions above it arrive through the subscription. That split is what makes
replay-then-live gapless and duplicate-free.
"""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

import orjson

from agenttui.store import Event


@dataclass(frozen=True)
class EventSelector:
    """Which events a subscriber wants: None means any run / any type."""

    runs: frozenset[str] | None = None
    types: frozenset[str] | None = None

    def matches(self, event: Event) -> bool:
        return ((self.runs is None or event.run_id in self.runs)
                and (self.types is None or event.event_type in self.types))


class Subscription:
    """A subscriber's queue of (position, JSON text). It never blocks the publisher: past `limit`
    queued events it is marked overflowed and the consumer is expected to drop the client."""

    def __init__(self, selector: EventSelector, limit: int):
        self.selector = selector
        self.limit = limit
        self.queue: deque[tuple[int, str]] = deque()
        self.overflowed = False
        self._ready = asyncio.Event()

    def offer(self, position: int, text: str) -> None:
        if self.overflowed:
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append((position, text))
        self._ready.set()

    async def wait(self) -> None:
        await self._ready.wait()
        self._ready.clear()

    def drain(self) -> list[tuple[int, str]]:
        items = list(self.queue)
        self.queue.clear()
        return items


def event_text(event: Event) -> str:
    return orjson.dumps(event.to_json()).decode()


class Hub:
    def __init__(self, high_water: int = 0, *, transform: Callable[[Event], Event] | None = None):
        self.high_water = high_water
        self.published = 0
        self._subs: set[Subscription] = set()
        self._transform = transform

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def resume_at(self, position: int) -> None:
        """A follower starts after `position` (the store's last one): the seam for the next subscribers.
        Without a follower the hub hears of no commit, so the high water it kept is stale by then."""
        self.high_water = position

    def subscribe(self, selector: EventSelector, limit: int) -> tuple[Subscription, int]:
        """A new subscription and the seam: every event above the seam will reach it."""
        sub = Subscription(selector, limit)
        self._subs.add(sub)
        return sub, self.high_water

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, events: Iterable[Event]) -> None:
        """Hand committed events (those the store gave a position) to every interested subscriber."""
        for event in events:
            pos = event.position
            if pos is None:  # a duplicate the store skipped: it went out when first stored
                continue
            self.published += 1
            if pos > self.high_water:
                self.high_water = pos
            if not self._subs:
                continue
            shown = self._transform(event) if self._transform else event
            text: str | None = None
            for sub in self._subs:
                if sub.selector.matches(shown):
                    if text is None:
                        text = event_text(shown)
                    sub.offer(pos, text)
