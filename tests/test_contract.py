"""The store contract, run against both backends: whatever holds for SQLite holds for PostgreSQL.

Every test takes `backend`, a factory for stores on one fresh target (a SQLite file in tmp_path, or
a fresh PostgreSQL database; see tests/pg_server.py), so a test can open a second writer or a
read-only view of the same data.
"""
from __future__ import annotations

import inspect
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from agenttui.store import (
    ConcurrencyError, EnvelopeError, EventFilter, EventStore, ReadOnlyStoreError, SchemaError, SchemaTooNewError,
    SQLiteStore, UpcasterRegistry, fold, open_store,
)
from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401  (fixtures)
from store_fixtures import SAMPLE_RUN, ev, sample_events

BACKENDS = ["sqlite", "postgres"]
_DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
try:
    import psycopg

    _DB_ERRORS += (psycopg.Error,)
except ImportError:  # the postgres cases skip (or fail in CI) through the pg_url fixture
    pass


class Backend:
    """Opens stores on one target; remembers them so the test's teardown closes them all."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target
        self._opened: list[Any] = []

    def open(self, **kwargs: Any) -> EventStore:
        store = open_store(self.target, **kwargs)
        assert isinstance(store, EventStore)
        self._opened.append(store)
        assert store.backend == {"sqlite": "sqlite", "postgres": "postgresql"}[self.name]
        return store

    def close_all(self) -> None:
        for s in self._opened:
            s.close()

    def set_schema_version(self, store: Any, version: int) -> None:
        if self.name == "sqlite":
            store.connection.execute(f"PRAGMA user_version = {version}")
        else:
            store.connection.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'", (str(version),))


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "contract.db"))
    else:
        b = Backend("postgres", request.getfixturevalue("pg_url"))
    yield b
    b.close_all()


@pytest.fixture
def store(backend: Backend) -> EventStore:
    return backend.open()


@pytest.fixture
def sample_store(store: EventStore) -> EventStore:
    store.append(sample_events())
    return store


def _protocol_members() -> list[str]:
    return sorted(n for n in vars(EventStore) if not n.startswith("_") or n in ("__enter__", "__exit__"))


def _backend_classes() -> list[type]:
    from agenttui.store.postgres import PostgresStore

    return [SQLiteStore, PostgresStore]


@pytest.mark.parametrize("name", _protocol_members())
def test_both_backends_implement_the_protocol_method_by_method(name):
    """Every promise of EventStore exists on both classes, with the protocol's parameters and
    defaults (extra keyword-only parameters with defaults are allowed), and a docstring."""
    promised = inspect.getattr_static(EventStore, name)
    for cls in _backend_classes():
        got = inspect.getattr_static(cls, name, None)
        if name in EventStore.__annotations__:  # a data attribute
            assert name in ("path", "readonly") or getattr(cls, name, None) is not None, (cls, name)
            continue
        assert got is not None, f"{cls.__name__} lacks {name}"
        if isinstance(promised, property):
            assert isinstance(got, property), (cls, name)
            continue
        want = inspect.signature(promised)
        have = inspect.signature(getattr(cls, name))
        for p in want.parameters.values():
            assert p.name in have.parameters, f"{cls.__name__}.{name} lacks parameter {p.name}"
            q = have.parameters[p.name]
            assert (q.kind, q.default) == (p.kind, p.default), f"{cls.__name__}.{name}({p.name})"
        extra = [q for q in have.parameters.values() if q.name not in want.parameters]
        assert all(q.default is not q.empty or q.kind in (q.VAR_KEYWORD, q.VAR_POSITIONAL) for q in extra), \
            f"{cls.__name__}.{name} needs parameters the protocol does not promise: {extra}"
        assert (promised.__doc__ or "").strip(), f"EventStore.{name} has no docstring"


def test_protocol_lists_the_whole_public_api():
    """A public method added to one backend but not promised by the protocol is a drift to catch."""
    promised = set(_protocol_members())
    backend_only = {"connection_from_pool", "wait_for_change", "listen"}  # PostgreSQL's live signal and pool
    for cls in _backend_classes():
        public = {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n, None))}
        assert public - promised - backend_only == set(), cls.__name__


def _ts(minutes: float) -> str:
    t = datetime(2025, 4, 17, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ------------------------------------------------------------------------------------ appending

def test_positions_and_per_run_seqs(store):
    r = store.append([ev("run_started", "a"), ev("step_started", "b", step=1), ev("step_started", "a", step=1)])
    assert (r.stored, r.duplicates, r.first_position, r.last_position) == (3, 0, 1, 3)
    assert r.versions == {"a": 2, "b": 1}
    got = [(e.position, e.run_id, e.seq) for e in store.events(limit=None)]
    assert got == [(1, "a", 1), (2, "b", 1), (3, "a", 2)]
    r2 = store.append(ev("step_finished", "b", step=1))
    assert (r2.first_position, r2.last_position, r2.versions) == (4, 4, {"b": 2})
    assert store.last_position() == 4


def test_append_is_idempotent_by_event_id(store):
    first = ev("run_started", "a", event_id="e-1")
    store.append(first)
    r = store.append([first, ev("step_started", "a", event_id="e-2", step=1), ev("step_started", "a", event_id="e-2")])
    assert (r.stored, r.duplicates) == (1, 2)
    assert [e.event_id for e in store.timeline("a")] == ["e-1", "e-2"]
    assert store.run("a")["event_count"] == 2
    again = store.append([first])
    assert (again.stored, again.duplicates, again.first_position) == (0, 1, None)


def test_stale_expected_version_raises_and_writes_nothing(store):
    store.append([ev("run_started", "a"), ev("step_started", "a", step=1)], expected_version=0)
    before = store.count_events()
    with pytest.raises(ConcurrencyError) as info:
        store.append([ev("step_started", "a", step=2), ev("run_started", "z")], expected_version={"a": 1, "z": 0})
    assert (info.value.run_id, info.value.expected, info.value.actual) == ("a", 1, 2)
    assert store.count_events() == before
    assert store.run("z") is None
    r = store.append(ev("step_started", "a", step=2), expected_version=2)
    assert r.versions == {"a": 3}
    with pytest.raises(ValueError, match="mapping"):
        store.append([ev("x", "a"), ev("x", "b")], expected_version=3)


def test_retry_of_a_committed_batch_succeeds_despite_its_old_expectation(store):
    batch = [ev("run_started", "a"), ev("step_started", "a", step=1)]
    store.append(batch, expected_version=0)
    r = store.append(batch, expected_version=0)
    assert (r.stored, r.duplicates) == (0, 2)


def test_null_run_is_kept_as_unassigned(store):
    store.append([ev("llm_call_started", None, model="m"), ev("run_started", "r")])
    [e] = store.events(run_id="unassigned")
    assert e.run_id == "unassigned" and e.to_envelope()["run_id"] is None
    assert {r["run_id"] for r in store.runs()} == {"unassigned", "r"}
    assert store.latest_run_id() == "r"


def test_unknown_types_are_stored_and_only_counted(store):
    store.append([ev("run_started", "a"), ev("my_custom_metric", "a", node_id="n1", value=3.5)])
    [e] = store.events(types=["my_custom_metric"])
    assert e.payload == {"value": 3.5} and e.node_id == "n1"
    assert store.run("a")["event_count"] == 2
    assert store.node("a", "n1")["status"] == "PENDING"
    assert store.count_by_type() == {"my_custom_metric": 1, "run_started": 1}


def test_payload_round_trips_exactly(store):
    payload = {"z": 1, "a": [1.5, None, True], "nul": "a\u0000b", "emoji": "\U0001f600", "markup": "[bold]x[/]",
               "nested": {"k": {"deeper": "\\"}}, "big": 2 ** 60}
    store.append(ev("artifact", "a", event_id="p1", metadata={"schema_version": 1, "source": "t"}, **payload))
    e = store.get_event("p1")
    assert e.payload == payload and list(e.payload) == list(payload)  # key order kept too
    assert e.metadata == {"schema_version": 1, "source": "t"}


def test_bad_events_name_the_event_and_write_nothing(backend):
    store = backend.open(max_payload_bytes=1000)
    store.append(ev("run_started", "a"))
    with pytest.raises(EnvelopeError, match=r"event 1 \(bad-1\)"):
        store.append([ev("step_started", "a"), ev("x", "a", event_id="bad-1", ts="not a time")])
    with pytest.raises(EnvelopeError, match=r"event 0 \(big-1\).*over the 1,000-byte limit"):
        store.append(ev("artifact", "a", event_id="big-1", content="x" * 2000))
    assert store.count_events() == 1


def test_database_refuses_update_and_delete(sample_store):
    conn = sample_store.connection
    with pytest.raises(_DB_ERRORS, match="append-only"):
        conn.execute("UPDATE events SET event_type = 'forged' WHERE id = 1")
    with pytest.raises(_DB_ERRORS, match="append-only"):
        conn.execute("DELETE FROM events WHERE id = 1")
    assert sample_store.event_at(1).event_type != "forged"
    assert sample_store.count_events() == 184


def test_a_second_writer_moves_the_run_and_the_first_notices(backend):
    a, b = backend.open(), backend.open()
    a.append([ev("run_started", "r"), ev("node_created", "r", node_id="n", node_nid="1")])
    b.append(ev("node_status_changed", "r", node_id="n", old_status="NOT_READY", new_status="DOING"),
             expected_version=2)
    with pytest.raises(ConcurrencyError):
        a.append(ev("step_started", "r", step=1), expected_version=2)
    r = a.append(ev("node_status_changed", "r", node_id="n", old_status="DOING", new_status="FINISH"))
    assert r.versions == {"r": 4}
    assert a.node("r", "n")["status"] == "FINISH"
    assert a.check() == [] and b.check() == []


# ---------------------------------------------------------------------------------- projections

def test_projections_equal_a_rebuild(sample_store):
    before = {r["run_id"]: sample_store.stored_state(r["run_id"]).comparable() for r in sample_store.runs()}
    assert sample_store.check() == []
    report = sample_store.rebuild()
    assert report["events"] == 184 and report["runs"] == 2
    after = {r["run_id"]: sample_store.stored_state(r["run_id"]).comparable() for r in sample_store.runs()}
    assert after == before
    folded = fold(SAMPLE_RUN, sample_store.timeline(SAMPLE_RUN))
    assert folded.comparable() == before[SAMPLE_RUN]


def test_projection_figures_of_the_sample_run(sample_store):
    run = sample_store.run(SAMPLE_RUN)
    assert (run["status"], run["event_count"], run["total_nodes"], run["llm_calls"]) == ("completed", 182, 12, 24)
    nodes = sample_store.nodes(SAMPLE_RUN)
    assert len(nodes) == 12 and nodes[0]["node_nid"] == "0"
    assert len(sample_store.edges(SAMPLE_RUN)) == 11
    g = sample_store.node_tree(SAMPLE_RUN)
    assert g.number_of_nodes() == 12 and g.number_of_edges() == 11
    assert sample_store.runs()[0]["run_id"] == SAMPLE_RUN  # most recent first


def test_check_reports_a_tampered_projection(sample_store):
    sample_store.connection.execute("UPDATE runs SET llm_calls = 999 WHERE run_id = ?", (SAMPLE_RUN,))
    problems = sample_store.check()
    assert any("llm_calls is 999" in p for p in problems)
    sample_store.rebuild()
    assert sample_store.check() == []


# ------------------------------------------------------------------------------------- reading

def test_filters(sample_store):
    s = sample_store
    assert s.count_events(types=["node_created", "edge_added"]) == 23
    assert s.count_events(types=[]) == 0
    assert s.count_events(exclude_types=["node_status_changed"]) == 184 - 37
    root = s.nodes(SAMPLE_RUN)[0]["node_id"]
    assert all(e.node_id == root for e in s.events(node_id=root, limit=None))
    assert s.count_events(run_id="unassigned") == 2
    all_events = s.events(limit=None)
    mid = all_events[100].timestamp
    assert [e.position for e in s.events(since=mid, limit=None)] == [e.position for e in all_events if e.timestamp >= mid]
    assert [e.position for e in s.events(until=mid, limit=None)] == [e.position for e in all_events if e.timestamp <= mid]


def test_search_is_a_case_insensitive_literal_substring(store):
    store.append([ev("artifact", "a", event_id="s1", content="100% Sure_thing"),
                  ev("artifact", "a", event_id="s2", content="100 percent surely"),
                  ev("artifact", "a", event_id="s3", content='say "hi"\nthere')])
    assert [e.event_id for e in store.events(search="sure_THING")] == ["s1"]
    assert [e.event_id for e in store.events(search="100%")] == ["s1"]
    assert [e.event_id for e in store.events(search="SURE")] == ["s1", "s2"]
    assert [e.event_id for e in store.events(search='"hi"\nthere')] == ["s3"]
    assert store.count_events(EventFilter(search="sure", run_id="a", types=["artifact"])) == 2


def test_paging_forwards_and_backwards(sample_store):
    s = sample_store
    forward = s.events(after=10, limit=5)
    assert [e.position for e in forward] == [11, 12, 13, 14, 15]
    backward = s.events(before=100, limit=3, order="desc")
    assert [e.position for e in backward] == [99, 98, 97]
    assert [e.position for e in s.iter_events(after=180, batch=2)] == [181, 182, 183, 184]
    assert [e.position for e in s.read_after(182)] == [183, 184]
    assert s.read_after(184) == []
    assert len(list(s.iter_events(EventFilter(run_id=SAMPLE_RUN), batch=50))) == 182


def test_single_event_lookups(sample_store):
    s = sample_store
    e = s.event_at(7)
    assert s.get_event(e.event_id).position == 7
    assert s.event_by_seq(e.run_id, e.seq).event_id == e.event_id
    assert s.event_at(10_000) is None and s.get_event("nope") is None and s.event_by_seq("nope", 1) is None
    seqs = [x.seq for x in s.timeline(SAMPLE_RUN)]
    assert seqs == list(range(1, 183))


def test_upcasters_apply_on_read(backend):
    reg = UpcasterRegistry()

    @reg.register("tool_invoked", 1)
    def v1_to_v2(p: dict) -> dict:
        return {**p, "tool": p.pop("name", None)}

    s = backend.open(upcasters=reg)
    s.append(ev("tool_invoked", "a", event_id="t1", name="search"))
    e = s.get_event("t1")
    assert e.payload["tool"] == "search" and e.metadata["schema_version"] == 2
    raw = backend.open(upcasters=UpcasterRegistry()).get_event("t1")
    assert raw.payload == {"name": "search"}


def test_stats_keys(sample_store, backend):
    st = sample_store.stats()
    common = {"path", "backend", "schema_version", "file_bytes", "events", "first_position", "last_position",
              "first_timestamp", "last_timestamp", "runs", "nodes", "edges", "snapshots", "retention_passes",
              "event_types"}
    assert common <= set(st)
    assert (st["events"], st["runs"], st["nodes"], st["edges"]) == (184, 2, 12, 11)
    assert st["backend"] == sample_store.backend and st["event_types"]["node_status_changed"] == 37
    assert st["file_bytes"] > 0


# ----------------------------------------------------------------------------- temporal queries

def test_state_at_matches_a_fold_of_the_prefix(backend):
    s = backend.open(snapshot_every=25)
    s.append(sample_events())
    events = list(s.timeline(SAMPLE_RUN))
    for cut in (3, 40, 41, 120, events[-1].position):
        expected = fold(SAMPLE_RUN, [e for e in events if e.position <= cut])
        assert s.state_at(SAMPLE_RUN, cut).comparable() == expected.comparable(), cut
    assert s.stats()["snapshots"] > 0
    assert s.state_at(SAMPLE_RUN).comparable() == s.stored_state(SAMPLE_RUN).comparable()


def test_state_at_timestamp_and_counterfactual(backend):
    s = backend.open(snapshot_every=25)
    s.append(sample_events())
    events = list(s.timeline(SAMPLE_RUN))
    ts = events[90].timestamp
    by_time = s.state_at(SAMPLE_RUN, timestamp=ts)
    assert by_time.comparable() == fold(SAMPLE_RUN, [e for e in events if e.timestamp <= ts]).comparable()
    assert s.position_at(SAMPLE_RUN, ts) == max(e.position for e in events if e.timestamp <= ts)
    dropped = [e.event_id for e in events if e.event_type == "run_finished"]
    cf = s.state_at(SAMPLE_RUN, exclude=dropped)
    assert cf.run["status"] == "running"
    assert cf.comparable() == fold(SAMPLE_RUN, [e for e in events if e.event_id not in dropped]).comparable()


# ------------------------------------------------------------------------------------ retention

def test_retention_is_audited_and_keeps_projections_consistent(backend):
    s = backend.open()
    now = datetime(2025, 5, 1, tzinfo=timezone.utc)
    old = [ev("run_started", "old", ts=_ts(0)), ev("step_started", "old", ts=_ts(1), step=1)]
    mixed = [ev("run_started", "mixed", ts=_ts(2)), ev("llm_call_started", "mixed", ts=_ts(60 * 24 * 20))]
    s.append(old + mixed)
    assert s.retention(0, now=now)["events_deleted"] == 0
    report = s.retention(7, now=now, actor="tester")
    assert (report["events_deleted"], report["runs_deleted"], report["runs_refolded"]) == (3, 1, 1)
    assert s.run("old") is None
    assert s.run("mixed")["event_count"] == 1 and s.run("mixed")["llm_calls"] == 1
    assert s.check() == []
    [log] = s.retention_log()
    assert (log["executed_by"], log["events_deleted"], log["max_age_days"]) == ("tester", 3, 7)
    assert log["details"]["runs_deleted"] == ["old"]
    with pytest.raises(_DB_ERRORS, match="append-only"):
        s.connection.execute("DELETE FROM events")
    for tamper in ("DELETE FROM retention_log", "UPDATE retention_log SET executed_by = 'nobody'"):
        with pytest.raises(_DB_ERRORS, match="audit trail"):
            s.connection.execute(tamper)
    assert s.retention_log()[0]["executed_by"] == "tester"
    r = s.append(ev("step_started", "mixed", step=2, ts=_ts(60 * 24 * 21)))
    assert r.first_position == 5  # positions are never reused, even after the newest were deleted
    assert s.run("mixed")["event_count"] == 2


# -------------------------------------------------------------------------------- opening modes

def test_readonly_store_reads_but_never_writes(backend):
    backend.open().append(ev("run_started", "a"))
    ro = backend.open(readonly=True)
    assert ro.count_events() == 1
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        ro.append(ev("step_started", "a"))
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        ro.rebuild()


def test_newer_schema_is_refused(backend):
    s = backend.open()
    backend.set_schema_version(s, 99)
    with pytest.raises(SchemaTooNewError, match="99"):
        backend.open()


def test_a_delete_beyond_retentions_permission_is_refused_as_immutable(store, monkeypatch):
    """The store's write paths report the database's append-only refusal as ImmutableEventError:
    a retention pass that tries to delete more than its audit entry covers (here: everything,
    without SQLite's permission function switched on) deletes nothing."""
    from agenttui.store import ImmutableEventError

    store.append([ev("run_started", "old", ts=_ts(-60 * 24 * 10)), ev("step_started", "old", ts=_ts(0))])

    def delete_without_permission(self, tx, cutoff):
        tx.execute("DELETE FROM events")

    monkeypatch.setattr(type(store), "_delete_events_before", delete_without_permission)
    with pytest.raises(ImmutableEventError, match="append-only"):
        store.retention(1, now=datetime(2025, 4, 17, 12, 0, tzinfo=timezone.utc))
    assert store.count_events() == 2 and store.retention_log() == []


# ----------------------------------------------------------------- limits at their edges (issue 17.1)

def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _deepest_accepted(store, run_id: str) -> int:
    """Append node_result_available events nested ever less deeply; the depth of the first accepted.
    The one just deeper must have been refused by name, not by a crash."""
    refused = None
    for depth in range(270, 200, -1):
        try:
            store.append(ev("node_result_available", run_id, node_id="n1", action_name="execute",
                            result_summary=_nested(depth)))
        except EnvelopeError as exc:
            assert "nested too deeply" in str(exc), exc
            refused = depth
            continue
        assert refused == depth + 1, "the deepest accepted event must sit right under a refused one"
        return depth
    raise AssertionError("no depth was accepted")


def _append_past_snapshots(store, run_id: str, n: int = 12) -> None:
    for i in range(n):
        store.append(ev("node_status_changed", run_id, node_id="n1", old_status="DOING", new_status=f"S{i}"))


def test_an_event_nested_to_the_limit_never_makes_later_appends_of_its_run_fail(backend):
    store = backend.open(snapshot_every=2)
    store.append(ev("node_created", "deep", node_id="n1", node_nid="1", task_goal="g"))
    depth = _deepest_accepted(store, "deep")
    _append_past_snapshots(store, "deep")  # every second append checkpoints the fold
    assert store.run("deep")["event_count"] == 14
    assert store.count_events(run_id="deep") == 14
    assert store.stats()["snapshots"] >= 1
    node = store.stored_state("deep").nodes["n1"]
    assert node["result"]["result_summary"] == _nested(depth) and node["status"] == "S11"
    for position in range(1, store.last_position() + 1):  # every state_at starts from a snapshot
        assert store.state_at("deep", position).comparable() == fold(
            "deep", store.events(run_id="deep", before=position + 1, limit=None)).comparable()
    assert store.check() == []
    assert store.rebuild()["events"] == 14 and store.check() == []


def test_a_payload_of_exactly_the_size_limit_is_stored_and_one_byte_more_is_refused(backend):
    limit = 64 * 1024
    store = backend.open(snapshot_every=2, max_payload_bytes=limit)
    overhead = len(orjson.dumps({"content": ""}))
    with pytest.raises(EnvelopeError, match="payload"):
        store.append(ev("artifact", "big", content="x" * (limit - overhead + 1)))
    store.append(ev("artifact", "big", content="x" * (limit - overhead)))
    _append_past_snapshots(store, "big", 4)
    assert store.count_events(run_id="big") == 5 and store.check() == []
    assert len(store.events(run_id="big", types=["artifact"])[0].payload["content"]) == limit - overhead


def test_a_payload_with_many_keys_round_trips_and_later_appends_work(backend):
    store = backend.open(snapshot_every=2)
    wide = {f"k{i:06d}": i for i in range(50_000)}
    store.append(ev("plan_received", "wide", node_id="n1", raw_plan=[{"id": "a", "goal": "g"}], extra=wide))
    _append_past_snapshots(store, "wide", 4)
    assert store.events(run_id="wide", types=["plan_received"])[0].payload["extra"] == wide
    assert store.count_events(run_id="wide") == 5 and store.check() == []


# ----------------------------------------------------------------- tamper evidence (issue 17.5)

def _tamper(backend: Backend, store, *statements: tuple[str, tuple]) -> None:
    """Run SQL behind the store's back, with the append-only guards lifted as an attacker would."""
    if backend.name == "sqlite":
        conn = sqlite3.connect(backend.target, isolation_level=None)
        conn.create_function("agenttui_retention_allowed", 0, lambda: 1)  # the attacker knows the name
        conn.execute("DROP TRIGGER events_no_update")
        try:
            for sql, params in statements:
                conn.execute(sql, params)
        finally:
            conn.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN "
                         "SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END")
            conn.close()
    else:
        with store.connection_from_pool() as conn, conn.transaction():
            conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
            for sql, params in statements:
                conn.execute(sql.replace("?", "%s"), params)
            conn.execute("ALTER TABLE events ENABLE TRIGGER USER")


