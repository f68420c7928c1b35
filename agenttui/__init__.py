"""agenttui: an append-only event store for AI-agent runs and a live terminal inspector."""
from __future__ import annotations

__version__ = "0.1.0"

from agenttui.store import (  # noqa: E402  (re-exported public API)
    AppendResult, ConcurrencyError, EnvelopeError, Event, EventFilter, RunState, SQLiteStore, UpcasterRegistry,
    open_store, upcasters,
)
from agenttui.store import (  # noqa: E402  (recording API and custom projections)
    Projection, Projector, Recorder, project, register_projection, registry_for,
)

__all__ = [
    "AppendResult", "ConcurrencyError", "EnvelopeError", "Event", "EventFilter", "RunState", "SQLiteStore",
    "UpcasterRegistry", "__version__", "open_store", "upcasters",
    "Projection", "Projector", "Recorder", "project", "register_projection", "registry_for",
]
