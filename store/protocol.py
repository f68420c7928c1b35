"""The store contract: what every backend promises, one docstring per method.

`EventStore` is a typing.Protocol, so code that takes "a store" (the CLI, serve, the Recorder, the
inspector's reader) is typed against the promises, not against SQLite or PostgreSQL. Both
backends implement it through `store.base.BaseStore` and the contract suite
(tests/test_contract.py) runs every promise against both.

Words used below: a *position* is the global, gapless (for readers, in commit order) number of an
event; a run's *seq* (its version) counts that run's events 1, 2, 3 ...; the *projections* are the
runs/nodes/edges tables, a fold of the events kept up to date in the append's transaction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, runtime_checkable

from .envelope import Event
from .fold import RunState
from .rows import AppendResult, EventFilter


@runtime_checkable
class EventStore(Protocol):
    """An append-only event log with projections, temporal queries and audited retention."""

    #: "sqlite" or "postgresql".
    backend: str
    #: The name messages use for the store (a file path, or a URL without its password).
    path: str
    #: True when opened read-only: every write raises ReadOnlyStoreError and nothing is migrated.
    readonly: bool

    # ---------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release connections; the store is unusable afterwards. Safe to call twice."""

    def __enter__(self) -> Any:
        """The store itself; leaving the block closes it."""

    def __exit__(self, *exc: Any) -> None:
        """Close the store (exceptions propagate)."""

    @property
    def connection(self) -> Any:
        """A connection for read-only SQL of your own, `?` placeholders on both backends.

        For one thread at a time; writing through it bypasses the store's guarantees (and the
        database refuses changes to events anyway).
        """

    # ---------------------------------------------------------------- writing
    def append(self, events: Event | Mapping[str, Any] | Iterable[Event | Mapping[str, Any]], *,
               expected_version: int | Mapping[str, int] | None = None) -> AppendResult:
        """Store one event or a batch atomically, with the projections updated in the same transaction.

        All or nothing: a refused event (EnvelopeError naming it by index and id), a stale
        `expected_version` (ConcurrencyError) or any failure writes nothing. Events whose
        event_id is already stored are skipped and counted as duplicates, so retries are safe.
        Each stored event gets the next position, its run's next seq, and a hash chained to the
        previous event of its run. Waits for other writers instead of failing while they commit.
        """

    def bulk(self, *, atomic: bool = True, optimistic: bool = True) -> Any:
        """A context manager for a load of many batches: `with store.bulk() as s: s.append(batch)`.

        Each `s.append` keeps `append`'s per-event guarantees and returns its AppendResult.
        atomic=True: the whole load is one transaction, committed when the block ends; if it
        raises (or the process dies), nothing of the load is stored, and readers see it all at
        its commit. atomic=False: each batch commits on its own. optimistic=True lets a backend
        skip checks against ids stored earlier in the same load; if one repeats, the block raises
        store.bulk.BulkConflict with nothing stored, and the caller redoes it with optimistic=False.
        """

    def snapshot(self, run_id: str) -> None:
        """Checkpoint the run's fold now, so state_at near the end of the run starts from it."""

    def write_snapshots(self, *, every: int | None = None, run_ids: Iterable[str] | None = None,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Checkpoint each run (or `run_ids`) at least every `every` events (default 5,000) beside the
        appends, mostly as small deltas, so any state is a snapshot plus a short fold; what it wrote.
        `every` below 1 raises ValueError; a read-only store raises ReadOnlyStoreError."""

    def nearest_snapshot(self, run_id: str, *, seq: int, cache: dict[Any, RunState] | None = None
                         ) -> tuple[int, RunState] | None:
        """(seq, state) of the run's newest snapshot of this fold at or before its event `seq`, None
        if none. With a `cache` dict kept between calls, the last full snapshot decoded is reused and
        the states share its rows: the caller must not change them in place."""

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Recompute every projection and snapshot from the events in one transaction; the counts."""

    def retention(self, days: int, *, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """Delete events stamped more than `days` ago (0 keeps all), the only deletion there is.

        Audited: the pass is written to retention_log (who, when, what, and the hash of each
        deleted event whose successor stays, where its run's chain resumes) in the same
        transaction; runs left empty are removed, the others refolded.
        """

    # ---------------------------------------------------------------- folds and checks
    def fold_all(self, *, progress: Callable[[int, int], None] | None = None,
                 on_event: Callable[[RunState, Event], None] | None = None) -> dict[str, RunState]:
        """Fold the whole log from nothing, in position order, without writing; state per run."""

    def stored_state(self, run_id: str) -> RunState:
        """What the projection tables hold for the run now, as a RunState."""

    def check(self, *, progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Differences between the projections and a fresh fold of the events; [] when consistent."""

    def verify(self, run_id: str | None = None) -> list[Any]:
        """Recompute the hash chains (of one run, or all); the first break of each broken run, [] if intact.

        Each break (store.chain.ChainBreak) names the first event whose stored hash is not what its
        content and the chain before it give: changed, inserted, or preceded by events removed
        outside retention. `last_verify` then holds the figures and every intact run's head hash.
        """

    # ---------------------------------------------------------------- reading events
    def events(self, filter: EventFilter | None = None, *, after: int | None = None, before: int | None = None,
               limit: int | None = 100, order: str = "asc", **filter_kwargs: Any) -> list[Event]:
        """Events matching the filter, paged by exclusive position bounds, upcast to current versions."""

    def iter_events(self, filter: EventFilter | None = None, *, after: int = 0, batch: int = 5000,
                    **filter_kwargs: Any) -> Iterator[Event]:
        """Every matching event after `after`, in position order, fetched a batch at a time."""

    def count_events(self, filter: EventFilter | None = None, **filter_kwargs: Any) -> int:
        """How many events match."""

    def count_by_type(self, filter: EventFilter | None = None, **filter_kwargs: Any) -> dict[str, int]:
        """Matching events per event_type, most frequent first."""

    def get_event(self, event_id: str) -> Event | None:
        """The event with this id, or None."""

    def event_at(self, position: int) -> Event | None:
        """The event at this position, or None (never stored, or removed by retention)."""

    def event_by_seq(self, run_id: str, seq: int) -> Event | None:
        """The run's event with this seq, or None."""

    def timeline(self, run_id: str, *, batch: int = 20_000) -> Iterator[Event]:
        """The run's events in seq order, read `batch` rows (fewer for big payloads) at a time."""

    def read_after(self, position: int, limit: int = 1000, filter: EventFilter | None = None) -> list[Event]:
        """Events after `position` in commit order: what followers read; a later commit never lands before it."""

    def last_position(self) -> int:
        """The highest position stored (0 for an empty store)."""

    def data_version(self) -> int:
        """A number that changes when anything is committed (the cheap "anything new?" check)."""

    def position_at(self, run_id: str, timestamp: str) -> int | None:
        """The run's last position stamped at or before `timestamp`, or None."""

    # ---------------------------------------------------------------- reading projections
    def runs(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs with their summary figures, most recently started first."""

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's summary row, or None."""

    def latest_run_id(self) -> str | None:
        """The run with the newest event (the 'unassigned' run only if it is the only one)."""

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        """The run's node rows in hierarchical-id order ("1" < "1.2" < "1.10")."""

    def node(self, run_id: str, node_id: str) -> dict[str, Any] | None:
        """One node row, or None."""

    def edges(self, run_id: str) -> list[dict[str, Any]]:
        """The run's edge rows in the order they were first seen."""

    def node_tree(self, run_id: str) -> Any:
        """The run's node graph as a networkx DiGraph (parent -> child)."""

    def state_at(self, run_id: str, position: int | None = None, *, timestamp: str | None = None,
                 exclude: Iterable[str] = ()) -> RunState:
        """The run's state as of a position (inclusive) or a timestamp, without the `exclude`d event ids.

        Starts from the nearest usable snapshot, so it is fast anywhere in a long run.
        """

    def stats(self) -> dict[str, Any]:
        """Storage figures: sizes, counts, time span, schema version and backend specifics."""

    def retention_log(self) -> list[dict[str, Any]]:
        """Every retention pass, oldest first."""
