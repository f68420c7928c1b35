"""`agenttui serve` end to end, in-process: a real redis-server, the real store, real WebSocket clients."""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis
from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401
from redis_server import eventually, redis_server, redis_url, serve_redis_proc, stream_name  # noqa: F401
from store_fixtures import SAMPLE_RUN, sample_lines
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from agenttui.serve.app import ServeApp
from agenttui.serve.config import ServeConfig
from agenttui.store import SQLiteStore, open_store, parse_json_line

GROUP = "agenttui-test"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def config(tmp_path: Path, url: str, stream: str, **overrides: Any) -> ServeConfig:
    settings: dict[str, Any] = dict(db=str(tmp_path / "serve.db"), redis_url=url, stream=stream, group=GROUP,
                                    consumer="c1", ws_host="127.0.0.1", ws_port=0, block_ms=500,
                                    max_backoff_s=0.5)
    settings.update(overrides)
    return ServeConfig(**settings)


@asynccontextmanager
async def serving(cfg: ServeConfig, **kwargs: Any) -> AsyncIterator[ServeApp]:
    app = ServeApp(cfg, **kwargs)
    await app.start()
    try:
        yield app
    finally:
        app.request_stop("test finished")
        await app.wait()


@asynccontextmanager
async def redis_client(url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


def ws_url(app: ServeApp, query: str = "") -> str:
    return f"ws://127.0.0.1:{app.ws_port}/ws/events" + (f"?{query}" if query else "")


async def xadd_all(client: aioredis.Redis, stream: str, payloads: list[bytes | dict]) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for p in payloads:
        pipe.xadd(stream, p if isinstance(p, dict) else {"json_payload": p})
    return await pipe.execute()


async def receive(ws: ClientConnection, count: int) -> list[dict]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 20)) for _ in range(count)]


async def receive_until(ws: ClientConnection, last_event_id: str) -> list[dict]:
    got: list[dict] = []
    while not got or got[-1]["event_id"] != last_event_id:
        got.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
    return got


def stored_ids(db: str, run_id: str | None = None) -> list[str]:
    with SQLiteStore(db, readonly=True) as store:
        return [e.event_id for e in store.iter_events(run_id=run_id)]


async def count_stored(db: str) -> int:
    if not Path(db).exists():
        return 0
    with SQLiteStore(db, readonly=True) as store:
        return store.count_events()


async def stored_through(app: ServeApp, position: int) -> bool:
    """Whether the store holds `position`: the hub's high water moves only while a client is
    connected (serve follows the store for its WebSocket clients only)."""
    return await asyncio.to_thread(app.store.last_position) >= position


async def pending(client: aioredis.Redis, stream: str) -> int:
    return (await client.xpending(stream, GROUP))["pending"]


def sample_ids() -> list[str]:
    return [orjson.loads(line)["event_id"] for line in sample_lines()]


# ----------------------------------------------------------------------------------- flow

def test_stream_to_store_to_websocket(tmp_path: Path, redis_url: str, stream_name: str) -> None:
    lines = sample_lines()

    async def scenario() -> None:
        cfg = config(tmp_path, redis_url, stream_name)
        async with redis_client(redis_url) as r, serving(cfg) as app:
            async with connect(ws_url(app)) as everything, \
                    connect(ws_url(app, f"run={SAMPLE_RUN}&type=node_created")) as nodes:
                await eventually(lambda: app.hub.subscribers == 2, what="both clients subscribed")
                await xadd_all(r, stream_name, lines)
                got = await receive(everything, len(lines))
                expected_nodes = [orjson.loads(l)["event_id"] for l in lines
                                  if b'"node_created"' in l and SAMPLE_RUN.encode() in l]
                got_nodes = await receive(nodes, len(expected_nodes))
            await eventually(lambda: _zero(r, stream_name), what="every entry acked")
        assert [m["event_id"] for m in got] == sample_ids()
        assert [m["position"] for m in got] == list(range(1, len(lines) + 1))
        first = orjson.loads(lines[0])
        assert first["run_id"] is None and got[0]["run_id"] is None  # null run ids are kept, and sent as null
        assert got[0]["timestamp"] == first["timestamp"]  # the agent's naive ...Z form is already canonical
        assert all(m["seq"] >= 1 for m in got)
        assert [m["event_id"] for m in got_nodes] == expected_nodes
        assert {m["event_type"] for m in got_nodes} == {"node_created"}
        assert stored_ids(cfg.db) == sample_ids()

    run(scenario())


