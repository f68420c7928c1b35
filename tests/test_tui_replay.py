"""The History answers "the state at event i" exactly as folding the first i+1 events would.

Checked on every index of the real sample run (loaded through the store, so positions and seqs
are the store's) and on random event sequences: out-of-order and odd timestamps, nodes referenced
before they are created, duplicate edges, unknown types, live extends in random chunks.
"""
from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenttui.store import Event, fold
from agenttui.store.envelope import format_datetime
from agenttui.store.fold import NODE_STATUSES, nid_key
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.history import (
    MARK_KINDS, NODE_DISPLAY_FIELDS, RUN_DISPLAY_FIELDS, History, HistoryError, load_history,
)

from store_fixtures import SAMPLE_RUN, loaded_store


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    store = loaded_store(tmp_path_factory.mktemp("replay"))
    events = list(store.timeline(SAMPLE_RUN))
    timeline = load_history(InspectorReader(store), SAMPLE_RUN, batch=50)
    yield store, events, timeline
    store.close()


def test_every_index_of_the_sample_equals_the_fold_of_its_prefix(sample):
    _, events, timeline = sample
    assert len(timeline) == len(events) == 182
    for i in range(len(events)):
        expected = fold(SAMPLE_RUN, events[: i + 1])
        state = timeline.state_at_index(i)
        assert state.comparable() == expected.comparable(), f"state differs at index {i}"
        assert state.position == expected.position == events[i].position
        assert timeline.run_at(i) == expected.run
        for node_id in {e.node_id for e in events if e.node_id} | set(timeline.live.nodes):
            assert timeline.node_at(node_id, i) == expected.nodes.get(node_id), (node_id, i)
        assert timeline.roots_at(i) == expected.roots()
        for node_id in expected.nodes:
            assert timeline.children_at(node_id, i) == expected.children(node_id)


def test_the_live_state_is_the_stored_projection(sample):
    store, _, timeline = sample
    stored = store.stored_state(SAMPLE_RUN)
    assert timeline.live.comparable()["nodes"] == stored.comparable()["nodes"]
    assert timeline.state_at_index(-1).comparable() == timeline.live.comparable()
    assert timeline.is_live(None) and timeline.is_live(len(timeline) - 1) and not timeline.is_live(0)
    assert sorted(timeline.node_ids()) == sorted(stored.nodes)


def test_per_event_columns(sample):
    _, events, timeline = sample
    for i, e in enumerate(events):
        assert timeline.position_of_index(i) == e.position
        assert timeline.seq_of_index(i) == e.seq
        assert timeline.type_at(i) == e.event_type
        assert timeline.timestamp_text_at(i) == e.timestamp
        expected = datetime.fromisoformat(e.timestamp.replace("Z", "+00:00")).timestamp()
        assert timeline.timestamp_at(i) == pytest.approx(expected, abs=1e-6)
        assert timeline.index_of_position(e.position) == i
        assert timeline.index_of_seq(e.seq) == i
    assert timeline.index_of_position(events[0].position - 1) is None
    assert timeline.index_of_position(events[-1].position + 1000) == len(events) - 1
    assert set(timeline.event_types()) == {e.event_type for e in events}
    with pytest.raises(IndexError, match="outside"):
        timeline.run_at(len(events))


def test_a_node_whose_status_came_before_its_creation_is_pending_then_real(sample):
    _, events, timeline = sample
    first = next(i for i, e in enumerate(events) if e.event_type == "node_status_changed")
    node_id = events[first].node_id
    created = next(i for i, e in enumerate(events) if e.event_type == "node_created" and e.node_id == node_id)
    assert first < created
    assert timeline.node_at(node_id, first - 1) is None
    early = timeline.node_at(node_id, first)
    assert early["pending"] == 1 and early["status"] == "READY" and early["node_nid"] is None
    assert node_id in timeline.roots_at(first)
    later = timeline.node_at(node_id, created)
    assert later["pending"] == 0 and later["node_nid"] is not None


