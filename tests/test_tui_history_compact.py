"""The History's compact form (values as JSON in an arena, a node's desc as the changed columns
with a whole desc every _KEYFRAME changes) answers exactly what the fold computed: every node at
every index equals a fresh fold of the prefix, with the same types, whatever the values hold."""
from __future__ import annotations

import pytest

from agenttui.store import fold
from agenttui.store.fold import NODE_STATUSES
from agenttui.tui.history import History
from agenttui.tui.history import record

from store_fixtures import SAMPLE_RUN, loaded_store
from test_tui_replay import _ev


@pytest.fixture(params=[1, 3, 20_000], autouse=True)
def pack_after(request, monkeypatch) -> int:
    """Every test with the nodes' columns packed after every event, every few, and hardly ever."""
    monkeypatch.setattr(record, "PACK_AFTER", request.param)
    return request.param


@pytest.fixture(params=[1, 100, 1 << 20], autouse=True)
def spill_buffer(request, monkeypatch, tmp_path) -> int:
    """... and with what is spilled written to its file at once, every 100 bytes, or hardly ever."""
    from agenttui.store import spill

    monkeypatch.setattr(spill, "SPILL_BUFFER", request.param)
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    return request.param


@pytest.fixture(params=[1, 2, 16], autouse=True)
def chain_max(request, monkeypatch) -> int:
    """... and with a parent's children moved from a chain to an array at its 2nd, 3rd or 17th child."""
    monkeypatch.setattr(record, "_CHAIN_MAX", request.param)
    return request.param


def _check_every_index(events: list, node_ids: list[str], hot_rows: int) -> History:
    timeline = History("r")
    timeline.hot_rows = hot_rows
    for k in range(0, len(events), 3):  # batches of 3: rows let go of and rebuilt between them
        timeline.extend(events[k:k + 3])
    for i in range(len(events)):
        expected = fold("r", events[: i + 1])
        for node_id in node_ids:
            got, want = timeline.node_at(node_id, i), expected.nodes.get(node_id)
            assert got == want, (node_id, i)
            if want is not None:
                assert [type(v) for v in got.values()] == [type(v) for v in want.values()], (node_id, i)
                assert timeline.status_at(node_id, i) == want["status"]
                assert timeline.nid_at(node_id, i) == want["node_nid"]
                shown = timeline.display_at(node_id, i)
                assert all(shown[k] == want[k] for k in shown), (node_id, i)
        assert timeline.state_at_index(i).comparable() == expected.comparable()
    return timeline


@pytest.mark.parametrize("hot_rows", [0, 4096])
def test_a_node_changing_many_times_reads_exactly_across_keyframes(hot_rows: int) -> None:
    """Far more changes than a keyframe spans, one column or several at a time."""
    events = [_ev(1, "node_created", node_id="a", node_nid="1", task_goal="g0", node_type="PLAN_NODE")]
    statuses = list(NODE_STATUSES)
    for k in range(3 * record._KEYFRAME + 5):
        position = len(events) + 1
        if k % 7 == 3:  # several columns at once: nid, goal, type
            events.append(_ev(position, "node_created", node_id="a", node_nid=f"1.{k}", task_goal=f"g{k}",
                              node_type="EXECUTE_NODE" if k % 2 else "PLAN_NODE"))
        elif k % 5 == 1:
            events.append(_ev(position, "node_result_available", node_id="a", action_name=f"act{k}",
                              result_summary={"k": k, "list": [k, {"x": k}]}))
        else:
            events.append(_ev(position, "node_status_changed", node_id="a", new_status=statuses[k % len(statuses)]))
    timeline = _check_every_index(events, ["a"], hot_rows)
    d = timeline._node("a").d
    assert (len(d) - record._ND) // record._DS > record._KEYFRAME  # the keyframes were needed


