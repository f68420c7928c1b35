"""agenttui's event store: append-only events, projections folded in the same transaction, replay.

This package never imports Textual or Rich, so agents can record without pulling in a UI.
"""
from __future__ import annotations

import os

from .envelope import (
    DEFAULT_MAX_PAYLOAD_BYTES, UNASSIGNED_RUN_ID, Event, new_event_id, normalize_timestamp, now_timestamp,
    parse_envelope, parse_json_line,
)
from .errors import (
    AgentTuiError, ConcurrencyError, EnvelopeError, ImmutableEventError, NotAStoreError, ReadOnlyStoreError,
    SchemaError, SchemaTooNewError, StoreLockedError, StoreUnavailableError, UpcastError,
)
from .fold import FOLD_VERSION, PENDING, RunState, Touched, apply_event, fold, nid_key
from .base import BaseStore
from .protocol import EventStore
from .rows import AppendResult, EventFilter, state_graph
from .sqlite import SQLiteStore
from .urls import is_postgres_url, sqlite_path, target_from_env
from .upcast import UpcasterRegistry, upcasters
from .projections import (
    FunctionProjection, Projection, ProjectionError, ProjectionRegistry, Projector, global_projections,
    load_projections, project, register_projection, registry_for,
)

__all__ = [
    "AgentTuiError", "AppendResult", "BaseStore", "ConcurrencyError", "DEFAULT_MAX_PAYLOAD_BYTES", "EnvelopeError",
    "Event", "EventFilter", "EventStore", "FOLD_VERSION", "ImmutableEventError", "NotAStoreError", "PENDING",
    "ReadOnlyStoreError", "RunState", "StoreLockedError", "StoreUnavailableError", "is_postgres_url",
    "SQLiteStore", "SchemaError", "SchemaTooNewError", "Touched", "UNASSIGNED_RUN_ID", "UpcastError",
    "UpcasterRegistry",
    "apply_event", "fold", "new_event_id", "nid_key", "normalize_timestamp", "now_timestamp", "open_store",
    "parse_envelope", "parse_json_line", "state_graph", "upcasters",
    "FunctionProjection", "LLMCall", "Node", "Projection", "ProjectionError", "ProjectionRegistry", "Projector",
    "Recorder", "global_projections", "load_projections", "project", "register_projection", "registry_for",
]


#: The recording API lives in agenttui.recording; these names stay importable from here, loaded only
#: when asked for so that opening a store never imports the Recorder.
_RECORDING_NAMES = frozenset({"LLMCall", "Node", "Recorder", "ToolCall", "instrument", "current_recorder"})


def __getattr__(name: str):
    if name in _RECORDING_NAMES:
        from agenttui import recording

        return getattr(recording, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(target: str | os.PathLike[str] | None = None, *, readonly: bool = False, **kwargs) -> EventStore:
    """Open the store a TARGET names: a SQLite file path (the default backend) or a postgresql:// URL.

    With no target, $AGENTTUI_DB (or $DATABASE_URL) is used. PostgresStore is imported only for a
    URL, so SQLite users need no psycopg.
    """
    if target is None:
        target = target_from_env()
        if not target:
            raise SchemaError("no database given: pass a path or set AGENTTUI_DB (or DATABASE_URL)")
    t = str(target)
    if is_postgres_url(t):
        from .postgres import PostgresStore

        return PostgresStore(t, readonly=readonly, **kwargs)
    return SQLiteStore(sqlite_path(t), readonly=readonly, **kwargs)