async def _zero(client: aioredis.Redis, stream: str) -> bool:
    return await pending(client, stream) == 0


def test_malformed_entries_are_dead_lettered_without_blocking(tmp_path: Path, redis_url: str,
                                                              stream_name: str, caplog: pytest.LogCaptureFixture) -> None:
    good = sample_lines()[:6]
    bad: list[bytes | dict] = [
        b"{not json",
        b'{"event_id": "m1", "run_id": "r", "timestamp": "2025-04-17T12:00:00Z", "payload": {}}',
        b'{"event_id": "m2", "run_id": "r", "event_type": ["x"], "timestamp": "2025-04-17T12:00:00Z", "payload": {}}',
        b'{"event_id": "m3", "run_id": "r", "event_type": "x", "timestamp": "2025-04-17T12:00:00Z", "payload": "s"}',
        {"payload": b'{"event_type": "x"}', "agent": b"planner-2"},
    ]
    reasons = ["not valid JSON", "missing required field 'event_type'", "event_type must be a string",
               "payload must be a JSON object", "missing field 'json_payload' (fields present: agent, payload)"]
    mixed = [good[0], bad[0], good[1], bad[1], bad[2], good[2], bad[3], good[3], bad[4], good[4], good[5]]

    async def scenario() -> list:
        cfg = config(tmp_path, redis_url, stream_name)
        caplog.set_level(logging.WARNING, logger="agenttui.serve")
        async with redis_client(redis_url) as r, serving(cfg):
            ids = await xadd_all(r, stream_name, mixed)
            await eventually(lambda: r.xlen(cfg.dead_letter_stream), what="dead letters")
            await eventually(lambda: _xlen_is(r, cfg.dead_letter_stream, len(bad)), what="all dead letters")
            await eventually(lambda: _zero(r, stream_name), what="every entry acked")
            dead = await r.xrange(cfg.dead_letter_stream)
        bad_ids = [ids[mixed.index(b)] for b in bad]
        return [(bad_ids, dead)]

    (bad_ids, dead), = run(scenario())
    assert stored_ids(str(tmp_path / "serve.db")) == [orjson.loads(l)["event_id"] for l in good]
    assert [f[b"dead_letter_source_id"] for _, f in dead] == bad_ids
    for (_, fields), original, reason in zip(dead, bad, reasons):
        assert reason in fields[b"dead_letter_reason"].decode()
        assert fields[b"dead_letter_stream"] == stream_name.encode()
        if isinstance(original, bytes):
            assert fields[b"json_payload"] == original  # the original entry, as it was sent
        else:
            assert fields[b"agent"] == b"planner-2" and fields[b"payload"] == original["payload"]
    logged = [r for r in caplog.records if r.getMessage() == "entry moved to the dead-letter stream"]
    assert len(logged) == len(bad)


async def _xlen_is(client: aioredis.Redis, stream: str, n: int) -> bool:
    return await client.xlen(stream) == n


def test_redelivered_event_ids_are_stored_and_sent_once(tmp_path: Path, redis_url: str, stream_name: str) -> None:
    lines = sample_lines()[:10]
    twice = lines[:5] + [lines[2]] + lines[5:] + [lines[0]]

    async def scenario() -> tuple[list[dict], int]:
        cfg = config(tmp_path, redis_url, stream_name)
        async with redis_client(redis_url) as r, serving(cfg) as app:
            async with connect(ws_url(app)) as ws:
                await eventually(lambda: app.hub.subscribers == 1, what="client subscribed")
                await xadd_all(r, stream_name, twice)
                await xadd_all(r, stream_name, [sample_lines()[10]])  # a marker after the repeats
                got = await receive_until(ws, orjson.loads(sample_lines()[10])["event_id"])
            await eventually(lambda: _zero(r, stream_name), what="every entry acked")
            return got, app.bridge.stats.duplicates

    got, duplicates = run(scenario())
    ids = [orjson.loads(l)["event_id"] for l in sample_lines()[:11]]
    assert [m["event_id"] for m in got] == ids
    assert stored_ids(str(tmp_path / "serve.db")) == ids
    assert duplicates == 2


