"""Many short strings (a run's node ids), numbered in the order they came, in a few flat buffers.

A replay window and the inspector's History each need every node id of a run and its number: as
Python strings in a dict that was ~150 bytes a node (the string ~85, the dict's entry and the
int object of its number the rest): 37 MB at 4M events (235k nodes) for a window, as much again
for the History, and thousands of small objects that pin the allocator's arenas long after the
big transient ones around them are freed. Here a key is its UTF-8 bytes in one buffer, where it
ends (4 bytes), the low 32 bits of its hash (4 bytes) and two int32 slots of an open-addressing
table: ~55 bytes for a 36-character id, in four objects whatever the count. A lookup is a probe
in Python (~0.5 us against a dict's 0.05), so the last keys found are kept in a small dict: a
fold looks up the few nodes that are active again and again.

Agents name nodes by uuid4 hex (the wire format in ../shared/samples: 32 lowercase hex digits),
so a key written in lowercase hex (an even count of 8 or more digits, nothing else) is kept as
its bytes, two digits a byte, after a 0xFF byte that no UTF-8 text starts with: 17 bytes instead
of 32 (-3.5 MB for each of the two copies of the 235k ids of a 4M-event run, the window's and the
History's). Keys in any other form are kept as they are.
"""
from __future__ import annotations

from array import array
from itertools import chain
from typing import Any, Iterable, Iterator

__all__ = ["PackedKeys"]

_EMPTY = -1
#: Ends are int32 (4 bytes a key) while the text is smaller than this, then int64.
_NARROW_MAX = 2**31 - 1
#: The first byte of a key kept as hex digits packed two to a byte (never the first of UTF-8 text).
_HEX = 0xFF
_HEX_MARK = bytes((_HEX,))
#: Hex keys shorter than this are kept as text (little to gain).
HEX_MIN = 8
#: Keys packed at once by `_hex_packed` (its temporary arrays are ~20 bytes a key's byte).
_HEX_CHUNK = 8192
#: Keys found or added lately, kept as a dict for the lookups that come again (cleared when full).
RECENT = 4096