@pytest.mark.parametrize("hot_rows", [0, 4096])
def test_values_keep_their_types_whether_json_holds_them_or_not(hot_rows: int) -> None:
    """Values JSON holds exactly go to the arena; the others (ints beyond 64 bits, a lone
    surrogate, infinities, tuples) stay Python objects; equal-looking ones never share."""
    odd = [2 ** 70, "lone \ud800 surrogate", float("inf"), -0.0, 0.0, 1.5, True, 1, 1.0, "1", None,
           (1, 2), {"t": (1, 2)}, {1: "int key"}, [1, True, 1.0], {"a": 1, "b": True}, {"b": True, "a": 1},
           {"a": True, "b": 1}, {"nested": {"deep": [{"x": None}]}}, "x" * 5000, ""]
    events = []
    for k, value in enumerate(odd):
        node = f"n{k}"
        for et, payload in (("node_created", {"node_nid": str(k), "task_goal": value, "layer": value}),
                            ("node_result_available", {"action_name": value, "result_summary": value}),
                            ("edge_added", {"parent_node_id": "root", "child_node_id": node,
                                            "graph_owner_node_id": value})):
            events.append(_ev(len(events) + 1, et, node_id=node, **payload))
    timeline = _check_every_index(events, [f"n{k}" for k in range(len(odd))], hot_rows)
    final = fold("r", events)
    for key, edge in final.edges.items():
        got = timeline.state_at_index(-1).edges[key]["metadata"]
        assert got == edge["metadata"] and [type(v) for v in got.values()] == \
            [type(v) for v in edge["metadata"].values()]


def test_a_parent_id_in_a_nodes_desc_is_that_nodes_own_id_string() -> None:
    """outer_node_id and root_node_id name other nodes: their codes name the node (its number
    among the packed ids), no value of their own, however many children name it; an id named
    before its node exists is a shared string, and reads back equal too."""
    events = [_ev(1, "node_created", node_id="early", node_nid="0", outer_node_id="parent-node"),
              _ev(2, "node_created", node_id="parent-node", node_nid="1")]
    for k in range(30):
        events.append(_ev(len(events) + 1, "node_created", node_id=f"n{k}", node_nid=f"1.{k}",
                          outer_node_id="".join(["parent", "-node"]), root_node_id="".join(["parent", "-", "node"])))
    timeline = History("r")
    timeline.extend(events)
    own = timeline._ids[timeline._num["parent-node"]]
    assert [v for v in timeline._values if v == own] == ["parent-node"]  # (the early one's, before the node)
    final = fold("r", events)
    for node_id in ["early", *(f"n{k}" for k in range(30))]:
        for i in range(len(events)):
            assert timeline.node_at(node_id, i) == fold("r", events[:i + 1]).nodes.get(node_id)
        got = timeline.node_at(node_id, len(events) - 1)
        assert got == final.nodes[node_id]
        if node_id != "early":
            assert got["outer_node_id"] == own and got["root_node_id"] == own


def test_repeated_small_results_are_stored_once() -> None:
    events = []
    for k in range(200):
        events.append(_ev(len(events) + 1, "node_created", node_id=f"n{k}", node_nid=str(k)))
        events.append(_ev(len(events) + 1, "node_result_available", node_id=f"n{k}", action_name="done",
                          result_summary="ok"))
    timeline = History("r")
    timeline.extend(events)
    results = {timeline.node_at(f"n{k}", len(events) - 1)["result"]["action_name"] for k in range(200)}
    assert results == {"done"}
    # in the arena: each node's nid, and once for all nodes the empty metadata and the result (a
    # created_at is the index of the event whose timestamp it is)
    assert len(timeline._ends) == 200 + 2 and len(timeline._shared_json) == 2
    assert timeline._node("n7").d[record._NODE_DESC.index("created_at")] == record._TS_CODE - 14


