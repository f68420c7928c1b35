"""The appends' full snapshots (one JSON document) read lazily for a replay window: the rows are
found without parsing the document whole, and every row, key and order is the whole decode's,
whatever the rows hold (text that looks like a row boundary, lists of objects, empty arrays)."""
from __future__ import annotations

import zlib

import orjson
import pytest

from agenttui.demo import generate_run
from agenttui.store import RunState, fold
from agenttui.store import snapshots
from agenttui.store.snapshots import LazyRows, decode_snapshot, encode_snapshot


def _whole(blob: bytes) -> RunState:
    return RunState.from_dict(orjson.loads(zlib.decompress(blob)))


def _assert_same(lazy: RunState, whole: RunState) -> None:
    assert isinstance(lazy.nodes, LazyRows) and isinstance(lazy.edges, LazyRows)
    assert lazy.run_id == whole.run_id and lazy.position == whole.position and lazy.run == whole.run
    assert list(lazy.nodes) == list(whole.nodes) and list(lazy.edges) == list(whole.edges)
    for key, row in whole.nodes.items():
        assert lazy.nodes[key] == row, key
    for key, row in whole.edges.items():
        assert lazy.edges[key] == row, key


def _tricky_state() -> RunState:
    """A demo run's fold whose rows hold text and values that look like the document's structure."""
    state = fold("run-x", list(generate_run(5, n_events=600, run_id="run-x", start="2026-03-01T09:00:00Z")))
    tricky = [
        '},{"node_id":"fake","run_id":"run-x"}',
        '}]},"edges":[{"parent_node_id":"a"',
        ',"nodes":[{"node_id":"n"}]',
        "\\\"},{\\\"",
        "ünïcödé },{ ☃",
    ]
    for k, node_id in enumerate(list(state.nodes)[:40]):
        row = dict(state.nodes[node_id])
        row["result"] = [{"a": tricky[k % len(tricky)]}, {"b": [{"c": 1}, {"d": {"e": [{}]}}]}]
        row["metadata"] = {"node_id": "meta", "nested": [{"x": "},{"}, {}]}
        row["task_goal"] = tricky[(k + 1) % len(tricky)]
        state.nodes[node_id] = row
    for k, key in enumerate(list(state.edges)[:20]):
        state.edges[key] = {**state.edges[key], "metadata": {"list": [{"a": tricky[k % len(tricky)]}, {}]}}
    state.run = {**state.run, "error_message": ',"nodes":[{"node_id":"x"}],"edges":[', "config": {
        "nodes": [{"node_id": "in the run row"}, {}]}}
    return state


def test_a_demo_runs_snapshot_reads_lazily_as_its_whole_decode() -> None:
    state = fold("run-y", list(generate_run(7, n_events=3000, run_id="run-y", start="2026-03-01T09:00:00Z")))
    blob = encode_snapshot(state)
    lazy = decode_snapshot(blob, lazy=True)
    _assert_same(lazy, _whole(blob))
    assert lazy.comparable() == state.comparable()


@pytest.mark.parametrize("group", [1, 2, 3, 512])
@pytest.mark.parametrize("piece", [1, 7, 300, 1 << 20])
@pytest.mark.parametrize("fed", [1, 50, 1 << 18])
def test_rows_that_look_like_boundaries_read_exactly(monkeypatch, group: int, piece: int, fed: int) -> None:
    """Whatever the groups of rows checked at once, the pieces the document is inflated in, and the
    pieces of the compressed document fed to zlib."""
    monkeypatch.setattr(snapshots, "_GROUP", group)
    monkeypatch.setattr(snapshots, "STREAM_PIECE", piece)
    monkeypatch.setattr(snapshots, "STREAM_INPUT", fed)
    monkeypatch.setattr(snapshots, "LEGACY_CHUNK", 97)  # rows across chunks
    blob = encode_snapshot(_tricky_state())
    _assert_same(decode_snapshot(blob, lazy=True), _whole(blob))


def test_empty_and_one_row_arrays() -> None:
    empty = RunState("run-e", {"run_id": "run-e", "event_count": 0})
    blob = encode_snapshot(empty)
    lazy = decode_snapshot(blob, lazy=True)
    assert len(lazy.nodes) == 0 and len(lazy.edges) == 0 and lazy.run == empty.run
    one = fold("run-o", list(generate_run(2, n_events=3, run_id="run-o", start="2026-03-01T09:00:00Z")))
    blob = encode_snapshot(one)
    _assert_same(decode_snapshot(blob, lazy=True), _whole(blob))


@pytest.mark.parametrize("fed", [1, 1 << 18])
def test_a_document_cut_short_or_with_more_after_it_is_parsed_whole_or_refused(monkeypatch, fed: int) -> None:
    monkeypatch.setattr(snapshots, "STREAM_INPUT", fed)
    state = fold("run-t", list(generate_run(6, n_events=200, run_id="run-t", start="2026-03-01T09:00:00Z")))
    text = orjson.dumps(state.to_dict())
    assert snapshots._lazy_document(zlib.compress(text + b" ")) is None
    assert snapshots._lazy_document(zlib.compress(text[:len(text) // 2])) is None
    assert snapshots._lazy_document(zlib.compress(text[:-1] + b',"more":1}')) is None
    assert decode_snapshot(zlib.compress(text + b" "), lazy=True).comparable() == state.comparable()


def test_a_document_of_another_layout_is_parsed_whole() -> None:
    state = fold("run-z", list(generate_run(3, n_events=300, run_id="run-z", start="2026-03-01T09:00:00Z")))
    data = state.to_dict()
    reordered = {"nodes": data["nodes"], "run_id": data["run_id"], "position": data["position"], "run": data["run"],
                 "edges": data["edges"]}
    lazy = decode_snapshot(zlib.compress(orjson.dumps(reordered)), lazy=True)
    assert type(lazy.nodes) is dict and lazy.comparable() == state.comparable()


def test_a_lazy_read_keeps_only_the_last_chunks_inflated(monkeypatch) -> None:
    monkeypatch.setattr(snapshots, "LEGACY_CHUNK", 256)
    monkeypatch.setattr(snapshots, "KEPT_CHUNK_BYTES", 1024)
    state = fold("run-c", list(generate_run(4, n_events=2000, run_id="run-c", start="2026-03-01T09:00:00Z")))
    lazy = decode_snapshot(encode_snapshot(state), lazy=True)
    body = lazy.nodes._body  # type: ignore[attr-defined]
    for key in reversed(list(state.nodes)):  # every chunk, back to front
        assert lazy.nodes[key] == state.nodes[key]
        assert len(body._inflated) <= 4
    assert body.whole().startswith(b"[") and len(body._inflated) <= 4


def test_edges_whose_ends_are_not_nodes_read_as_whole() -> None:
    """An edge is kept as its ends' places among the node ids: an end that is no node (a parent never
    created, a number) reads back as itself."""
    state = fold("run-z", list(generate_run(3, n_events=300, run_id="run-z", start="2026-03-01T09:00:00Z")))
    first = next(iter(state.nodes))
    for parent, child in (("ghost", first), (first, "ghost-child"), ("ghost", "ghost-child")):
        state.edges[(parent, child)] = {"parent_node_id": parent, "child_node_id": child, "metadata": {}}
    blob = encode_snapshot(state)
    _assert_same(decode_snapshot(blob, lazy=True), _whole(blob))
    state.edges[(7, first)] = {"parent_node_id": 7, "child_node_id": first, "metadata": {}}
    blob = encode_snapshot(state)
    _assert_same(decode_snapshot(blob, lazy=True), _whole(blob))
