"""LazyRows (store/snapshots.py) behaves as the dict the fold keeps, and its copies stay apart.

A replay window folds on a copy of the cached snapshot's rows; the copies share the key index and
the rows parsed before the copy, so these tests hold every copy against a plain dict through
random reads, writes, deletions and copies, and check that nothing a copy does reaches the base.
"""
from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttui.store.fold import RunState, apply_event
from agenttui.store.envelope import Event
from agenttui.store.packed_keys import PackedKeys
from agenttui.store.snapshots import LazyRows, decode_snapshot, encode_full

KEYS = [f"n{i}" for i in range(12)]


def _base(n: int) -> tuple[LazyRows, dict]:
    """A LazyRows of n node rows read from a real full snapshot, and the dict it stands for."""
    state = RunState("r", None)
    for i in range(n):
        apply_event(state, Event("node_created", {"node_id": KEYS[i], "node_nid": str(i), "task_goal": f"g{i}"},
                                 "r", f"e{i}", "2026-03-01T09:00:00.000000Z", position=i + 1, seq=i + 1))
    lazy = decode_snapshot(encode_full(state), lazy=True)
    assert isinstance(lazy.nodes, LazyRows)
    return lazy.nodes, {k: dict(v) for k, v in state.nodes.items()}


def _edges(pairs: list[tuple[str, str]]) -> tuple[LazyRows, dict]:
    """A LazyRows of edge rows (some ends not nodes of the state) from a real full snapshot, and the
    dict it stands for."""
    state = RunState("r", None)
    for i in range(4):
        apply_event(state, Event("node_created", {"node_id": KEYS[i], "node_nid": str(i)},
                                 "r", f"e{i}", "2026-03-01T09:00:00.000000Z", position=i + 1, seq=i + 1))
    for parent, child in pairs:
        state.edges[(parent, child)] = {"parent_node_id": parent, "child_node_id": child, "edge_kind": "spawn"}
    lazy = decode_snapshot(encode_full(state), lazy=True)
    assert isinstance(lazy.edges, LazyRows)
    return lazy.edges, {k: dict(v) for k, v in state.edges.items()}


ops = st.lists(st.tuples(st.sampled_from(["get", "set", "del", "copy", "switch"]), st.sampled_from(KEYS),
                         st.integers(0, 3)), max_size=60)
ENDS = KEYS[:5] + ["outside"]  # (n4 and "outside" are not nodes of _edges' state)
PAIRS = [(p, c) for p in ENDS for c in ENDS]
edge_ops = st.lists(st.tuples(st.sampled_from(["get", "set", "del", "copy", "switch"]),
                              st.sampled_from([*PAIRS, ("n0",), "n0", ("n0", "n1", "n2")]), st.integers(0, 3)),
                    max_size=60)


def _run(base: LazyRows, expected: dict, script: list) -> None:
    """Hold copies of `base` against copies of the dict `expected` through `script`."""
    pristine = dict(expected)
    copies = [(base.copy(), dict(expected))]
    for op, key, arg in script:
        lazy, model = copies[arg % len(copies)] if op != "switch" else copies[-1]
        if op == "get":
            assert (key in lazy) == (key in model)
            if key in model:
                assert lazy[key] == model[key]
            else:
                assert lazy.get(key) is None
        elif op == "set":
            row = {"node_id": key, "v": arg}
            lazy[key] = row
            model[key] = row
        elif op == "del":
            if key in model:
                del lazy[key]
                del model[key]
            else:
                try:
                    del lazy[key]
                except KeyError:
                    pass
                else:
                    raise AssertionError(f"deleting the missing key {key} did not raise")
        elif op == "copy":
            copies.append((lazy.copy(), dict(model)))
        for lazy_i, model_i in copies:
            assert list(lazy_i) == list(model_i), "the keys, in the dict's order"
            assert len(lazy_i) == len(model_i)
    for lazy_i, model_i in copies:
        assert lazy_i.materialised() == model_i
    # the base itself never changed
    assert list(base) == list(pristine) and base.materialised() == pristine


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 8), script=ops)
def test_every_copy_reads_writes_deletes_and_iterates_as_a_dict(n, script):
    _run(*_base(n), script)


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.sampled_from(PAIRS), unique=True, max_size=12), script=edge_ops)
def test_edge_rows_are_found_by_their_ends_as_in_a_dict(pairs, script):
    """Edges are kept as their ends' places among the node ids, found among their child's edges:
    every pair is found or not as in a dict (ends that are not nodes, a node's several parents,
    keys that are not pairs)."""
    _run(*_edges(pairs), script)


def test_a_lazy_snapshot_reads_its_rows_with_or_without_a_file(monkeypatch, tmp_path) -> None:
    """The compressed rows go to a temporary file in the cache directory (deleted as it is made), or
    stay in memory where none can be written: the rows read back the same."""
    from agenttui.store import spill

    state = RunState("r", None)
    for i in range(3000):  # ~1 MB of rows, a few chunks
        apply_event(state, Event("node_created", {"node_id": f"n{i}", "node_nid": str(i), "task_goal": f"g{i}" * 40},
                                 "r", f"e{i}", "2026-03-01T09:00:00.000000Z", position=i + 1, seq=i + 1))
    blob = encode_full(state)
    monkeypatch.setattr(spill, "SPILL_BUFFER", 1000)
    monkeypatch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path / "cache"))
    on_file = decode_snapshot(blob, lazy=True)
    assert (tmp_path / "cache" / "history").is_dir() and not list((tmp_path / "cache" / "history").iterdir())

    def refuse() -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(spill, "_temporary_file", refuse)
    in_memory = decode_snapshot(blob, lazy=True)
    for lazy in (on_file, in_memory):
        assert lazy.nodes.materialised() == state.nodes and list(lazy.nodes) == list(state.nodes)