def _chained_store(backend: Backend):
    store = backend.open()
    store.append(sample_events())
    store.append([ev("step_started", "b", step=i) for i in range(6)])
    assert store.verify() == [] and store.last_verify["events"] == len(sample_events()) + 6
    return store


def test_verify_names_a_changed_event(backend):
    store = _chained_store(backend)
    victim = store.event_by_seq("b", 3)
    _tamper(backend, store, ("UPDATE events SET payload = ? WHERE id = ?", ('{"step":99}', victim.position)))
    (broken,) = store.verify()
    assert (broken.run_id, broken.event_id, broken.seq) == ("b", victim.event_id, 3)
    assert "does not match its hash" in str(broken) and victim.event_id in str(broken)
    assert store.verify(run_id=SAMPLE_RUN) == []  # other runs' chains are untouched


def test_verify_names_the_event_after_a_removed_one(backend):
    store = _chained_store(backend)
    gone, after = store.event_by_seq("b", 2), store.event_by_seq("b", 3)
    _tamper(backend, store, ("DELETE FROM events WHERE id = ?", (gone.position,)))
    store.rebuild()  # erasing the evidence in the projections does not hide it from the chain
    (broken,) = store.verify(run_id="b")
    assert (broken.event_id, broken.seq) == (after.event_id, 3) and "seq 2" in broken.reason


