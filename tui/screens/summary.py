"""The run summary panel: where one run's time and tokens went, as a screen the inspector pushes.

    app.push_screen(SummaryScreen(target_or_store, run_id))

It takes a store target (path or URL, opened read-only in its worker) or an open store, and
computes the summary (agenttui.report.stats: projections plus paged reads of the call events) in
a worker thread, so the inspector stays responsive on a big run. `escape` or `q` closes it.
"""
from __future__ import annotations

import os
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from agenttui.report.document import to_text
from agenttui.report.postmortem import build_stats
from agenttui.report.prices import PriceTable
from agenttui.report.stats import RunSummary, summarize_run

from ..literal import clean

DIM = Style(dim=True)

class SummaryScreen(Screen):
    """Per model and tool latency and tokens, slowest calls and nodes, critical path, events/s."""

    DEFAULT_CSS = """
    SummaryScreen #summary-scroll { height: 1fr; }
    SummaryScreen #summary { padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "close", "close"), Binding("q", "close", "close", show=False)]

    def __init__(self, source: str | os.PathLike[str] | Any, run_id: str, *, prices: PriceTable | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.run_id = run_id
        self.prices = prices
        self.summary: RunSummary | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="summary-scroll"):
            yield Static(Text(f"Summarising run {clean(self.run_id, limit=80)}…", DIM), id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True)
    def compute(self) -> None:
        try:
            if isinstance(self.source, (str, os.PathLike)):
                from agenttui.store import open_store

                with open_store(self.source, readonly=True) as store:
                    summary = summarize_run(store, self.run_id, prices=self.prices)
            else:
                summary = summarize_run(self.source, self.run_id, prices=self.prices)
        except Exception as exc:  # shown in the panel: a summary must never take the inspector down
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, summary)

    def _show(self, summary: RunSummary) -> None:
        self.summary = summary
        # to_text makes every value printable; Text() never reads it as markup
        self.query_one("#summary", Static).update(Text(to_text(build_stats(summary))))

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one("#summary", Static).update(
            Text(f"Cannot summarise run {clean(self.run_id, limit=80)}: {clean(message, limit=500)}",
                 Style(color="red")))

    def action_close(self) -> None:
        self.app.pop_screen()