class PackedKeys:
    """Strings numbered 0, 1, 2... in the order they were added; `find` gives a string's number,
    `name` a number's string. Keys that are not strings (none in a run written by an agent, but a
    payload can hold anything) are kept in a dict of their own, numbered in the same sequence.
    Append-only: nothing is removed or renumbered. Not thread-safe for writes; reads while
    another thread adds may miss the newest keys, never see a wrong number."""

    __slots__ = ("_text", "_ends", "_hashes", "_slots", "_mask", "_other", "_other_at", "_recent", "_n")

    def __init__(self, keys: Iterable[Any] = ()) -> None:
        self._text: bytes | bytearray = bytearray()  # the keys as _stored keeps them, end to end
        self._ends = array("i")       # where key k's bytes end in _text (int64 past _NARROW_MAX)
        self._hashes = array("I")     # the low 32 bits of key k's hash (0 for a key not a str)
        self._slots = array("i", [_EMPTY]) * 16
        self._mask = 15
        self._other: dict[Any, int] = {}       # keys that are not strings -> their number
        self._other_at: dict[int, Any] = {}    # ... and back
        self._recent: dict[Any, int] = {}
        self._n = 0
        for key in keys:
            self.add(key)

    @classmethod
    def of(cls, keys: list[Any]) -> PackedKeys:
        """`keys` (distinct, as a snapshot's node ids are) numbered in order, built in a few array
        operations: key by key, the 235k ids of a late 4M-event snapshot took ~0.2 s, a fifth of
        the window that reads them."""
        if len(keys) < 1024:
            return cls(keys)
        try:
            text = "".join(keys).encode()
        except TypeError:  # (a key that is not a string)
            return cls(keys)
        import numpy as np

        ends = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        if len(text) != int(ends.sum()):  # (not all ASCII: lengths in bytes, key by key)
            ends = np.fromiter((len(k.encode()) for k in keys), dtype=np.int64, count=len(keys))
        np.cumsum(ends, out=ends)
        hashes = (np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys)) & 0xFFFFFFFF).astype(np.uint32)
        built = cls._built(np, text, array("q", ends.tobytes()), hashes)
        return built if built is not None else cls(keys)

    @classmethod
    def from_json(cls, text: bytes) -> PackedKeys | None:
        """A JSON list of strings (a snapshot header's node ids) packed straight from its text,
        with no string object per key (parsed first, the 235k ids of a late 4M-event snapshot were
        21 MB of strings at the window's peak); None unless every string is ASCII without escapes
        and the list is laid out as orjson writes it (no spaces), where the caller parses it."""
        import numpy as np

        if text[:1] != b"[" or text[-1:] != b"]" or b"\\" in text:
            return None
        raw = np.frombuffer(text, dtype=np.uint8)
        if len(raw) and int(raw.max()) >= 128:
            return None
        quotes = np.flatnonzero(raw == ord('"'))
        opens, closes = quotes[0::2], quotes[1::2]
        if len(quotes) % 2 or (not len(quotes) and text != b"[]"):
            return None
        if len(quotes) and (opens[0] != 1 or closes[-1] != len(text) - 2 or np.any(opens[1:] - closes[:-1] != 2)
                            or np.any(raw[closes[:-1] + 1] != ord(","))):
            return None
        # A quote inside a string would be escaped, and there is no escape: every '","' is between
        # two strings, so the strings end to end are the text without them and the brackets.
        body = text[2:-2].replace(b'","', b"")
        ends = np.cumsum(closes - opens - 1)
        del quotes, opens, closes
        ends_at = array("q", ends.tobytes())
        view = memoryview(body)
        # (an ASCII str hashes as its bytes do: no string is made to hash it)
        hashes = np.fromiter((hash(view[a:b]) & 0xFFFFFFFF for a, b in zip(chain((0,), ends_at), ends_at)),
                             dtype=np.uint32, count=len(ends_at))
        return cls._built(np, body, ends_at, hashes)

    @classmethod
    def _built(cls, np: Any, text: bytes, ends: array, hashes: Any) -> PackedKeys | None:
        """Keys given as their UTF-8 text end to end, where each ends, and their hashes' low 32 bits
        (a numpy uint32 array), with hex keys packed and the table placed at once (_hex_packed,
        _placed); None where the platform's C unsigned int is not 4 bytes (the caller packs key by
        key)."""
        self = cls()
        self._text, wide = _hex_packed(np, text, ends)  # (bytes is made a bytearray if a key is added)
        narrow = not len(wide) or wide[-1] <= _NARROW_MAX
        self._ends = array("i", wide.astype(np.int32).tobytes()) if narrow else array("q", wide.tobytes())
        self._hashes = array("I", hashes.tobytes())
        if len(self._hashes) != len(ends):
            return None
        mask = 15
        while 2 * len(ends) > mask:
            mask = mask * 2 + 1
        self._slots = array("i", _placed(np, hashes, mask).tobytes())
        self._mask, self._n = mask, len(ends)
        return self

    def __len__(self) -> int:
        return self._n

    def nbytes(self) -> int:
        """Bytes held by the buffers (what the module docstring counts)."""
        return len(self._text) + (len(self._ends) * self._ends.itemsize + len(self._hashes) * 4 + len(self._slots) * 4)

    def name(self, n: int) -> Any:
        """Key number `n`."""
        if not 0 <= n < self._n:
            raise IndexError(n)
        if n in self._other_at:
            return self._other_at[n]
        ends = self._ends
        return _text_of(self._text[ends[n - 1] if n else 0:ends[n]])

    def find(self, key: Any) -> int | None:
        """The number of `key`, None if it is not here."""
        n = self._recent.get(key)
        if n is not None:
            return n
        if type(key) is not str:
            hash(key)  # (an unhashable key raises, as for a dict)
            n = self._other.get(key)
        else:
            n = self._probe(key, hash(key) & 0xFFFFFFFF)[0]
        if n is not None:
            self._remember(key, n)
        return n

    def get(self, key: Any, default: int | None = None) -> int | None:
        n = self.find(key)
        return default if n is None else n

    def __getitem__(self, key: Any) -> int:
        n = self.find(key)
        if n is None:
            raise KeyError(key)
        return n

    def __contains__(self, key: object) -> bool:
        try:
            return self.find(key) is not None
        except TypeError:
            return False

    def add(self, key: Any) -> int:
        """The number of `key`, added as the next one if it is not here yet."""
        if type(key) is not str:
            n = self._other.get(key)
            if n is None:
                n = self._other[key] = self._n
                self._other_at[n] = key
                self._append(b"", 0)
            return n
        h = hash(key) & 0xFFFFFFFF
        n, slot = self._probe(key, h)
        if n is not None:
            return n
        n = self._n
        self._slots[slot] = n
        self._append(_stored(key), h)
        if 2 * self._n > self._mask:
            self._grow()
        self._remember(key, n)
        return n

    def __iter__(self) -> Iterator[Any]:
        text, ends, other = self._text, self._ends, self._other_at
        start = 0
        for n in range(self._n):
            end = ends[n]
            yield other[n] if other and n in other else _text_of(text[start:end])
            start = end

    def keys(self) -> Iterator[Any]:
        return iter(self)

    # -- inside ---------------------------------------------------------------------------------
    def _append(self, data: bytes, h: int) -> None:
        if type(self._text) is bytes:
            self._text = bytearray(self._text)
        self._text += data
        end = len(self._text)
        if end > _NARROW_MAX and self._ends.typecode == "i":
            self._ends = array("q", self._ends)
        self._ends.append(end)
        self._hashes.append(h)
        self._n += 1

    def _probe(self, key: str, h: int) -> tuple[int | None, int]:
        """(number of key or None, the slot it is in or would go to)."""
        slots, mask, hashes, ends, text = self._slots, self._mask, self._hashes, self._ends, self._text
        i = h & mask
        encoded: bytes | None = None
        while True:
            n = slots[i]
            if n == _EMPTY:
                return None, i
            if hashes[n] == h:
                if encoded is None:
                    encoded = _stored(key)
                if text[ends[n - 1] if n else 0:ends[n]] == encoded:
                    return n, i
            i = (i + 1) & mask

    def _grow(self) -> None:
        mask = self._mask * 2 + 1
        slots = array("i", [_EMPTY]) * (mask + 1)
        hashes, other = self._hashes, self._other_at
        for n in range(self._n):
            if other and n in other:
                continue
            i = hashes[n] & mask
            while slots[i] != _EMPTY:
                i = (i + 1) & mask
            slots[i] = n
        self._slots, self._mask = slots, mask

    def _remember(self, key: Any, n: int) -> None:
        recent = self._recent
        if len(recent) >= RECENT:
            recent.clear()
        recent[key] = n


