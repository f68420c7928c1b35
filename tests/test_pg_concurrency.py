"""PostgreSQL with many writers: processes appending to one run and to many runs at once, a reader
following by position meanwhile, the migration race, and the LISTEN/NOTIFY live signal.

No timing is asserted (the machine is shared); latencies are printed (`pytest -s` shows them).
"""
from __future__ import annotations

import multiprocessing as mp
import statistics
import threading
import time
from typing import Any

import pytest

from agenttui.store import ConcurrencyError, NotAStoreError, open_store
from agenttui.store.pg_schema import SCHEMA_VERSION
from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401  (fixtures)
from store_fixtures import ev

SHARED_WRITERS, SHARED_EVENTS = 3, 15  # processes racing on one run with expected versions
SPREAD_WRITERS, SPREAD_BATCHES = 2, 12  # processes appending batches of 3 to four runs each
#: A guard against a hung test, not a performance assertion.
GIVE_UP_AFTER = 90.0


def _shared_writer(url: str, worker: int, go: Any, out: Any) -> None:
    """Append SHARED_EVENTS to run 'shared', one at a time, each with the version just read."""
    from agenttui.store import ConcurrencyError as Conflict, open_store as open_

    go.wait(GIVE_UP_AFTER)
    conflicts = 0
    with open_(url) as store:
        for k in range(SHARED_EVENTS):
            while True:
                run = store.run("shared")
                version = run["last_seq"] if run else 0
                try:
                    store.append(ev("step_started", "shared", event_id=f"s{worker}-{k:03d}", step=k, writer=worker),
                                 expected_version=version)
                    break
                except Conflict:
                    conflicts += 1
    out.put(("shared", worker, conflicts))


def _spread_writer(url: str, worker: int, go: Any, out: Any) -> None:
    """Append SPREAD_BATCHES batches of 3 events, each batch to one of four runs of this worker."""
    from agenttui.store import open_store as open_

    go.wait(GIVE_UP_AFTER)
    with open_(url) as store:
        for b in range(SPREAD_BATCHES):
            run_id = f"spread-{worker}-{b % 4}"
            store.append([ev("tool_invoked", run_id, event_id=f"p{worker}-{b:03d}-{i}", tool_name="t", batch=b)
                          for i in range(3)])
    out.put(("spread", worker, 0))


def test_writer_processes_and_a_reader_following_by_position(pg_url):
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_shared_writer, args=(pg_url, w, go, out)) for w in range(SHARED_WRITERS)]
    procs += [ctx.Process(target=_spread_writer, args=(pg_url, w, go, out)) for w in range(SPREAD_WRITERS)]
    for p in procs:
        p.start()
    total = SHARED_WRITERS * SHARED_EVENTS + SPREAD_WRITERS * SPREAD_BATCHES * 3
    go.set()  # every writer opens the brand-new store at once: they race to migrate it
    reader = None
    deadline = time.monotonic() + GIVE_UP_AFTER
    while reader is None:
        try:
            reader = open_store(pg_url, readonly=True)
        except NotAStoreError:  # no writer has created the schema yet
            assert time.monotonic() < deadline, "no writer created the store"
            time.sleep(0.05)
    seen: list[tuple[int, str]] = []
    try:
        last = 0
        while len(seen) < total and time.monotonic() < deadline:
            reader.wait_for_change(timeout=0.5, after=last)
            for e in reader.read_after(last, limit=50):
                seen.append((e.position, e.event_id))
                last = e.position
        for p in procs:
            p.join(timeout=max(1.0, deadline - time.monotonic()))
        reports = [out.get(timeout=5) for _ in procs]
        assert [p.exitcode for p in procs] == [0] * len(procs)

        # the reader saw every event exactly once, in position order, with no hole ever skipped
        assert [pos for pos, _ in seen] == list(range(1, total + 1))
        expected_ids = {f"s{w}-{k:03d}" for w in range(SHARED_WRITERS) for k in range(SHARED_EVENTS)}
        expected_ids |= {f"p{w}-{b:03d}-{i}" for w in range(SPREAD_WRITERS) for b in range(SPREAD_BATCHES)
                         for i in range(3)}
        assert sorted(i for _, i in seen) == sorted(expected_ids)

        # optimistic concurrency kept the shared run's versions gapless and each writer in order
        shared = list(reader.timeline("shared"))
        assert [e.seq for e in shared] == list(range(1, SHARED_WRITERS * SHARED_EVENTS + 1))
        for w in range(SHARED_WRITERS):
            mine = [e.payload["step"] for e in shared if e.payload["writer"] == w]
            assert mine == list(range(SHARED_EVENTS))
        for w in range(SPREAD_WRITERS):
            for r in range(4):
                assert reader.run(f"spread-{w}-{r}")["event_count"] == SPREAD_BATCHES // 4 * 3
        assert reader.check() == []
        assert reader.stats()["schema_version"] == SCHEMA_VERSION
        conflicts = sum(c for kind, _, c in reports if kind == "shared")
        print(f"\n{len(procs)} writer processes, {total} events, {conflicts} concurrency conflicts retried")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        reader.close()


