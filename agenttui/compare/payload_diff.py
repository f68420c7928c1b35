"""A line diff of two events' payloads, readable for prompts and results.

Payloads are turned into lines a person would read: one key per line, long texts (a prompt, a
response, a result) wrapped into paragraphs under their key and chat messages under their role,
so a one-word change in a 2,000-character prompt shows as one changed line, not one changed blob.
"""
from __future__ import annotations

import difflib
import textwrap
from typing import Any

import orjson

#: Width long texts are wrapped at before diffing.
WRAP = 96
#: Lines kept per side (a 10 MB payload must not stall the screen).
MAX_LINES = 4000


def _text_lines(text: str, indent: str) -> list[str]:
    out: list[str] = []
    for para in text.splitlines() or [""]:
        wrapped = textwrap.wrap(para, WRAP, break_long_words=True, break_on_hyphens=False,
                                replace_whitespace=False, drop_whitespace=True)
        out += [indent + w for w in wrapped] or [indent]
    return out


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "content" in m for m in value)


def payload_lines(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return _text_lines(orjson.dumps(payload, default=str).decode(), "")
    lines: list[str] = []
    for key in sorted(payload, key=str):
        value = payload[key]
        if isinstance(value, str) and ("\n" in value or len(value) > WRAP):
            lines.append(f"{key}:")
            lines += _text_lines(value, "    ")
        elif _is_messages(value):
            lines.append(f"{key}:")
            for m in value:
                lines.append(f"  [{m.get('role', '?')}]")
                content = m.get("content")
                lines += _text_lines(content if isinstance(content, str)
                                     else orjson.dumps(content, default=str).decode(), "    ")
        else:
            text = value if isinstance(value, str) else orjson.dumps(
                value, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
            first, *rest = _text_lines(f"{key}: {text}", "")
            lines.append(first)
            lines += ["    " + r for r in rest]
        if len(lines) > MAX_LINES:
            return lines[:MAX_LINES] + [f"… (cut at {MAX_LINES:,} lines)"]
    return lines


def diff_payloads(a: Any, b: Any) -> list[tuple[str, str]]:
    """(tag, line) with tag " " same, "-" only in A, "+" only in B; the whole payloads, in order."""
    la, lb = payload_lines(a), payload_lines(b)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [(" ", line) for line in la[i1:i2]]
        else:
            out += [("-", line) for line in la[i1:i2]]
            out += [("+", line) for line in lb[j1:j2]]
    return out