def test_marks_are_where_the_fold_counted_an_error_or_failed_a_node(sample):
    _, events, timeline = sample
    expected = []
    before = fold(SAMPLE_RUN, [])
    for i, e in enumerate(events):
        after = fold(SAMPLE_RUN, events[: i + 1])
        failed = any(n["status"] == "FAILED" and before.nodes.get(k, {}).get("status") != "FAILED"
                     for k, n in after.nodes.items())
        if after.run["error_count"] != before.run["error_count"] or failed:
            expected.append(i)
        before = after
    marks = timeline.marks()
    assert [i for i, _ in marks] == expected and expected
    assert {kind for _, kind in marks} <= set(MARK_KINDS)
    assert "failed" in {kind for _, kind in marks} and "tool_error" in {kind for _, kind in marks}
    first, last = expected[0], expected[-1]
    assert timeline.next_mark(-1) == first and timeline.next_mark(first) == expected[1]
    assert timeline.next_mark(last) is None
    assert timeline.prev_mark(first) is None and timeline.prev_mark(last) == expected[-2]
    assert timeline.prev_mark(len(events)) == last


def test_density_and_the_time_axis_agree(sample):
    _, events, timeline = sample
    for width in (1, 7, 80, 500):
        counts = timeline.axis.density(width)
        assert len(counts) == width and sum(counts) == len(events)
        # density's buckets are exactly the columns bucket_of puts events in
        by_bucket = [0] * width
        for i in range(len(events)):
            by_bucket[timeline.axis.bucket_of(i, width)] += 1
        assert by_bucket == counts
        bounds = timeline.axis.bucket_bounds(width)
        assert [bisect_right(bounds, i) - 1 for i in range(len(events))] == \
            [timeline.axis.bucket_of(i, width) for i in range(len(events))]
        for b in range(width):
            i = timeline.axis.index_at_bucket(b, width)
            assert timeline.axis.bucket_of(i, width) <= b
            if i + 1 < len(events):
                assert timeline.axis.bucket_of(i + 1, width) > b or (i == 0 and timeline.axis.bucket_of(0, width) > b)
    assert timeline.axis.fraction_at(0) == 0.0 and timeline.axis.fraction_at(len(events) - 1) == 1.0
    assert timeline.axis.index_at_fraction(1.0) == len(events) - 1 and timeline.axis.index_at_fraction(0.0) == 0
    mid = timeline.axis.index_at_fraction(0.5)
    assert timeline.axis.fraction_at(mid) <= 0.5 < timeline.axis.fraction_at(mid + 1)
    with pytest.raises(ValueError, match="buckets"):
        timeline.axis.density(0)


def test_load_reports_progress_and_can_be_cancelled(sample):
    store, events, _ = sample
    seen: list[tuple[int, int | None]] = []
    full = load_history(InspectorReader(store), SAMPLE_RUN, batch=40, progress=lambda done, total: seen.append((done, total)))
    assert len(full) == len(events)
    assert [d for d, _ in seen] == [40, 80, 120, 160, 182] and {t for _, t in seen} == {182}
    calls = []
    partial = load_history(InspectorReader(store), SAMPLE_RUN, batch=40, cancelled=lambda: calls.append(1) or len(calls) > 2)
    assert len(partial) == 80
    # the unassigned run (events sent with run_id null) loads like any other
    assert len(load_history(InspectorReader(store), "unassigned")) == 2


def test_extend_skips_what_it_already_has_and_rejects_what_it_cannot_place(sample):
    _, events, _ = sample
    timeline = History(SAMPLE_RUN)
    assert timeline.extend(events[:100]) == 100
    assert timeline.extend(events[50:]) == len(events) - 100  # an overlapping live batch
    assert timeline.state_at_index(-1).comparable() == fold(SAMPLE_RUN, events).comparable()
    with pytest.raises(HistoryError, match="belongs to run 'other'"):
        History(SAMPLE_RUN).extend([_ev(1, "run_started", run_id="other")])
    with pytest.raises(HistoryError, match="has no position"):
        History(SAMPLE_RUN).extend([Event("run_started", run_id=SAMPLE_RUN, event_id="e-1")])
    # a refused event stops the batch; what came before it stays folded and recorded
    partial = History(SAMPLE_RUN)
    stray = _ev(events[60].position + 1, "llm_call_started", run_id="other")
    with pytest.raises(HistoryError, match=f"event {stray.event_id} at position {stray.position}"):
        partial.extend(events[:60] + [stray] + events[60:])
    assert len(partial) == 60
    partial.extend(events[60:])
    assert partial.state_at_index(-1).comparable() == fold(SAMPLE_RUN, events).comparable()
    assert [partial.run_at(i) for i in range(len(events))] == [fold(SAMPLE_RUN, events[: i + 1]).run
                                                                for i in range(len(events))]