def test_verify_names_an_event_inserted_behind_the_stores_back(backend):
    store = _chained_store(backend)
    _tamper(backend, store, (
        "INSERT INTO events (id, event_id, run_id, seq, event_type, timestamp, payload, created_at) "
        "VALUES (?, 'forged', 'b', 7, 'step_started', '2025-04-17T12:00:00.000000Z', '{}', 'x')",
        (store.last_position() + 1,)))
    (broken,) = store.verify(run_id="b")
    assert broken.event_id == "forged" and "inserted" in broken.reason


def test_verify_notices_a_run_whose_newest_events_were_removed(backend):
    store = _chained_store(backend)
    _tamper(backend, store, ("DELETE FROM events WHERE run_id = 'b' AND seq > 4", ()))
    (broken,) = store.verify(run_id="b")
    assert broken.event_id is None and "stop at seq 4" in broken.reason


def test_retention_keeps_every_chain_verifiable(backend):
    store = backend.open()
    store.append([ev("step_started", "mixed", ts=_ts(-60 * 24 * 40 + i), step=i) for i in range(3)])
    store.append([ev("step_started", "mixed", ts=_ts(i), step=i) for i in range(3)])
    store.append([ev("step_started", "gone", ts=_ts(-60 * 24 * 40), step=0)])
    report = store.retention(30, now=datetime(2025, 4, 18, tzinfo=timezone.utc))
    assert report["events_deleted"] == 4
    assert store.verify() == [] and store.last_verify["runs"] == 1
    assert store.retention_log()[0]["cut_at"]["mixed"][0][0] == 3
    store.append(ev("step_started", "mixed", step=9))  # and the chain goes on from its head
    assert store.verify() == []


