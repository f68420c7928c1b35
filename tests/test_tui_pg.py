"""The inspector on a PostgreSQL store: `agenttui open postgresql://...` and DATABASE_URL.

A real server (tests/pg_server.py: started from the installed binaries, or $AGENTTUI_TEST_PG_URL)
holds the sample run; writers in other processes append while the app runs, and the LISTEN/NOTIFY
watcher must bring their events into the list, tree and header. Latencies are printed, never
asserted (run with -s to see them). Without a server these tests skip, except in CI where they fail.
"""
from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agenttui.store import EventFilter, SQLiteStore, open_store
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.app import AgentTuiApp
from agenttui.store.follow import StoreFollower
from agenttui.tui.data.targets import display_name

from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401  (fixtures)
from tui_support import (  # noqa: F401  (anyio_backend is a fixture)
    SAMPLE_RUN, SIZE, anyio_backend, sample_events, static_text, wait_for,
)

SAMPLE_RUN_EVENTS = 182  # the sample's 184 events less the 2 sent with a null run_id

PG_WRITER = r'''
import sys, time
from agenttui.store import open_store
url, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_store(url) as store:
    store.append({"event_id": "warm-up", "run_id": "another-run", "event_type": "tick", "payload": {}})
    print("ready", time.time(), flush=True)
    time.sleep(0.2)
    for i in range(count):
        store.append({"event_id": f"pg-live-{i}", "run_id": run_id, "event_type": "node_created",
                      "payload": {"node_id": f"pg-node-{i}", "node_nid": f"9.{i}", "node_type": "EXECUTE_NODE",
                                  "task_type": "RETRIEVAL", "task_goal": f"live goal {i}"}})
        print(i, time.time(), flush=True)  # after append returns: committed
        time.sleep(0.05)
'''


def load_sample(url: str) -> None:
    with open_store(url) as store:
        store.append(sample_events())


def with_password(url: str, password: str) -> str:
    """The same server URL with a password in it (the test server trusts everyone, so it still works)."""
    scheme, rest = url.split("://", 1)
    userinfo, at, hostpart = rest.partition("@")
    return f"{scheme}://{userinfo}:{password}@{hostpart}" if at else f"{scheme}://{rest}"


def all_text(app: AgentTuiApp) -> str:
    """Everything the app shows as a status, message or header, plus its notifications."""
    parts = [static_text(app.query_one(f"#{name}")) for name in ("message", "header", "status")]
    parts += [str(n.message) for n in app._notifications]  # noqa: SLF001
    return "\n".join(parts)


