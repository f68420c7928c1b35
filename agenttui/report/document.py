"""A report as plain blocks (headings, paragraphs, tables, lists, code), rendered to Markdown or HTML.

Both formats render the same blocks, so they cannot drift apart: a section added to the report
appears in both. Agent text goes in as plain strings; each renderer escapes it for its format
(control characters shown as \\xNN first), so a goal holding `|`, `<script>` or a terminal escape
sequence can break neither a Markdown table nor the HTML page.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Sequence, Union

from agenttui.summary import safe_text


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str
    emphasis: bool = False


@dataclass
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    align_right: Sequence[int] = ()


@dataclass
class Items:
    """A (possibly nested) list: (depth, text) in order."""

    items: Sequence[tuple[int, str]]


@dataclass
class Code:
    text: str


Block = Union[Heading, Para, Table, Items, Code]


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _clean_code(text: str) -> str:
    # keep line breaks and tabs in code; show every other control character
    return "\n".join(safe_text(line.replace("\t", "    ")) for line in text.split("\n"))


# ------------------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!])")


def md_text(value: object, limit: int | None = None) -> str:
    return _MD_SPECIAL.sub(r"\\\1", safe_text("" if value is None else value, limit))


def to_markdown(doc: Document) -> str:
    out = [f"# {md_text(doc.title)}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * (b.level + 1)} {md_text(b.text)}", ""]
        elif isinstance(b, Para):
            text = md_text(b.text)
            out += [f"_{text}_" if b.emphasis else text, ""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(md_text(h) for h in b.headers) + " |")
            out.append("|" + "|".join("---:" if i in b.align_right else "---" for i in range(len(b.headers))) + "|")
            out += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Items):
            out += [f"{'  ' * depth}- {md_text(text)}" for depth, text in b.items]
            out.append("")
        elif isinstance(b, Code):
            text = _clean_code(b.text)
            longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
            fence = "`" * max(3, longest + 1)
            out += [fence, text, fence, ""]
    return "\n".join(out).rstrip() + "\n"


# ------------------------------------------------------------------------------------------ HTML

_STYLE = """
body { font: 15px/1.5 -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 72em;
       margin: 2em auto; padding: 0 1em; color: #1f2328; }
h1, h2, h3 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d1d9e0; padding: .25em .6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f6f8fa; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; }
ul.tree { list-style: none; padding-left: 1.2em; } ul.tree ul { list-style: none; padding-left: 1.4em; }
"""


def _h(value: object) -> str:
    return html.escape(safe_text("" if value is None else value), quote=True)


def to_html(doc: Document) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_h(doc.title)}</title>", f"<style>{_STYLE}</style></head><body>", f"<h1>{_h(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            level = min(6, b.level + 1)
            out.append(f"<h{level}>{_h(b.text)}</h{level}>")
        elif isinstance(b, Para):
            out.append(f"<p><em>{_h(b.text)}</em></p>" if b.emphasis else f"<p>{_h(b.text)}</p>")
        elif isinstance(b, Table):
            out.append("<table><thead><tr>" + "".join(f"<th>{_h(h)}</th>" for h in b.headers) + "</tr></thead><tbody>")
            for row in b.rows:
                cells = (f'<td class="num">{_h(c)}</td>' if i in b.align_right else f"<td>{_h(c)}</td>"
                         for i, c in enumerate(row))
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table>")
        elif isinstance(b, Items):
            out.append(_html_list(b.items))
        elif isinstance(b, Code):
            out.append(f"<pre><code>{html.escape(_clean_code(b.text))}</code></pre>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_list(items: Sequence[tuple[int, str]]) -> str:
    """Nested <ul> from (depth, text); a depth that jumps by more than one is clamped to one."""
    out = ['<ul class="tree">']
    depth = 0
    first = True
    for d, text in items:
        d = max(0, min(d, depth + 1)) if not first else 0
        if not first:
            if d > depth:
                out.append("<ul>")
            else:
                out.append("</li>")
                for _ in range(depth - d):
                    out.append("</ul></li>")
        out.append(f"<li>{_h(text)}")
        depth, first = d, False
    if not first:
        out.append("</li>")
        out += ["</ul></li>"] * depth
    out.append("</ul>")
    return "".join(out)


# ------------------------------------------------------------------------------------ plain text

def to_text(doc: Document, width: int = 60) -> str:
    """For a terminal: aligned columns, no markup; every value made printable (no escape sequences)."""
    out = [safe_text(doc.title), "=" * min(100, len(safe_text(doc.title))), ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [safe_text(b.text), "-" * min(100, len(safe_text(b.text)))]
        elif isinstance(b, Para):
            out += [safe_text(b.text), ""]
        elif isinstance(b, Table):
            cells = [[safe_text(h, width) for h in b.headers]] + [[safe_text(c, width) for c in r] for r in b.rows]
            widths = [max(len(r[i]) for r in cells) for i in range(len(b.headers))]
            for k, r in enumerate(cells):
                if k == 0 and not any(r):
                    continue  # a key/value table has no header row worth printing
                out.append("  ".join(c.rjust(w) if i in b.align_right and k else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            out.append("")
        elif isinstance(b, Items):
            out += [f"{'  ' * d}- {safe_text(t)}" for d, t in b.items]
            out.append("")
        elif isinstance(b, Code):
            out += ["    " + line for line in _clean_code(b.text).split("\n")]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