def test_an_event_the_store_refuses_is_dead_lettered_and_the_batch_kept(tmp_path: Path, redis_url: str,
                                                                        stream_name: str) -> None:
    def env(i: int, size: int) -> bytes:
        return orjson.dumps({"event_id": f"big-{i}", "run_id": "r", "event_type": "artifact",
                             "timestamp": "2025-04-17T12:00:00Z", "payload": {"content": "x" * size}})

    async def scenario() -> list:
        cfg = config(tmp_path, redis_url, stream_name)
        store = SQLiteStore(cfg.db, max_payload_bytes=2000)
        try:
            async with redis_client(redis_url) as r, serving(cfg, store=store):
                await xadd_all(r, stream_name, [env(1, 10), env(2, 5000), env(3, 10)])
                await eventually(lambda: _xlen_is(r, cfg.dead_letter_stream, 1), what="the dead letter")
                await eventually(lambda: _zero(r, stream_name), what="every entry acked")
                return await r.xrange(cfg.dead_letter_stream)
        finally:
            store.close()

    (_, fields), = run(scenario())
    assert "store refused the event" in fields[b"dead_letter_reason"].decode()
    assert "2,000-byte limit" in fields[b"dead_letter_reason"].decode()
    assert stored_ids(str(tmp_path / "serve.db")) == ["big-1", "big-3"]


