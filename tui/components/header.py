"""The run header: which run, its status, how long it has taken and what it has done so far.

In replay the figures are the run's as of the slider's event (the History's fold), so the header
animates with playback. Elapsed time of a running run needs "now": it comes from the app's
injectable clock, so a fixed clock gives a byte-identical screen.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from rich.text import Text
from textual.widget import Widget

from agenttui.summary import UNASSIGNED_LABEL, elapsed_of, format_elapsed, has_clock, parse_ts

from ..colors import status_style
from ..literal import clean

__all__ = ["RunHeader", "elapsed_of", "fit_figures", "format_elapsed", "parse_ts"]


#: The header's figures, most important first: a narrow terminal drops them from the end of this
#: list (never half a phrase), so the figures line never wraps and the task line stays on screen.
FIGURE_PRIORITY = ("elapsed", "events", "errors", "nodes", "tokens", "LLM calls", "tool calls")


def fit_figures(pieces: list[tuple[str, Text]], width: int) -> list[tuple[str, Text]]:
    """The (name, text) pieces that fit in `width` cells, dropping figures by FIGURE_PRIORITY;
    pieces not named there (run id, status) are always kept, cut by the caller if still too long."""
    kept = list(pieces)
    for name in reversed(FIGURE_PRIORITY):
        if sum(t.cell_len for _, t in kept) <= width:
            break
        kept = [(n, t) for n, t in kept if n != name]
    return kept


class RunHeader(Widget):
    """Two lines: run id, status, elapsed and counts (as many as fit); then the run's task."""

    DEFAULT_CSS = """
    RunHeader { height: 2; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, clock: Callable[[], datetime] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.run: dict[str, Any] | None = None
        self.run_id: str | None = None
        self.as_of: str | None = None
        self.node_count: int | None = None
        self.note = ""
        self._text = Text()

    def render(self) -> Text:
        return self._text

    def update(self, text: Text) -> None:
        if text != self._text:
            self._text = text
            self.refresh()

    def on_resize(self) -> None:
        self.update(self._render_text())

    def show(self, run_id: str | None, run: dict[str, Any] | None, *, as_of: str | None = None,
             node_count: int | None = None, note: str = "") -> None:
        self.run_id = run_id
        self.run = run
        self.as_of = as_of
        self.node_count = node_count
        self.note = note
        self.update(self._render_text())

    def tick(self) -> None:
        """Refresh the elapsed time of a running run (called once a second)."""
        if self.run and self.run.get("status") == "running" and self.as_of is None:
            self.update(self._render_text())

    def _render_text(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.run_id is None:
            text.append("agenttui", style="bold")
            if self.note:
                text.append(f"  {clean(self.note)}", style="dim")
            return text
        run = self.run or {}
        width = self.size.width or 10_000  # (before the first layout: everything, cut when drawn)
        for _, piece in fit_figures(self._figures(run), width):
            text.append_text(piece)
        text.append("\n")
        task = run.get("task") or run.get("error_message") or ""
        if run.get("model"):
            text.append(f"{clean(run['model'], limit=30)}  ", style="dim")
        if self.note:
            text.append(f"{clean(self.note)}  ", style="bold yellow")
        text.append(clean(task, limit=300), style="italic")
        return text

    def _figures(self, run: dict[str, Any]) -> list[tuple[str, Text]]:
        """The figures line as named pieces, in display order (see FIGURE_PRIORITY)."""
        status = run.get("status") or "no events yet"
        pieces = [("run", Text(clean(self.run_id, limit=40), style="bold"))]
        if has_clock(self.run_id):
            pieces.append(("status", Text.assemble("  ", (f"● {clean(status)}", f"bold {status_style(status)}"))))
            pieces.append(("elapsed", Text(f"  ⏱ {format_elapsed(elapsed_of(run, self.clock(), self.as_of))}")))
        else:  # the events sent with a null run_id: no status, no clock of their own
            pieces.append(("status", Text(f"  {UNASSIGNED_LABEL}", style="italic")))

        def figure(label: str, value: Any, style: str = "") -> None:
            # "381 events  24 nodes": value first, so each figure reads as one phrase
            shown = f"{value:,}" if isinstance(value, int) else str(value)
            pieces.append((label, Text.assemble("   ", (shown, style or "bold"), (f" {label}", "dim"))))

        figure("events", run.get("event_count") or 0)
        nodes = self.node_count if self.node_count is not None else (run.get("total_nodes") or 0)
        figure("nodes", nodes)
        figure("LLM calls", run.get("llm_calls") or 0)
        figure("tool calls", run.get("tool_calls") or 0)
        errors = run.get("error_count") or 0
        figure("errors", errors, "bold red" if errors else "bold")
        pt, ct = run.get("prompt_tokens") or 0, run.get("completion_tokens") or 0
        figure("tokens", f"{pt + ct:,}")
        return pieces
