"""The inspector on a run that came in as OpenTelemetry spans (examples/otel_collector_trace.jsonl, a
pydantic-ai-style trip planner with two sub-agents and a failing tool): an SVG snapshot."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from agenttui.otel import import_otlp
from agenttui.store import open_store
from agenttui.tui.app import AgentTuiApp

from test_tui_snapshots import TERMINAL, _settled

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "otel_collector_trace.jsonl"
FROZEN_NOW = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def make_otel_db(path: Path) -> Path:
    with open_store(path) as store:
        report = import_otlp(store, EXAMPLE)
        assert report.ok and report.stored > 0, report.errors
    return path


def test_otel_run_snapshot(snap_compare, tmp_path: Path) -> None:
    db = make_otel_db(tmp_path / "otel.db")

    def tree_filled(app: AgentTuiApp) -> bool:
        return app.inspector.history is not None and len(app.inspector.history.node_ids()) == 3

    assert snap_compare(AgentTuiApp(db, clock=lambda: FROZEN_NOW), terminal_size=TERMINAL,
                        run_before=_settled(tree_filled))
