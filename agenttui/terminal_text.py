"""Text from events and file names made safe to show on a terminal: the one sanitiser.

Event payloads come from agents and the web, and file names from whoever named the files. Either
may hold a terminal escape sequence (set the window title, write the clipboard through OSC 52,
clear the screen), a bidi control that reorders what the reader sees (a "Trojan Source" line), or
a line separator that a terminal or a TUI cell reflows. Every command of the CLI, `query`, and
every widget of the inspector pass text through `escape_controls` before it reaches a terminal,
so they all escape the same characters; JSON output goes through `escape_json` instead, which
keeps it exact JSON.

Pure Python with no Rich or Textual, so the store, the CLI and the TUI can all use it.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping

__all__ = ["ONE_LINE", "UNSAFE_CODEPOINTS", "escape_controls", "escape_json", "escape_json_bytes"]

#: What a terminal could act on instead of showing: C0 controls, DEL and C1 controls (escape
#: sequences, including the 8-bit CSI U+009B), the bidi embeddings, overrides, isolates and marks
#: (U+202A-E, U+2066-9, U+200E/F, U+061C), the line/paragraph separators U+2028/9, and surrogates
#: (a file name's undecodable bytes; printing one raises UnicodeEncodeError).
UNSAFE_CODEPOINTS: tuple[tuple[int, int], ...] = (
    (0x00, 0x1F), (0x7F, 0x9F), (0x061C, 0x061C), (0x200E, 0x200F), (0x2028, 0x202E), (0x2066, 0x2069),
    (0xD800, 0xDFFF),
)

#: Line breaks and tabs as spaces: the whole value stays on one line (the CLI's text output).
ONE_LINE: Mapping[str, str] = {"\n": " ", "\r": " ", "\t": " "}


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_UNSAFE = re.compile(f"[{_class(UNSAFE_CODEPOINTS)}]")


def _escaped(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@lru_cache(maxsize=16)
def _table(whitespace: tuple[tuple[str, str], ...]) -> dict[int, str]:
    table = {code: _escaped(code) for a, b in UNSAFE_CODEPOINTS for code in range(a, b + 1)}
    table.update((ord(ch), text) for ch, text in whitespace)
    return table


def escape_controls(value: object, limit: int | None = None, *, whitespace: Mapping[str, str] = ONE_LINE) -> str:
    """`value` as text that prints literally: each unsafe character shown as `\\xNN` or `\\uNNNN`.

    whitespace maps the C0 whitespace characters to what they become instead (ONE_LINE: spaces;
    map a character to itself to keep it, as multi-line views and CSV do for "\\n"). limit cuts
    the result to that many characters, the last one an ellipsis when anything was cut.
    """
    text = value if isinstance(value, str) else str(value)
    cut = False
    if limit is not None and len(text) > limit * 6:
        text, cut = text[: limit * 6], True  # an escape is at most 6 characters: the work stays bounded
    if _UNSAFE.search(text) is not None:
        text = text.translate(_table(tuple(sorted(whitespace.items()))))
    if limit is not None and (cut or len(text) > limit):
        text = text[: max(0, limit - 1)] + "…"
    return text


# Inside JSON text these can only be in strings (JSON's own syntax is ASCII), and a JSON encoder
# has already written C0 controls there as escapes, so what remains is rewritten as \u escapes:
# the same JSON value, nothing a terminal acts on. Indentation newlines are left alone.
_JSON_RANGES = tuple((max(a, 0x7F), b) for a, b in UNSAFE_CODEPOINTS if b >= 0x7F)
_JSON_UNSAFE = re.compile(f"[{_class(_JSON_RANGES)}]")
_JSON_UNSAFE_UTF8 = re.compile(
    b"|".join(re.escape(chr(code).encode("utf-8", "surrogatepass"))
              for a, b in _JSON_RANGES if b < 0xD800 for code in range(a, b + 1)))


def _json_escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def _json_escape_utf8(m: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(m.group().decode("utf-8"))


def escape_json(text: str) -> str:
    """Serialised JSON with DEL, C1, bidi controls and line separators written as \\u escapes."""
    if text.isascii() and "\x7f" not in text:  # the common case, at memchr speed (isascii is O(1))
        return text
    return _JSON_UNSAFE.sub(_json_escape, text)


def escape_json_bytes(data: bytes) -> bytes:
    """`escape_json` for UTF-8 JSON as an encoder writes it (orjson writes these characters raw)."""
    if data.isascii() and b"\x7f" not in data:  # export's common case: two C scans, no regex
        return data
    return _JSON_UNSAFE_UTF8.sub(_json_escape_utf8, data)
