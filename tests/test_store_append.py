"""Appending: idempotency, optimistic concurrency, gapless sequences and the append-only guarantee."""
from __future__ import annotations

import sqlite3

import orjson
import pytest

from agenttui.store import UNASSIGNED_RUN_ID, ConcurrencyError, Event, SQLiteStore
from agenttui.store.base import DEFAULT_SNAPSHOT_EVERY

from store_fixtures import SAMPLE_RUN, ev, loaded_store, open_store, raw_rows, sample_dicts


# ---------------------------------------------------------------------------- idempotency

def test_same_event_id_twice_is_stored_once(tmp_path):
    store = open_store(tmp_path)
    e = ev("x")
    first = store.append(e)
    second = store.append(dict(e))
    assert (first.stored, first.duplicates) == (1, 0)
    assert (second.stored, second.duplicates) == (0, 1)
    assert store.count_events() == 1
    assert store.run("r1")["event_count"] == 1
    assert store.check() == []


def test_duplicates_inside_one_batch_keep_the_first(tmp_path):
    store = open_store(tmp_path)
    a = ev("x", note="first")
    b = ev("y")
    result = store.append([a, b, {**a, "payload": {"note": "second"}}, b])
    assert (result.stored, result.duplicates) == (2, 2)
    assert store.get_event(a["event_id"]).payload == {"note": "first"}
    assert [e.seq for e in store.timeline("r1")] == [1, 2]


def test_batch_mixing_stored_and_new_events_stores_only_the_new(tmp_path):
    store = open_store(tmp_path)
    old = [ev("x") for _ in range(3)]
    store.append(old)
    new = [ev("y") for _ in range(2)]
    result = store.append([new[0], old[1], new[1], old[0]])
    assert (result.stored, result.duplicates) == (2, 2)
    assert [e.event_type for e in store.timeline("r1")] == ["x", "x", "x", "y", "y"]
    assert [e.seq for e in store.timeline("r1")] == [1, 2, 3, 4, 5]
    assert store.check() == []


def test_reimporting_the_whole_sample_stores_nothing_new(tmp_path):
    store = loaded_store(tmp_path)
    before = store.stored_state(SAMPLE_RUN).comparable()
    result = store.append(sample_dicts())
    assert (result.stored, result.duplicates) == (0, len(sample_dicts()))
    assert store.count_events() == len(sample_dicts())
    assert store.stored_state(SAMPLE_RUN).comparable() == before


def test_retry_of_a_committed_batch_succeeds_despite_stale_expected_version(tmp_path):
    """A writer whose commit succeeded but whose ack was lost retries with the version it had."""
    store = open_store(tmp_path)
    store.append([ev("x"), ev("x")])
    batch = [ev("y"), ev("y")]
    store.append(batch, expected_version=2)
    retry = store.append([dict(e) for e in batch], expected_version=2)  # now stale: run is at 4
    assert (retry.stored, retry.duplicates) == (0, 2)
    assert retry.versions == {"r1": 4}  # so the writer can carry on from the right version
    assert store.count_events() == 4
    store.append(ev("z"), expected_version=retry.versions["r1"])


def test_retry_with_new_events_and_a_stale_version_still_conflicts(tmp_path):
    store = open_store(tmp_path)
    batch = [ev("x")]
    store.append(batch, expected_version=0)
    with pytest.raises(ConcurrencyError):
        store.append([dict(batch[0]), ev("new")], expected_version=0)
    assert store.count_events() == 1


# ------------------------------------------------------------------ optimistic concurrency

def test_stale_expected_version_raises_and_writes_nothing(tmp_path):
    store = open_store(tmp_path)
    store.append([ev("x"), ev("x"), ev("x")])
    before = store.stored_state("r1").comparable()
    with pytest.raises(ConcurrencyError) as info:
        store.append([ev("y"), ev("y")], expected_version=1)
    err = info.value
    assert (err.run_id, err.expected, err.actual) == ("r1", 1, 3)
    message = str(err)
    assert "'r1'" in message and "expected version 1" in message and "at version 3" in message
    assert "nothing was written" in message
    assert store.count_events() == 3
    assert store.stored_state("r1").comparable() == before
    assert store.check() == []


