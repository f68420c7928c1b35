"""The one terminal-text sanitiser: what it escapes, what it keeps, and that the CLI and TUI share it."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, strategies as st

from agenttui.summary import safe_text
from agenttui.terminal_text import ONE_LINE, escape_controls, escape_json, escape_json_bytes
from agenttui.tui.literal import clean, clean_lines

ESC = "\x1b"
CASES = [
    # (name, input, one line for the CLI, TUI clean, TUI clean_lines)
    ("plain text passes", "hello wörld 漢字 🙂", "hello wörld 漢字 🙂", "hello wörld 漢字 🙂", "hello wörld 漢字 🙂"),
    ("NUL", "a\x00b", "a\\x00b", "a\\x00b", "a\\x00b"),
    ("CSI colour", f"{ESC}[31mred", "\\x1b[31mred", "\\x1b[31mred", "\\x1b[31mred"),
    ("OSC 52 clipboard", f"{ESC}]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07", "\\x1b]52;c;aGk=\\x07",
     "\\x1b]52;c;aGk=\\x07"),
    ("DEL", "a\x7fb", "a\\x7fb", "a\\x7fb", "a\\x7fb"),
    ("C1 CSI and NEL", "\x9b2J\x85", "\\x9b2J\\x85", "\\x9b2J\\x85", "\\x9b2J\\x85"),
    ("bidi override and isolates", "\u202eabc\u2066\u2069", "\\u202eabc\\u2066\\u2069", "\\u202eabc\\u2066\\u2069",
     "\\u202eabc\\u2066\\u2069"),
    ("bidi marks", "\u200e\u200f\u061c", "\\u200e\\u200f\\u061c", "\\u200e\\u200f\\u061c", "\\u200e\\u200f\\u061c"),
    ("line and paragraph separators", "a\u2028b\u2029c", "a\\u2028b\\u2029c", "a\\u2028b\\u2029c",
     "a\\u2028b\\u2029c"),
    ("lone surrogate (an undecodable file name byte)", "f\udcffx", "f\\udcffx", "f\\udcffx", "f\\udcffx"),
    ("newline", "a\nb", "a b", "a⏎b", "a\nb"),
    ("carriage return", "a\rb", "a b", "ab", "ab"),
    ("tab", "a\tb", "a b", "a b", "a    b"),
    ("vertical tab and form feed", "\x0b\x0c", "\\x0b\\x0c", "\\x0b\\x0c", "\\x0b\\x0c"),
    ("zero-width joiner is text, not a control", "a\u200db", "a\u200db", "a\u200db", "a\u200db"),
]


@pytest.mark.parametrize("name, raw, one_line, tui_line, tui_lines", CASES, ids=[c[0] for c in CASES])
def test_every_view_escapes_the_same_characters(name: str, raw: str, one_line: str, tui_line: str,
                                                tui_lines: str) -> None:
    assert escape_controls(raw) == one_line
    assert safe_text(raw) == one_line, "the CLI's safe_text is the shared sanitiser"
    assert clean(raw) == tui_line
    assert clean_lines(raw) == tui_lines


@pytest.mark.parametrize("value, limit, want", [
    ("abcdef", 3, "ab…"),
    ("abc", 3, "abc"),
    ("\x00\x00", 5, "\\x00…"),
    ("a\rb" + "\r" * 100, 5, "a b …"),
    ("\r" * 100 + "x", 2, " …"),
    (12345, None, "12345"),
])
def test_limit_counts_the_escaped_text_and_marks_a_cut(value: object, limit: int | None, want: str) -> None:
    assert escape_controls(value, limit) == want


def test_a_cut_is_marked_even_when_dropped_characters_shrink_the_rest() -> None:
    text = "\r" * 1000 + "tail"  # the TUI drops CRs, so the kept text is short although input was cut
    shown = clean(text, limit=10)
    assert shown.endswith("…") and len(shown) <= 10


def test_whitespace_mapped_to_itself_is_kept() -> None:
    assert escape_controls("a\nb\tc\rd", whitespace={"\n": "\n", "\t": "\t"}) == "a\nb\tc\\x0dd"
    assert ONE_LINE["\n"] == " "


@pytest.mark.parametrize("value", ["\u2028", "\x85 and \x9b", "del \x7f", "\u202e rtl \u2066", "\x1b[2J", "ok é",
                                   "\u061c\u200e"])
def test_json_keeps_the_value_and_escapes_what_a_terminal_acts_on(value: str) -> None:
    doc = {"k": value, "nested": [value]}
    raw = orjson.dumps(doc)
    for out in (escape_json(raw.decode()), escape_json_bytes(raw).decode()):
        assert orjson.loads(out) == doc
        assert escape_controls(out) == out, f"{out!r} still holds a character the terminal would act on"


def test_json_indentation_is_left_alone() -> None:
    text = orjson.dumps({"a": "\x85"}, option=orjson.OPT_INDENT_2).decode()
    assert escape_json(text) == '{\n  "a": "\\u0085"\n}'


@given(st.text())
def test_any_text_comes_out_printable(value: str) -> None:
    for shown in (escape_controls(value), clean(value), clean(value, limit=20)):
        assert all(not (ch < " " or "\x7f" <= ch <= "\x9f" or ch in "\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
                        "\u2066\u2067\u2068\u2069\u200e\u200f\u061c" or "\ud800" <= ch <= "\udfff")
                   for ch in shown)
    raw = orjson.dumps(value.encode("utf-8", "replace").decode("utf-8"))
    assert orjson.loads(escape_json_bytes(raw)) == orjson.loads(raw)
