"""What the inspector's workers and its follower tell the UI thread: one small dataclass each.

Workers run on their own threads with their own reader; they never touch a widget. They post
one of these (Textual queues a message from another thread safely, in order) and the inspector
handles it on the UI thread, where a result for a run or a view that is no longer shown is
dropped by its `run_id` or `generation`. A worker that raises is reported in one place
(`AgentTuiApp.on_worker_state_changed`: the status bar and the logs), never swallowed.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from .data.store_tree import StoreNodes
from .data.targets import Change
from .history import History
from .view_filter import ViewFilter

if TYPE_CHECKING:  # numpy comes with the index, after the first paint
    from .data.search_index import SearchIndex


@dataclass
class StoreChanged(Message):
    """The follower saw the store change (new events, appeared, replaced, deleted, ...)."""

    change: Change


@dataclass
class BusyText(Message):
    """A worker's progress for the status bar ("loading run 40%")."""

    run_id: str
    text: str


@dataclass
class StoreTreeLoaded(Message):
    """The tree's first level from the store's projections (shown until the fold is done)."""

    run_id: str
    nodes: StoreNodes | None  # None: the store could not say (the tree waits for the fold)


@dataclass
class SearchIndexStarted(Message):
    """A new search index exists for the run; searches use it while it grows."""

    run_id: str
    index: SearchIndex


@dataclass
class SearchIndexDone(Message):
    """The index worker stopped (done, cancelled or failed); then_fold: the fold comes next."""

    run_id: str
    then_fold: bool


@dataclass
class TypesCounted(Message):
    """Events per type of the run up to `upto_position`."""

    run_id: str
    counts: dict[str, int]
    upto_position: int


@dataclass
class HistoryLoaded(Message):
    """The run's History, folded by a worker."""

    run_id: str
    history: History


@dataclass
class RowsBuilt(Message):
    """A filtered view's seqs up to seq `upto`."""

    generation: int
    view: ViewFilter
    upto: int
    rows: array
    keep_seq: int | None


@dataclass
class FirstMatchFound(Message):
    """The search's first match after the cursor (seq None: no event matches)."""

    generation: int
    search: str
    seq: int | None


@dataclass
class MatchesBuilt(Message):
    """Every match of the search (within the view) up to seq `upto`."""

    generation: int
    view: ViewFilter
    search: str
    upto: int
    matches: array