def test_expected_version_zero_means_a_new_run(tmp_path):
    store = open_store(tmp_path)
    result = store.append(ev("x", run_id="fresh"), expected_version=0)
    assert result.versions == {"fresh": 1}
    with pytest.raises(ConcurrencyError) as info:
        store.append(ev("x", run_id="fresh"), expected_version=0)
    assert info.value.actual == 1


def test_correct_expected_version_advances_the_run(tmp_path):
    store = open_store(tmp_path)
    version = 0
    for n in range(1, 6):
        result = store.append([ev("x"), ev("x")], expected_version=version)
        version = result.versions["r1"]
        assert version == 2 * n
    assert store.run("r1")["last_seq"] == 10


def test_expected_versions_per_run_in_a_mixed_batch(tmp_path):
    store = open_store(tmp_path)
    store.append([ev("x", run_id="a"), ev("x", run_id="b"), ev("x", run_id="b")])
    result = store.append([ev("y", run_id="a"), ev("y", run_id="b")], expected_version={"a": 1, "b": 2})
    assert result.versions == {"a": 2, "b": 3}
    with pytest.raises(ConcurrencyError) as info:
        store.append([ev("z", run_id="a"), ev("z", run_id="b")], expected_version={"a": 2, "b": 2})
    assert (info.value.run_id, info.value.expected, info.value.actual) == ("b", 2, 3)
    assert store.count_events() == 5  # the run 'a' half of the batch was not written either


