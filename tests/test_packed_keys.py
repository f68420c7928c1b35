"""store/packed_keys.py: node ids numbered in order in flat buffers answer exactly as a dict of
them would (find, add, names, order), built key by key or in bulk, whatever the keys hold."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttui.store.packed_keys import RECENT, PackedKeys

_KEYS = st.one_of(st.text(max_size=12), st.integers(-5, 5), st.tuples(st.text(max_size=3), st.integers(0, 3)))


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(_KEYS, max_size=120), probes=st.lists(_KEYS, max_size=40))
def test_it_answers_as_a_dict_numbering_the_keys_in_order(keys, probes) -> None:
    oracle: dict = {}
    packed = PackedKeys()
    for key in keys:
        assert packed.add(key) == oracle.setdefault(key, len(oracle))
    assert len(packed) == len(oracle) and list(packed) == list(oracle)
    for key in [*keys, *probes]:
        assert packed.find(key) == oracle.get(key) and (key in packed) == (key in oracle)
        assert packed.get(key, -1) == oracle.get(key, -1)
    for key, n in oracle.items():
        assert packed.name(n) == key and packed[key] == n


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=3000, unique=True))
def test_built_at_once_it_is_the_same_as_key_by_key(keys) -> None:
    keys = [*keys, *(f"n{k}-\u00e9" for k in range(1100))]  # (past the bulk build's threshold, not all ASCII)
    keys = list(dict.fromkeys(keys))
    bulk, one_by_one = PackedKeys.of(keys), PackedKeys(keys)
    assert list(bulk) == list(one_by_one) == keys
    assert all(bulk.find(k) == n for n, k in enumerate(keys)) and bulk.find("\x00absent") is None
    n = bulk.add("added later")
    assert n == len(keys) and bulk.find("added later") == n and bulk.name(n) == "added later"
    assert bulk.add(keys[0]) == 0 and len(bulk) == len(keys) + 1


def test_bulk_keys_that_are_not_all_strings_are_numbered_one_by_one() -> None:
    keys = [f"k{n}" for n in range(2000)] + [7, ("a", 1)]
    packed = PackedKeys.of(keys)
    assert [packed.find(k) for k in keys] == list(range(len(keys))) and list(packed) == keys


def test_many_keys_grow_the_table_and_the_recent_ones_stay_exact() -> None:
    keys = [f"node-{n:06d}" for n in range(3 * RECENT)]
    packed = PackedKeys(keys)
    for n in (0, RECENT - 1, RECENT, 3 * RECENT - 1, 5, 5):  # (found again: from the recent ones)
        assert packed.find(keys[n]) == n
    assert packed.nbytes() < 40 * len(keys) and packed.find("node-x") is None


def test_an_unhashable_key_raises_as_for_a_dict_and_a_bad_number_too() -> None:
    packed = PackedKeys(["a"])
    with pytest.raises(TypeError):
        packed.find(["a"])
    assert ["a"] not in packed
    with pytest.raises(IndexError):
        packed.name(1)
    with pytest.raises(KeyError):
        packed["b"]


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.text(max_size=10), max_size=60, unique=True))
def test_packed_from_a_json_list_reads_as_the_list(keys) -> None:
    """A header's node ids packed straight from their JSON text: exactly the parsed list, or None
    (and the caller parses it) when a string is not plain ASCII without escapes."""
    import orjson

    text = orjson.dumps(keys)
    packed = PackedKeys.from_json(text)
    plain = all(k.isascii() and '"' not in k and "\\" not in k and all(" " <= c for c in k) for k in keys)
    assert (packed is not None) == plain
    if packed is not None:
        assert list(packed) == keys and len(packed) == len(keys)
        assert all(packed.find(k) == n for n, k in enumerate(keys)) and packed.find("\x00") is None
        n = packed.add("later")
        assert packed.find("later") == n == len(keys) or "later" in keys


@pytest.mark.parametrize("text", [b"", b"[", b'["a" ,"b"]', b'[ "a"]', b'["a"', b'[1,2]', b'["a",1]', b'["a\\"b"]',
                                  b'["\xc3\xa9"]', b'["a""b"]', b'["a"]x'])
def test_json_it_does_not_pack_is_left_to_the_parser(text) -> None:
    assert PackedKeys.from_json(text) is None


_HEXISH = st.one_of(
    st.uuids().map(lambda u: u.hex),                                          # the wire format's node ids
    st.text("0123456789abcdef", min_size=1, max_size=20),                   # short, odd, even
    st.text("0123456789abcdefABCDEF ", min_size=8, max_size=12),            # capitals, spaces: kept as text
    st.text("0123456789abcdefg-", min_size=8, max_size=12),
    st.text(max_size=10),
)


@settings(max_examples=150, deadline=None)
@given(keys=st.lists(_HEXISH, max_size=3000, unique=True), probes=st.lists(_HEXISH, max_size=30))
def test_hex_keys_packed_answer_as_the_strings_built_any_way(keys, probes) -> None:
    """Ids in lowercase hex are kept two digits a byte: every way of building the keys (one by one,
    in bulk from a list, from a header's JSON, past the bulk threshold or not) gives back exactly
    the strings, finds exactly them, and nothing that only looks like them (capitals, spaces)."""
    import orjson

    keys = [*keys, *(f"{n:032x}" for n in range(1100))]  # (past the bulk threshold)
    keys = list(dict.fromkeys(keys))
    built = [PackedKeys(keys), PackedKeys.of(keys)]
    from_json = PackedKeys.from_json(orjson.dumps(keys))
    if from_json is not None:
        built.append(from_json)
    oracle = {k: n for n, k in enumerate(keys)}
    for packed in built:
        assert list(packed) == keys and len(packed) == len(keys)
        assert all(packed.name(n) == k for n, k in enumerate(keys))
        for key in [*keys, *probes, *(k.upper() for k in keys[:50]), *(k[:-1] for k in keys[:50])]:
            assert packed.find(key) == oracle.get(key), key
        n = packed.add("ab" * 16)
        assert packed.find("ab" * 16) == n and packed.name(n) == "ab" * 16


def test_uuid_hex_ids_take_half_the_bytes_and_other_ids_keep_theirs() -> None:
    import uuid

    hexes = [uuid.UUID(int=n * 7919).hex for n in range(5000)]
    dashed = [str(uuid.UUID(int=n * 7919)) for n in range(5000)]
    for build in (PackedKeys, PackedKeys.of):
        packed, plain = build(hexes), build(dashed)
        assert packed.nbytes() - 17 * len(hexes) < plain.nbytes() - 36 * len(dashed) + 1
        assert len(packed._text) == 17 * len(hexes) and len(plain._text) == 36 * len(dashed)
    mixed = PackedKeys.of(["0123456789abcdef", "0123456789ABCDEF", "0123 4567 89ab", "abcdef0", "abcdef01"] * 1
                          + [f"k{n}" for n in range(2000)])
    assert [mixed.name(n) for n in range(5)] == ["0123456789abcdef", "0123456789ABCDEF", "0123 4567 89ab",
                                                 "abcdef0", "abcdef01"]
    assert len(mixed._text) == 9 + 16 + 14 + 7 + 5 + sum(len(f"k{n}") for n in range(2000))


def test_ends_widen_to_64_bits_once_the_text_passes_int32(monkeypatch) -> None:
    """Ends are 4 bytes a key until the keys' text passes 2 GiB (here made 64 bytes), then 8; built
    in bulk past it they are 8 from the start. Every key reads back either way."""
    import agenttui.store.packed_keys as packed_keys

    keys = [f"{n:032x}" for n in range(1500)] + [f"node-{n}" for n in range(1500)]
    narrow = PackedKeys.of(keys)
    assert narrow._ends.itemsize == 4 and PackedKeys(keys)._ends.itemsize == 4
    monkeypatch.setattr(packed_keys, "_NARROW_MAX", 64)
    for packed in (PackedKeys(keys), PackedKeys.of(keys), narrow):
        packed.add("added after")
        assert list(packed) == [*keys, "added after"] and packed.find("added after") == len(keys)
        assert all(packed.find(k) == n for n, k in enumerate(keys))
    assert PackedKeys(keys)._ends.itemsize == 8 and PackedKeys.of(keys)._ends.itemsize == 8
    assert narrow._ends.itemsize == 8