def test_copies_share_the_index_not_their_own_rows():
    base, _ = _base(5)
    a = base.copy()
    b = a.copy()
    assert a._index is base._index and b._index is base._index  # noqa: SLF001 (the point of the design)
    a["n1"] = {"node_id": "n1", "changed": True}
    del a["n2"]
    a["new"] = {"node_id": "new"}
    assert b["n1"].get("changed") is None and "n2" in b and "new" not in b
    assert list(a) == ["n0", "n1", "n3", "n4", "new"]
    a["n2"] = {"node_id": "n2", "back": True}  # a deleted key set again goes last, as in a dict
    assert list(a) == ["n0", "n1", "n3", "n4", "new", "n2"]


_TRICKY = st.sampled_from(['a', 'x,"parents":[1]', '"', '\\', '\\"', '",', '}', ',"chunks":[', 'é', '\u2028'])


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.lists(_TRICKY, min_size=1, max_size=4).map("".join), min_size=0, max_size=6, unique=True),
       run_meta=st.sampled_from([None, {"nodes": [1], "ends": "x"}, {"chunks": '"],"ends":[', "parents": []}]),
       loose=st.lists(st.lists(_TRICKY, min_size=1, max_size=3).map("".join), max_size=3))
def test_a_full_snapshot_header_parsed_list_by_list_reads_as_parsed_whole(ids, run_meta, loose):
    """The header's long lists are parsed one at a time (snapshots._parse_head: orjson's peak for
    a late 4M-event header was ~240 MB whole); node ids, edge ends that are not nodes and run
    fields holding the lists' own key names and brackets read exactly as one parse reads them."""
    import orjson
    import zlib

    from agenttui.store import snapshots

    state = RunState("r", None)
    for i, node_id in enumerate(ids):
        apply_event(state, Event("node_created", {"node_id": node_id, "node_nid": str(i)},
                                 "r", f"e{i}", "2026-03-01T09:00:00.000000Z", position=i + 1, seq=i + 1))
    if run_meta is not None and state.run is not None:
        state.run["metadata"] = run_meta
    for k, end in enumerate(loose):
        state.edges[(ids[k % len(ids)] if ids else end, end)] = {"parent_node_id": ids[k % len(ids)] if ids else end,
                                                                 "child_node_id": end}
    blob = encode_full(state)
    at = len(snapshots.FULL_MAGIC) + 4
    raw = zlib.decompress(blob[at:at + int.from_bytes(blob[len(snapshots.FULL_MAGIC):at], "big")])
    apart = snapshots._head_by_lists(raw)  # (not a fallback: the lists were parsed apart)
    assert apart is not None and {k: list(v) if isinstance(v, (array, PackedKeys)) else v
                                  for k, v in apart.items()} == orjson.loads(raw)
    assert all(isinstance(apart[k], array) for k in ("ends", "chunks") if apart[k])  # (no int object per value)
    lazy = decode_snapshot(blob, lazy=True)
    assert list(lazy.nodes) == list(state.nodes) and list(lazy.edges) == list(state.edges)
    assert lazy.run == state.run


def test_a_header_laid_out_otherwise_is_parsed_whole():
    import orjson

    from agenttui.store.snapshots import _head_by_lists, _parse_head

    for raw in (b'{"a":1}', b'{"nodes":["x"],"parents":[],"children":[],"ends":[],"chunks":[] }',
                b'{"run":{},"nodes":["x"],"parents":[],"children":[],"ends":[1],"chunks":[2],"x":1}',
                b'{"run": {}, "nodes": ["x"], "parents": [], "children": [], "ends": [1], "chunks": [2]}'):
        assert _head_by_lists(raw) is None
        assert _parse_head(raw) == orjson.loads(raw)


def test_edges_as_places_name_the_same_keys_in_the_same_order() -> None:
    """place_pairs (a window numbering its nodes by the snapshot's index reads its edges that way):
    each index key's ends as places among the node ids, or past them for ends that are not nodes,
    in __iter__'s order; keys set through a copy come from added_keys; none after a deletion."""
    pairs = [(KEYS[0], KEYS[1]), (KEYS[1], "outside"), (KEYS[2], KEYS[3]), ("elsewhere", KEYS[0])]
    edges, _ = _edges(pairs)
    nodes, _ = _base(4)
    names = list(nodes)
    by_place, past = edges.place_pairs()
    assert [tuple(names[k] if k < len(names) else past[k] for k in pair) for pair in by_place] == pairs
    copy = edges.copy()
    copy[(KEYS[3], "new")] = {"parent_node_id": KEYS[3], "child_node_id": "new"}
    copy[pairs[0]] = {"changed": True}  # (an index key set again: still the index's)
    assert copy.added_keys() == [(KEYS[3], "new")] and list(copy) == [*pairs, (KEYS[3], "new")]
    del copy[pairs[2]]
    assert copy.place_pairs() is None and nodes.place_pairs() is None and edges.added_keys() == []