class FlakyStore:
    """A real store whose first appends fail the way a locked or full database does."""

    def __init__(self, store: SQLiteStore, failures: int):
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def append(self, events: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return self._store.append(events)


def test_a_failing_store_keeps_the_batch_pending_and_retries(tmp_path: Path, redis_url: str, stream_name: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    lines = sample_lines()[:25]
    caplog.set_level(logging.INFO, logger="agenttui.serve")

    async def scenario() -> None:
        cfg = config(tmp_path, redis_url, stream_name)
        real = SQLiteStore(cfg.db)
        flaky = FlakyStore(real, failures=3)
        try:
            async with redis_client(redis_url) as r, serving(cfg, store=flaky) as app:
                await xadd_all(r, stream_name, lines)
                await eventually(lambda: flaky.failures == 0, what="the store failures")
                await eventually(lambda: stored_through(app, len(lines)), what="the batch stored")
                await eventually(lambda: _zero(r, stream_name), what="the batch acked")
        finally:
            real.close()

    run(scenario())
    assert stored_ids(str(tmp_path / "serve.db")) == [orjson.loads(l)["event_id"] for l in lines]
    retries = [r for r in caplog.records if r.getMessage() == "store unavailable, batch kept pending and retried"]
    assert len(retries) == 3 and "database is locked" in retries[0].fields["error"]
    assert any(r.getMessage() == "store available again" for r in caplog.records)


# ---------------------------------------------------------------------------- replay seam

def test_replay_latest_then_live_has_no_gap_and_no_duplicate(tmp_path: Path, redis_url: str, stream_name: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agenttui.serve")
    def envelope(run_id: str, i: int, kind: str) -> bytes:
        return orjson.dumps({"event_id": f"{run_id}-{i:05d}", "run_id": run_id, "event_type": kind,
                             "timestamp": f"2025-04-17T12:{i // 600:02d}:{i // 10 % 60:02d}.{i % 10}Z",
                             "payload": {"node_id": f"n{i % 7}", "step": i}})

    old = [envelope("old-run", i, "step_started") for i in range(30)]
    live = [envelope("live-run", i, "step_started" if i % 3 else "step_finished") for i in range(900)]
    last_id = "live-run-00899"  # a step_started; the last step_finished is 00897

    async def scenario() -> dict[str, list[dict]]:
        cfg = config(tmp_path, redis_url, stream_name, replay_latest=True, batch_size=20)
        async with redis_client(redis_url) as r, serving(cfg) as app:
            await xadd_all(r, stream_name, old)
            await eventually(lambda: stored_through(app, len(old)), what="the old run stored")

            async def produce() -> None:
                for i in range(0, len(live), 15):
                    await xadd_all(r, stream_name, live[i:i + 15])
                    await asyncio.sleep(0.004)

            async def client(name: str, query: str, after_stored: int,
                             until: str = last_id) -> tuple[str, list[dict]]:
                await eventually(lambda: stored_through(app, len(old) + after_stored), what=f"{name}'s start")
                async with connect(ws_url(app, query)) as ws:
                    return name, await receive_until(ws, until)

            producer = asyncio.create_task(produce())
            results = await asyncio.gather(
                client("early", "", 1), client("middle", "", 300), client("late", "", 700),
                client("finished-only", "type=step_finished", 450, until="live-run-00897"),
                client("resume", f"replay=none&after={len(old) + 100}", 500),
            )
            await producer
            return dict(results)

    got = run(scenario())
    db = str(tmp_path / "serve.db")
    run_ids = stored_ids(db, "live-run")
    assert run_ids == [f"live-run-{i:05d}" for i in range(900)]
    for name in ("early", "middle", "late"):  # the latest run's whole history, then live, seamless
        assert [m["event_id"] for m in got[name]] == run_ids, name
        positions = [m["position"] for m in got[name]]
        assert positions == sorted(set(positions)), name
    assert [m["event_id"] for m in got["finished-only"]] == [i for n, i in enumerate(run_ids) if n % 3 == 0]
    assert [m["event_id"] for m in got["resume"]] == run_ids[100:]
    # every client joined mid-run: part of what it got was history, the rest arrived live
    seams = [r.fields["seam"] for r in caplog.records if r.getMessage() == "client connected"]
    assert len(seams) == 5 and all(len(old) < seam < len(old) + len(live) for seam in seams), seams


# ---------------------------------------------------------------------------------- token

def test_token_is_required_when_set(tmp_path: Path, redis_url: str, stream_name: str) -> None:
    line = sample_lines()[0]

    async def scenario() -> None:
        cfg = config(tmp_path, redis_url, stream_name, token="s3cret-token")
        async with redis_client(redis_url) as r, serving(cfg) as app:
            for bad in ("", "token=wrong"):
                with pytest.raises(InvalidStatus) as info:
                    async with connect(ws_url(app, bad)):
                        pass
                assert info.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as info:
                async with connect(ws_url(app), additional_headers={"Authorization": "Bearer nope"}):
                    pass
            assert info.value.response.status_code == 401
            async with connect(ws_url(app, "token=s3cret-token")) as by_query, \
                    connect(ws_url(app), additional_headers={"Authorization": "Bearer s3cret-token"}) as by_header:
                await eventually(lambda: app.hub.subscribers == 2, what="both clients subscribed")
                await xadd_all(r, stream_name, [line])
                assert (await receive(by_query, 1))[0]["event_id"] == orjson.loads(line)["event_id"]
                assert (await receive(by_header, 1))[0]["event_id"] == orjson.loads(line)["event_id"]

    run(scenario())


def test_http_answers_for_health_wrong_paths_and_bad_queries(tmp_path: Path, redis_url: str,
                                                             stream_name: str) -> None:
    def get(url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    async def scenario() -> None:
        async with serving(config(tmp_path, redis_url, stream_name)) as app:
            await eventually(lambda: app.bridge.stats.connected, what="redis connected")
            base = f"http://127.0.0.1:{app.ws_port}"
            status, body = await asyncio.to_thread(get, base + "/healthz")
            assert status == 200 and json.loads(body)["redis_connected"] is True
            status, body = await asyncio.to_thread(get, base + "/events")
            assert status == 404 and "/ws/events" in body
            with pytest.raises(InvalidStatus) as info:
                async with connect(ws_url(app, "kind=x")):
                    pass
            assert info.value.response.status_code == 400
            assert b"unknown query parameter 'kind'" in info.value.response.body

    run(scenario())


# ------------------------------------------------------------------------ failures, restarts

def test_redis_restart_while_serving_loses_nothing(tmp_path: Path, redis_url: str, stream_name: str,
                                                   redis_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    lines = sample_lines()
    caplog.set_level(logging.INFO, logger="agenttui.serve")

    async def scenario() -> list[dict]:
        cfg = config(tmp_path, redis_url, stream_name)
        async with redis_client(redis_url) as r, serving(cfg) as app:
            async with connect(ws_url(app)) as ws:
                await eventually(lambda: app.hub.subscribers == 1, what="client subscribed")
                await xadd_all(r, stream_name, lines[:100])
                await eventually(lambda: stored_through(app, 100), what="the first half stored")
                await eventually(lambda: _zero(r, stream_name), what="the first half acked")
                await asyncio.to_thread(redis_server.stop)
                try:
                    await eventually(lambda: not app.bridge.stats.connected, what="the outage noticed")
                finally:
                    await asyncio.to_thread(redis_server.start)
                await r.connection_pool.disconnect()
                await xadd_all(r, stream_name, lines[100:])
                got = await receive(ws, len(lines))
                await eventually(lambda: _zero(r, stream_name), what="the second half acked")
                assert app.bridge.stats.reconnects >= 1
        return got

    got = run(scenario())
    assert [m["event_id"] for m in got] == sample_ids()
    assert stored_ids(str(tmp_path / "serve.db")) == sample_ids()
    messages = [r.getMessage() for r in caplog.records]
    assert "redis unavailable, will reconnect" in messages
    assert "reconnected to redis" in messages


def test_restart_after_commit_but_before_ack_stores_nothing_twice(tmp_path: Path, redis_url: str,
                                                                   stream_name: str) -> None:
    """The window a kill -9 can hit: the batch is committed, its XACK never sent. The restarted
    server (same consumer name) reads its pending entries back at once and only acknowledges them."""
    lines = sample_lines()[:30]
    db = str(tmp_path / "serve.db")
    with SQLiteStore(db) as store:  # what the killed server had committed: the first 20
        store.append([parse_json_line(l) for l in lines[:20]])

    async def scenario() -> list[dict]:
        async with redis_client(redis_url) as r:
            await r.xgroup_create(stream_name, GROUP, id="0", mkstream=True)
            await xadd_all(r, stream_name, lines)
            await r.xreadgroup(GROUP, "c1", {stream_name: ">"}, count=30)  # delivered, never acked
            assert await pending(r, stream_name) == 30
            async with serving(config(tmp_path, redis_url, stream_name, replay_latest=False)) as app:
                async with connect(ws_url(app, "after=0")) as ws:
                    await eventually(lambda: _zero(r, stream_name), what="the pending entries acked")
                    got = await receive_until(ws, orjson.loads(lines[-1])["event_id"])
                assert (app.bridge.stats.stored, app.bridge.stats.duplicates) == (10, 20)
        return got

    got = run(scenario())
    expected = [orjson.loads(l)["event_id"] for l in lines]
    assert stored_ids(db) == expected
    assert [m["event_id"] for m in got] == expected  # history (after=0) then live, each once


def test_a_deleted_stream_and_group_are_recreated(tmp_path: Path, redis_url: str, stream_name: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """What a Redis restart without persistence looks like from here: the group is gone."""
    lines = sample_lines()[:20]
    caplog.set_level(logging.INFO, logger="agenttui.serve")

    async def scenario() -> None:
        async with redis_client(redis_url) as r, serving(config(tmp_path, redis_url, stream_name)) as app:
            await xadd_all(r, stream_name, lines[:10])
            await eventually(lambda: stored_through(app, 10), what="the first ten stored")
            await r.delete(stream_name)
            await eventually(lambda: any(rec.getMessage() == "consumer group is gone; recreating it"
                                         for rec in caplog.records), what="the loss noticed")
            await eventually(lambda: app.bridge.stats.connected, what="the group recreated")
            await xadd_all(r, stream_name, lines[10:])
            await eventually(lambda: stored_through(app, 20), what="the rest stored")

    run(scenario())
    assert stored_ids(str(tmp_path / "serve.db")) == [orjson.loads(l)["event_id"] for l in lines]


def test_stale_entries_of_a_crashed_consumer_are_claimed(tmp_path: Path, redis_url: str, stream_name: str) -> None:
    lines = sample_lines()[:40]

    async def scenario() -> None:
        async with redis_client(redis_url) as r:
            await r.xgroup_create(stream_name, GROUP, id="0", mkstream=True)
            await xadd_all(r, stream_name, lines)
            taken = await r.xreadgroup(GROUP, "crashed-peer", {stream_name: ">"}, count=25)
            assert len(taken[0][1]) == 25  # delivered to a consumer that then died without acking
            cfg = config(tmp_path, redis_url, stream_name, claim_idle_s=0.0)
            async with serving(cfg) as app:
                await eventually(lambda: stored_through(app, len(lines)), what="every entry stored")
                await eventually(lambda: _zero(r, stream_name), what="the peer's entries acked")

    run(scenario())
    assert stored_ids(str(tmp_path / "serve.db")) == [orjson.loads(l)["event_id"] for l in lines]


def test_shutdown_closes_clients_as_going_away(tmp_path: Path, redis_url: str, stream_name: str) -> None:
    async def scenario() -> int | None:
        app = ServeApp(config(tmp_path, redis_url, stream_name))
        await app.start()
        async with connect(ws_url(app)) as ws:
            await eventually(lambda: app.hub.subscribers == 1, what="client subscribed")
            app.request_stop("test")
            await app.wait()
            await asyncio.wait_for(ws.wait_closed(), 20)
            return ws.close_code

    assert run(scenario()) == 1001


# ------------------------------------------------------------------------------ PostgreSQL

def test_the_bridge_writes_to_a_postgresql_store_too(pg_url: str, tmp_path: Path, redis_url: str,
                                                     stream_name: str) -> None:
    """Nothing in serve is SQLite-specific: the same flow against the PostgreSQL backend."""
    lines = sample_lines()[:60]

    async def scenario() -> list[dict]:
        cfg = config(tmp_path, redis_url, stream_name, db=pg_url, replay_latest=True)
        async with redis_client(redis_url) as r, serving(cfg) as app:
            await xadd_all(r, stream_name, lines[:30])
            await eventually(lambda: stored_through(app, 30), what="the first half stored")
            async with connect(ws_url(app)) as ws:  # replays the latest run, then goes live
                await eventually(lambda: app.hub.subscribers == 1, what="client subscribed")
                await xadd_all(r, stream_name, lines[30:])
                got = await receive_until(ws, orjson.loads(lines[-1])["event_id"])
            await eventually(lambda: _zero(r, stream_name), what="every entry acked")
        return got

    got = run(scenario())
    envelopes = [orjson.loads(l) for l in lines]
    history = [e["event_id"] for e in envelopes[:30] if e["run_id"] == SAMPLE_RUN]
    assert 0 < len(history) < 30  # the replay skipped the null-run events before the run started
    assert [m["event_id"] for m in got] == history + [e["event_id"] for e in envelopes[30:]]
    store = open_store(pg_url)
    try:
        assert [e.event_id for e in store.iter_events()] == [e["event_id"] for e in envelopes]
    finally:
        store.close()


def test_an_event_nested_to_the_limit_never_dead_letters_the_rest_of_its_run(tmp_path: Path, redis_url: str,
                                                                              stream_name: str) -> None:
    """Issue 17.1 through serve: the deepest payload the envelope accepts is stored, and every later
    event of its run too, past several snapshots of the fold (snapshot_every=2), none dead-lettered."""
    from agenttui.store import EnvelopeError, parse_envelope

    def nested(depth: int) -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = [value]
        return value

    def envelope(i: int, **payload: Any) -> dict:
        return {"event_id": f"deep-{i}", "run_id": "deep", "timestamp": f"2026-01-01T00:00:{i:02d}Z",
                "event_type": payload.pop("event_type", "node_status_changed"), "payload": payload}

    depth = 300
    with SQLiteStore(tmp_path / "probe.db") as probe:  # the deepest result the store accepts
        while True:
            try:
                probe.append(parse_envelope(envelope(1, event_type="node_result_available", node_id="n1",
                                                     result_summary=nested(depth))))
                break
            except EnvelopeError:
                depth -= 1
    events = [envelope(0, event_type="node_created", node_id="n1", node_nid="1", task_goal="g"),
              envelope(1, event_type="node_result_available", node_id="n1", result_summary=nested(depth))]
    events += [envelope(i, node_id="n1", old_status=f"S{i - 1}", new_status=f"S{i}") for i in range(2, 14)]

    async def scenario() -> tuple[int, int]:
        cfg = config(tmp_path, redis_url, stream_name)
        store = SQLiteStore(cfg.db, snapshot_every=2)
        try:
            async with redis_client(redis_url) as r, serving(cfg, store=store):
                # the standard encoder: orjson stops at 255 levels, which the envelope around this payload passes
                await xadd_all(r, stream_name, [json.dumps(e).encode() for e in events])
                async def all_stored() -> Any:
                    dead_now = await r.xrange(cfg.dead_letter_stream) if await r.exists(cfg.dead_letter_stream) else []
                    assert not dead_now, f"dead-lettered: {dead_now[0][1].get(b'reason', dead_now[0][1])!r}"[:500]
                    return store.count_events(run_id="deep") == len(events)

                await eventually(all_stored, what="every event stored")
                await eventually(lambda: _zero(r, stream_name), what="every entry acked")
                dead = await r.xlen(cfg.dead_letter_stream) if await r.exists(cfg.dead_letter_stream) else 0
                return dead, store.stats()["snapshots"]
        finally:
            store.close()

    dead, snapshots = run(scenario())
    assert dead == 0, "nothing of the run was dead-lettered"
    assert snapshots >= 1, "the fold was checkpointed past the deep event"
    assert stored_ids(str(tmp_path / "serve.db"), "deep") == [e["event_id"] for e in events]
