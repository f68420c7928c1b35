"""serve follows the store for its WebSocket clients only: from the first subscriber to the last.

No Redis here: serve runs with its OTLP receiver as the thing to receive (nothing is sent to it);
events are written through serve's own store handle (as the bridge and the receiver do) and by
another writer on the same file (as `agenttui import` or a Recorder in another process do).
"""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from redis_server import eventually
from test_serve_bridge import receive_until, run, serving, ws_url
from websockets.asyncio.client import connect

from agenttui.serve.app import ServeApp
from agenttui.serve.config import ServeConfig
from agenttui.store import SQLiteStore
from agenttui.store.base import BaseStore
from agenttui.store.follow import StoreFollower

pytest.importorskip("opentelemetry.proto")  # serve without Redis needs the OTLP receiver (the otel extra)


def serving_without_redis(tmp_path: Path) -> Any:
    return serving(ServeConfig(db=str(tmp_path / "live.db"), redis_enabled=False, otlp_host="127.0.0.1",
                               otlp_port=0, ws_host="127.0.0.1", ws_port=0))


def envelopes(prefix: str, run_id: str | None, n: int, start: int = 0) -> list[dict]:
    return [{"event_id": f"{prefix}-{i:04d}", "run_id": run_id, "event_type": "tick" if i % 2 else "tock",
             "payload": {"i": i}} for i in range(start, start + n)]


async def write_own(app: ServeApp, events: list[dict]) -> None:
    """Through serve's own store handle, as its bridge and its receiver write."""
    await asyncio.to_thread(app.store.append, events)


def write_other(db: str, events: list[dict]) -> None:
    """Another writer of the same file, which serve learns of only by following the store."""
    with SQLiteStore(db) as store:
        store.append(events)