@pytest.mark.parametrize("hot_rows", [0, 4096])
def test_timestamps_coded_as_their_event_read_back_verbatim(hot_rows: int) -> None:
    """created_at is coded as the index of the event it came from; odd stamps (an offset, no
    fraction, naive, not a time at all) come back exactly as the event had them."""
    stamps = ["2026-03-01T09:00:00.000001Z", "2026-03-01T10:00:00+01:00", "2026-03-01T09:00:02Z",
              "2026-03-01T09:00:03.5", "not a time", "2026-03-01T09:00:04.000004Z"]
    events = []
    for k, ts in enumerate(stamps):
        events.append(_ev(len(events) + 1, "node_created", node_id=f"n{k}", node_nid=str(k), ts=ts))
        events.append(_ev(len(events) + 1, "edge_added", node_id=f"n{k}", ts=ts, parent_node_id="n0",
                          child_node_id=f"n{k}"))
    timeline = _check_every_index(events, [f"n{k}" for k in range(len(stamps))], hot_rows)
    assert [timeline.node_at(f"n{k}", len(events) - 1)["created_at"] for k in range(len(stamps))] == stamps


def test_a_dropped_history_is_freed_without_the_cyclic_collector() -> None:
    """The inspector freezes the collector's view of the heap while it folds a run (gc.freeze):
    a window it drops must be freed by its reference count alone, so a History holds no cycle."""
    import gc
    import weakref

    events = [_ev(1, "node_created", node_id="a", node_nid="1"), _ev(2, "node_created", node_id="b", node_nid="1.1"),
              _ev(3, "edge_added", node_id="a", parent_node_id="a", child_node_id="b"),
              _ev(4, "node_status_changed", node_id="b", new_status="DOING")]
    was = gc.isenabled()
    gc.disable()
    try:
        whole = History("r")
        whole.hot_rows = 0
        whole.extend(events[:2])
        whole.extend(events[2:])  # (rows let go of and rebuilt: the fold's row caches were used)
        assert whole.axis.fraction_at(3) == 1.0 and whole.node_at("b", 3)["status"] == "DOING"
        window = History.from_state(fold("r", events[:2]))
        window.extend(events[2:])
        assert window.children_at("a", 3) == ["b"]
        refs = [weakref.ref(whole), weakref.ref(window)]
        del whole, window
        assert [r() for r in refs] == [None, None]
    finally:
        if was:
            gc.enable()


def test_the_sample_run_packed_as_it_folds_equals_the_fold_at_every_index(tmp_path, pack_after: int) -> None:
    store = loaded_store(tmp_path)
    try:
        events = list(store.timeline(SAMPLE_RUN))
    finally:
        store.close()
    timeline = History(SAMPLE_RUN)
    timeline.hot_rows = 0
    for k in range(0, len(events), 5):
        timeline.extend(events[k:k + 5])
    nodes = timeline.node_ids()
    if pack_after == 1:
        assert sum(1 for loc in timeline._loc if loc >= 0) > len(nodes) // 2
    for i in range(len(events)):
        expected = fold(SAMPLE_RUN, events[: i + 1])
        for node_id in nodes:
            assert timeline.node_at(node_id, i) == expected.nodes.get(node_id), (node_id, i)
            if node_id in expected.nodes:
                assert timeline.children_at(node_id, i) == expected.children(node_id)
                assert list(timeline.events_of(node_id)) == [
                    k for k, e in enumerate(events) if e.node_id == node_id]
        assert timeline.roots_at(i) == expected.roots()
    again = History(SAMPLE_RUN)  # the same events in one batch: the same answers
    again.extend(events)
    assert again.live.comparable() == timeline.live.comparable() == fold(SAMPLE_RUN, events).comparable()


def test_free_heap_pages_go_back_where_the_platform_can(monkeypatch) -> None:
    import sys

    from agenttui.tui.history import heap

    assert heap.release_free_memory() is (heap._TRIM is not None)
    if sys.platform.startswith("linux") and heap._TRIM is not None:
        calls = []
        monkeypatch.setattr(heap, "_TRIM", lambda pad: calls.append(pad))
        assert heap.release_free_memory() and calls == [0]
    monkeypatch.setattr(heap, "_TRIM", None)
    assert heap.release_free_memory() is False


