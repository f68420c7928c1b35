"""agenttui: an append-only event store for AI-agent runs and a live terminal inspector."""
from __future__ import annotations

__version__ = "0.1.0"

from agenttui.store import (  # noqa: E402  (re-exported public API)
    AppendResult, ConcurrencyError, EnvelopeError, Event, EventFilter, RunState, SQLiteStore, UpcasterRegistry,
    open_store, upcasters,
)
from agenttui.store import (  # noqa: E402  (custom projections)
    Projection, Projector, project, register_projection, registry_for,
)

__all__ = [
    "AppendResult", "ConcurrencyError", "EnvelopeError", "Event", "EventFilter", "RunState", "SQLiteStore",
    "UpcasterRegistry", "__version__", "open_store", "upcasters",
    "Projection", "Projector", "Recorder", "instrument", "project", "register_projection", "registry_for",
]


def __getattr__(name: str):
    # the recording API is loaded when first asked for: `import agenttui.store` (the inspector, serve)
    # does not pay for it
    if name in ("Recorder", "instrument"):
        from agenttui import recording

        return getattr(recording, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
