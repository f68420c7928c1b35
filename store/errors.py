"""Errors the store raises; each names what was wrong so a user can act on it."""
from __future__ import annotations


class AgentTuiError(Exception):
    """Base class: every error agenttui raises on purpose derives from this."""


class EnvelopeError(AgentTuiError, ValueError):
    """An event envelope is malformed. `field` names the offending field, `where` the line/event."""

    def __init__(self, message: str, *, field: str | None = None, where: str | None = None):
        self.field = field
        self.where = where
        self.reason = message
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{message}")

    def at(self, where: str) -> "EnvelopeError":
        return EnvelopeError(self.reason, field=self.field, where=where)


class ConcurrencyError(AgentTuiError):
    """A writer appended with an expected version that is no longer current; nothing was written."""

    def __init__(self, run_id: str, expected: int, actual: int):
        self.run_id = run_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"run {run_id!r}: expected version {expected} but the run is at version {actual}; "
            "nothing was written (re-read the run and retry)"
        )


class SchemaError(AgentTuiError):
    """The database file cannot be used by this version of agenttui."""


class SchemaTooNewError(SchemaError):
    def __init__(self, path: str, found: int, supported: int):
        self.found = found
        self.supported = supported
        super().__init__(
            f"{path}: database schema version {found} was written by a newer agenttui "
            f"(this one supports up to {supported}); upgrade agenttui to open it"
        )


class NotAStoreError(SchemaError):
    """The file is not a SQLite database, or a SQLite database that is not an agenttui store."""


class UpcastError(AgentTuiError):
    """A registered upcaster failed on a stored event; names the event and the version step."""

    def __init__(self, event_id: str, event_type: str, from_version: int, reason: str):
        self.event_id = event_id
        self.event_type = event_type
        self.from_version = from_version
        super().__init__(f"event {event_id}: upcaster for {event_type!r} v{from_version} failed: {reason}")


class ReadOnlyStoreError(AgentTuiError):
    """A write (append, snapshot, rebuild, retention) on a store opened read-only; nothing was written."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"{path}: opened read-only")


class StoreLockedError(AgentTuiError):
    """Other writers kept the database's write lock longer than this writer agreed to wait.

    Writers normally wait their turn (and retry), so this means a writer held the lock for a long
    time; the write that raised it stored nothing and can be retried.
    """

    def __init__(self, path: str, waited: float):
        self.path = path
        self.waited = waited
        super().__init__(
            f"{path}: another writer kept the database locked for {waited:.0f} s, so this write gave up "
            "and stored nothing; retry it, or give the store a longer lock_timeout")


class StoreUnavailableError(AgentTuiError):
    """The PostgreSQL server cannot be reached (or refused us); the message names the server."""


class ImmutableEventError(AgentTuiError):
    """The database refused to change or delete stored events: only audited retention may delete.

    Raised by the store's write paths when the append-only guard (a trigger) fires, for example
    a retention pass whose permission to delete was not granted; nothing was written.
    """