def test_stale_writer_on_another_connection_writes_nothing(pg_url):
    a, b = open_store(pg_url), open_store(pg_url)
    try:
        a.append(ev("run_started", "r"), expected_version=0)
        b.append(ev("step_started", "r", step=1), expected_version=1)
        with pytest.raises(ConcurrencyError) as info:
            a.append([ev("step_started", "r", step=2), ev("step_finished", "r", step=2)], expected_version=1)
        assert info.value.actual == 2
        assert a.count_events() == 2 and a.run("r")["last_seq"] == 2
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------------------ the live signal

def test_commit_to_wake_up_latency(pg_url):
    writer, reader = open_store(pg_url), open_store(pg_url, readonly=True)
    try:
        assert reader.wait_for_change(timeout=0, after=0) is None  # starts listening; nothing yet
        latencies: list[float] = []
        seen: list[int] = []
        started: list[float] = []
        done = threading.Event()

        def follow() -> None:
            last = 0
            while len(seen) < 30:
                if reader.wait_for_change(timeout=5, after=last) is None:
                    break
                for e in reader.read_after(last):
                    latencies.append(time.perf_counter() - started[e.position - 1])
                    seen.append(e.position)
                    last = e.position
            done.set()

        t = threading.Thread(target=follow, daemon=True)
        t.start()
        for i in range(30):
            started.append(time.perf_counter())
            writer.append(ev("llm_call_started", "live", model="m", i=i))
            time.sleep(0.005)
        assert done.wait(30)
        assert seen == list(range(1, 31))
        ms = sorted(x * 1000 for x in latencies)
        print(f"\nappend -> reader has the event (LISTEN/NOTIFY + read_after): p50 {statistics.median(ms):.2f} ms, "
              f"p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, max {ms[-1]:.2f} ms")
    finally:
        writer.close()
        reader.close()


def test_wait_for_change_notices_commits_made_before_it_listened(pg_url):
    writer, reader = open_store(pg_url), open_store(pg_url)
    try:
        writer.append([ev("run_started", "r"), ev("step_started", "r", step=1)])
        assert reader.wait_for_change(timeout=0, after=0) == 2  # committed before anyone listened
        assert reader.wait_for_change(timeout=0.2, after=2) is None  # nothing past what we have
        writer.append(ev("step_finished", "r", step=1))
        writer.append(ev("run_finished", "r"))
        assert reader.wait_for_change(timeout=5, after=2) == 4  # two commits, one wake-up, the newest
        assert reader.wait_for_change(timeout=0.3, after=4) is None  # their announcements: no wake-up
        writer.append(ev("run_started", "r2"))
        assert reader.wait_for_change(timeout=5, after=4) == 5
    finally:
        writer.close()
        reader.close()


def test_listen_with_a_callback_and_as_an_iterator(pg_url):
    writer, reader = open_store(pg_url), open_store(pg_url, readonly=True)
    got: list[int] = []
    arrived = threading.Event()

    def on_commit(position: int) -> None:
        got.append(position)
        if len(got) == 2:
            arrived.set()

    handle = reader.listen(on_commit, poll=0.1)
    try:
        writer.append(ev("run_started", "r"))
        writer.append([ev("step_started", "r", step=1), ev("step_finished", "r", step=1)])
        assert arrived.wait(10)
        assert got == [1, 3]
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
    stream = reader.listen(poll=0.1)
    writer.append(ev("run_finished", "r"))
    assert next(stream) == 4
    stream.close()
    writer.close()
    reader.close()


