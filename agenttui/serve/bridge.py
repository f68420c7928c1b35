"""The Redis side of `agenttui serve`: a consumer-group reader that commits before it acknowledges.

Delivery guarantee: an entry is XACKed only after the batch holding it is committed to the store
(or, when it can never be stored, after it has been copied to the dead-letter stream, in the same
MULTI as the XACK). A crash at any instant therefore leaves every unstored entry pending in the
group; the next start reads its own pending entries back (same consumer name) and claims other
consumers' stale ones with XAUTOCLAIM. Re-delivered events that did get committed are skipped by
the store's event_id idempotency, so nothing is lost and nothing is stored twice.
"""
from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import sys
from dataclasses import dataclass
from typing import Any, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from agenttui.store import Event, now_timestamp
from agenttui.store.errors import StoreLockedError, StoreUnavailableError

from .config import ServeConfig
from .entries import Entry, RejectedEntry, dead_letter_fields, decode_entry
from .logs import emit, get_logger

log = get_logger("bridge")
#: First reconnect delay; doubled per failed attempt up to the configured maximum.
INITIAL_BACKOFF_S = 0.1
#: Batches up to this size are committed on the event loop itself when the store is a local SQLite
#: file: such a commit takes a fraction of a millisecond, less than handing it to a worker thread
#: and back (two scheduler wake-ups, ruinous for latency on a busy machine). Larger batches go to a
#: thread so WebSocket clients keep being served while they commit.
INLINE_COMMIT_MAX = 64


class Backoff:
    """Exponential backoff with jitter, so a fleet of servers does not reconnect in lockstep."""

    def __init__(self, initial: float, maximum: float):
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * (2 ** self.attempt))
        self.attempt += 1
        return base * (0.5 + random.random() / 2)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class BridgeStats:
    connected: bool = False
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    trimmed: int = 0
    reconnects: int = 0
    last_error: str | None = None


class StoreUnavailable(Exception):
    """The store failed for a reason that is not the events' fault (locked, disk full, connection)."""


def is_transient_store_error(exc: BaseException) -> bool:
    """Errors worth retrying the same batch for, as opposed to an event the store refuses.

    Decided by type: the store's own (locked past its wait, server unavailable), the OS's, and
    the backends' connection-level errors (sqlite3's OperationalError: locked, disk I/O; psycopg's
    OperationalError and InterfaceError: a lost server), psycopg's only when it is in use.
    """
    transient: tuple[type[BaseException], ...] = (
        OSError, TimeoutError, sqlite3.OperationalError, StoreLockedError, StoreUnavailableError)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        transient += (psycopg.OperationalError, psycopg.InterfaceError)
    return isinstance(exc, transient)


def parse_read(response: Any) -> list[Entry]:
    """XREADGROUP's reply (RESP2 list or RESP3 map) as a flat list of entries."""
    if not response:
        return []
    groups = response.values() if isinstance(response, dict) else (item[1] for item in response)
    entries: list[Entry] = []
    for group in groups:
        if group and isinstance(group[0], list):  # RESP3 wraps each stream's entries once more
            group = group[0]
        for entry_id, fields in group or ():
            if entry_id is not None:
                entries.append(Entry(entry_id, fields or None))
    return entries