def _events_with_nul(run_id: str) -> list[dict]:
    """Payload strings holding NUL in every projected text column the built-in fold fills."""
    return [
        ev("run_started", run_id, input_data="task\x00one", config={"model": "m\x00x"}, run_mode="mode\x00"),
        ev("node_created", run_id, node_id="a", node_nid="1\x00", task_goal="goal\x00", node_type="PLAN\x00",
           task_type="RE\x00ASONING", outer_node_id="o\x00uter", root_node_id="r\x00oot"),
        ev("node_status_changed", run_id, node_id="a", old_status="READY", new_status="DO\x00ING"),
        ev("edge_added", run_id, parent_node_id="p\x00arent", child_node_id="a", parent_node_nid="1\x00",
           child_node_nid="1.1\x00"),
        ev("node_result_available", run_id, node_id="a", action_name="act\x00", result_summary="r\x00"),
        ev("run_error", run_id, error_type="Err\x00", error_message="bad\x00thing", node_id="a"),
    ]


def test_nul_in_projected_payload_text_keeps_the_run_writable(store: EventStore) -> None:
    """PostgreSQL text cannot hold NUL: the projection writes it escaped (\\u0000), the event keeps
    it, later appends of the run work, and rebuild --check agrees with what append wrote."""
    events = _events_with_nul("nul-run")
    result = store.append(events)
    assert result.stored == len(events)
    assert store.append(ev("node_status_changed", "nul-run", node_id="a", new_status="FINISH")).stored == 1
    assert store.get_event(events[1]["event_id"]).payload["task_goal"] == "goal\x00"  # the fact, unchanged
    node = store.node("nul-run", "a")
    assert node["status"] == "FINISH"
    assert node["task_goal"] in ("goal\x00", "goal\\u0000")  # SQLite keeps NUL, PostgreSQL escapes it
    assert store.check() == []
    store.rebuild()
    assert store.check() == []
    assert store.node("nul-run", "a") == node
    assert store.verify() == []