def test_an_int_expected_version_needs_a_single_run_batch(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(ValueError, match="mapping"):
        store.append([ev("x", run_id="a"), ev("x", run_id="b")], expected_version=0)
    assert store.count_events() == 0


def test_a_second_connection_that_moved_the_run_is_noticed(tmp_path):
    one = open_store(tmp_path, "shared.db")
    two = open_store(tmp_path, "shared.db")
    one.append(ev("x"), expected_version=0)
    two.append(ev("x"), expected_version=1)
    with pytest.raises(ConcurrencyError) as info:
        one.append(ev("x"), expected_version=1)
    assert info.value.actual == 2
    one.append(ev("x"), expected_version=2)  # the writer's cached fold is refreshed, not reused
    assert [e.seq for e in one.timeline("r1")] == [1, 2, 3]
    assert one.check() == []


# --------------------------------------------------------------------- positions and seqs

def test_per_run_seq_is_gapless_and_positions_follow_commit_order(tmp_path):
    store = open_store(tmp_path)
    runs = ["a", "b", "c"]
    for i in range(60):
        store.append([ev("x", run_id=runs[i % 3]) for _ in range(1 + i % 4)])
    rows = raw_rows(store, "SELECT id, run_id, seq FROM events ORDER BY id")
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    for run in runs:
        seqs = [r[2] for r in rows if r[1] == run]
        assert seqs == list(range(1, len(seqs) + 1))
        assert store.run(run)["last_seq"] == len(seqs)


def test_append_result_reports_positions_and_versions(tmp_path):
    store = open_store(tmp_path)
    store.append([ev("x"), ev("x", run_id="b")])
    result = store.append([ev("x"), ev("x"), ev("x", run_id="b")])
    assert (result.stored, result.first_position, result.last_position) == (3, 3, 5)
    assert result.versions == {"r1": 3, "b": 2}


def test_a_failed_append_leaves_no_gap_in_positions(tmp_path):
    store = open_store(tmp_path)
    store.append(ev("x"))
    with pytest.raises(ConcurrencyError):
        store.append(ev("x"), expected_version=0)
    store.append(ev("x"))
    assert [r[0] for r in raw_rows(store, "SELECT id FROM events ORDER BY id")] == [1, 2]


# -------------------------------------------------------------------- null run ids, types

def test_null_run_id_events_are_kept_under_unassigned_and_export_as_null(tmp_path):
    store = open_store(tmp_path)
    store.append([ev("llm_call_started", run_id=None), ev("x", run_id=None)])
    assert store.count_events(run_id=UNASSIGNED_RUN_ID) == 2
    assert store.run(UNASSIGNED_RUN_ID)["event_count"] == 2
    exported = [e.to_envelope() for e in store.timeline(UNASSIGNED_RUN_ID)]
    assert [e["run_id"] for e in exported] == [None, None]
    # and exporting then re-importing gives the same events
    other = open_store(tmp_path, "other.db")
    other.append(exported)
    assert [e.to_envelope() for e in other.timeline(UNASSIGNED_RUN_ID)] == exported


def test_hand_built_event_with_null_run_id_is_unassigned(tmp_path):
    store = open_store(tmp_path)
    store.append(Event(event_type="decision", run_id=None, payload={"chosen_action": "a"}))
    assert store.count_events(run_id=UNASSIGNED_RUN_ID) == 1


def test_hand_built_event_timestamp_is_normalised_on_append(tmp_path):
    store = open_store(tmp_path)
    e = Event(event_type="x", run_id="r", timestamp="2025-04-17T14:00:00+02:00")
    store.append(e)
    assert store.get_event(e.event_id).timestamp == "2025-04-17T12:00:00.000000Z"


def test_unknown_event_types_are_stored_and_counted(tmp_path):
    store = open_store(tmp_path)
    store.append([ev("custom_metric", value=0.5), ev("my.vendor/thing", node_id="n1"), ev("custom_metric")])
    assert store.count_by_type(run_id="r1") == {"custom_metric": 2, "my.vendor/thing": 1}
    assert store.run("r1")["event_count"] == 3
    assert store.stats()["event_types"]["custom_metric"] == 2
    assert store.check() == []


def test_payload_integers_beyond_sqlite_range_do_not_break_projections(tmp_path):
    store = open_store(tmp_path)
    store.append([
        ev("node_created", node_id="n1", layer=2 ** 64 - 1, node_nid="1"),
        ev("step_started", node_id="n1", step=2 ** 63),
        ev("llm_call_completed", node_id="n1", token_usage={"prompt_tokens": 2 ** 64 - 1, "completion_tokens": 5}),
    ])
    run = store.run("r1")
    assert run["completion_tokens"] == 5 and run["prompt_tokens"] == 0
    assert store.node("r1", "n1")["layer"] is None
    assert store.get_event(store.events(run_id="r1")[0].event_id).payload["layer"] == 2 ** 64 - 1
    assert store.check() == []


# ------------------------------------------------------------------------ append-only

def test_update_on_events_is_refused_by_the_database(tmp_path):
    store = loaded_store(tmp_path)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE"):
        conn.execute("UPDATE events SET payload = '{}' WHERE id = 5")
    conn.close()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.connection.execute("UPDATE events SET event_type = 'x'")


def test_delete_on_events_is_refused_by_the_database(tmp_path):
    """Another program's connection lacks the permission function altogether; the store's own
    connection has it, answering "no" outside a retention pass."""
    store = loaded_store(tmp_path)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="no such function: agenttui_retention_allowed"):
        conn.execute("DELETE FROM events WHERE id = 5")
    with pytest.raises(sqlite3.DatabaseError, match="no such function: agenttui_retention_allowed"):
        conn.execute("DELETE FROM events")
    conn.close()
    with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE"):
        store.connection.execute("DELETE FROM events WHERE id = 5")
    assert store.count_events() == len(sample_dicts())


def test_the_old_guard_row_bypass_no_longer_deletes_anything(tmp_path):
    """Issue 17.5: `INSERT INTO retention_guard ...; DELETE FROM events ...; DELETE FROM retention_guard`
    deleted events with no audit entry. The permission is no longer a row anyone can write."""
    store = loaded_store(tmp_path)
    conn = sqlite3.connect(store.path, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="no such table: retention_guard"):
        conn.execute("INSERT INTO retention_guard (token) VALUES ('x')")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM events WHERE id < 10")
    conn.close()
    assert store.count_events() == len(sample_dicts()) and store.verify() == []


@pytest.mark.xfail(strict=True, reason="SQLite fires no DELETE trigger for rows REPLACE removes (unless the "
                   "connection sets recursive_triggers); a BEFORE INSERT guard would cost ~22% of append speed")