def test_children_sort_by_nid_numerically_and_nodes_appear_with_their_edges():
    events = [_ev(1, "node_created", node_id="root", node_nid="1")]
    for k in (10, 9, 2):
        events.append(_ev(len(events) + 1, "node_created", node_id=f"n{k}", node_nid=f"1.{k}", outer_node_id="root"))
    timeline = History("r")
    timeline.extend(events)
    assert timeline.children_at("root", 3) == ["n2", "n9", "n10"]
    assert timeline.children_at("root", 1) == ["n10"]
    assert timeline.children_at("root", 0) == [] and timeline.roots_at(0) == ["root"]
    assert timeline.node_count_at(1) == 2 and timeline.child_count_at("root", 2) == 2
    assert list(timeline.events_of("n9")) == [2]


def test_odd_timestamps_are_kept_verbatim_and_time_never_runs_backwards():
    stamps = ["2026-03-01T09:00:01.000000Z", "2026-03-01T09:00:00.500000Z", "2026-03-01T09:00:02Z",
              "0999-01-01T00:00:00.000001Z", "2026-03-01T09:00:03.250000Z"]
    events = [_ev(k + 1, "tool_invoked", ts=ts, node_id="a") for k, ts in enumerate(stamps)]
    timeline = History("r")
    timeline.extend(events)
    for i, ts in enumerate(stamps):
        assert timeline.timestamp_text_at(i) == ts
        assert timeline.state_at_index(i).comparable() == fold("r", events[: i + 1]).comparable()
    fractions = [timeline.axis.fraction_at(i) for i in range(len(stamps))]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_run_whose_events_share_one_timestamp_falls_back_to_counting():
    events = [_ev(k + 1, "llm_call_started", ts="2026-03-01T09:00:00.000000Z") for k in range(10)]
    timeline = History("r")
    timeline.extend(events)
    assert timeline.axis.density(5) == [2, 2, 2, 2, 2]
    assert timeline.axis.fraction_at(9) == 1.0 and timeline.axis.index_at_fraction(0.5) in (4, 5)
    assert [timeline.axis.bucket_of(i, 5) for i in range(10)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [timeline.axis.index_at_bucket(b, 5) for b in range(5)] == [1, 3, 5, 7, 9]


def test_display_field_lists_name_real_columns():
    from agenttui.store.fold import NODE_COLUMNS, RUN_COLUMNS
    assert set(NODE_DISPLAY_FIELDS) <= set(NODE_COLUMNS) and set(RUN_DISPLAY_FIELDS) <= set(RUN_COLUMNS)


# ------------------------------------------------------------------------ random sequences

_BASE = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def _ev(position: int, event_type: str, *, run_id: str = "r", node_id: str | None = None, ts: str | None = None,
        seq: int | None = None, **payload) -> Event:
    if node_id is not None:
        payload.setdefault("node_id", node_id)
    return Event(event_type, payload, run_id=run_id, event_id=f"e-{position}", node_id=node_id,
                 timestamp=ts or format_datetime(_BASE + timedelta(milliseconds=position)), position=position,
                 seq=position if seq is None else seq)


NODES = ["n0", "n1", "n2", "n3", "n4"]
node_ids = st.sampled_from(NODES)
nids = st.sampled_from(["0", "1", "1.1", "1.2", "1.10", "2", None])
texts = st.sampled_from(["goal", "[bold]x[/]", "\x1b[31mred", "", "日本語"])


@st.composite
def payloads(draw, event_type: str) -> tuple[str | None, dict]:
    node = draw(st.one_of(st.none(), node_ids))
    p: dict = {}
    if event_type == "node_created":
        p = {"node_nid": draw(nids), "node_type": draw(st.sampled_from(["PLAN_NODE", "EXECUTE_NODE", None])),
             "task_type": draw(st.sampled_from(["COMPOSITION", "REASONING", None])), "task_goal": draw(texts),
             "layer": draw(st.one_of(st.integers(0, 5), st.none(), st.just("x"))),
             "outer_node_id": draw(st.one_of(st.none(), node_ids)), "root_node_id": draw(st.one_of(st.none(), node_ids))}
    elif event_type == "node_status_changed":
        p = {"new_status": draw(st.sampled_from(NODE_STATUSES)), "node_goal": draw(texts)}
    elif event_type == "step_finished":
        p = {"status_after": draw(st.sampled_from(NODE_STATUSES)), "step": draw(st.integers(0, 9))}
    elif event_type == "step_started":
        p = {"step": draw(st.integers(0, 9)), "node_goal": draw(texts)}
    elif event_type == "edge_added":
        p = {"parent_node_id": draw(node_ids), "child_node_id": draw(node_ids), "parent_node_nid": draw(nids),
             "child_node_nid": draw(nids), "graph_owner_node_id": draw(st.one_of(st.none(), node_ids))}
    elif event_type == "node_added":
        p = {"graph_owner_node_id": draw(node_ids), "added_node_id": draw(node_ids), "added_node_nid": draw(nids)}
    elif event_type == "llm_call_completed":
        p = {"token_usage": {"prompt_tokens": draw(st.one_of(st.integers(0, 500), st.just(10 ** 30))),
                             "completion_tokens": draw(st.integers(0, 50))}}
        if draw(st.booleans()):
            p["error"] = "RateLimitError"
    elif event_type == "tool_returned":
        p = {"state": draw(st.sampled_from(["SUCCESS", "FAILED", "timeout"]))}
    elif event_type == "node_result_available":
        p = {"action_name": "execute", "result_summary": draw(texts)}
    elif event_type == "plan_received":
        p = {"raw_plan": [{"id": "1"}] * draw(st.integers(0, 3))}
    elif event_type == "inner_graph_built":
        p = {"node_count": draw(st.integers(0, 4)), "edge_count": 1}
    elif event_type == "run_finished":
        p = {"total_steps": draw(st.integers(0, 9)), "total_nodes": 3, "duration_seconds": 1.5}
    elif event_type == "run_error":
        p = {"error_type": "AgentError", "error_message": draw(texts)}
    elif event_type == "run_started":
        p = {"input_data": {"data": {"prompt": "task"}}, "config": {"model": "m"}, "run_mode": "report"}
    elif event_type == "custom_metric":
        p = {"value": draw(st.integers())}
    return node, p


EVENT_TYPES = ["run_started", "node_created", "node_status_changed", "edge_added", "node_added", "step_started",
               "step_finished", "llm_call_started", "llm_call_completed", "tool_invoked", "tool_returned",
               "node_result_available", "plan_received", "inner_graph_built", "run_finished", "run_error",
               "custom_metric"]
#: the structure-building types, more often: edges and nodes re-described later are what history must catch
WEIGHTED_TYPES = EVENT_TYPES + ["node_created", "node_status_changed", "edge_added", "edge_added", "node_added"] * 2


@st.composite
def runs(draw) -> list[Event]:
    n = draw(st.integers(1, 40))
    events = []
    position = draw(st.integers(1, 5))
    clock = 0
    for _ in range(n):
        et = draw(st.sampled_from(WEIGHTED_TYPES))
        node, payload = draw(payloads(et))
        position += draw(st.integers(1, 3))  # other runs' events sit between ours in the global log
        clock += draw(st.integers(-300, 2000))  # agents' clocks sometimes step back
        ts = format_datetime(_BASE + timedelta(milliseconds=clock))
        seq = None if draw(st.integers(0, 9)) == 0 else len(events) + 1
        events.append(_ev(position, et, node_id=node, ts=ts, seq=seq, **payload))
    return events


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs(), st.lists(st.integers(1, 10), max_size=6), st.sampled_from([0, 1, 4096]))
def test_random_runs_replay_exactly_whatever_the_batches(events, cuts, hot_rows):
    timeline = History("r")
    timeline.hot_rows = hot_rows  # 0: the fold lets go of every row after each batch
    start = 0
    for cut in cuts:  # live extends arriving in random batches, overlapping the previous one
        timeline.extend(events[max(0, start - 2): start + cut])
        start += cut
    timeline.extend(events)
    assert len(timeline) == len(events)
    before = fold("r", [])
    for i in range(len(events)):
        expected = fold("r", events[: i + 1])
        assert timeline.state_at_index(i).comparable() == expected.comparable()
        assert timeline.run_at(i) == expected.run
        for node_id in NODES:
            assert timeline.node_at(node_id, i) == expected.nodes.get(node_id)
            if node_id in expected.nodes:
                assert timeline.children_at(node_id, i) == expected.children(node_id)
                assert timeline.status_at(node_id, i) == expected.nodes[node_id]["status"]
        assert timeline.roots_at(i) == expected.roots()
        failed = any(n["status"] == "FAILED" and before.nodes.get(k, {}).get("status") != "FAILED"
                     for k, n in expected.nodes.items())
        is_mark = expected.run["error_count"] != before.run["error_count"] or failed
        assert (timeline.next_mark(i - 1) == i) == is_mark
        before = expected
    assert sum(timeline.axis.density(7)) == len(events)
    for i in range(len(events)):
        assert sorted(timeline.children_at("n0", i), key=lambda c: nid_key(timeline.nid_at(c, i))) == \
            timeline.children_at("n0", i)