@pytest.mark.parametrize("steps", [[1_000] * 10_000, [0, 5, -7, 3_000_000_000, -3_000_000_000, 2 ** 40, 1] * 1_300,
                                   [2 ** 31 - 1, 1, -(2 ** 31) + 1, -(2 ** 31), 2 ** 31]])
def test_a_near_column_answers_like_the_int64_array_it_stands_for(steps: list[int]) -> None:
    from array import array

    from agenttui.tui.history.columns import NearColumn

    column, plain, value = NearColumn(), array("q"), 1_772_355_600_000_000
    for step in steps:  # near values, and now and then one far off its block's first
        value += step
        column.append(value)
        plain.append(value)
    assert len(column) == len(plain)
    assert [column[i] for i in range(len(plain))] == plain.tolist()
    assert column[-1] == plain[-1] and column[-len(plain)] == plain[0]
    with pytest.raises(IndexError):
        column[len(plain)]


def test_small_codes_widen_past_256() -> None:
    from agenttui.tui.history.columns import SmallCodes

    codes = SmallCodes()
    values = [k % 300 for k in range(1_000)] + [70_000, 3]
    for v in values:
        codes.append(v)
    assert len(codes) == len(values) and [codes[i] for i in range(len(values))] == values


def test_a_run_of_more_than_256_event_types_keeps_every_type() -> None:
    events = [_ev(k + 1, f"custom_{k % 300}") for k in range(700)]
    timeline = History("r")
    timeline.extend(events)
    assert [timeline.type_at(i) for i in range(700)] == [e.event_type for e in events]
    assert len(timeline.event_types()) == 300


def test_a_change_column_keeps_each_value_and_its_type() -> None:
    """A run column is an int64 array while it holds ints: a bool, a float, a huge int or None
    turns it into a list, never into another value (True must not come back as 1)."""
    from agenttui.tui.history.columns import ChangeColumn

    values = [3, 5, True, 2.5, 2 ** 70, None, "7", 4]
    for start in range(len(values)):
        column = ChangeColumn(None, True)
        for k, v in enumerate(values[start:]):
            column.add(10 * k, v)
        assert column.at(-1) is None
        for k, v in enumerate(values[start:]):
            got = column.at(10 * k + 5)
            assert got == v and type(got) is type(v), (start, k)


def test_a_change_column_widens_from_int32_to_int64_to_a_list_keeping_every_value() -> None:
    from agenttui.tui.history.columns import ChangeColumn

    values = [0, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 62, 5, 2 ** 63, -7]
    column = ChangeColumn(0, True)
    kinds = []
    for k, v in enumerate(values):
        column.add(k, v)
        kinds.append(column.vals.typecode if type(column.vals) is not list else "list")
    assert kinds == ["i", "i", "i", "q", "q", "q", "q", "list", "list"]
    assert [column.at(k) for k in range(len(values))] == values


class _FarArena:
    """A value arena that jumps past 2 GB after its first value (as if that much had been written):
    the ends of the values after it no longer fit in int32."""

    GAP = 2 ** 31

    def __init__(self) -> None:
        from agenttui.tui.history.columns import Spill

        self.inner, self.p0, self.jumped = Spill(), -1, False

    def __len__(self) -> int:
        return len(self.inner) + (self.GAP if self.jumped else 0)

    def put(self, data: bytes) -> int:
        if self.p0 < 0:
            self.p0 = len(self.inner) + len(data)
        elif not self.jumped:
            self.jumped = True
        at = len(self)
        self.inner.put(data)
        return at

    def get(self, at: int, n: int) -> bytes:
        if self.p0 < 0 or at + n <= self.p0:
            return self.inner.get(at, n)
        if at >= self.p0 + self.GAP:
            return self.inner.get(at - self.GAP, n)
        assert at == self.p0, (at, n)  # (the value right after the jump starts at it)
        return self.inner.get(at, n - self.GAP)