class StreamBridge:
    """Reads `config.stream` through `config.group` and appends batches to `store`.

    It does not publish what it stores: the store's follower feeds the WebSocket hub with every
    commit, this bridge's and any other writer's (see serve/app.py).
    """

    def __init__(self, config: ServeConfig, store: Any, stop: asyncio.Event,
                 *, client_factory: Callable[[], aioredis.Redis] | None = None):
        self.config = config
        self.store = store
        self.stop = stop
        self.stats = BridgeStats()
        self._client_factory = client_factory or self._default_client
        self._store_backoff = Backoff(INITIAL_BACKOFF_S, config.max_backoff_s)
        self._connected_once = False
        self._failures = 0  # consecutive failed attempts of the current outage

    def _default_client(self) -> aioredis.Redis:
        # No hidden retries inside redis-py: the session loop below owns reconnection and logs it.
        return aioredis.Redis.from_url(
            self.config.redis_url,
            decode_responses=False,
            socket_connect_timeout=5,
            socket_timeout=self.config.block_ms / 1000 + 10,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            client_name=f"agenttui-serve:{self.config.consumer}",
        )

    # ----------------------------------------------------------------------- session loop
    async def run(self) -> None:
        """Consume until `stop` is set; Redis failures are logged and retried, never raised."""
        backoff = Backoff(INITIAL_BACKOFF_S, self.config.max_backoff_s)
        while not self.stop.is_set():
            client = self._client_factory()
            try:
                await self._session(client, backoff)
            except (RedisError, OSError) as exc:
                if self.stop.is_set():
                    break
                self.stats.connected = False
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                self._failures += 1
                delay = backoff.next()
                if isinstance(exc, ResponseError) and ("NOGROUP" in str(exc) or "no longer exists" in str(exc)):
                    # the stream was deleted (with its group), or Redis restarted without persistence;
                    # a read blocked at that moment gets UNBLOCKED, a later one NOGROUP
                    message, level = "consumer group is gone; recreating it", logging.WARNING
                elif self._connected_once:
                    message, level = "redis unavailable, will reconnect", logging.WARNING
                else:
                    message, level = "cannot reach redis, will retry", logging.WARNING
                if self._failures > 1:
                    level = logging.INFO  # one warning per outage, then quieter attempts
                emit(log, level, message, redis=self.config.redis_display, error=self.stats.last_error,
                     attempt=self._failures, retry_in_s=round(delay, 3))
                await self._sleep(delay)
            finally:
                try:
                    await client.aclose()
                except (RedisError, OSError):
                    pass
        self.stats.connected = False

    async def _session(self, client: aioredis.Redis, backoff: Backoff) -> None:
        cfg = self.config
        await client.ping()
        await self._ensure_group(client)
        self.stats.connected = True
        self._connected_once = True
        self.stats.last_error = None
        failures, self._failures = self._failures, 0
        if failures:
            self.stats.reconnects += 1
        emit(log, logging.INFO, "reconnected to redis" if failures else "connected to redis",
             redis=cfg.redis_display, stream=cfg.stream, group=cfg.group, consumer=cfg.consumer,
             **({"after_attempts": failures} if failures else {}))
        backoff.reset()
        await self._drain_own_pending(client)
        loop = asyncio.get_running_loop()
        claim_every = max(1.0, cfg.claim_idle_s / 2)
        next_claim = loop.time() + claim_every
        await self._claim_stale(client)
        prefetch: asyncio.Future | None = None
        try:
            while not self.stop.is_set():
                if loop.time() >= next_claim:
                    await self._claim_stale(client)
                    next_claim = loop.time() + claim_every
                read = prefetch or asyncio.ensure_future(self._read_new(client))
                prefetch = None
                entries = await self._unless_stopping(read)
                if entries:
                    # read the next batch while this one commits: Redis and the store work in parallel
                    prefetch = asyncio.ensure_future(self._read_new(client))
                    await asyncio.sleep(0)  # let it send the request before a commit holds the loop
                    await self._handle(client, entries)
            if prefetch is not None and prefetch.done() and not prefetch.cancelled() and not prefetch.exception():
                entries, prefetch = prefetch.result(), None
                if entries:  # already delivered to us: part of the batch in hand at shutdown
                    await self._handle(client, entries)
        finally:
            if prefetch is not None:  # an entry delivered to it stays pending for this consumer
                await _cancel(prefetch)

    async def _ensure_group(self, client: aioredis.Redis) -> None:
        """Create the group at the start of the stream (entries already there are stored too)."""
        try:
            await client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
            emit(log, logging.INFO, "created consumer group", stream=self.config.stream, group=self.config.group)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _drain_own_pending(self, client: aioredis.Redis) -> None:
        """Entries delivered to this consumer name but never acknowledged (a crash, a lost ack)."""
        cfg = self.config
        last: bytes | str = "0"
        total = 0
        while not self.stop.is_set():
            entries = parse_read(await client.xreadgroup(cfg.group, cfg.consumer, {cfg.stream: last},
                                                         count=cfg.batch_size))
            if not entries:
                break
            total += len(entries)
            if not await self._handle(client, entries):
                return
            last = entries[-1].entry_id
        if total:
            emit(log, logging.INFO, "re-processed pending entries", entries=total, consumer=cfg.consumer)

    async def _claim_stale(self, client: aioredis.Redis) -> None:
        """Take over entries other consumers received but left unacknowledged for claim_idle."""
        cfg = self.config
        start: bytes | str = "0-0"
        while not self.stop.is_set():
            reply = await client.xautoclaim(cfg.stream, cfg.group, cfg.consumer,
                                            min_idle_time=int(cfg.claim_idle_s * 1000),
                                            start_id=start, count=cfg.batch_size)
            next_id, claimed = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:
                self.stats.trimmed += len(deleted)
                emit(log, logging.WARNING, "pending entries were trimmed from the stream before being stored",
                     entries=len(deleted), first_id=deleted[0])
            entries = [Entry(eid, fields or None) for eid, fields in claimed if eid is not None]
            if entries:
                emit(log, logging.INFO, "claimed stale pending entries", entries=len(entries),
                     min_idle_s=cfg.claim_idle_s)
                if not await self._handle(client, entries):
                    return
            if next_id in (b"0-0", "0-0"):
                return
            start = next_id

    async def _read_new(self, client: aioredis.Redis) -> list[Entry]:
        cfg = self.config
        return parse_read(await client.xreadgroup(cfg.group, cfg.consumer, {cfg.stream: ">"},
                                                  count=cfg.batch_size, block=cfg.block_ms))

    async def _unless_stopping(self, read: asyncio.Future) -> list[Entry]:
        """The read's entries, or none if a shutdown comes first (a blocked read is then cancelled;
        an entry delivered to it stays pending for this consumer and is read back on restart)."""
        if self.stop.is_set():
            await _cancel(read)
            return []
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            done, _ = await asyncio.wait({read, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if read not in done:
            await _cancel(read)
            return []
        return read.result()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless asked to stop first; True when stopping."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            return False
        return True

    # ----------------------------------------------------------------------- one batch
    async def _handle(self, client: aioredis.Redis, entries: list[Entry]) -> bool:
        """Store, dead-letter and acknowledge one batch. False when shutdown interrupted a store
        retry: the batch then stays pending (unacknowledged) for the next start."""
        cfg = self.config
        pairs: list[tuple[Entry, Event]] = []
        dead: list[tuple[Entry, str]] = []
        gone: list[Entry] = []
        for entry in entries:
            if not entry.fields:
                gone.append(entry)
                continue
            try:
                pairs.append((entry, decode_entry(cfg.stream, entry)))
            except RejectedEntry as exc:
                dead.append((entry, exc.reason))
        if pairs:
            rejected = await self._commit_with_retry(pairs)
            if rejected is None:
                return False
            dead.extend(rejected)
        if gone:
            self.stats.trimmed += len(gone)
            emit(log, logging.WARNING, "entries were trimmed from the stream before being stored",
                 entries=len(gone), first_id=gone[0].entry_id)
        now = now_timestamp()
        pipe = client.pipeline(transaction=True)
        for entry, reason in dead:
            pipe.xadd(cfg.dead_letter_stream, dead_letter_fields(cfg.stream, entry, reason, now))
        pipe.xack(cfg.stream, cfg.group, *[e.entry_id for e in entries])
        await pipe.execute()
        self.stats.batches += 1
        for entry, reason in dead:
            self.stats.dead_lettered += 1
            emit(log, logging.WARNING, "entry moved to the dead-letter stream", entry_id=entry.entry_id,
                 reason=reason, dead_letter_stream=cfg.dead_letter_stream)
        return True

    async def _commit_with_retry(self, pairs: list[tuple[Entry, Event]]) -> list[tuple[Entry, str]] | None:
        attempt = 0
        while True:
            try:
                rejected = await self._commit(pairs)
                if attempt:
                    emit(log, logging.INFO, "store available again", after_attempts=attempt)
                self._store_backoff.reset()
                return rejected
            except StoreUnavailable as exc:
                attempt += 1
                delay = self._store_backoff.next()
                emit(log, logging.ERROR, "store unavailable, batch kept pending and retried",
                     error=f"{type(exc.__cause__).__name__}: {exc.__cause__}", events=len(pairs),
                     attempt=attempt, retry_in_s=round(delay, 3))
                if await self._sleep(delay):
                    emit(log, logging.WARNING, "shutting down with an uncommitted batch; it stays pending in redis",
                         entries=len(pairs))
                    return None

    async def _append(self, events: list[Event]) -> Any:
        for e in events:  # a failed attempt may have numbered them already
            e.position = e.seq = None
        try:
            if len(events) <= INLINE_COMMIT_MAX and getattr(self.store, "backend", None) == "sqlite":
                return self.store.append(events)
            return await asyncio.to_thread(self.store.append, events)
        except Exception as exc:
            if is_transient_store_error(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise

    async def _commit(self, pairs: list[tuple[Entry, Event]]) -> list[tuple[Entry, str]]:
        """Append the batch in one transaction; if the store refuses it, find the events at fault
        one by one so the rest are still stored. Returns the refused entries with the reason."""
        events = [e for _, e in pairs]
        try:
            result = await self._append(events)
        except StoreUnavailable:
            raise
        except Exception as exc:
            emit(log, logging.WARNING, "store refused a batch; storing its events one by one",
                 events=len(events), error=f"{type(exc).__name__}: {exc}")
            rejected: list[tuple[Entry, str]] = []
            for entry, event in pairs:
                try:
                    one = await self._append([event])
                except StoreUnavailable:
                    raise
                except Exception as exc_one:
                    rejected.append((entry, f"store refused the event: {exc_one}"))
                    continue
                self._count(one)
            return rejected
        self._count(result)
        return []

    def _count(self, result: Any) -> None:
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        if result.duplicates:
            emit(log, logging.INFO, "skipped re-delivered events that were already stored",
                 duplicates=result.duplicates)
        emit(log, logging.DEBUG, "stored batch", stored=result.stored, duplicates=result.duplicates,
             first_position=result.first_position, last_position=result.last_position)


async def _cancel(task: asyncio.Future) -> None:
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, RedisError, OSError):
        pass