def test_nul_in_projected_payload_text_through_import(store: EventStore, tmp_path) -> None:
    from agenttui.store.jsonl import import_jsonl

    src = tmp_path / "nul.jsonl"
    src.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in _events_with_nul("nul-import")))
    report = import_jsonl(store, src)
    assert (report.stored, report.failed) == (6, 0)
    assert store.append(ev("node_status_changed", "nul-import", node_id="a", new_status="FINISH")).stored == 1
    assert store.check() == []


@pytest.mark.parametrize("atomic", [True, False])
def test_an_import_stopped_midway_stores_all_or_nothing(store: EventStore, tmp_path, atomic: bool) -> None:
    """Atomic (the default): nothing of the file; committed batches: the batches before the stop."""
    from agenttui.store.jsonl import import_jsonl

    store.append(ev("custom", "before"))
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(ev("custom", f"run-{i % 3}", n=i)) + b"\n" for i in range(100)))
    batches = []

    def stop_at_the_third(done: int, total: int | None) -> None:
        batches.append(done)
        if len(batches) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_jsonl(store, src, batch_size=20, progress=stop_at_the_third, atomic=atomic)
    assert store.count_events() == (1 if atomic else 61)
    assert store.check() == [] and store.verify() == []
    report = import_jsonl(store, src, batch_size=20)
    assert (report.stored, report.duplicates) == ((100, 0) if atomic else (40, 60))
    assert store.count_events() == 101
    assert store.check() == [] and store.verify() == []
