"""A real redis-server for the `agenttui serve` tests, started from the installed binary.

pytest-redis runs the process (a free port, a private data directory); this module adds the
policy: in CI ($CI=true) a missing redis-server FAILS the tests, elsewhere they are skipped with
the reason. The server keeps an RDB snapshot on shutdown, so a test can stop and start it and find
its streams again, the way a production Redis with persistence restarts.

Test modules import the fixtures by name: `from redis_server import redis_server, redis_url, ...`.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from typing import Any, Awaitable, Callable

import pytest
from pytest_redis import factories

#: The session's server process (mirakuru executor: .stop() / .start() keep port and data dir).
serve_redis_proc = factories.redis_proc(save="3600 1", loglevel="warning")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_redis_binary() -> None:
    if shutil.which("redis-server") is None:
        reason = ("redis-server is not installed (apt-get install redis-server); "
                  "the agenttui serve tests need a real one")
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Any:
    require_redis_binary()
    return request.getfixturevalue("serve_redis_proc")


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    if not redis_server.running():  # a test that stopped it failed before starting it again
        redis_server.start()
    return f"redis://{redis_server.host}:{redis_server.port}/0"


@pytest.fixture
def stream_name() -> str:
    """A stream of its own per test, so tests sharing the server never see each other's entries."""
    return f"agent_events:{uuid.uuid4().hex[:12]}"


async def eventually(check: Callable[[], Any] | Callable[[], Awaitable[Any]], *, what: str,
                     timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll until `check` returns something truthy. The timeout only guards against a hang; it is
    generous on purpose and never the thing being tested."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last value: {last!r})")
        await asyncio.sleep(interval)


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 20.0, interval: float = 0.02) -> Any:
    """The blocking twin of `eventually`, for tests driving subprocesses."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last value: {value!r})")
        time.sleep(interval)