@pytest.mark.anyio
@pytest.mark.parametrize("listen", [True, False], ids=["listen", "poll"])
async def test_open_a_postgres_url_and_follow_a_writer_process(pg_url: str, listen: bool) -> None:
    load_sample(pg_url)
    # listening, the wait's 1 s timeout is only a safety net: the latency printed is NOTIFY's
    app = AgentTuiApp(with_password(pg_url, "s3cret-pw"), use_file_events=listen, poll_interval=1.0 if listen else 0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load from PostgreSQL")
        lst = app.inspector.events_list
        assert app.inspector.run_id == SAMPLE_RUN
        assert lst.count == SAMPLE_RUN_EVENTS
        assert app.inspector.watcher is not None and app.inspector.watcher.mode == ("listen" if listen else "poll")
        assert app.inspector.node_tree._tree_nodes, "the plan tree is drawn"  # noqa: SLF001
        assert f"{SAMPLE_RUN_EVENTS} events" in static_text(app.query_one("#header"))

        count = 5
        writer = subprocess.Popen([sys.executable, "-c", PG_WRITER, pg_url, SAMPLE_RUN, str(count)],
                                  stdout=subprocess.PIPE, text=True)
        seen_at: dict[int, float] = {}
        try:
            deadline = time.monotonic() + 30
            while len(seen_at) < count:
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {len(seen_at)} of {count} events from the writer process appeared")
                now = time.time()
                for i in range(lst.count - SAMPLE_RUN_EVENTS):
                    seen_at.setdefault(i, now)
                await pilot.pause(0.002)
            out, _ = writer.communicate(timeout=30)
        finally:
            if writer.poll() is None:
                writer.kill()
        assert writer.returncode == 0
        committed = {int(i): float(t) for i, t in (line.split() for line in out.splitlines() if line[0].isdigit())}
        latencies = sorted((seen_at[i] - committed[i]) * 1000 for i in range(count))
        print(f"\nPostgreSQL commit -> visible in the event list ({app.inspector.watcher.mode}): "
              f"p50 {statistics.median(latencies):.1f} ms, max {latencies[-1]:.1f} ms, n={count}")

        await wait_for(pilot, lambda: lst.follow and lst.cursor == lst.count - 1,
                       "follow mode to keep the newest event in view")
        assert lst.event(lst.cursor_seq).event_id == f"pg-live-{count - 1}"
        assert "pg-node-4" in app.inspector.history.live.nodes
        tree = app.inspector.node_tree
        await wait_for(pilot, lambda: "pg-node-0" in {n.data for n in tree._tree_nodes.values()},  # noqa: SLF001
                       "the new root node in the tree")
        await wait_for(pilot, lambda: f"{SAMPLE_RUN_EVENTS + count} events" in static_text(app.query_one("#header")),
                       "the header's event count")
        assert "s3cret-pw" not in all_text(app)


@pytest.mark.anyio
async def test_a_type_filter_and_a_search_run_on_postgres(pg_url: str) -> None:
    load_sample(pg_url)
    with open_store(pg_url, readonly=True) as store:
        tools = store.count_events(EventFilter(run_id=SAMPLE_RUN, types=["tool_invoked"]))
        searched = [e.seq for e in store.events(EventFilter(run_id=SAMPLE_RUN, types=["tool_invoked"],
                                                            search="WEB.search"))]
    assert tools > 0 and searched
    app = AgentTuiApp(pg_url, types=["tool_invoked"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inspector.events_list.source.filtered and not app.inspector.busy, "the filtered view")
        assert app.inspector.events_list.count == tools
        await pilot.press("slash", *"WEB.search", "enter")  # case-insensitive, as on SQLite
        await wait_for(pilot, lambda: app.inspector.search.matches is not None, "the search's matches")
        assert list(app.inspector.search.matches) == searched
        assert app.inspector.events_list.cursor_seq == searched[0]
        await pilot.press("escape", "escape")  # clear the search, then the type filter
        await wait_for(pilot, lambda: not app.inspector.events_list.source.filtered, "the unfiltered view")
        assert app.inspector.events_list.count == SAMPLE_RUN_EVENTS


@pytest.mark.anyio
async def test_the_tree_shows_its_first_level_before_the_fold_on_postgres(pg_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The tree's first level comes from the store's projections while the run folds. It was read
    with SQLiteStore(target) whatever the target, so on a postgresql:// URL it failed (silently)
    and the tree stayed empty until the fold was done."""
    import agenttui.tui.screens.inspector as app_module

    load_sample(pg_url)
    with open_store(pg_url, readonly=True) as store:
        roots = [n["node_id"] for n in store.nodes(SAMPLE_RUN)
                 if not any(e["child_node_id"] == n["node_id"] for e in store.edges(SAMPLE_RUN))]
    assert roots
    release = threading.Event()
    real_load = app_module.load_history
    monkeypatch.setattr(app_module, "load_history", lambda *a, **kw: release.wait(60) and real_load(*a, **kw))
    app = AgentTuiApp(pg_url)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.inspector.node_tree.source is not None, "the tree's first level before the fold", 30)
            assert app.inspector.history is None  # (still folding: this is the store's level, not the History's)
            assert sorted(app.inspector.node_tree.source.roots_at(0)) == sorted(roots)
            assert "failed" not in app.inspector.notice
            release.set()
            await wait_for(pilot, lambda: app.inspector.history is not None, "the fold", 30)
    finally:
        release.set()


@pytest.mark.anyio
async def test_the_app_waits_for_a_store_no_writer_has_created_yet(pg_url: str) -> None:
    app = AgentTuiApp(pg_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "waiting for" in static_text(app.query_one("#message")), "the waiting message")
        assert app.inspector.reader is None
        await asyncio.to_thread(load_sample, pg_url)  # a writer creates the schema and records the run
        await wait_for(pilot, lambda: app.inspector.history is not None, "the run once the store exists", 20)
        assert app.inspector.run_id == SAMPLE_RUN and app.inspector.events_list.count == SAMPLE_RUN_EVENTS


@pytest.mark.anyio
async def test_an_unreachable_server_is_named_without_its_password(free_tcp_port: int) -> None:
    url = f"postgresql://agent:s3cret-pw@127.0.0.1:{free_tcp_port}/agents"  # nothing listens there
    app = AgentTuiApp(url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "cannot open" in static_text(app.query_one("#message")), "the error message")
        await wait_for(pilot, lambda: "retrying" in all_text(app), "the message saying it retries")
        shown = all_text(app)
        assert "127.0.0.1" in shown
        assert "s3cret-pw" not in shown


# ------------------------------------------------------------------------- without the app

def test_agenttui_open_uses_database_url(pg_url: str, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    """`agenttui open` with only $DATABASE_URL opens that server (the terminal is replaced by Pilot)."""
    load_sample(pg_url)
    monkeypatch.delenv("AGENTTUI_DB", raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    seen: dict[str, Any] = {}

    def headless_run_app(target: str, run_id: str | None = None, types: Any = None) -> int:
        async def drive() -> None:
            app = AgentTuiApp(target, run_id=run_id, types=types)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load")
                seen.update(target=target, run=app.inspector.run_id, rows=app.inspector.events_list.count)

        asyncio.run(drive())
        return 0

    import agenttui.cli

    monkeypatch.setattr(agenttui.cli, "_load_run_app", lambda: headless_run_app)
    code, _out, err = cli("open")
    assert code == 0, err
    assert seen == {"target": pg_url, "run": SAMPLE_RUN, "rows": SAMPLE_RUN_EVENTS}


def test_the_inspector_queries_answer_the_same_on_both_backends(pg_url: str, tmp_path: Path) -> None:
    """tui/queries.py's own SQL runs through PostgresStore.connection with SQLite's results."""
    load_sample(pg_url)
    with SQLiteStore(tmp_path / "run.db") as writer:
        writer.append(sample_events())
    node = next(e.node_id for e in sample_events() if e.node_id)
    filters = [EventFilter(types=["tool_invoked", "llm_call_completed"]),
               EventFilter(exclude_types=["llm_call_started"]), EventFilter(node_id=node),
               EventFilter(search="PLAN_NODE"), EventFilter(search="plan_node"), EventFilter(types=[])]
    answers = []
    for store in (SQLiteStore(tmp_path / "run.db", readonly=True), open_store(pg_url, readonly=True)):
        with store:
            got = [InspectorReader(store).last_seq(SAMPLE_RUN), InspectorReader(store).last_position(SAMPLE_RUN),
                   InspectorReader(store).position_of_seq(SAMPLE_RUN, 90),
                   {s: e.event_id for s, e in InspectorReader(store).events_by_seqs(SAMPLE_RUN, [1, 5, 90, 999]).items()},
                   InspectorReader(store).type_counts(SAMPLE_RUN), InspectorReader(store).type_counts(SAMPLE_RUN, after_position=100),
                   list(InspectorReader(store).tail_seqs(SAMPLE_RUN, types=["tool_invoked", "tool_returned"], upto_seq=150,
                                          limit=7)),
                   list(InspectorReader(store).tail_seqs(SAMPLE_RUN, hidden=["llm_call_started"], upto_seq=150, limit=7))]
            for flt in filters:
                got.append(list(InspectorReader(store).matching_seqs(SAMPLE_RUN, flt)))
                got.append(list(InspectorReader(store).matching_seqs(SAMPLE_RUN, flt, after_seq=40, upto_seq=120)))
                got.append(InspectorReader(store).first_match(SAMPLE_RUN, flt, after_seq=100))
            answers.append(got)
    assert answers[0][0] == SAMPLE_RUN_EVENTS
    assert answers[1] == answers[0]


def test_a_non_ascii_search_answers_the_same_on_both_backends(pg_url: str, tmp_path: Path) -> None:
    extra = {"event_id": "unicode", "run_id": SAMPLE_RUN, "event_type": "note", "payload": {"text": "Café CRÈME"}}
    load_sample(pg_url)
    with open_store(pg_url) as writer:
        writer.append(extra)
    with SQLiteStore(tmp_path / "run.db") as writer:
        writer.append(sample_events())
        writer.append(extra)
    flt = EventFilter(search="café crème")
    with SQLiteStore(tmp_path / "run.db", readonly=True) as lite, open_store(pg_url, readonly=True) as pg:
        expected = list(InspectorReader(lite).matching_seqs(SAMPLE_RUN, flt))
        assert expected == [SAMPLE_RUN_EVENTS + 1]
        assert list(InspectorReader(pg).matching_seqs(SAMPLE_RUN, flt)) == expected


def test_the_watcher_reconnects_without_skipping_an_event(pg_url: str, pg_server_url: str) -> None:
    """Its listening connection is killed: it reports the problem, reconnects, and carries on
    from the last position it handed over."""
    import psycopg

    load_sample(pg_url)
    changes: list[Any] = []
    arrived = threading.Condition()

    def on_change(change: Any) -> None:
        with arrived:
            changes.append(change)
            arrived.notify_all()

    def wait_until(what: str, condition: Any) -> None:
        with arrived:
            assert arrived.wait_for(lambda: condition(changes), timeout=20), f"timed out waiting for {what}: {changes}"

    with open_store(pg_url) as writer:
        watcher = StoreFollower(pg_url, on_change, poll_interval=0.1)
        watcher.start(writer.last_position())
        try:
            writer.append({"event_id": "before", "run_id": "r", "event_type": "tick", "payload": {}})
            wait_until("the first event", lambda cs: any(c.kind == "events" for c in cs))
            deadline = time.monotonic() + 10
            while (listener := getattr(watcher._store, "_listener", None)) is None:  # noqa: SLF001
                assert time.monotonic() < deadline, "the watcher never started listening"
                time.sleep(0.01)
            with psycopg.connect(pg_server_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (listener.info.backend_pid,))
            writer.append([{"event_id": f"after-{i}", "run_id": "r", "event_type": "tick", "payload": {}}
                           for i in range(3)])
            wait_until("the events after the reconnect, and the problem cleared",
                       lambda cs: sum(len(c.events) for c in cs if c.kind == "events") >= 4
                       and [c.message for c in cs if c.kind == "problem"][-1:] == [""])
        finally:
            watcher.stop()
    ids = [e.event_id for c in changes if c.kind == "events" for e in c.events]
    assert ids == ["before", "after-0", "after-1", "after-2"], "each event exactly once, in order"
    problems = [c.message for c in changes if c.kind == "problem"]
    assert problems and problems[-1] == "", "the lost connection is reported, then cleared"
    assert all(display_name(pg_url) in m for m in problems[:-1])


@pytest.mark.anyio
async def test_the_inspector_carries_on_when_the_server_drops_its_connections(pg_url: str, pg_server_url: str) -> None:
    """A server restart or a proxy timeout kills every connection the app holds: the watcher
    reconnects and shows each later event once, and the list's own connection reopens."""
    import psycopg

    load_sample(pg_url)
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        opened_after = admin.execute("SELECT now()").fetchone()[0]
        app = AgentTuiApp(pg_url, poll_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.inspector.history is not None, "the run to load")
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'agenttui' "
                "AND backend_start >= %s AND pid <> pg_backend_pid()", (opened_after,)).fetchone()[0]
            assert killed >= 3, "the app's list, pool and listening connections"
            with open_store(pg_url) as writer:
                writer.append([{"event_id": f"after-drop-{i}", "run_id": SAMPLE_RUN, "event_type": "tick",
                                "payload": {}} for i in range(3)])
            lst = app.inspector.events_list
            await wait_for(pilot, lambda: lst.count >= SAMPLE_RUN_EVENTS + 3, "the events committed after the drop", 20)
            await pilot.pause(0.3)
            assert lst.count == SAMPLE_RUN_EVENTS + 3, "no event is shown twice"
            assert [lst.event(SAMPLE_RUN_EVENTS + i).event_id for i in (1, 2, 3)] == [
                f"after-drop-{i}" for i in range(3)]
            try:  # the first use of the dropped connection fails (the list shows a placeholder) ...
                app.inspector.reader.events_by_seqs(SAMPLE_RUN, [1])
            except psycopg.OperationalError:
                pass
            # ... and the next one reconnects
            assert app.inspector.reader.events_by_seqs(SAMPLE_RUN, [1])[1].seq == 1
            assert app.inspector.notice == "", "the watcher's notice of the lost connection cleared once it read again"
