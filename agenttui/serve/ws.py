"""The WebSocket side of `agenttui serve`: /ws/events streams each committed event as JSON text.

A client is subscribed to the hub *before* any history is read, and the hub's high-water position
at that instant is the seam: history is read from the store up to and including the seam, live
events arrive above it. Nothing committed around the moment of connection is missed or sent twice.

Subscribing goes through the LiveFeed, which follows the store only while a client is connected,
and happens during the handshake, before the client is told it is connected: a first client's seam
is the store's last position read then, so an event committed once `connect()` has returned is
always above it, even one the client caused itself right away.
"""
from __future__ import annotations

import asyncio
import hmac
import http
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from agenttui.store import EventFilter

from .config import HEALTH_PATH, TRUE_WORDS, WS_PATH, ServeConfig
from .hub import EventSelector, Subscription, event_text
from .live import LiveFeed
from .logs import emit, get_logger

log = get_logger("ws")
HISTORY_PAGE = 1000
#: Close code for a client that could not keep up (RFC 6455 1013: try again later).
CLOSE_TOO_SLOW = 1013
QUERY_PARAMS = ("run", "type", "after", "replay", "token")


class BadRequest(ValueError):
    """A WebSocket request whose query parameters cannot be served (answered with HTTP 400)."""


#: The largest position a client may ask to follow from (the store's positions are 64-bit).
MAX_POSITION = 2 ** 63 - 1


@dataclass(frozen=True)
class FeedRequest:
    """What one client asked for in its query string."""

    selector: EventSelector
    after: int | None
    replay: bool


def parse_feed_query(query: str, *, default_replay: bool) -> FeedRequest:
    """`run=ID`, `type=A&type=B` (or `type=A,B`), `after=POSITION`, `replay=latest|none`, `token=`."""
    runs: list[str] = []
    types: list[str] = []
    after: int | None = None
    replay = default_replay
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "run":
            if runs:
                raise BadRequest("'run' may be given once (one run per connection)")
            if not value:
                raise BadRequest("'run' must not be empty")
            runs.append(value)
        elif key == "type":
            parts = [t for t in (p.strip() for p in value.split(",")) if t]
            if not parts:
                raise BadRequest("'type' must name at least one event type")
            types.extend(parts)
        elif key == "after":
            # ASCII digits only (isdigit() also takes '²', which int() refuses), and a position
            # fits the store's 64-bit integers: anything else would fail in the query, not here
            if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_POSITION:
                raise BadRequest(f"'after' must be a position from 0 to {MAX_POSITION}, got {_shown(value)}")
            after = int(value)
        elif key == "replay":
            word = value.strip().lower()
            if word in TRUE_WORDS | {"latest"}:
                replay = True
            elif word in ("none", "no", "false", "0", "off"):
                replay = False
            else:
                raise BadRequest(f"'replay' must be 'latest' or 'none', got {value!r}")
        elif key != "token":
            raise BadRequest(f"unknown query parameter {key!r} (known: {', '.join(QUERY_PARAMS)})")
    selector = EventSelector(runs=frozenset(runs) if runs else None, types=frozenset(types) if types else None)
    return FeedRequest(selector=selector, after=after, replay=replay)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def presented_token(request: Request, query: str) -> str | None:
    auth = request.headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "token":
            return value
    return None


def _text_response(conn: ServerConnection, status: http.HTTPStatus, text: str,
                   content_type: str = "text/plain; charset=utf-8") -> Response:
    response = conn.respond(status, text)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