def test_rows_the_fold_let_go_of_are_rebuilt_exactly(sample):
    """The fold keeps only recently touched rows as dicts; one event per batch and no rows kept
    means every row it touches again is rebuilt from the history: the result must not change."""
    _, events, expected = sample
    timeline = History(SAMPLE_RUN)
    timeline.hot_rows = 0
    for e in events:
        timeline.extend([e])
        assert len(timeline._state.nodes) == 0 and len(timeline._state.edges) == 0
    assert timeline.live.comparable() == expected.live.comparable() == fold(SAMPLE_RUN, events).comparable()
    for i in range(0, len(events), 7):
        assert timeline.state_at_index(i).comparable() == expected.state_at_index(i).comparable()


@given(st.integers(-5, 5), st.lists(st.integers(0, 3), max_size=30))
def test_a_counting_column_answers_like_the_array_it_stands_for(start, steps):
    from agenttui.tui.history.columns import CountingColumn
    column, plain, value = CountingColumn(), [], start
    for step in [1] * 10 + steps:  # counts up by one for a while, then maybe breaks the count
        value += step
        column.append(value)
        plain.append(value)
        assert len(column) == len(plain) and column[-1] == plain[-1] and column[0] == plain[0]
    for probe in range(start - 2, value + 3):
        assert column.bisect_right(probe) == bisect_right(plain, probe)
    assert [column[i] for i in range(len(plain))] == plain
    with pytest.raises(IndexError):
        column[len(plain)]