def test_values_past_2_gb_of_the_arena_read_back_exactly() -> None:
    events = [_ev(k + 1, "node_created", node_id=f"n{k}", node_nid=str(k), task_goal=f"goal {k}", layer=10 ** 6 + k)
              for k in range(40)]
    timeline = History("r")
    timeline._arena = _FarArena()  # type: ignore[assignment]
    timeline.extend(events)
    assert timeline._ends.typecode == "q" and timeline._ends[-1] > 2 ** 31
    final = fold("r", events)
    for k in range(40):
        assert timeline.node_at(f"n{k}", 39) == final.nodes[f"n{k}"]


def test_run_totals_replay_as_the_fold_made_them() -> None:
    values = [3, True, 2.5, 2 ** 70, None, "7", 4]
    events = [_ev(k + 1, "run_finished", total_steps=v, total_nodes=v) for k, v in enumerate(values)]
    timeline = History("r")
    timeline.extend(events)
    for i in range(len(events)):
        want = fold("r", events[: i + 1]).run
        got = timeline.run_at(i)
        assert got == want and [type(v) for v in got.values()] == [type(v) for v in want.values()], i


def test_a_spill_reads_back_what_was_put_wherever_it_is(spill_buffer: int, tmp_path) -> None:
    import random

    from agenttui.tui.history.columns import Spill

    spill, kept = Spill(), []
    rng = random.Random(spill_buffer)
    for k in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300 if k % 50 else 5000)))
        kept.append((spill.put(data), data))
        if k % 7 == 0:  # reads between writes: from the file, the memory, and across both
            at, old = kept[rng.randrange(len(kept))]
            assert spill.get(at, len(old)) == old
    for at, data in kept:
        assert spill.get(at, len(data)) == data
        if len(data) > 2:
            assert spill.get(at + 1, len(data) - 2) == data[1:-1]
    assert len(spill) == sum(len(d) for _, d in kept)
    if spill_buffer < 1 << 20:  # it made its file in the cache directory, deleted as it was opened
        assert (tmp_path / "cache" / "history").is_dir() and not list((tmp_path / "cache" / "history").iterdir())


def test_a_spill_without_a_file_keeps_everything_in_memory(monkeypatch, spill_buffer: int) -> None:
    from agenttui.store import spill as module

    def refuse() -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(module, "_temporary_file", refuse)
    spill = module.Spill()
    places = [spill.put(bytes([k]) * 50) for k in range(40)]
    assert [spill.get(at, 50) for at in places] == [bytes([k]) * 50 for k in range(40)]


def test_a_big_node_is_packed_in_memory_and_small_ones_spilled(pack_after: int, spill_buffer: int) -> None:
    events = [_ev(1, "node_created", node_id="big", node_nid="1"),
              _ev(2, "node_created", node_id="small", node_nid="2")]
    events += [_ev(k, "llm_call_completed", node_id="big", token_usage={"prompt_tokens": k}) for k in range(3, 2003)]
    events += [_ev(k, "custom_metric") for k in range(2003, 2010)]  # (passes with neither touched)
    timeline = History("r")
    for k in range(0, 2002, 500):
        timeline.extend(events[k:min(k + 500, 2002)])
    for e in events[2002:]:
        timeline.extend([e])
    for i in (0, 1, 999, 2001, len(events) - 1):
        expected = fold("r", events[: i + 1])
        assert timeline.node_at("big", i) == expected.nodes["big"] and timeline.node_at("small", i) == \
            expected.nodes.get("small")
    big, small = timeline._num["big"], timeline._num["small"]
    if pack_after == 1:
        assert timeline._loc[big] == record._BIG and len(timeline._big[big]) > record.SPILL_NODE_MAX
        assert timeline._loc[small] >= 0 and not timeline._hot