class EventFeedServer:
    """Serves /ws/events (and a small /healthz) from the hub and the store's history."""

    def __init__(self, config: ServeConfig, store: Any, live: LiveFeed,
                 health: Callable[[], Awaitable[dict[str, Any]]]):
        self.config = config
        self.store = store
        self.live = live
        self.hub = live.hub
        self.health = health
        self.server: Server | None = None
        self._releases: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self.server = await serve(
            self._handle, self.config.ws_host, self.config.ws_port,
            process_request=self._process_request, compression=None, max_size=64 * 1024,
            ping_interval=20, ping_timeout=20,
        )
        emit(log, logging.INFO, "websocket feed listening", url=f"ws://{self._display_host()}:{self.port}{WS_PATH}",
             token_required=bool(self.config.token))

    def _display_host(self) -> str:
        host = self.config.ws_host or ""
        return f"[{host}]" if ":" in host else host

    async def close(self) -> None:
        """Close every client with 1001 (going away) and stop listening."""
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        if self._releases:
            await asyncio.wait(set(self._releases))

    # ------------------------------------------------------------------- handshake
    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        peer = _peer(conn)
        if parts.path == HEALTH_PATH:
            body = orjson.dumps(await self.health()).decode()
            return _text_response(conn, http.HTTPStatus.OK, body + "\n", "application/json")
        if parts.path != WS_PATH:
            return _text_response(conn, http.HTTPStatus.NOT_FOUND,
                                  f"no such path {parts.path!r}; the event feed is at {WS_PATH}\n")
        if self.config.token:
            given = presented_token(request, parts.query)
            if given is None or not hmac.compare_digest(given.encode(), self.config.token.encode()):
                emit(log, logging.WARNING, "rejected client: missing or wrong token", peer=peer,
                     token_given=given is not None)
                return _text_response(conn, http.HTTPStatus.UNAUTHORIZED,
                                      "missing or wrong token: pass ?token=... or 'Authorization: Bearer ...'\n")
        try:
            feed = parse_feed_query(parts.query, default_replay=self.config.replay_latest)
        except BadRequest as exc:
            emit(log, logging.WARNING, "rejected client: bad query", peer=peer, error=str(exc))
            return _text_response(conn, http.HTTPStatus.BAD_REQUEST, f"{exc}\n")
        sub, seam = await self.live.subscribe(feed.selector, self.config.client_queue)
        conn._agenttui_feed = feed, sub, seam  # type: ignore[attr-defined]  # read by _handle after the upgrade
        release = asyncio.ensure_future(self._release_when_closed(conn, sub))
        self._releases.add(release)
        release.add_done_callback(self._releases.discard)
        return None

    async def _release_when_closed(self, conn: ServerConnection, sub: Subscription) -> None:
        """Unsubscribe a connection whose handshake failed after it was subscribed (the client left
        or the server began closing): `_handle` never runs for it. Otherwise `_handle` unsubscribes it
        as well, which is harmless (LiveFeed.unsubscribe is idempotent)."""
        await conn.wait_closed()
        await self.live.unsubscribe(sub)

    # ------------------------------------------------------------------- one client
    async def _handle(self, conn: ServerConnection) -> None:
        feed: FeedRequest
        sub: Subscription
        feed, sub, seam = conn._agenttui_feed  # type: ignore[attr-defined]
        peer = _peer(conn)
        sel = feed.selector
        emit(log, logging.INFO, "client connected", peer=peer, run=sorted(sel.runs) if sel.runs else None,
             types=sorted(sel.types) if sel.types else None, replay=feed.replay, after=feed.after,
             seam=seam, clients=self.hub.subscribers)
        sent = 0
        reader = asyncio.ensure_future(_discard_incoming(conn))
        try:
            if feed.replay or feed.after is not None:
                sent += await self._send_history(conn, feed, seam)
            last = max(seam, feed.after or 0)
            sent += await self._send_live(conn, sub, reader, last)
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            await self.live.unsubscribe(sub)
            emit(log, logging.INFO, "client disconnected", peer=peer, events_sent=sent,
                 code=conn.close_code, clients=self.hub.subscribers)

    async def _send_history(self, conn: ServerConnection, feed: FeedRequest, seam: int) -> int:
        """Events up to the seam: the latest run's (or the requested run's) when replaying, else
        everything matching after `after`."""
        sel = feed.selector
        run = next(iter(sel.runs)) if sel.runs else None
        if feed.replay and run is None:
            run = await asyncio.to_thread(self.store.latest_run_id)
            if run is None and feed.after is None:
                return 0
        flt = EventFilter(run_id=run, types=sorted(sel.types) if sel.types else None)
        last, sent = feed.after or 0, 0
        while last < seam:
            page = await asyncio.to_thread(self.store.events, flt, after=last, before=seam + 1, limit=HISTORY_PAGE)
            if not page:
                break
            for event in page:
                await conn.send(event_text(event))
            sent += len(page)
            last = page[-1].position
        return sent

    async def _send_live(self, conn: ServerConnection, sub: Subscription, reader: asyncio.Future, last: int) -> int:
        sent = 0
        while True:
            waiter = asyncio.ensure_future(sub.wait())
            done, _ = await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                waiter.cancel()
                return sent
            if sub.overflowed:
                emit(log, logging.WARNING, "dropping a client that fell behind", peer=_peer(conn),
                     limit=sub.limit, last_sent_position=last)
                await conn.close(CLOSE_TOO_SLOW, f"fell over {sub.limit} events behind; reconnect with after={last}")
                return sent
            for position, text in sub.drain():
                if position <= last:
                    continue
                await conn.send(text)
                last = position
                sent += 1


async def _discard_incoming(conn: ServerConnection) -> None:
    """Clients have nothing to say; reading keeps close frames flowing and tells us they left."""
    try:
        async for _ in conn:
            pass
    except ConnectionClosed:
        pass


def _peer(conn: ServerConnection) -> str:
    addr = conn.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)
