"""The store follower behind the WebSocket feed, running only while a client is connected.

The follower reads back every commit (its own connection, `data_version`, `read_after`, the events
decoded): for an OTLP receiver taking spans flat out that was about 30% of its CPU, spent for nobody
when no client was connected (benchmarks/bench_otel.py). So the first subscriber starts it and the
last one to leave stops it; the next subscriber starts a new one.

What keeps that gapless: a follower is started under a lock, from the store's last position read at
that moment, and that position becomes the hub's high water, i.e. the seam of the subscriber that
started it (history up to it from the store, live events above it from the follower). Subscribers
that join while it runs get the hub's high water as before. Batches a stopped follower had already
queued for the event loop are dropped (no subscriber was left to want them, and the next follower
starts after whatever they held).
"""
from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Callable

from agenttui.store import Event
from agenttui.store.follow import Change, StoreFollower

from .hub import EventSelector, Hub, Subscription
from .logs import emit, get_logger

log = get_logger()

#: Builds a follower that reports to `on_change` (not started yet).
FollowerFactory = Callable[[Callable[[Change], None]], StoreFollower]


class LiveFeed:
    """Subscriptions to the hub, with a store follower running exactly while there are any."""

    def __init__(self, hub: Hub, last_position: Callable[[], int], make_follower: FollowerFactory):
        self.hub = hub
        self._last_position = last_position
        self._make_follower = make_follower
        self._lock = asyncio.Lock()
        self._closed = False
        self.follower: StoreFollower | None = None
        #: followers started so far (a client arriving after the last one left starts a new one)
        self.starts = 0

    async def subscribe(self, selector: EventSelector, limit: int) -> tuple[Subscription, int]:
        """A subscription and its seam: every event committed above the seam will reach it."""
        async with self._lock:
            if self.follower is None and not self._closed:
                position = await asyncio.to_thread(self._last_position)
                self.hub.resume_at(position)
                self.follower = self._start(position)
            return self.hub.subscribe(selector, limit)

    async def unsubscribe(self, sub: Subscription) -> None:
        """Idempotent: the last subscriber to leave stops the follower."""
        self.hub.unsubscribe(sub)
        if self.hub.subscribers:
            return
        async with self._lock:  # a client that subscribed meanwhile keeps the follower
            if not self.hub.subscribers:
                await self._stop()

    async def close(self) -> None:
        """Stop following for good (serve is shutting down): later subscribers get no follower."""
        async with self._lock:
            self._closed = True
            await self._stop()

    def _start(self, position: int) -> StoreFollower:
        loop = asyncio.get_running_loop()
        follower: StoreFollower | None = None

        def on_change(change: Change) -> None:  # on the follower's thread
            if change.kind == "events":
                loop.call_soon_threadsafe(self._publish, follower, change.events)
            elif change.message:
                loop.call_soon_threadsafe(partial(emit, log, logging.WARNING, "following the store",
                                                  problem=change.message))

        follower = self._make_follower(on_change)
        follower.start(position)
        self.starts += 1
        return follower

    def _publish(self, follower: StoreFollower | None, events: list[Event]) -> None:
        if follower is not None and follower is self.follower:
            self.hub.publish(events)

    async def _stop(self) -> None:
        follower, self.follower = self.follower, None
        if follower is not None:
            await asyncio.to_thread(follower.stop)