@pytest.mark.parametrize("seeded", [False, True])
def test_nodes_read_between_batches_then_touched_again_read_exactly(tmp_path, seeded: bool) -> None:
    """The screen reads nodes while the fold goes on (views of packed nodes kept, seeded nodes made
    on first read); the fold then unpacks and changes them: every read after that sees the change,
    at every index, and the node numbers, roots and counts follow."""
    store = loaded_store(tmp_path)
    try:
        events = list(store.timeline(SAMPLE_RUN))
    finally:
        store.close()
    cut = len(events) // 3 if seeded else 0
    timeline = History.from_state(fold(SAMPLE_RUN, events[:cut])) if seeded else History(SAMPLE_RUN)
    timeline.hot_rows = 0
    expected = [fold(SAMPLE_RUN, events[: i + 1]) for i in range(len(events))]
    for k in range(cut, len(events), 4):
        timeline.extend(events[k:k + 4])
        for i in range(cut, len(timeline)):
            want = expected[i]
            for node_id in timeline.node_ids():
                assert timeline.node_at(node_id, i) == want.nodes.get(node_id), (node_id, i)
                assert timeline.status_at(node_id, i) == (want.nodes[node_id]["status"] if node_id in want.nodes
                                                          else None)
                if node_id in want.nodes:
                    assert timeline.children_at(node_id, i) == want.children(node_id)
                    assert timeline.child_count_at(node_id, i) == len(want.children(node_id))
                    parents = [p for p, c in want.edges if c == node_id]
                    assert timeline.parent_at(node_id, i) == (parents[0] if parents else None)
            assert timeline.roots_at(i) == want.roots()
            assert timeline.node_count_at(i) == len(want.nodes)
    assert timeline.node_ids() == list(expected[-1].nodes)
    assert timeline.state_at_index(len(events) - 1).comparable() == expected[-1].comparable()


def test_small_dicts_whose_json_hashes_collide_read_back_as_themselves(monkeypatch) -> None:
    """Small flat dicts are shared by the hash of their JSON: one that only collides with another's
    hash is stored as itself."""
    monkeypatch.setattr(record, "hash", lambda text: 7, raising=False)
    events = []
    for k in range(20):
        events.append(_ev(len(events) + 1, "node_created", node_id=f"n{k}", node_nid=str(k)))
        events.append(_ev(len(events) + 1, "node_result_available", node_id=f"n{k}", action_name="done",
                          result_summary=f"r{k % 3}"))
    timeline = History("r")
    timeline.extend(events)
    final = fold("r", events)
    for k in range(20):
        assert timeline.node_at(f"n{k}", len(events) - 1) == final.nodes[f"n{k}"]
    assert len(timeline._shared_json) == 1


def test_codes_by_hash_answer_like_a_dict() -> None:
    """The small dicts' table: any 64-bit hash (0, negative, equal low bits) finds its code after
    the table grew, and a hash never added finds none."""
    import random

    rnd = random.Random(3)
    digests = [0, 1, -1, 2 ** 63 - 1, -2 ** 63, *(k << 20 for k in range(50)),
               *(rnd.getrandbits(64) - 2 ** 63 for _ in range(3000))]
    table, want = record._CodesByHash(), {}
    for code, digest in enumerate(dict.fromkeys(digests)):
        if (digest or 1) in want:  # (0 is taken as 1)
            continue
        assert table.get(digest) is None
        table.add(digest, -code - 1)
        want[digest or 1] = -code - 1
    assert len(table) == len(want)
    assert all(table.get(digest) == code for digest, code in want.items())
    assert table.get(0) == want[1]
    assert all(table.get(rnd.getrandbits(64) - 2 ** 63) is None for _ in range(200))