def test_equal_looking_values_stored_once_keep_their_own_types():
    """Values repeated across nodes are stored once (results, statuses, edge metadata), but only
    when truly the same: 1 and True and 1.0 are equal in Python and different in the payload."""
    events, position = [], 0
    for k, value in enumerate([1, True, 1.0, "1", None, 1, True]):
        for et, payload in (("node_created", {"node_nid": str(k), "outer_node_id": "root"}),
                            ("node_result_available", {"action_name": value, "result_summary": "same"}),
                            ("edge_added", {"parent_node_id": "root", "child_node_id": f"n{k}",
                                            "graph_owner_node_id": value})):
            position += 1
            events.append(_ev(position, et, node_id=f"n{k}", **payload))
    timeline = History("r")
    timeline.hot_rows = 0
    for e in events:
        timeline.extend([e])
    final = fold("r", events)
    for k in range(7):
        got = timeline.node_at(f"n{k}", len(events) - 1)["result"]["action_name"]
        want = final.nodes[f"n{k}"]["result"]["action_name"]
        assert got == want and type(got) is type(want), k
        edge = timeline.state_at_index(-1).edges[("root", f"n{k}")]["metadata"]
        assert edge == final.edges[("root", f"n{k}")]["metadata"]
        assert [type(v) for v in edge.values()] == [type(v) for v in final.edges[("root", f"n{k}")]["metadata"].values()]
    assert timeline.live.comparable() == final.comparable()


def test_node_counters_outgrowing_int32_are_widened_not_lost():
    sizes = [5, 2 ** 31 + 5, 3, 7]
    events = [_ev(k + 1, "llm_call_completed", node_id="a", token_usage={"prompt_tokens": v})
              for k, v in enumerate(sizes)]
    timeline = History("r")
    timeline.extend(events)
    for i in range(len(events)):
        assert timeline.node_at("a", i) == fold("r", events[: i + 1]).nodes["a"]
    assert timeline.node_at("a", 3)["prompt_tokens"] == sum(sizes)
