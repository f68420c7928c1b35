"""Temporal queries: state at a position or time, counterfactuals, snapshots and upcasters."""
from __future__ import annotations

import pytest

from agenttui.store import SQLiteStore, UpcasterRegistry, fold

from store_fixtures import SAMPLE_RUN, ev, raw_rows, sample_events


def prefix_fold(store: SQLiteStore, run_id: str, position: int, exclude: set[str] = frozenset()):
    events = [e for e in store.timeline(run_id) if e.position <= position and e.event_id not in exclude]
    return fold(run_id, events)


@pytest.fixture
def snap_store(tmp_path):
    """The sample appended in small batches with a checkpoint at least every 10 events."""
    store = SQLiteStore(tmp_path / "snap.db", snapshot_every=10)
    events = sample_events()
    for i in range(0, len(events), 3):
        store.append(events[i:i + 3])
    yield store
    store.close()


def test_snapshots_are_written(snap_store):
    rows = raw_rows(snap_store, "SELECT position, seq FROM snapshots WHERE run_id = ? ORDER BY position",
                    (SAMPLE_RUN,))
    assert len(rows) >= 5
    seqs = [r[1] for r in rows]
    assert all(b - a >= 10 for a, b in zip(seqs, seqs[1:]))
    for position, seq in rows:
        assert snap_store.event_at(position).seq == seq


def test_state_at_every_position_equals_fold_of_the_prefix(snap_store):
    last = snap_store.last_position()
    for position in range(0, last + 1):
        got = snap_store.state_at(SAMPLE_RUN, position)
        assert got.comparable() == prefix_fold(snap_store, SAMPLE_RUN, position).comparable(), position


def test_state_at_without_position_is_the_current_state(snap_store):
    assert snap_store.state_at(SAMPLE_RUN).comparable() == snap_store.stored_state(SAMPLE_RUN).comparable()


def test_snapshots_are_really_used(snap_store, monkeypatch):
    """A state_at past a checkpoint folds only the events after it."""
    import agenttui.store.sqlite as sqlite_module

    snap_pos, snap_seq = raw_rows(snap_store, "SELECT position, seq FROM snapshots WHERE run_id = ? "
                                              "ORDER BY position DESC LIMIT 1", (SAMPLE_RUN,))[0]
    applied = []
    original = sqlite_module.RunState.apply
    monkeypatch.setattr(sqlite_module.RunState, "apply", lambda self, e: applied.append(e.seq) or original(self, e))
    state = snap_store.state_at(SAMPLE_RUN, snap_store.last_position())
    assert applied and min(applied) == snap_seq + 1
    assert state.comparable() == snap_store.stored_state(SAMPLE_RUN).comparable()


def test_snapshots_survive_rebuild_and_stay_correct(snap_store):
    snap_store.rebuild()
    assert raw_rows(snap_store, "SELECT count(*) FROM snapshots")[0][0] >= 5
    for position in range(0, snap_store.last_position() + 1, 7):
        assert (snap_store.state_at(SAMPLE_RUN, position).comparable()
                == prefix_fold(snap_store, SAMPLE_RUN, position).comparable())