def test_a_store_in_another_schema_does_not_wake_us(pg_url, pg_schemas):
    other_url = pg_schemas.create()
    mine, other = open_store(pg_url), open_store(other_url)
    try:
        assert mine.channel != other.channel
        mine.wait_for_change(timeout=0, after=0)
        other.append(ev("run_started", "elsewhere"))
        assert mine.wait_for_change(timeout=0.3) is None
        assert mine.count_events() == 0
    finally:
        mine.close()
        other.close()
        pg_schemas.drop(other_url)


# ---------------------------------------------------------------------------------- opening

def test_open_store_dispatch_and_database_url(pg_url, monkeypatch):
    monkeypatch.delenv("AGENTTUI_DB", raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_url.replace("postgresql://", "postgres://", 1))
    with open_store() as store:
        assert store.backend == "postgresql"
        assert store.path.startswith("postgresql://") and "search_path" not in store.path


def test_migration_is_idempotent_and_readonly_never_migrates(pg_url):
    with pytest.raises(NotAStoreError, match="no schema"):
        open_store(pg_url, readonly=True)
    open_store(pg_url).close()
    with open_store(pg_url) as again:  # a second open finds the schema current and leaves it alone
        assert again.stats()["schema_version"] == SCHEMA_VERSION


def test_another_applications_tables_are_not_taken_over(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema = pg_url.rsplit("%3D", 1)[-1]
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute("CREATE TABLE events (id serial primary key, what text)")
    with pytest.raises(NotAStoreError, match="not an agenttui store"):
        open_store(pg_url)


def test_truncate_is_refused_too(pg_url):
    with open_store(pg_url) as store:
        store.append(ev("run_started", "r"))
        import psycopg

        with pytest.raises(psycopg.Error, match="append-only"):
            store.connection.execute("TRUNCATE events")
        assert store.count_events() == 1


def test_deleting_events_needs_an_immutable_audit_entry_of_the_same_transaction(pg_url):
    """Issue 17.5 on PostgreSQL: the old guard row is gone, a bare DELETE is refused, and the only
    way to delete is to write first, in the same transaction, a retention_log entry covering the
    rows; that entry cannot be removed afterwards, so the deletion stays on record."""
    import psycopg

    with open_store(pg_url) as store:
        store.append([ev("run_started", "r", ts="2025-01-01T00:00:00Z"),
                      ev("step_started", "r", ts="2025-06-01T00:00:00Z")])
        with store.connection_from_pool() as conn:
            with pytest.raises(psycopg.Error, match="retention_guard"):
                conn.execute("INSERT INTO retention_guard (token) VALUES ('x')")
            with pytest.raises(psycopg.Error, match="append-only"):
                conn.execute("DELETE FROM events")
            # a log entry whose cutoff (February) does not cover the June event: nothing goes
            with pytest.raises(psycopg.Error, match="append-only"), conn.transaction():
                conn.execute("INSERT INTO retention_log (executed_at, executed_by, max_age_days, cutoff, events_deleted, "
                             "runs_deleted) VALUES ('now', 'someone', 1, '2025-02-01T00:00:00.000000Z', 1, 0)")
                conn.execute("DELETE FROM events")
            assert store.count_events() == 2 and store.retention_log() == []
            with conn.transaction():
                conn.execute("INSERT INTO retention_log (executed_at, executed_by, max_age_days, cutoff, events_deleted, "
                             "runs_deleted) VALUES ('now', 'someone', 1, '2025-02-01T00:00:00.000000Z', 1, 0)")
                conn.execute("DELETE FROM events WHERE timestamp < '2025-02-01'")
            with pytest.raises(psycopg.Error, match="audit trail"):
                conn.execute("DELETE FROM retention_log")
        assert store.count_events() == 1 and store.retention_log()[0]["executed_by"] == "someone"
        (broken,) = store.verify()  # no cut_at recorded: the surviving event's chain shows the gap
        assert broken.seq == 2 and "missing" in broken.reason


def test_unreachable_server_is_a_clear_error_without_the_password():
    pytest.importorskip("psycopg")
    from agenttui.store.postgres import StoreUnavailableError

    with pytest.raises(StoreUnavailableError) as info:
        open_store("postgresql://agent:s3cret@127.0.0.1:1/agents", connect_timeout=2)
    assert "s3cret" not in str(info.value)
    assert "postgresql://agent@127.0.0.1:1/agents: cannot connect" in str(info.value)