def _placed(np: Any, hashes: Any, mask: int) -> Any:
    """The slots of an open-addressing table (linear probing) holding keys 0..n-1 with these
    hashes, filled in rounds: each round every key not placed yet tries its next slot, and of the
    keys that try the same empty slot one gets it. A key then sits after slots that were all
    taken when it tried them, and slots are never emptied, so probing from its hash finds it."""
    slots = np.full(mask + 1, _EMPTY, dtype=np.int32)
    pending = np.arange(len(hashes), dtype=np.int32)
    at = hashes.astype(np.int64) & mask
    while len(pending):
        free = slots[at] == _EMPTY
        tried, keys = at[free], pending[free]
        slots[tried] = keys  # (of keys trying the same slot, one is left in it)
        won = np.zeros(len(pending), dtype=bool)
        won[free] = slots[tried] == keys
        pending, at = pending[~won], (at[~won] + 1) & mask
    return slots


def _stored(key: str) -> bytes:
    """A string key as the buffer keeps it: lowercase hex digits (an even count, HEX_MIN or more)
    packed two to a byte after the 0xFF mark, anything else as UTF-8."""
    if len(key) >= HEX_MIN and not len(key) & 1 and key[0] in "0123456789abcdef":
        try:
            packed = bytes.fromhex(key)
        except ValueError:
            return key.encode()
        if packed.hex() == key:  # (fromhex takes capitals and spaces too: those stay text)
            return _HEX_MARK + packed
    return key.encode()