class ReadCounter:
    """Counts the follower's reads of any SQLite store (the writer's history reads use `events`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        self._lock = threading.Lock()
        for cls, name in ((BaseStore, "read_after"), (SQLiteStore, "data_version")):
            monkeypatch.setattr(cls, name, self._counting(getattr(cls, name)))

    def _counting(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
            return method(*args, **kwargs)
        return counted


# ------------------------------------------------------------------------------ no client, no reads

def test_no_follower_and_no_reads_of_the_store_while_no_client_is_connected(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    reads = ReadCounter(monkeypatch)

    async def scenario() -> tuple[int, int]:
        async with serving_without_redis(tmp_path) as app:
            for i in range(5):  # commits a follower would wake up for (inotify, then its 0.25 s poll)
                await write_own(app, envelopes(f"own{i}", "r", 20))
                await asyncio.to_thread(write_other, app.config.db, envelopes(f"other{i}", "r", 20))
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.6)
            assert app.follower is None and app.live is not None and app.live.starts == 0
            idle = reads.calls
            async with connect(ws_url(app)) as ws:  # the counter does see a follower's reads
                await write_own(app, envelopes("seen", "r", 1))
                assert json.loads(await asyncio.wait_for(ws.recv(), 20))["event_id"] == "seen-0000"
            return idle, reads.calls

    idle, with_client = run(scenario())
    assert idle == 0
    assert with_client > 0


# ------------------------------------------------------------- a first client after events were written

OLD = envelopes("r1-old", "r1", 6) + envelopes("r2-old", "r2", 5) + envelopes("null-old", None, 2)
NEW_OWN = envelopes("r1-new", "r1", 4) + envelopes("r3-new", "r3", 3)
NEW_OTHER = envelopes("r2-other", "r2", 3) + envelopes("r1-other", "r1", 2)
NEW = NEW_OWN + NEW_OTHER
# latest_run_id when the client connects: the run of the last event stored, r2 (unassigned comes last)


def ids(events: list[dict], *, run: str | None = None, types: set[str] | None = None) -> list[str]:
    return [e["event_id"] for e in events
            if (run is None or e["run_id"] == run) and (types is None or e["event_type"] in types)]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ids(NEW)),  # only what is committed after it connected
    ("replay=none", ids(NEW)),
    ("replay=latest", ids(OLD, run="r2") + ids(NEW)),  # the latest run's history, then everything live
    ("replay=latest&run=r1", ids(OLD + NEW, run="r1")),
    ("after=3", ids(OLD[3:] + NEW)),
    ("after=0&type=tick", ids(OLD + NEW, types={"tick"})),
    ("run=r1&after=3&type=tick", ids(OLD[3:] + NEW, run="r1", types={"tick"})),
], ids=["live", "replay-none", "replay-latest", "replay-run", "after", "after-type", "run-after-type"])
def test_a_first_client_after_events_were_written_gets_what_it_asked_for(tmp_path: Path, query: str,
                                                                         expected: list[str]) -> None:
    async def scenario() -> list[str]:
        async with serving_without_redis(tmp_path) as app:
            await write_own(app, OLD[:8])
            await asyncio.to_thread(write_other, app.config.db, OLD[8:])
            assert app.follower is None
            async with connect(ws_url(app, query)) as ws:
                assert app.follower is not None  # started before the handshake was answered
                await write_own(app, NEW_OWN)
                await asyncio.to_thread(write_other, app.config.db, NEW_OTHER)
                got = await receive_until(ws, expected[-1])
                await write_own(app, envelopes("marker", "r1", 1, start=1))  # r1's tick: every query takes it
                got += await receive_until(ws, "marker-0001")
            positions = [m["position"] for m in got]
            assert positions == sorted(set(positions))
            return [m["event_id"] for m in got]

    assert run(scenario()) == expected + ["marker-0001"]


# ---------------------------------------------------------------- clients coming and going

def test_clients_that_come_and_go_never_miss_or_duplicate_an_event(tmp_path: Path) -> None:
    """One reader resumes with after= from connection to connection, with spells of no client at all
    (the follower stopped) in between; live-only clients come and go beside it. Writes never stop."""
    batches = [envelopes(f"b{b:03d}", f"run{b % 3}", 4) for b in range(120)]
    everything = [e["event_id"] for batch in batches for e in batch]

    async def scenario() -> tuple[list[dict], list[tuple[int, list[dict]]], int]:
        async with serving_without_redis(tmp_path) as app:
            async def produce() -> None:
                for n, batch in enumerate(batches):
                    if n % 2:
                        await write_own(app, batch)
                    else:
                        await asyncio.to_thread(write_other, app.config.db, batch)
                    await asyncio.sleep(0.01)

            resumed: list[dict] = []
            live_only: list[tuple[int, list[dict]]] = []
            visitors_allowed = asyncio.Event()
            visitors_allowed.set()
            gaps = 0

            # (max_queue=None: a client leaving with messages unread must still read the server's
            # close frame behind them, or its close waits for the timeout)
            async def resumer() -> None:
                nonlocal gaps
                while not resumed or resumed[-1]["event_id"] != everything[-1]:
                    last = resumed[-1]["position"] if resumed else 0
                    async with connect(ws_url(app, f"after={last}"), max_queue=None) as ws:
                        for _ in range(25):
                            resumed.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
                            if resumed[-1]["event_id"] == everything[-1]:
                                break
                    if len(resumed) % 3 == 1 or gaps < 3:  # no client at all for a while: commits go unread
                        visitors_allowed.clear()
                        await eventually(lambda: app.follower is None, what="the follower stopped")
                        gaps += 1
                        await asyncio.sleep(0.03)
                        visitors_allowed.set()

            async def visitor(producer: asyncio.Task) -> None:
                while not producer.done():
                    await visitors_allowed.wait()
                    got: list[dict] = []
                    async with connect(ws_url(app), max_queue=None) as ws:
                        connected = await asyncio.to_thread(app.store.last_position)
                        while len(got) < 6:
                            try:
                                got.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
                            except asyncio.TimeoutError:
                                if producer.done():
                                    break
                    if got:
                        live_only.append((connected, got))
                    await asyncio.sleep(0.01)

            producer = asyncio.create_task(produce())
            await asyncio.gather(resumer(), visitor(producer))
            await producer
            assert len(live_only) >= 3 and gaps >= 3
            return resumed, live_only, app.live.starts if app.live else 0

    resumed, live_only, starts = run(scenario())
    assert [m["event_id"] for m in resumed] == everything
    assert [m["position"] for m in resumed] == list(range(1, len(everything) + 1))
    for connected, got in live_only:  # all that was committed once it was connected, gapless
        positions = [m["position"] for m in got]
        assert positions[0] <= connected + 1 and positions == list(range(positions[0], positions[0] + len(got)))
        assert [m["event_id"] for m in got] == everything[positions[0] - 1:positions[-1]]
    assert starts >= 4, "the follower was stopped and started again as clients came and went"


# ------------------------------------------------------------------------- the last client leaving

def test_the_last_client_leaving_stops_the_follower_and_a_later_one_starts_it(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    reads = ReadCounter(monkeypatch)

    async def scenario() -> None:
        async with serving_without_redis(tmp_path) as app:
            assert app.live is not None
            first = await connect(ws_url(app))
            second = await connect(ws_url(app))
            follower = app.follower
            assert isinstance(follower, StoreFollower) and app.live.starts == 1
            await first.close()
            await eventually(lambda: app.hub.subscribers == 1, what="the first client gone")
            assert app.follower is follower  # one client left: still following
            await write_own(app, envelopes("a", "r", 1))
            assert json.loads(await asyncio.wait_for(second.recv(), 20))["event_id"] == "a-0000"
            await second.close()
            await eventually(lambda: app.follower is None, what="the follower stopped")
            assert follower._thread is not None and not follower._thread.is_alive()
            assert follower._store is None  # its read connection closed
            idle = reads.calls
            await write_own(app, envelopes("unread", "r", 3))
            await asyncio.to_thread(write_other, app.config.db, envelopes("unread-other", "r", 3))
            await asyncio.sleep(0.6)
            assert reads.calls == idle
            async with connect(ws_url(app, "after=1")) as third:  # a new follower from the store's end
                assert app.follower is not None and app.follower is not follower and app.live.starts == 2
                await write_own(app, envelopes("b", "r", 1))
                got = await receive_until(third, "b-0000")
            assert [m["event_id"] for m in got] == ["unread-0000", "unread-0001", "unread-0002", "unread-other-0000",
                                                    "unread-other-0001", "unread-other-0002", "b-0000"]

    run(scenario())


def test_a_client_gone_during_the_handshake_releases_its_subscription(tmp_path: Path) -> None:
    """Subscribed while the handshake is answered; the client leaves before the answer, so no
    handler runs for it: the subscription is still released and the follower stopped."""
    async def scenario() -> None:
        async with serving_without_redis(tmp_path) as app:
            live = app.live
            assert live is not None
            gate, entered = asyncio.Event(), asyncio.Event()
            subscribe = live.subscribe

            async def gated(*args: Any) -> Any:
                entered.set()
                await gate.wait()
                return await subscribe(*args)

            live.subscribe = gated  # type: ignore[method-assign]
            reader, writer = await asyncio.open_connection("127.0.0.1", app.ws_port)
            writer.write(b"GET /ws/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            await writer.drain()
            await eventually(entered.is_set, what="the handshake subscribing")
            writer.transport.abort()  # gone before the answer
            await asyncio.sleep(0.05)
            gate.set()
            await eventually(lambda: live.starts == 1, what="the subscription")
            await eventually(lambda: app.hub.subscribers == 0 and app.follower is None,
                             what="the subscription released and the follower stopped")
            del reader

    run(scenario())
