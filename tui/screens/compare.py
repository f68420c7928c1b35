"""The compare screen of `agenttui diff`: two runs' plan trees side by side, aligned.

The paired trees come from the projections, so the screen paints at once; the steps of both runs
(every event read once, in pages) load behind it, then the first divergence is named at the top and
`d` jumps there. One time cursor (`[` and `]`) moves both runs step by step: each run is replayed to
its end of the aligned step with the store's own `state_at` (the one fold), and the rows show the
statuses, tokens and calls of that moment. The pane below the tree diffs the payloads of the
selected node's aligned events (`,` and `.` move between them).
"""
from __future__ import annotations

import difflib
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from agenttui.compare import Comparison, diff_payloads, describe, node_duration, node_tokens
from agenttui.compare.steps import signature
from agenttui.store import EventFilter

from ..literal import clean

#: Events of one node compared in the detail pane (a node rarely has more than a few dozen).
NODE_EVENTS = 2000
ONLY_A = Style(color="red")
ONLY_B = Style(color="green")
CHANGED = Style(color="yellow", bold=True)
DIM = Style(dim=True)
#: Figures a row shows per side, with their width.
COLUMNS = (("status", 10), ("time", 8), ("tok", 7), ("llm", 3), ("tool", 4))


def _secs(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}s" if v < 100 else f"{v / 60:.0f}m"


def _tok(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


class AlignedTree(ScrollView, can_focus=True):
    """One row per node pair (Line API: only visible rows are drawn, whatever the run's size)."""

    DEFAULT_CSS = "AlignedTree { height: 1fr; } AlignedTree > .aligned-tree--cursor { background: $accent 40%; }"
    COMPONENT_CLASSES = {"aligned-tree--cursor"}
    BINDINGS = [Binding("up", "move(-1)", show=False), Binding("down", "move(1)", show=False),
                Binding("pageup", "move(-20)", show=False), Binding("pagedown", "move(20)", show=False),
                Binding("home", "move(-1000000000)", show=False), Binding("end", "move(1000000000)", show=False)]

    def __init__(self, cmp: Comparison, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cmp = cmp
        self.cursor = 0
        self.states: tuple[Any, Any] | None = None  # RunState of A and B at the time cursor

    def on_mount(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.cmp.pairs))

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.cmp.pairs))

    def action_move(self, delta: int) -> None:
        self.go_to(self.cursor + delta)

    def go_to(self, row: int) -> None:
        row = max(0, min(len(self.cmp.pairs) - 1, row))
        if row != self.cursor:
            self.cursor = row
            self.post_message(CompareApp.CursorMoved(row))
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif height and row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)
        self.refresh()

    def _node(self, side: str, node_id: str | None) -> dict[str, Any] | None:
        if node_id is None:
            return None
        tree = (self.cmp.a if side == "a" else self.cmp.b).tree
        if self.states is not None:
            state = self.states[0 if side == "a" else 1]
            return state.nodes.get(node_id)  # None: not created yet at this step
        return tree.nodes.get(node_id)

    def _side(self, side: str, node_id: str | None, depth: int, width: int, changed: set[str],
              other_missing: bool) -> list[Segment]:
        if node_id is None:
            text = " " * (2 * depth) + ("· only in B" if side == "a" else "· only in A")
            return [Segment(text[:width].ljust(width), DIM)]
        tree = (self.cmp.a if side == "a" else self.cmp.b).tree
        static = tree.nodes[node_id]
        node = self._node(side, node_id)
        base = (ONLY_A if side == "a" else ONLY_B) if other_missing else Style()
        figures = sum(w + 1 for _, w in COLUMNS)
        name_w = max(8, width - figures)
        name = " " * (2 * depth) + clean(f"{static.get('node_nid') or node_id[:8]} {static.get('task_goal') or ''}")
        name_style = base + (CHANGED if "task_goal" in changed or "node_type" in changed else Style())
        segs = [Segment(name[:name_w - 1].ljust(name_w), name_style)]
        if node is None:
            return segs + [Segment("not yet".ljust(figures)[:width - name_w], DIM)]
        values = {"status": clean(node.get("status") or "-"), "time": _secs(node_duration(node)),
                  "tok": _tok(node_tokens(node)), "llm": str(node.get("llm_calls") or 0),
                  "tool": str(node.get("tool_calls") or 0)}
        differs = {"status": "status" in changed or "error_count" in changed, "llm": "llm_calls" in changed,
                   "tool": "tool_calls" in changed}
        for key, w in COLUMNS:
            style = base + (CHANGED if differs.get(key) else Style())
            if key == "status" and node.get("status") == "FAILED":
                style += Style(color="red", bold=True)
            segs.append(Segment(values[key][:w].rjust(w) + " ", style))
        return segs

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = int(self.scroll_y) + y
        if row >= len(self.cmp.pairs) or width <= 0:
            return Strip.blank(width, self.rich_style)
        pair = self.cmp.pairs[row]
        changed = set(self.cmp.changes[row])
        half = (width - 3) // 2
        marker = {"only-a": "-", "only-b": "+"}.get(pair.how, "~" if changed else " ")
        mstyle = {"-": ONLY_A, "+": ONLY_B, "~": CHANGED}.get(marker, Style())
        segs = (self._side("a", pair.a, pair.depth, half, changed, pair.b is None)
                + [Segment(f" {marker} ", mstyle)]
                + self._side("b", pair.b, pair.depth, width - half - 3, changed, pair.a is None))
        strip = Strip(segs).crop_extend(0, width, None)
        if row == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("aligned-tree--cursor"))
        return strip.apply_style(self.rich_style)