def _text_of(data: bytes | bytearray) -> str:
    """A key back from its _stored form."""
    return data[1:].hex() if data and data[0] == _HEX else data.decode()


def _hex_packed(np: Any, text: bytes, ends: array) -> tuple[bytes | bytearray, Any]:
    """Keys' UTF-8 text end to end and where each ends, with the keys _stored would pack packed:
    the same buffer and ends (an int64 numpy array) as if each key had been added alone. Two passes a chunk of keys at a
    time (which keys are hex, then their bytes), so the temporary arrays stay a few MB whatever the
    count and the buffer is made once at its size; a chunk of ids of one length (uuid4 hex) is
    packed as a 2-d array, without a per-byte key index."""
    old_ends = np.frombuffer(ends, dtype=np.int64)
    n = len(ends)
    if not n:
        return text, old_ends
    raw = np.frombuffer(text, dtype=np.uint8)
    old_lens = np.diff(old_ends, prepend=0)
    is_hex = np.zeros(n, dtype=bool)
    for k0 in range(0, n, _HEX_CHUNK):
        k1 = min(n, k0 + _HEX_CHUNK)
        lens, r = old_lens[k0:k1], raw[int(old_ends[k0] - old_lens[k0]):int(old_ends[k1 - 1])]
        if lens[0] >= HEX_MIN and not lens[0] % 2 and np.all(lens == lens[0]):
            is_hex[k0:k1] = _hex_bytes(r).reshape(k1 - k0, int(lens[0])).all(axis=1)
        else:
            key_of = np.repeat(np.arange(k1 - k0), lens)
            bad = np.bincount(key_of[~_hex_bytes(r)], minlength=k1 - k0) > 0
            is_hex[k0:k1] = ~bad & (lens >= HEX_MIN) & (lens % 2 == 0)
    if not is_hex.any():
        return text, old_ends
    new_ends = np.cumsum(np.where(is_hex, 1 + old_lens // 2, old_lens))
    buffer = bytearray(int(new_ends[-1]))
    out = np.frombuffer(buffer, dtype=np.uint8)
    for k0 in range(0, n, _HEX_CHUNK):
        k1 = min(n, k0 + _HEX_CHUNK)
        lens, b0 = old_lens[k0:k1], int(old_ends[k0] - old_lens[k0])
        r, hexes = raw[b0:int(old_ends[k1 - 1])], is_hex[k0:k1]
        start = new_ends[k0:k1] - np.where(hexes, 1 + lens // 2, lens)
        at = int(start[0])
        if hexes.all() and np.all(lens == lens[0]):  # (one length, all hex: as rows of a 2-d array)
            pairs = _nibbles(np, r).reshape(k1 - k0, -1, 2)
            rows = out[at:int(new_ends[k1 - 1])].reshape(k1 - k0, -1)
            rows[:, 0] = _HEX
            rows[:, 1:] = (pairs[:, :, 0] << 4) | pairs[:, :, 1]
            continue
        key_of = np.repeat(np.arange(k1 - k0), lens)
        offset = np.arange(len(r)) - np.repeat(old_ends[k0:k1] - lens - b0, lens)  # each byte's place in its key
        hex_of = hexes[key_of]
        keep = ~hex_of
        out[start[key_of[keep]] + offset[keep]] = r[keep]
        nibble = _nibbles(np, r)
        high = np.flatnonzero(hex_of & (offset % 2 == 0))
        out[start[key_of[high]] + 1 + offset[high] // 2] = (nibble[high] << 4) | nibble[high + 1]
        out[start[hexes]] = _HEX
    del out  # (the buffer may be resized once no view of it is left: see _append)
    return buffer, new_ends.astype(np.int64)


def _hex_bytes(r: Any) -> Any:
    """Which of these bytes are lowercase hex digits."""
    return ((r >= 48) & (r <= 57)) | ((r >= 97) & (r <= 102))


def _nibbles(np: Any, r: Any) -> Any:
    """Hex digits' values (bytes that are not digits give nothing meaningful)."""
    return np.where(r <= 57, r - 48, r - 87).astype(np.uint8)