def test_insert_or_replace_cannot_overwrite_a_stored_event(tmp_path):
    store = loaded_store(tmp_path)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("INSERT OR REPLACE INTO events (id, event_id, run_id, seq, event_type, timestamp, payload, "
                     "created_at) VALUES (5, 'forged', 'r', 1, 'x', 't', '{}', 't')")
    conn.close()


def test_readonly_store_cannot_append(tmp_path):
    loaded_store(tmp_path).close()
    ro = SQLiteStore(tmp_path / "sample.db", readonly=True)
    with pytest.raises(Exception, match="read-only"):
        ro.append(ev("x"))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.connection.execute("INSERT INTO store_meta VALUES ('a', 'b')")
    assert ro.count_events() == len(sample_dicts())


# ----------------------------------------------------------------- nodes before creation

def test_nodes_referenced_before_node_created_are_pending_then_real(tmp_path):
    store = open_store(tmp_path)
    store.append([
        ev("tool_invoked", node_id="late", tool_name="search"),
        ev("edge_added", parent_node_id="root", child_node_id="late", parent_node_nid="0", child_node_nid="0.1"),
    ])
    late = store.node("r1", "late")
    assert (late["status"], late["pending"]) == ("PENDING", 1)
    assert late["node_nid"] == "0.1" and late["tool_calls"] == 1
    assert store.node("r1", "root")["status"] == "PENDING"
    store.append(ev("node_created", node_id="late", node_nid="0.1", node_type="EXECUTE_NODE",
                    task_goal="look it up", outer_node_id="root"))
    late = store.node("r1", "late")
    assert (late["status"], late["pending"], late["task_goal"]) == ("NOT_READY", 0, "look it up")
    assert late["tool_calls"] == 1  # what it did while pending is kept
    assert store.run("r1")["total_nodes"] == 1
    assert store.check() == []


def test_status_that_arrived_before_node_created_is_kept(tmp_path):
    store = open_store(tmp_path)
    store.append(ev("node_status_changed", node_id="n", old_status="NOT_READY", new_status="READY"))
    assert store.node("r1", "n")["pending"] == 1
    store.append(ev("node_created", node_id="n", node_nid="1"))
    node = store.node("r1", "n")
    assert (node["status"], node["pending"]) == ("READY", 0)
    assert store.check() == []


def test_the_sample_node_with_an_early_status_keeps_it(tmp_path):
    store = loaded_store(tmp_path)
    rows = raw_rows(store, "SELECT count(*) FROM nodes WHERE run_id = ? AND pending = 1", (SAMPLE_RUN,))
    assert rows[0][0] == 0
    early = sample_dicts()[3]
    assert early["event_type"] == "node_status_changed"
    history = raw_rows(store, "SELECT new_status FROM node_status_history WHERE node_id = ? ORDER BY position",
                       (early["payload"]["node_id"],))
    assert history[0][0] == early["payload"]["new_status"]
    assert store.node(SAMPLE_RUN, early["payload"]["node_id"])["status"] == history[-1][0]


def test_python_only_payload_values_fold_like_their_stored_json(tmp_path):
    """The append path folds the caller's objects, a rebuild folds their JSON: both must agree."""
    import enum
    import uuid
    from datetime import datetime

    class Kind(enum.Enum):
        PLAN = "PLAN_NODE"

    node = uuid.UUID("12345678-1234-5678-1234-567812345678")
    store = open_store(tmp_path)
    store.append([
        ev("run_started", config={"model": Kind.PLAN}, input_data={"data": {"prompt": datetime(2025, 1, 2, 3, 4)}}),
        ev("node_created", node_id="n", node_nid=(1, 2), node_type=Kind.PLAN, task_goal=datetime(2025, 1, 1),
           outer_node_id=node),
        ev("plan_received", node_id="n", raw_plan=({"id": 1}, {"id": 2})),
        ev("run_error", error_message=("disk", "full")),
    ])
    assert store.check() == []
    n = store.node("r1", "n")
    assert (n["node_type"], n["task_goal"], n["node_nid"]) == ("PLAN_NODE", "2025-01-01T00:00:00", "[1, 2]")
    assert n["metadata"] == {"plan_size": 2}
    assert store.run("r1")["model"] == "PLAN_NODE"
    assert store.node("r1", str(node))["status"] == "PENDING"