class CompareApp(App):
    """`agenttui diff`: its own app, so it needs nothing from the inspector's."""

    TITLE = "agenttui diff"
    CSS = """
    #heading { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    #columns { height: 1; padding: 0 0; color: $text-muted; }
    #detail-scroll { height: 40%; border-top: solid $accent; }
    #detail { padding: 0 1; }
    """
    BINDINGS = [
        Binding("d", "jump_divergence", "first divergence"),
        Binding("right_square_bracket", "step(1)", "step +1"),
        Binding("left_square_bracket", "step(-1)", "step -1"),
        Binding("full_stop", "event(1)", "next event pair"),
        Binding("comma", "event(-1)", "prev event pair"),
        Binding("escape", "live", "final state"),
        Binding("q", "quit", "quit"),
    ]

    class CursorMoved(Message):
        """The tree's cursor moved to another node pair."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, cmp: Comparison, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cmp = cmp
        self.step: int | None = None  # time cursor: index into cmp.steps, None = final state
        self.event_pairs: list[tuple[Any, Any]] = []
        self.event_index = 0
        self.steps_ready = False
        self.progress = {"a": 0, "b": 0}
        self.pending_focus: tuple[int | None, int | None] | None = None  # event pair to show after a jump

    def compose(self) -> ComposeResult:
        yield Static(id="heading")
        yield Static(id="columns")
        yield AlignedTree(self.cmp, id="tree")
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(AlignedTree).focus()
        self._heading()
        self._columns()
        self._load_detail(0)
        self.load_steps()

    def on_resize(self) -> None:
        self._columns()

    # -- heading --------------------------------------------------------------------------------
    def _heading(self) -> None:
        cmp = self.cmp
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("A ", ONLY_A + Style(bold=True)).append(clean(cmp.a.label, limit=60))
        t.append("   B ", ONLY_B + Style(bold=True)).append(clean(cmp.b.label, limit=60))
        added = sum(1 for p in cmp.pairs if p.a is None)
        removed = sum(1 for p in cmp.pairs if p.b is None)
        changed = sum(1 for c in cmp.changes if c)
        t.append(f"   nodes: {len(cmp.pairs) - added - removed} paired, ")
        t.append(f"+{added}", ONLY_B).append(" ").append(f"-{removed}", ONLY_A).append(" ")
        t.append(f"~{changed}", CHANGED)
        t.append("\n")
        if not self.steps_ready:
            t.append(f"reading both runs' steps… {self.progress['a']:,} + {self.progress['b']:,} events", DIM)
        elif cmp.divergence is None:
            t.append("No divergence: both runs took the same steps with the same tools, arguments, statuses "
                     "and results.", Style(color="green"))
        else:
            t.append("First divergence: ", Style(bold=True))
            t.append(clean(describe(cmp, cmp.divergence), limit=200), CHANGED)
            t.append("  (d: jump there)", DIM)
        if self.steps_ready and cmp.steps and cmp.cursor is not None:  # (load_steps sets both)
            t.append("\n")
            if self.step is None:
                t.append(f"time: final state ({len(cmp.steps):,} aligned steps; [ and ] step through them)", DIM)
            else:
                st = cmp.steps[self.step]
                pa, pb = cmp.cursor[self.step]
                t.append(f"time: step {self.step + 1:,}/{len(cmp.steps):,}", Style(bold=True))
                t.append(f"  A at #{pa:,}" + ("" if st.a else " (no such step in A)"))
                t.append(f"  B at #{pb:,}" + ("" if st.b else " (no such step in B)"))
        self.query_one("#heading", Static).update(t)

    def _columns(self) -> None:
        width = self.size.width
        half = (width - 3) // 2
        figures = "".join(name.rjust(w) + " " for name, w in COLUMNS)

        def side(w: int) -> str:
            return "node".ljust(max(8, w - len(figures))) + figures

        self.query_one("#columns", Static).update(Text((side(half) + "   " + side(width - half - 3))[:width], DIM))

    # -- steps (worker) -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="steps")
    def load_steps(self) -> None:
        def progress(side: str, n: int) -> None:
            self.progress[side] = n
            self.call_from_thread(self._heading)

        self.cmp.load_steps(progress)
        self.call_from_thread(self._steps_loaded)

    def _steps_loaded(self) -> None:
        self.steps_ready = True
        self._heading()

    # -- keys -----------------------------------------------------------------------------------
    def action_jump_divergence(self) -> None:
        d = self.cmp.divergence
        if not self.steps_ready:
            self.notify("still reading the runs' steps", timeout=2)
            return
        if d is None:
            self.notify("no divergence: the runs did the same things", timeout=3)
            return
        row = self.cmp.pair_index(d)
        tree = self.query_one(AlignedTree)
        self.pending_focus = (d.position_a, d.position_b)
        if row is not None and row != tree.cursor:
            tree.go_to(row)  # its CursorMoved shows the divergent event pair (pending_focus)
        else:
            self._load_detail(tree.cursor, self.pending_focus)
        self._set_step(d.step, focus_positions=(d.position_a, d.position_b))

    def action_step(self, delta: int) -> None:
        if not self.steps_ready or not self.cmp.steps:
            self.notify("still reading the runs' steps", timeout=2)
            return
        last = len(self.cmp.steps) - 1
        cur = (last if delta < 0 else -1) if self.step is None else self.step
        self._set_step(max(0, min(last, cur + delta)))

    def action_live(self) -> None:
        self.step = None
        tree = self.query_one(AlignedTree)
        tree.states = None
        tree.refresh()
        self._heading()

    def _set_step(self, step: int, focus_positions: tuple[int | None, int | None] | None = None) -> None:
        self.step = step
        self._heading()
        self.replay(step, focus_positions)

    @work(thread=True, exclusive=True, group="replay")
    def replay(self, step: int, focus_positions: tuple[int | None, int | None] | None) -> None:
        cursor = self.cmp.cursor
        assert cursor is not None, "a step is chosen only once the steps are read (action_step)"
        pa, pb = cursor[step]
        if focus_positions is not None:  # a jump to an event: each run as of that very event
            pa, pb = focus_positions[0] or pa, focus_positions[1] or pb
        sa = self.cmp.a.store.state_at(self.cmp.a.run_id, pa)
        sb = self.cmp.b.store.state_at(self.cmp.b.run_id, pb)
        self.call_from_thread(self._show_states, step, sa, sb, focus_positions)

    def _show_states(self, step: int, sa: Any, sb: Any, focus_positions: Any) -> None:
        if self.step != step:
            return
        tree = self.query_one(AlignedTree)
        tree.states = (sa, sb)
        tree.refresh()

    def action_event(self, delta: int) -> None:
        if self.event_pairs:
            self.event_index = max(0, min(len(self.event_pairs) - 1, self.event_index + delta))
            self._render_detail()

    # -- detail: the selected node pair's events, one aligned pair diffed ----------------------------
    def on_compare_app_cursor_moved(self, message: "CompareApp.CursorMoved") -> None:
        focus, self.pending_focus = self.pending_focus, None
        self._load_detail(message.row, focus)

    def _node_events(self, side: Any, node_id: str | None) -> list[Any]:
        if node_id is None:
            return []
        return side.store.events(EventFilter(run_id=side.run_id, node_id=node_id), limit=NODE_EVENTS)

    def _load_detail(self, row: int, focus: tuple[int | None, int | None] | None = None) -> None:
        if not self.cmp.pairs:
            self.query_one("#detail", Static).update(Text("Neither run has nodes.", DIM))
            return
        pair = self.cmp.pairs[row]
        ea, eb = self._node_events(self.cmp.a, pair.a), self._node_events(self.cmp.b, pair.b)
        pairs: list[tuple[Any, Any]] = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
                None, [e.event_type for e in ea], [e.event_type for e in eb], autojunk=False).get_opcodes():
            if tag == "equal":
                pairs += list(zip(ea[i1:i2], eb[j1:j2]))
            else:
                pairs += [(e, None) for e in ea[i1:i2]] + [(None, e) for e in eb[j1:j2]]
        self.event_pairs = pairs
        index = 0
        if focus is not None:
            index = next((i for i, (x, y) in enumerate(pairs)
                          if (x is not None and x.position == focus[0])
                          or (y is not None and y.position == focus[1])), 0)
        else:  # the first pair that does something different (ids aside), else the first
            index = next((i for i, (x, y) in enumerate(pairs) if x is None or y is None
                          or signature(x.event_type, x.payload) != signature(y.event_type, y.payload)), 0)
        self.event_index = index
        self._render_detail()

    def _render_detail(self) -> None:
        pair = self.cmp.pairs[self.query_one(AlignedTree).cursor]
        tree_a, tree_b = self.cmp.a.tree, self.cmp.b.tree
        t = Text()
        t.append(f"node A {clean(tree_a.label(pair.a)) or '-'}  ·  node B {clean(tree_b.label(pair.b)) or '-'}",
                 Style(bold=True))
        fields = self.cmp.changes[self.cmp.pairs.index(pair)] if not pair.one_sided else []
        if fields:
            t.append("   differs in: " + ", ".join(fields), CHANGED)
        t.append("\n")
        if not self.event_pairs:
            t.append("No events about this node.", DIM)
            self.query_one("#detail", Static).update(t)
            return
        x, y = self.event_pairs[self.event_index]
        kind = (x or y).event_type
        t.append(f"event pair {self.event_index + 1}/{len(self.event_pairs)} ", DIM)
        t.append(clean(kind), Style(bold=True))
        t.append(f"   A #{x.position:,}" if x is not None else "   only in B", ONLY_A if x is not None else ONLY_B)
        t.append(f"   B #{y.position:,}" if y is not None else "   only in A", ONLY_B if y is not None else ONLY_A)
        t.append("   (, and . for other events)\n", DIM)
        lines = diff_payloads(x.payload if x is not None else {}, y.payload if y is not None else {})
        for tag, line in lines:
            style = ONLY_A if tag == "-" else ONLY_B if tag == "+" else DIM
            t.append(f"{tag} ", style).append(clean(line), style if tag != " " else Style())
            t.append("\n")
        self.query_one("#detail", Static).update(t)



def run_compare(cmp: Comparison) -> int:
    """Open the compare screen (blocks until the user quits)."""
    CompareApp(cmp).run()
    return 0
