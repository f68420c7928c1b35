"""`agenttui serve` as a real process: kill -9 mid-stream and restart, SIGTERM, and its CLI errors."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis_server import redis_server, redis_url, serve_redis_proc, stream_name, wait_for  # noqa: F401
from websockets.asyncio.client import connect

from agenttui.cli import main as cli_main
from agenttui.store import SQLiteStore

GROUP = "agenttui-test"


class ServeProcess:
    """One `python -m agenttui serve` process with JSON logs in a file."""

    def __init__(self, tmp_path: Path, name: str, args: list[str]):
        self.log_path = tmp_path / f"{name}.log"
        self.args = args
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ServeProcess":
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "agenttui", "serve", *self.args,
                                          "--log-format", "json"], stdout=log, stderr=log, env=env)
        wait_for(lambda: self.find("connected to redis") or self.proc.poll() is not None, what="serve to connect")
        assert self.proc.poll() is None, self.log_path.read_text()
        return self

    def lines(self) -> list[dict]:
        out = []
        for raw in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"message": raw})
        return out

    def find(self, message: str) -> dict | None:
        return next((line for line in self.lines() if line.get("message") == message), None)

    @property
    def ws_url(self) -> str:
        return self.find("websocket feed listening")["url"]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def processes() -> Any:
    started: list[ServeProcess] = []
    yield started
    for p in started:
        p.stop()


def serve_args(url: str, stream: str, db: Path, *extra: str) -> list[str]:
    return ["--redis", url, "--stream", stream, "--group", GROUP, "--consumer", "c1", "--db", str(db),
            "--ws", "127.0.0.1:0", "--max-backoff", "0.5", *extra]


def envelope(i: int) -> bytes:
    kinds = ("step_started", "llm_call_started", "llm_call_completed", "step_finished")
    return orjson.dumps({"event_id": f"kill-{i:05d}", "run_id": None if i < 5 else "kill-run",
                         "event_type": kinds[i % 4], "timestamp": f"2025-04-17T12:00:{i // 100:02d}.{i % 100:02d}",
                         "payload": {"node_id": f"n{i % 11}", "step": i}})


def count(db: Path) -> int:
    if not db.exists():
        return 0
    with SQLiteStore(db, readonly=True) as store:
        return store.count_events()


def test_kill_9_mid_stream_and_restart_loses_nothing_and_stores_nothing_twice(
        tmp_path: Path, redis_url: str, stream_name: str, processes: list) -> None:
    total = 3000
    db = tmp_path / "serve.db"
    r = redis.Redis.from_url(redis_url)
    args = serve_args(redis_url, stream_name, db, "--batch-size", "40")

    def produce() -> None:
        for start in range(0, total, 30):
            pipe = r.pipeline(transaction=False)
            for i in range(start, min(total, start + 30)):
                pipe.xadd(stream_name, {"json_payload": envelope(i)})
            pipe.execute()
            time.sleep(0.02)

    first = ServeProcess(tmp_path, "first", args).start()
    processes.append(first)
    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: count(db) >= 500, what="the first 500 events stored")
        first.signal(signal.SIGKILL)
        first.wait()
        at_first_kill = count(db)
        second = ServeProcess(tmp_path, "second", args).start()
        processes.append(second)
        wait_for(lambda: count(db) >= at_first_kill + 700, what="700 more events stored")
        second.signal(signal.SIGKILL)
        second.wait()
        at_second_kill = count(db)
        third = ServeProcess(tmp_path, "third", args).start()
        processes.append(third)
    finally:
        producer.join()
    wait_for(lambda: count(db) >= total, what="every event stored")
    wait_for(lambda: r.xpending(stream_name, GROUP)["pending"] == 0, what="every entry acked")
    assert at_first_kill < at_second_kill < total  # both kills landed mid-stream
    with SQLiteStore(db, readonly=True) as store:
        events = list(store.iter_events())
    assert len(events) == total
    assert sorted(e.event_id for e in events) == [f"kill-{i:05d}" for i in range(total)]
    run_seqs = [e.seq for e in events if e.run_id == "kill-run"]
    assert run_seqs == list(range(1, total - 5 + 1))  # gapless per-run sequence
    assert r.xlen(f"{stream_name}:dead") == 0
    third.signal(signal.SIGTERM)
    assert third.wait() == 0
    r.close()


def test_sigterm_finishes_the_batch_closes_clients_and_exits_cleanly(
        tmp_path: Path, redis_url: str, stream_name: str, processes: list) -> None:
    db = tmp_path / "serve.db"
    r = redis.Redis.from_url(redis_url)
    proc = ServeProcess(tmp_path, "serve", serve_args(redis_url, stream_name, db)).start()
    processes.append(proc)
    payloads = [envelope(i) for i in range(200)]

    async def client() -> tuple[list[dict], int | None]:
        async with connect(proc.ws_url) as ws:
            await asyncio.sleep(0)
            await asyncio.to_thread(wait_for, lambda: any(l.get("message") == "client connected"
                                                          for l in proc.lines()), what="client connected")
            pipe = r.pipeline(transaction=False)
            for p in payloads:
                pipe.xadd(stream_name, {"json_payload": p})
            await asyncio.to_thread(pipe.execute)
            got = [json.loads(await asyncio.wait_for(ws.recv(), 20)) for _ in payloads]
            proc.signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), 20)
            return got, ws.close_code

    got, code = asyncio.run(client())
    assert proc.wait() == 0
    assert [m["event_id"] for m in got] == [f"kill-{i:05d}" for i in range(200)]
    assert code == 1001  # going away
    assert r.xpending(stream_name, GROUP)["pending"] == 0 and count(db) == 200
    stopping = proc.find("shutting down")
    assert stopping is not None and stopping["reason"] == "received SIGTERM" and stopping["level"] == "info"
    assert proc.find("stopped")["stored"] == 200
    r.close()


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTTUI_DB", raising=False)
    monkeypatch.delenv("AGENTTUI_TOKEN", raising=False)
    assert cli_main(["serve"]) == 2
    assert "--db TARGET or set AGENTTUI_DB" in capsys.readouterr().err
    assert cli_main(["serve", "--db", str(tmp_path / "x.db"), "--ws", "0.0.0.0:8765"]) == 2
    assert "AGENTTUI_TOKEN" in capsys.readouterr().err
    assert cli_main(["serve", "--help"]) == 0
    assert "RELOAD_LATEST_SESSION" in capsys.readouterr().out