def test_import_of_an_event_nested_to_the_limit_stores_the_whole_file(tmp_path, cli):
    """`agenttui import` of a run holding the deepest event the store accepts, then enough events
    to pass a snapshot interval: every line stored, exit 0 (issue 17.1, through the import path)."""
    value: object = "leaf"
    for _ in range(252):
        value = [value]
    lines = [ev("node_created", "deep", node_id="n1", node_nid="1"),
             ev("node_result_available", "deep", node_id="n1", action_name="execute", result_summary=value)]
    lines += [ev("node_status_changed", "deep", node_id="n1", old_status="DOING", new_status="FINISH")
              for _ in range(DEFAULT_SNAPSHOT_EVERY + 10)]  # past the store's snapshot interval
    src = tmp_path / "deep.jsonl"
    src.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    db = tmp_path / "deep.db"
    code, _, err = cli("import", db, src)
    assert code == 0, err
    with SQLiteStore(db) as store:
        assert store.count_events(run_id="deep") == len(lines)
        assert store.stats()["snapshots"] >= 1
        store.append(ev("step_started", "deep", node_id="n1", step=1))  # and the run stays writable
        assert store.check() == []


def test_verify_command_exits_0_on_intact_chains_and_1_naming_the_changed_event(tmp_path, cli):
    store = loaded_store(tmp_path)
    victim = store.event_by_seq(SAMPLE_RUN, 10)
    store.close()
    code, out, _ = cli("verify", store.path, "--heads")
    assert code == 0 and "every hash chain intact" in out and SAMPLE_RUN in out
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET timestamp = '2020-01-01T00:00:00.000000Z' WHERE id = ?", (victim.position,))
    conn.close()
    code, out, err = cli("verify", store.path, "--run", SAMPLE_RUN)
    assert code == 1 and victim.event_id in out and "seq 10" in out and "broken chain" in err


def test_one_uuid7_generator_serves_the_store_and_the_recorder():
    """new_event_id and the Recorder's stamps draw from one generator: version 7, variant 10, and
    strictly increasing when interleaved, even within one millisecond."""
    import uuid

    from agenttui.recording.recorder import _stamper
    from agenttui.store import new_event_id

    ids = []
    for _ in range(3000):
        ids.append(new_event_id())
        ids.append(_stamper.next()[0])
        ids.append(_stamper.ids())
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for i in ids[:50]:
        u = uuid.UUID(i)
        assert u.version == 7 and u.variant == uuid.RFC_4122


def test_a_forked_child_draws_other_ids_than_its_parent():
    import os

    from agenttui.store import new_event_id

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, through the pipe
        os.write(write_fd, "\n".join(new_event_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write_fd)
    parent = {new_event_id() for _ in range(100)}
    with os.fdopen(read_fd, "rb") as fh:
        child = set(fh.read().decode().split("\n"))
    os.waitpid(pid, 0)
    assert len(child) == 100 and not parent & child
    # the random bits differ, not only the clock: compare the ids' last 62 bits
    assert not {i[-12:] for i in parent} & {i[-12:] for i in child}


def test_an_interrupt_just_after_begin_leaves_no_transaction_open(tmp_path, monkeypatch):
    """Ctrl-C (or a SIGTERM handler raising KeyboardInterrupt) can land between BEGIN returning
    and the block that rolls back: the connection was left inside a transaction, and every later
    append failed with "cannot start a transaction within a transaction"."""
    store = SQLiteStore(tmp_path / "run.db")
    store.append({"event_type": "run_started", "run_id": "r", "payload": {}})
    real = store._retrying

    def interrupted_after(action):
        result = real(action)
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_retrying", interrupted_after)
    with pytest.raises(KeyboardInterrupt):
        store.append({"event_type": "decision", "run_id": "r", "payload": {"n": 1}})
    assert not store.connection.in_transaction
    monkeypatch.setattr(store, "_retrying", real)
    store.append({"event_type": "decision", "run_id": "r", "payload": {"n": 2}})
    assert store.count_events() == 2 and store.verify() == []
    store.close()
