"""`agenttui tail --follow` on PostgreSQL survives the server dropping every connection (issue 17.3).

The follower reopens with backoff, says so on stderr, and resumes after the last event printed:
nothing committed meanwhile is missed, nothing is printed twice.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import orjson
import psycopg

from agenttui.store import open_store

from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401  (fixtures)


APP_NAME = "agenttui"  # the store names its connections; at that moment only tail's are open


def _terminate_tail(admin_url: str) -> int:
    """Kill every connection of the tail process (what a server restart does to its clients)."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                             (APP_NAME,)).fetchall()
    return len(rows)


def test_tail_follow_reconnects_and_misses_nothing(pg_url: str, pg_server_url: str) -> None:
    with open_store(pg_url) as writer:
        writer.append({"event_id": "e-0", "run_id": "r", "event_type": "tick", "payload": {}})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "agenttui", "tail", pg_url, "--follow", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines: list[dict] = []
    seen = threading.Condition()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with seen:
                lines.append(orjson.loads(raw))
                seen.notify_all()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def wait_count(n: int, what: str) -> None:
        with seen:
            assert seen.wait_for(lambda: len(lines) >= n, timeout=60), f"timed out waiting for {what}: {lines}"

    try:
        wait_count(1, "the existing event")
        with open_store(pg_url) as writer:
            writer.append({"event_id": "e-1", "run_id": "r", "event_type": "tick", "payload": {}})
        wait_count(2, "a live event")
        time.sleep(0.3)  # the follower is back in its wait on the listening connection
        assert _terminate_tail(pg_server_url) >= 1
        with open_store(pg_url) as writer:  # committed while the follower has no connection
            writer.append([{"event_id": f"e-{i}", "run_id": "r", "event_type": "tick", "payload": {}}
                           for i in range(2, 6)])
        wait_count(6, "the events committed during the outage")
        with open_store(pg_url) as writer:
            writer.append({"event_id": "e-6", "run_id": "r", "event_type": "tick", "payload": {}})
        wait_count(7, "an event after the reconnect")
        assert proc.poll() is None, "tail is still following"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert [line["event_id"] for line in lines] == [f"e-{i}" for i in range(7)], "each event once, in order"
    assert "Traceback" not in stderr
    assert "retrying" in stderr and "reading again" in stderr, stderr
