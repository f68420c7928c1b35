"""Wiring of `agenttui serve`: store, hub, bridge and feed, with an orderly shutdown.

The WebSocket hub is fed by the store's follower (agenttui.store.follow), not by the bridge: every
event committed to the store reaches the feed, whoever wrote it (this bridge, an OTLP receiver,
`agenttui import`, the Recorder in another process), in position order and once. The follower runs
only while a WebSocket client is connected (agenttui.serve.live): reading every commit back costs
a busy receiver about 30% of its CPU, which nobody wants while nobody is listening.

Shutdown order matters for the delivery guarantee: the bridge is stopped first and finishes the
batch in hand (commit, then acknowledge), only then are WebSocket clients closed (1001) and the
store closed. A second SIGINT/SIGTERM exits at once, which is still safe: unacknowledged entries
stay pending in Redis and are read back on the next start.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, Callable

from agenttui.store import AgentTuiError, open_store
from agenttui.store.follow import Change, StoreFollower

from .bridge import StreamBridge
from .config import ServeConfig, redact_url
from .hub import Hub
from .live import LiveFeed
from .logs import emit, get_logger
from .ws import EventFeedServer

log = get_logger()


class ServeApp:
    def __init__(self, config: ServeConfig, *, store: Any = None):
        self.config = config
        self.store = store
        self._owns_store = store is None
        self.stop = asyncio.Event()
        self.hub: Hub | None = None
        self.bridge: StreamBridge | None = None
        self.feed: EventFeedServer | None = None
        self._bridge_task: asyncio.Task | None = None
        self.otlp: Any = None  # the OTLP/HTTP receiver (agenttui.serve.otlp), with --otlp
        self.live: LiveFeed | None = None  # with the feed: follows the store while clients are connected

    @property
    def follower(self) -> StoreFollower | None:
        """The store follower feeding the WebSocket clients: None while none is connected."""
        return self.live.follower if self.live is not None else None

    @property
    def ws_port(self) -> int | None:
        return self.feed.port if self.feed and self.feed.server else None

    async def start(self) -> None:
        cfg = self.config
        if self.store is None:
            self.store = await asyncio.to_thread(open_store, cfg.db)
        upcasters = getattr(self.store, "upcasters", None)
        high_water = await asyncio.to_thread(self.store.last_position)
        self.hub = Hub(high_water, transform=upcasters.upcast if upcasters else None)
        self.bridge = StreamBridge(cfg, self.store, self.stop) if cfg.redis_enabled else None
        emit(log, logging.INFO, "agenttui serve starting", db=_display_db(cfg.db),
             redis=cfg.redis_display if cfg.redis_enabled else "off",
             stream=cfg.stream, group=cfg.group, consumer=cfg.consumer, dead_letter_stream=cfg.dead_letter_stream,
             replay_latest=cfg.replay_latest, last_position=high_water)
        if cfg.ws_host is not None:
            self.live = LiveFeed(self.hub, self.store.last_position, self._follower)
            self.feed = EventFeedServer(cfg, self.store, self.live, self.health)
            await self.feed.start()
        if cfg.otlp_host is not None:
            from .otlp import OtlpReceiver  # needs the `otel` extra only when asked for

            self.otlp = OtlpReceiver(self.store, cfg.otlp_host, cfg.otlp_port, token=cfg.token)
            await self.otlp.start()
        # without Redis (serve --otlp only) the "bridge" is just waiting for the stop
        run = self.bridge.run() if self.bridge is not None else self.stop.wait()
        self._bridge_task = asyncio.create_task(run, name="agenttui-serve-bridge")

    def _follower(self, on_change: Callable[[Change], None]) -> StoreFollower:
        return StoreFollower(self.config.db or self.store.path, on_change)  # the URL: .path hides options

    def request_stop(self, reason: str = "requested") -> None:
        if not self.stop.is_set():
            emit(log, logging.INFO, "shutting down", reason=reason)
            self.stop.set()

    async def wait(self) -> bool:
        """Until the bridge ends (after `request_stop`), then close clients and the store. False if
        the bridge died of an unexpected error (logged; unacknowledged entries stay pending)."""
        assert self._bridge_task is not None
        try:
            await self._bridge_task
            return True
        except Exception:
            log.exception("the stream bridge failed; exiting so a supervisor can restart it")
            return False
        finally:
            await self.close()

    async def close(self) -> None:
        self.stop.set()
        if self._bridge_task is not None and not self._bridge_task.done():
            await asyncio.wait({self._bridge_task})
        if self.otlp is not None:  # answers requests in hand, places spans still waiting for a parent
            await self.otlp.close()
        if self.live is not None:
            await self.live.close()
        if self.feed is not None:
            await self.feed.close()
        if self._owns_store and self.store is not None:
            self.store.close()
            self.store = None
        stats = self.bridge.stats if self.bridge else None
        emit(log, logging.INFO, "stopped", stored=stats.stored if stats else 0,
             duplicates_skipped=stats.duplicates if stats else 0,
             dead_lettered=stats.dead_lettered if stats else 0)

    async def health(self) -> dict[str, Any]:
        """/healthz. `last_position` is the store's own: the hub hears of commits only while a
        WebSocket client is connected, so its high water may be long past."""
        stats = self.bridge.stats if self.bridge else None
        problem: dict[str, str] = {}
        last: int | None = None
        if self.store is not None:
            try:
                last = await asyncio.to_thread(self.store.last_position)
            except Exception as exc:  # a store that is down right now: named by its error's type only,
                problem["store_error"] = type(exc).__name__  # since /healthz needs no token
        return {
            "status": "stopping" if self.stop.is_set() else "ok",
            "redis_connected": bool(stats and stats.connected),
            "stored": stats.stored if stats else 0,
            "dead_lettered": stats.dead_lettered if stats else 0,
            "last_position": last,
            "clients": self.hub.subscribers if self.hub else 0,
            **({"otlp_spans": self.otlp.stats.spans, "otlp_rejected_spans": self.otlp.stats.rejected_spans}
               if self.otlp is not None else {}),
            **problem,
        }


def _display_db(target: str) -> str:
    return redact_url(target) if "://" in target else target


async def serve_until_signalled(config: ServeConfig) -> int:
    app = ServeApp(config)
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if app.stop.is_set():
            emit(log, logging.WARNING, "second signal: exiting immediately; unacknowledged entries stay pending",
                 signal=name)
            os._exit(128 + signum)
        app.request_stop(f"received {name}")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await app.start()
    except Exception as exc:  # a store that cannot be opened, a port in use, ...: say which, exit 2
        emit(log, logging.ERROR, "cannot start", error=f"{type(exc).__name__}: {exc}"
             if not isinstance(exc, AgentTuiError) else str(exc))
        await app.close()
        return 2
    return 0 if await app.wait() else 2


def run_serve(config: ServeConfig) -> int:
    return asyncio.run(serve_until_signalled(config))
