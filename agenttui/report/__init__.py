"""Where a run's time and tokens went, and its post-mortem.

    from agenttui.report import summarize_run, build_report, to_markdown
    summary = summarize_run(store, "run-1", prices=load_prices("prices.toml"))
    print(to_markdown(build_report(store, summary)))
"""
from __future__ import annotations

from .document import Document, to_html, to_markdown, to_text
from .postmortem import build_report, build_stats
from .prices import PriceError, PriceTable, load_prices
from .stats import RunSummary, percentile, sparkline, summarize_run

__all__ = ["Document", "PriceError", "PriceTable", "RunSummary", "build_report", "build_stats", "load_prices",
           "percentile", "sparkline", "summarize_run", "to_html", "to_markdown", "to_text"]