def test_explicit_snapshot(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    store.append([ev("x"), ev("x")])
    store.snapshot("r1")
    assert raw_rows(store, "SELECT run_id, seq FROM snapshots") == [("r1", 2)]


def test_state_at_a_timestamp(snap_store):
    timeline = list(snap_store.timeline(SAMPLE_RUN))
    for e in timeline[::9]:
        got = snap_store.state_at(SAMPLE_RUN, timestamp=e.timestamp)
        expected = fold(SAMPLE_RUN, [x for x in timeline if x.timestamp <= e.timestamp])
        assert got.comparable() == expected.comparable(), e.timestamp
        assert snap_store.position_at(SAMPLE_RUN, e.timestamp) == max(
            x.position for x in timeline if x.timestamp <= e.timestamp)
    before_all = snap_store.state_at(SAMPLE_RUN, timestamp="2000-01-01T00:00:00Z")
    assert before_all.run["event_count"] == 0 and before_all.nodes == {}


def test_state_at_a_timestamp_with_out_of_order_clocks(tmp_path):
    store = SQLiteStore(tmp_path / "clock.db", snapshot_every=1)
    for e in [
        ev("node_created", node_id="a", node_nid="1", ts="2025-01-01T00:00:01Z"),
        ev("node_created", node_id="b", node_nid="2", ts="2025-01-01T00:00:05Z"),
        ev("node_created", node_id="c", node_nid="3", ts="2025-01-01T00:00:02Z"),  # late clock
        ev("node_created", node_id="d", node_nid="4", ts="2025-01-01T00:00:06Z"),
    ] + [ev("tick", ts=f"2025-01-01T00:00:02.{i:03d}Z") for i in range(20)]:  # more late clocks
        store.append(e)
    # checkpoints taken after node b arrived must not leak it into the earlier time
    assert raw_rows(store, "SELECT count(*) FROM snapshots")[0][0] >= 2
    state = store.state_at("r1", timestamp="2025-01-01T00:00:03Z")
    assert sorted(state.nodes) == ["a", "c"]
    assert state.run["event_count"] == 22


def test_counterfactual_without_chosen_events(snap_store):
    timeline = list(snap_store.timeline(SAMPLE_RUN))
    failed = [e.event_id for e in timeline if e.event_type == "node_status_changed"
              and e.payload["new_status"] == "FAILED"]
    finish = [e.event_id for e in timeline if e.event_type == "run_finished"]
    excluded = set(failed + finish)
    assert finish
    got = snap_store.state_at(SAMPLE_RUN, exclude=excluded)
    assert got.run["status"] == "running"
    assert got.comparable() == prefix_fold(snap_store, SAMPLE_RUN, 10 ** 9, excluded).comparable()
    early = timeline[5].event_id
    got = snap_store.state_at(SAMPLE_RUN, 120, exclude=[early])
    assert got.comparable() == prefix_fold(snap_store, SAMPLE_RUN, 120, {early}).comparable()
    # the stored projections are untouched by what-ifs
    assert snap_store.check() == []


def test_counterfactual_without_a_node_created_leaves_it_pending(snap_store):
    timeline = list(snap_store.timeline(SAMPLE_RUN))
    created = next(e for e in timeline if e.event_type == "node_created" and e.payload["node_nid"] == "2.1")
    state = snap_store.state_at(SAMPLE_RUN, exclude=[created.event_id])
    node = state.nodes[created.payload["node_id"]]
    assert node["pending"] == 1 and node["node_nid"] == "2.1"  # known from node_added / edge_added


# ------------------------------------------------------------------------------ upcasters

def make_registry() -> UpcasterRegistry:
    reg = UpcasterRegistry()

    @reg.register("llm_call_completed", 1)
    def tokens_v1_to_v2(p):
        # v1 sent flat token counts; v2 nests them in token_usage
        p = dict(p)
        p["token_usage"] = {"prompt_tokens": p.pop("in_tokens", 0), "completion_tokens": p.pop("out_tokens", 0)}
        return p

    @reg.register("llm_call_completed", 2)
    def tokens_v2_to_v3(p):
        return {**p, "usage_version": 3}

    return reg


def test_upcasters_apply_on_read_and_in_the_fold(tmp_path):
    reg = make_registry()
    store = SQLiteStore(tmp_path / "up.db", upcasters=reg, snapshot_every=2)
    old = ev("llm_call_completed", node_id="n", in_tokens=10, out_tokens=4)  # no schema_version: v1
    mid = ev("llm_call_completed", node_id="n", metadata={"schema_version": 2},
             token_usage={"prompt_tokens": 1, "completion_tokens": 1})
    new = ev("llm_call_completed", node_id="n", metadata={"schema_version": 3},
             token_usage={"prompt_tokens": 100, "completion_tokens": 50})
    other = ev("tool_invoked", node_id="n", in_tokens=1)
    store.append([old, mid, new, other])

    read = store.get_event(old["event_id"])
    assert read.payload == {"token_usage": {"prompt_tokens": 10, "completion_tokens": 4}, "usage_version": 3}
    assert read.node_id == "n"
    assert read.metadata["schema_version"] == 3 and read.metadata["upcast_from"] == 1
    assert store.get_event(mid["event_id"]).payload["usage_version"] == 3
    assert store.get_event(new["event_id"]).payload == new["payload"]  # current version: untouched
    assert store.get_event(other["event_id"]).payload == other["payload"]  # other type: untouched
    assert [e.payload.get("usage_version") for e in store.timeline("r1")] == [3, 3, None, None]

    run = store.run("r1")
    assert (run["prompt_tokens"], run["completion_tokens"]) == (111, 55)
    assert store.check() == []
    assert store.state_at("r1", 1).run["prompt_tokens"] == 10
    assert store.state_at("r1").comparable() == store.stored_state("r1").comparable()
    store.rebuild()
    assert store.run("r1")["prompt_tokens"] == 111
    # the stored rows still hold what the agent sent
    assert raw_rows(store, "SELECT payload FROM events WHERE event_id = ?", (old["event_id"],))[0][0] == \
        '{"in_tokens":10,"out_tokens":4}'


def test_a_store_without_the_upcaster_sees_the_raw_payload(tmp_path):
    SQLiteStore(tmp_path / "up.db", upcasters=make_registry()).append(
        ev("llm_call_completed", in_tokens=10, out_tokens=4))
    plain = SQLiteStore(tmp_path / "up.db", upcasters=UpcasterRegistry())
    (e,) = plain.events(limit=None)
    assert "token_usage" not in e.payload and e.metadata is None


def test_registering_the_same_upcaster_twice_is_an_error():
    reg = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        reg.add("llm_call_completed", 1, lambda p: p)


def test_a_failing_upcaster_names_the_event_and_writes_nothing(tmp_path):
    from agenttui.store import UpcastError

    reg = UpcasterRegistry()
    reg.add("tool_invoked", 1, lambda p: {**p, "tool": p["tool_name"].upper()})
    reg.add("tool_returned", 1, lambda p: None)
    store = SQLiteStore(tmp_path / "bad.db", upcasters=reg)
    good, bad = ev("tool_invoked", tool_name="grep"), ev("tool_invoked", args="no name")
    with pytest.raises(UpcastError) as info:
        store.append([good, bad])
    assert info.value.event_id == bad["event_id"] and info.value.from_version == 1
    assert "'tool_invoked' v1 failed: KeyError" in str(info.value)
    assert store.count_events() == 0
    store.append(good)
    assert store.get_event(good["event_id"]).payload["tool"] == "GREP"
    returned = ev("tool_returned", state="SUCCESS")
    with pytest.raises(UpcastError, match="returned NoneType, not a payload dict"):
        store.append(returned)
