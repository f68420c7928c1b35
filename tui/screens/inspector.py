"""The inspector screen: one run of one store, its panes, and everything it knows about that run.

Data flows one way: the writer commits -> the store's follower thread sees the commit and reads the
new events -> this screen appends them to the event list and feeds them to the History (the fold),
which the tree, header and slider show. The screen opens the database read-only and never writes.

Its state is declared in `__init__` and in the reactives below, nowhere else: the values the panes
follow are reactives whose `watch_` methods update those panes (the replay cursor, the busy text,
the search text, following the newest event); the rest is plain attributes the workers' results
and the follower's changes update. Search and playback keep their own state (tui/search.py,
tui/playback.py).

The store's follower belongs here, not to the app: it exists to feed this screen, it starts from the
position of the reader this screen opened, and it is restarted with that reader when the file is
replaced; the app only asks the screen to close both when it shuts down.

A filtered view is built by a worker on its own read-only connection (rows first, so a filter
repaints at once; then the search's first match; then all matches), and whatever the writer
committed meanwhile is caught up with one small indexed query when the result lands. A search's
first match is looked for on the UI thread first, within a few thousand positions (the run's
search index usually narrows it to a few blocks or none), so it repaints in one frame; the worker
takes over when that does not decide it.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from array import array
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Key, MouseEvent, MouseMove
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from agenttui.store import Event, NotAStoreError, SchemaTooNewError
from agenttui.store.follow import StoreFollower

from ..components.detail import DetailPane
from ..components.event_list import AllRows, EventList, FilteredRows, TailRows
from ..components.header import RunHeader
from ..components.node_tree import NodeTree
from ..components.pane_layout import PaneLayout
from ..components.run_picker import RunPicker
from ..components.search_bar import SearchBar
from ..components.status_bar import StatusBar, StatusInfo
from ..components.time_slider import TimeSlider
from ..components.type_picker import TypePicker
from agenttui.target_check import no_run_message

from ..clipboard import clipboard_warning
from ..data.reader import InspectorReader
from ..data.store_tree import StoreNodes, load_store_nodes
from ..data.targets import Change, display_name, follower_for
from ..history import History, load_history
from ..history.heap import release_free_memory
from ..history.outline import RunOutline
from ..history.scrub import Scrub
from ..history.window import WINDOW_AFTER, load_window
from ..literal import clean
from ..messages import (BusyText, FirstMatchFound, HistoryLoaded, MatchesBuilt, RowsBuilt, SearchIndexDone,
                        SearchIndexStarted, StoreChanged, StoreTreeLoaded, TypesCounted)
from ..playback import PLAY_FRAME, Playback
from ..search import Search
from ..view_filter import ViewFilter

if TYPE_CHECKING:  # numpy comes with the index, after the first paint
    from ..data.search_index import SearchIndex

logger = logging.getLogger("agenttui.tui")

#: What each worker group does, as a failure report names it.
WORK_NAMES = {"search-index": "indexing the run for search", "store-tree": "reading the node tree",
              "type-counts": "counting event types", "timeline": "folding the run's history",
              "view": "filtering the list", "outline": "reading the run's outline",
              "window": "loading the state at the replay cursor"}
#: How long the UI thread waits on a locked database before showing what it has (and retrying).
UI_BUSY_TIMEOUT_MS = 250
#: Events folded between two looks at whether the user is typing (the fold of a big run takes a while).
FOLD_BATCH = 2000
#: After a key press, the fold pauses this long between batches for this many seconds.
FOLD_PAUSE = 0.05
INPUT_GRACE = 1.0
#: The longest a search worker waits for the search index being attached before it scans (seconds).
ATTACH_WAIT = 1.0
#: How long the build worker waits for the attach worker's index before reading one itself (the
#: attach worker always ends, its reading is bounded by a chunk at a time; this only guards a hang).
ATTACH_BUILD_WAIT = 120.0
#: The longest background work waits for a replay window before it goes on beside it (seconds).
WINDOW_WAIT = 10.0
#: Events a replay window is first folded past the cursor before it is shown; it then grows to
#: WINDOW_AFTER past it, WINDOW_CHUNK events at a time (folded on the UI thread: ~5 ms each).
WINDOW_FIRST = 200
WINDOW_CHUNK = 500
#: The detail pane follows the list's cursor once it rests this long (a user's moves) ...
DETAIL_DEBOUNCE = 0.03
#: ... or at most this often while the list follows a live run (see _on_cursor_moved).
DETAIL_FOLLOW = 0.25
#: The tree opens the path to the selected event's node once the selection rests this long (or at
#: most this often while following a live run): opening and scrolling the tree redraws all of it,
#: which at each step of a held `[` (a key repeats every 30-40 ms) would delay the next step's frame.
REVEAL_REST = 0.08
#: Shortest interval between two redraws of the tree, header and slider for live events (the list
#: takes each commit at once; at 50 ms these redraws held up a commit's frame often enough to cost
#: ~10 ms of commit-to-screen p95).
LIVE_REFRESH = 0.1
#: Rows of a type filter shown before its full list is built (at least three screens' worth).
TAIL_ROWS = 256
#: Positions a search may read on the UI thread for its first match (~3 ms) before a worker takes over.
INLINE_POSITIONS = 10_000


class InspectorScreen(Screen[None]):
    """The inspector's panes and the state of the run they show (see the module docstring).

    `clock` (returns an aware datetime) fixes "now" for deterministic screens; `last_input` (monotonic
    seconds of the user's last key or mouse event, kept by the app, which sees every one) lets the
    fold of a big run step aside while the user types.
    """

    #: Every key of the inspector; quit and help are the app's actions, declared here so that the
    #: footer, the help screen and the palette list them first, as they always have.
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="quit", tooltip="Quit the inspector"),
        Binding("question_mark,f1", "app.help", "Help", id="help", tooltip="This help: every key and its id"),
        Binding("slash", "search", "Search", id="search", tooltip="Search the run's payloads (case-insensitive)"),
        Binding("z", "zoom", "Zoom", id="zoom", tooltip="Zoom the focused pane to the whole screen / back"),
        Binding("d", "toggle_detail", "Detail", show=False, id="toggle_detail",
                tooltip="Collapse the detail pane (more rows for the list) / show it again"),
        Binding("n", "next_match", "Next match", show=False, id="next_match", tooltip="Next search match"),
        Binding("N", "previous_match", "Prev match", show=False, id="previous_match",
                tooltip="Previous search match"),
        Binding("t", "pick_types", "Types", id="pick_types",
                tooltip="Pick the event types to show (with counts per type)"),
        Binding("escape", "clear", "Clear", show=False, id="clear",
                tooltip="Close the search; else clear the search, the node filter, the type filter; else go live"),
        Binding("f", "toggle_follow", "Follow", id="follow", tooltip="Follow the newest event (toggle)"),
        # the time keys are priority bindings: the app runs them as it receives the key, instead of
        # handing the key to the focused pane and up through its containers to the screen (five
        # hops of the message loop, ~10% of a slider step's time on the UI thread); in the search
        # bar they are typed (see _time_key)
        Binding("left_square_bracket", "step(-1)", "Back", id="step_back", tooltip="Time cursor one event back",
                priority=True),
        Binding("right_square_bracket", "step(1)", "Fwd", id="step_forward",
                tooltip="Time cursor one event forward", priority=True),
        Binding("left_curly_bracket", "jump(-0.05)", "-5%", show=False, id="jump_back",
                tooltip="Time cursor back 5% of the run", priority=True),
        Binding("right_curly_bracket", "jump(0.05)", "+5%", show=False, id="jump_forward",
                tooltip="Time cursor forward 5% of the run", priority=True),
        Binding("R", "replay_here", "Replay here", show=False, id="replay_here",
                tooltip="Time cursor to the selected event (on a tree node: its first event; again: its last)"),
        Binding("L", "live", "Live", id="live", tooltip="Back to live (the newest state, following)"),
        Binding("p", "play", "Play", id="play", tooltip="Play the run from the cursor in its real timing / pause"),
        Binding("plus,equals_sign", "speed(1)", "Faster", show=False, id="faster",
                tooltip="Faster playback (1x, 2x, 5x, 10x)"),
        Binding("minus", "speed(-1)", "Slower", show=False, id="slower", tooltip="Slower playback"),
        Binding("e", "error_mark(1)", "Next error", show=False, id="next_error",
                tooltip="Time cursor to the next error or failed node"),
        Binding("E", "error_mark(-1)", "Prev error", show=False, id="previous_error",
                tooltip="Time cursor to the previous error or failed node"),
        Binding("r", "pick_run", "Runs", id="pick_run", tooltip="Choose another run of this file"),
        Binding("o", "app.sessions", "Sessions", show=False, id="sessions",
                tooltip="Back to the folder's session files (agenttui open DIR)"),
        Binding("S", "summary", "Summary", show=False, id="summary",
                tooltip="The run's summary: latency and tokens per model and tool, slowest calls, critical path"),
        Binding("y", "copy", "Copy", show=False, id="copy", tooltip="Copy the selected event as JSON (OSC 52)"),
        Binding("x", "node_filter", "Node filter", show=False, id="node_filter",
                tooltip="Narrow the list to the selected event's node (toggle)"),
        Binding("tab", "focus_next", "Next pane", show=False, id="next_pane", tooltip="Next pane"),
        Binding("shift+tab", "focus_previous", "Prev pane", show=False, id="previous_pane",
                tooltip="Previous pane"),
        Binding("enter", "open", "Open", show=False, id="open",
                tooltip="Open the selection (event: detail pane; node: narrow the list to it)"),
    ]

    #: the time cursor: an event index of the run's History, None while live (every pane follows it)
    replay: var[int | None] = var(None, init=False, always_update=True)
    #: a worker's progress for the status bar ("loading run 40%", "searching…"); "" when idle
    busy: var[str] = var("", init=False)
    #: the search the list marks (None: no search); its matches are in `search`
    search_text: var[str | None] = var(None, init=False)
    #: whether the list follows the newest event: set here, the list follows; the list's own moves
    #: (a key that leaves the last row, `G`) report back with FollowChanged
    follow: var[bool] = var(True, init=False)

    def __init__(self, *, clock: Callable[[], Any], fixed_clock: bool, requested_run: str | None,
                 view: ViewFilter, poll_interval: float, use_file_events: bool,
                 last_input: Callable[[], float], on_ready: Callable[[], None]) -> None:
        super().__init__()
        self.clock = clock
        self.fixed_clock = fixed_clock
        self.requested_run = requested_run
        self.poll_interval = poll_interval
        self.use_file_events = use_file_events
        self._last_input = last_input
        #: called once the panes exist (the app then opens its target, or asks for a session first)
        self._on_ready = on_ready
        #: the store file (None until one is chosen); the app sets it through open_path
        self.path: str | None = None
        #: the UI thread's read model (workers open their own: a connection serves one thread)
        self.reader: InspectorReader | None = None
        self.watcher: StoreFollower | None = None
        self.run_id: str | None = None
        #: the search index the attach worker read for a run (store blocks or the user's cache), and
        #: set once it is done: a search that starts meanwhile waits for it rather than scan the run
        self._attached: SearchIndex | None = None
        self._attach_done = threading.Event()
        self._attach_done.set()
        #: set when the replay cursor waits for a window's growth (see _rest_from_input)
        self._wanted_now = threading.Event()
        self.run_row: dict[str, Any] | None = None
        self.history: History | None = None
        #: the slider's outline and the replay window until the whole History is folded
        self.scrub = Scrub()
        #: the replay windows' own threads: Textual's thread workers share asyncio's default pool
        #: (6 threads on two cores) with the type counts, the outline, the tree, the search index
        #: and the list, and a window the user waits for must never queue behind them
        self._window_pool: ThreadPoolExecutor | None = None
        #: live events of the run that came while its History was folding (folded in when it lands)
        self._pending_live: list[Event] = []
        self.view = view
        self.search = Search()
        self.playback = Playback()
        #: which panes are on screen (zoom, the detail pane collapsed)
        self.panes = PaneLayout()
        #: what happened last that the user should know (a failure, a problem the follower saw)
        self.notice = ""
        self.known_types: frozenset[str] = frozenset()
        #: events per type of the run as of `_counts_position` (None until a worker counted them
        #: after the first paint; live events keep it exact): the picker's counts, a filter's row count
        self.type_counts: dict[str, int] | None = None
        self._counts_position = 0
        self._view_generation = 0
        self._detail_timer: Timer | None = None
        self._reveal_timer: Timer | None = None
        self._detail_node_label = ""
        self._message: str | None = None
        self._status_widget: StatusBar | None = None
        self._list_header = ""
        self._live_refresh: Timer | None = None
        #: the list's selection as the replay cursor last put it: a selection elsewhere is the user's
        #: move, which the replay cursor follows (a filtered list may hold the cursor's nearest row)
        self._replay_row_seq: int | None = None
        #: the run asked for is not in the file yet: the message says so until its first event
        self._waiting_for_run = False

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield RunHeader(self.clock, id="header")
        with Horizontal(id="body"):
            yield NodeTree(id="tree")
            with Vertical(id="right"):
                yield Static(id="list-header")
                yield EventList(id="events")
                yield DetailPane(id="detail")
        yield Static(id="message")
        yield TimeSlider(id="slider")
        yield StatusBar(id="status")
        yield SearchBar(id="search")
        yield Footer()

    @property
    def events_list(self) -> EventList:
        return self.query_one("#events", EventList)

    @property
    def node_tree(self) -> NodeTree:  # (not `tree`: that is Textual's DOM tree of the screen)
        return self.query_one("#tree", NodeTree)

    @property
    def slider(self) -> TimeSlider:
        return self.query_one("#slider", TimeSlider)

    @property
    def detail(self) -> DetailPane:
        return self.query_one("#detail", DetailPane)

    @property
    def header(self) -> RunHeader:
        return self.query_one("#header", RunHeader)

    def on_mount(self) -> None:
        self.events_list.nid_of = self._nid_of
        self.query_one("#list-header", Static).update(Text(""))
        if not self.fixed_clock:
            self.set_interval(1.0, self.header.tick)
        self._on_ready()

    def on_unmount(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop the follower and close the reader (twice is harmless: the app calls it on exit too)."""
        self._stop_watcher()
        self._close_store()
        if self._window_pool is not None:
            self._window_pool.shutdown(wait=False, cancel_futures=True)
            self._window_pool = None

    # ------------------------------------------------------------------ reactives
    def validate_replay(self, index: int | None) -> int | None:
        tl = self.history
        total = len(tl) if tl is not None else self.scrub.total
        if index is None or not total:
            return None
        return max(0, min(index, total - 1))

    def watch_replay(self, index: int | None) -> None:
        """The list marks the cursor's event (or follows again), then the panes show its state."""
        if self._status_bar() is None:
            return  # not composed yet, or shutting down
        lst = self.events_list
        if index is None:
            lst.set_replay_seq(None)
            lst.set_follow(True)
        else:
            seq = self._seq_of_index(index)
            lst.set_replay_seq(seq)  # (the rows it marks: a step draws two rows of the list again)
            lst.set_follow(False)
            lst.go_to_seq(seq)
            self._replay_row_seq = lst.cursor_seq
            if self.history is None and not self.scrub.holds(index):
                self._want_window(index)
        self.set_reactive(InspectorScreen.follow, lst.follow)  # (the status below shows it)
        self._refresh_replay_panes()

    def watch_busy(self) -> None:
        self._update_status()

    def watch_search_text(self) -> None:
        self._update_status()

    def watch_follow(self, follow: bool) -> None:
        if self._status_bar() is None:
            return
        self.events_list.set_follow(follow)  # (nothing to do when the list reported it itself)
        self._update_status()

    # ------------------------------------------------------------------ opening the file
    def open_path(self, path: str) -> None:
        """Show the store at `path` (the app's target, or the session the user chose)."""
        if self.path is not None and path != self.path:  # another session of the folder
            self._stop_watcher()  # (it follows the other file)
            self.playback.stop()
            self.history = None
            self.scrub.reset(None)
            self.run_id = None
            self.requested_run = None  # (--run named a run of the first session)
            self._waiting_for_run = False
        self.path = path
        self._open()

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Put `text` where the panes were (no store to show yet, or none that can be opened)."""
        self._message = text
        message = self.query_one("#message", Static)
        message.update(Text(text, style="bold red" if error else "bold"))
        message.set_class(error, "-error")
        self.add_class("-no-store")
        self.header.show(None, None, note="error" if error else "waiting")
        self._update_status()

    def _hide_message(self) -> None:
        self._message = None
        self.remove_class("-no-store")

    def _open(self) -> None:
        """Open (or reopen) the file; wait for it if it is not there yet."""
        assert self.path is not None
        self._close_store()
        name = display_name(self.path)
        try:
            # a short busy timeout: the UI thread must not hang on a writer's exclusive lock
            reader = InspectorReader.open(self.path, busy_timeout_ms=UI_BUSY_TIMEOUT_MS)
        except FileNotFoundError:
            self.show_message(f"waiting for {name}…\n\n{self.path} does not exist yet; it opens as soon as a "
                              "writer creates it.")
            self._watch(None)
            return
        except SchemaTooNewError as exc:
            self.show_message(f"cannot open {name}\n\n{exc}", error=True)
            self._watch(None)
            return
        except NotAStoreError as exc:
            if "no schema" in str(exc):
                self.show_message(f"waiting for {name}…\n\nthe writer is still creating it.")
            else:
                self.show_message(f"cannot open {name}\n\n{exc}", error=True)
            self._watch(None)
            return
        except Exception as exc:  # locked past the busy timeout, permissions
            self.show_message(f"cannot open {name} yet: {clean(exc)}\n\nretrying as soon as it can be read…",
                              error=True)
            self._watch(None)
            return
        self.reader = reader
        position = reader.newest_position()
        self._hide_message()
        run_id = self.run_id or self.requested_run or reader.latest_run_id()
        self._show_run(run_id, reset_view=False)
        self._watch(position)

    def _close_store(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception as exc:  # a connection already broken: nothing is lost, but say so in the log
                self.report_failure("closing the store", exc, show=False)

    def _watch(self, position: int | None) -> None:
        if self.watcher is None:
            assert self.path is not None
            self.watcher = follower_for(self.path, self._on_watch_change, poll_interval=self.poll_interval,
                                        use_signal=self.use_file_events)
            self.watcher.start(position)
        elif position is not None:
            self.watcher.follow_from(position)

    def _stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _on_watch_change(self, change: Change) -> None:
        """Called on the watcher thread: queue the change for the UI thread (never blocks, so
        stopping the watcher while the app shuts down cannot deadlock)."""
        self.post_message(StoreChanged(change))

    def on_store_changed(self, message: StoreChanged) -> None:
        self._apply_change(message.change)

    def _apply_change(self, change: Change) -> None:
        if change.kind == "events":
            self._on_new_events(change.events)
        elif change.kind == "appeared":
            self.notify(f"{display_name(self.path)} appeared", timeout=3, markup=False)
            self.history = None
            self.scrub.reset(None)
            self.run_id = None
            self._open()
        elif change.kind == "replaced":
            self.notify(clean(change.message), severity="warning", timeout=5, markup=False)
            self.history = None
            self.scrub.reset(None)
            self.run_id = None  # the new file may hold other runs: start from the requested or latest
            self._open()
        elif change.kind == "deleted":
            self._close_store()
            self.events_list.attach(None, self.run_id, AllRows(0))
            self.show_message(f"{display_name(self.path)} was deleted\n\nwaiting for it to come back…")
        elif change.kind == "unusable":
            self.show_message(f"cannot open {display_name(self.path)}\n\n{clean(change.message)}", error=True)
        elif change.kind == "problem":
            self.notice = clean(change.message, limit=80)
            self._update_status()

    # ------------------------------------------------------------------ failures
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure goes (every worker runs with exit_on_error=False)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_failure(WORK_NAMES.get(event.worker.group, event.worker.name), event.worker.error)

    def report_failure(self, what: str, exc: BaseException, *, show: bool = True) -> None:
        """Log a failure (the `logging` module and Textual's log) and, if `show`, put it on the status
        bar: what failed, and the error's own words (made safe for the terminal)."""
        logger.warning("%s failed: %s", what, exc, exc_info=exc)
        self.log.error(f"{what} failed: {exc!r}")
        if show:
            self.notice = f"{what} failed: {clean(exc, limit=60)}"
            self._update_status()

    # ------------------------------------------------------------------ showing a run
    def _show_run(self, run_id: str | None, *, reset_view: bool) -> None:
        """Point every pane at `run_id` (None: the file has no events yet)."""
        reader = self.reader
        assert reader is not None
        if run_id != self.run_id:
            self.playback.stop()
            self.history = None
            self.scrub.reset(run_id)
            self.workers.cancel_group(self, "window")
            self.set_reactive(InspectorScreen.replay, None)  # (the panes are redrawn below)
            self.search.forget_index()  # positions of another run (or of a replaced file)
            self.workers.cancel_group(self, "search-index")
            self.node_tree.clear()
        if reset_view:
            self.view = ViewFilter()
            self.set_reactive(InspectorScreen.search_text, None)
            self.search.matches = None
        self.run_id = run_id
        self.run_row = reader.run(run_id) if run_id else None
        self._say_missing_run(reader)
        self.known_types = frozenset()  # filled by the type counts (a GROUP BY is too slow to open with)
        self.type_counts = None
        total = reader.last_seq(run_id) if run_id else 0
        lst = self.events_list
        lst.follow = True  # (attach puts the cursor on the newest row; no FollowChanged for a new run)
        self.set_reactive(InspectorScreen.follow, True)
        lst.attach(reader, run_id, AllRows(total), last_position=reader.newest_position())
        self._update_list_header()
        self._update_header()
        if self.view.active:
            self._rebuild_view()
        if run_id is not None:
            self._pending_live = []
            # the fold holds the GIL for long stretches: start it only once this run's first frame
            # is on screen, so opening costs one window of rows whatever the run's length
            self.call_after_refresh(self._after_first_paint, run_id)
        self._update_slider()
        self._update_status()

    def _say_missing_run(self, reader: InspectorReader) -> None:
        """A run named with --run that the file does not hold (yet): say so and which runs it does
        hold, in copy's words, until its first event comes (the follower then shows it)."""
        run_id = self.run_id
        if run_id is not None and self.run_row is None and not reader.last_seq(run_id):
            self._waiting_for_run = True
            self.show_message(no_run_message(display_name(self.path), [run_id], reader.runs(), yet=True)
                              + "\n\nit opens as soon as its first event is committed; r picks one of these")
        elif self._waiting_for_run:
            self._waiting_for_run = False
            self._hide_message()

    def _update_list_header(self) -> None:
        """Column titles aligned with the rows (the position column widens as the log grows)."""
        text = Text("".join(seg.text for seg in self.events_list.header_text()), no_wrap=True, style="bold")
        if text.plain != self._list_header:
            self._list_header = text.plain
            self.query_one("#list-header", Static).update(text)

    def _after_first_paint(self, run_id: str) -> None:
        if run_id != self.run_id or self.reader is None:
            return
        if self.type_counts is None:
            self._count_types(run_id, self.reader.last_position(run_id))
        if self.search.index is None and self.reader.supports_search_index:
            self._attached = None
            self._attach_done.clear()
            self._attach_cached_index(run_id)
        if self.history is None and self.scrub.outline is None:
            self._load_outline(run_id)
            last = self.reader.last_seq(run_id)
            if last > 1 and self.reader.store.backend != "postgresql" and self.scrub.window is None:
                # the state just before the end, ahead of the first `[` (a snapshot plus a short
                # fold; PostgreSQL targets have no outline: their slider waits for the fold)
                self.scrub.ahead = last - 2
                self._load_window(run_id, last - 2)
        if self.history is None:
            self._load_store_tree(run_id)  # then the index, then the fold (_index_then_fold)
        else:
            self._index_then_fold(run_id)

    def _index_then_fold(self, run_id: str) -> None:
        """The background work after the tree's first level, one job at a time: on two cores the
        tree of a 10,000-node run painted at 0.49 s instead of 0.16 s after first paint while the
        index was built beside it; building index and fold at once made the index ready at 8.8 s
        instead of 3.4 s on a 1M run, and the fold no sooner (27.5 vs 27.9 s)."""
        if run_id != self.run_id or self.reader is None:
            return
        index = self.search.index
        if (index is None or not index.build_seconds) and self.reader.supports_search_index:
            # (an index from the user's cache has not read the run's newest events yet)
            self._build_search_index(run_id, then_fold=self.history is None)
        elif self.history is None:
            self._load_history(run_id)

    @work(thread=True, exclusive=True, group="search-attach", exit_on_error=False)
    def _attach_cached_index(self, run_id: str) -> None:
        """The run's search index as far as the store's search blocks (store/search_blocks.py) or the
        user's cache (tui/data/search_cache.py) hold it, right after the first paint, so searches use
        it at once instead of after the tree's first level; the build worker then indexes the rest.
        On a worker of its own: copying a 1M-event run's 16 MB of blocks into the cache (and importing
        numpy) takes ~0.1-0.2 s on the first open, which on the UI thread held up the first keys; the
        build worker waits for this one rather than read them a second time."""
        from ..data.search_index import SearchIndex

        assert self.path is not None
        try:
            with InspectorReader.open_scan(self.path) as reader:
                index = SearchIndex.cached(self.path, reader, run_id)
            if len(index):
                self._attached = index
                self.post_message(SearchIndexStarted(run_id, index))
        except Exception as exc:  # (a locked database, say): the build worker tries again
            self.report_failure("reading the search index cache", exc, show=False)  # logged only
        finally:
            self._attach_done.set()

    def _index_for_search(self, run_id: str) -> SearchIndex | None:
        """The run's search index for a search worker: the one in use, or, while the attach worker
        is still reading one (~0.2 s after the first paint), that one once it is in (waiting at most
        ATTACH_WAIT): scanning a 1M-event run without it costs ~0.3-0.9 s."""
        index = self.search.index
        if index is None and self._attach_done.wait(ATTACH_WAIT):
            attached = self._attached
            if attached is not None and attached.run_id == run_id:
                index = attached
        return index

    @work(thread=True, exclusive=True, group="search-index", exit_on_error=False)
    def _build_search_index(self, run_id: str, then_fold: bool = False) -> None:
        """Index the run's payloads for `/` (see tui/search_index.py), or extend the index with
        what was appended since. Searches use it while it grows: what it does not cover yet they
        scan. PostgreSQL targets go without it (their casefold is ICU's, not Python's)."""
        worker = get_current_worker()
        path = self.path
        assert path is not None
        try:  # on failure searches scan the run instead (the failure is reported: see report_failure)
            from ..data.search_index import SearchIndex

            with InspectorReader.open_scan(path) as reader:
                index = self.search.index
                if index is None and self._attach_done.wait(ATTACH_BUILD_WAIT):
                    # the attach worker's, once it is in: never a second reading of the store's
                    # blocks beside it (at 4M events that read's temporaries were ~200 MB each)
                    index = self._attached
                if index is None or index.run_id != run_id:
                    # what the store's blocks or the user's cache hold of it (tui/data/search_index.py)
                    index = SearchIndex.cached(path, reader, run_id)
                    self.post_message(SearchIndexStarted(run_id, index))
                def cancelled() -> bool:
                    self._yield_to_window()
                    return worker.is_cancelled

                index.extend(reader, cancelled=cancelled)
        finally:
            self.post_message(SearchIndexDone(run_id, then_fold))

    def on_search_index_started(self, message: SearchIndexStarted) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._search_index_started(message.run_id, message.index)

    def on_search_index_done(self, message: SearchIndexDone) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        if message.then_fold:
            self._fold_after_index(message.run_id)

    def _search_index_started(self, run_id: str, index: SearchIndex) -> None:
        if run_id == self.run_id and self.search.index is None:
            self.search.index = index

    def _fold_after_index(self, run_id: str) -> None:
        if run_id != self.run_id or self.history is not None or self.reader is None:
            return
        if any(w.group == "timeline" and w.is_running for w in self.workers):
            return
        self._load_history(run_id)

    @work(thread=True, exclusive=True, group="outline", exit_on_error=False)
    def _load_outline(self, run_id: str) -> None:
        """The slider's outline of the run (tui/history/outline.py): its time axis at once, the
        trouble marks a moment later; the slider and replay work from it before the fold."""
        assert self.path is not None
        with InspectorReader.open_scan(self.path) as reader:
            outline = RunOutline.load(reader, run_id, marks=False)
            if outline is None:
                return  # (PostgreSQL: the slider waits for the fold)
            self.app.call_from_thread(self._outline_loaded, run_id, outline)
            # the marks' scan takes a core for ~0.6 s: after the window of the run's end, which the
            # first `[` waits for (on two cores, beside the type counts' scan, it would wait for both)
            self._wait_for_window(lambda: get_current_worker().is_cancelled, ahead=True)
            marks = reader.trouble_marks(run_id)
        self.app.call_from_thread(self._outline_marked, run_id, outline, marks)

    def _outline_loaded(self, run_id: str, outline: RunOutline) -> None:
        if run_id != self.run_id or self.scrub.run_id != run_id or self._status_bar() is None:
            return
        self.scrub.outline = outline
        self._update_slider()

    def _outline_marked(self, run_id: str, outline: RunOutline, marks: list[tuple[int, str]]) -> None:
        if self.scrub.outline is not outline or self._status_bar() is None:
            return
        outline.set_marks([(seq - 1, kind) for seq, kind in marks])
        self.slider.refresh()

    def _yield_to_window(self) -> None:
        """The search index's build steps aside while the user waits for a replay window or a
        search's matches: on two cores, it otherwise takes the GIL from them half the time."""
        if self.scrub.wanted is not None:
            self._wait_for_window(lambda: False, ahead=False)
        elif self.search_text and self.search.matches is None:
            time.sleep(FOLD_PAUSE)

    def _wait_for_window(self, cancelled: Callable[[], bool], *, ahead: bool) -> None:
        """Background work stands still while a replay window the user waits for loads (and, if
        `ahead`, one loading ahead of the first `[`): it is a snapshot's decode and a fold of a few
        thousand events, which two other Python threads would make three times as long."""
        scrub = self.scrub
        deadline = time.monotonic() + WINDOW_WAIT
        while ((scrub.wanted is not None or (ahead and scrub.ahead is not None)) and not cancelled()
               and time.monotonic() < deadline):
            time.sleep(FOLD_PAUSE)

    def _rest_from_input(self, stop: Callable[[], bool]) -> None:
        """Background work stands still while the user is at the keyboard (a key or a mouse event
        within INPUT_GRACE), until stop() is true: it goes on at most every WINDOW_WAIT seconds.
        The cursor asking for a window (_want_window) wakes it at once, not at its next look."""
        deadline = time.monotonic() + WINDOW_WAIT
        while (time.monotonic() - self._last_input() < INPUT_GRACE and time.monotonic() < deadline
               and not stop()):
            self._wanted_now.wait(FOLD_PAUSE)
            self._wanted_now.clear()

    def _want_window(self, index: int) -> None:
        """The replay cursor is where no window is: fold one for it (the panes show it when in)."""
        scrub = self.scrub
        if scrub.covers(index, scrub.wanted):
            return
        self.busy = f"loading the state at event {index + 1:,}"
        if scrub.covers(index, scrub.ahead) or scrub.growing_to(index):
            scrub.wanted = index  # the window loading ahead of the key, or the one growing, will hold it
            self._wanted_now.set()  # (a growth resting from the user's keys goes on: _rest_from_input)
            return
        scrub.wanted, scrub.ahead, scrub.reach = index, None, None
        self._load_window(self.run_id, index)

    @work(exclusive=True, group="window", exit_on_error=False)
    async def _load_window(self, run_id: str | None, index: int) -> None:
        """A window of the run's history holding `index`, on a thread of the windows' own (see
        _window_pool): a new one cancels this one, which stops at its next look (_window_job)."""
        worker = get_current_worker()
        if self._window_pool is None:
            self._window_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agenttui-window")
        await asyncio.get_running_loop().run_in_executor(self._window_pool, self._window_job, worker, run_id, index)

    def _window_job(self, worker: Worker, run_id: str | None, index: int) -> None:
        """A window of the run's history holding `index` (tui/history/window.py): folded
        just past it (what the user waits for), handed over, then grown WINDOW_AFTER further (room
        for `]` and playback): the events are read here and folded on the UI thread, which owns
        the window from then on, a chunk at a time (~5 ms each)."""
        assert self.path is not None and run_id is not None
        # A load ahead of the first `[` lets the search index's attach (~0.2 s) go first: side by
        # side on two cores, a search in the first second found no index yet and scanned the run.
        deadline = time.monotonic() + ATTACH_WAIT
        while (self.scrub.wanted is None and not worker.is_cancelled and time.monotonic() < deadline
               and not self._attach_done.wait(0.01)):
            pass
        window: History | None = None
        try:
            with InspectorReader.open_scan(self.path) as reader:
                window = load_window(reader, run_id, index, after=WINDOW_FIRST, batch=WINDOW_CHUNK,
                                     cancelled=lambda: worker.is_cancelled, cache=self.scrub.snapshots)
                if worker.is_cancelled:
                    return
                reach = index + 1 + WINDOW_AFTER
                last = window.last_position
                self.app.call_from_thread(self._window_loaded, run_id, index, window, reach)
                chunk: list[Any] = []
                scrub = self.scrub
                for event in reader.events_after(run_id, last, batch=WINDOW_CHUNK):
                    chunk.append(event)
                    if len(chunk) >= WINDOW_CHUNK:
                        # growing past a cursor the window already holds is room for later: it
                        # waits while the user types (each chunk is ~5 ms of the UI thread, which
                        # a step's frame would wait for), unless the cursor waits for it
                        self._rest_from_input(lambda: worker.is_cancelled or scrub.wanted is not None)
                        if worker.is_cancelled or not self.app.call_from_thread(self._window_grown, window, chunk):
                            return
                        chunk = []
                        if event.seq is not None and event.seq >= reach:
                            break
                if chunk and not worker.is_cancelled:
                    self.app.call_from_thread(self._window_grown, window, chunk)
        except BaseException:  # (reported by the failure handler; the cursor may ask again)
            self.app.call_from_thread(self._window_loaded, run_id, index, None, None)
            raise
        finally:
            if window is not None and not worker.is_cancelled:
                self.app.call_from_thread(self._window_grown, window, [])

    def _window_loaded(self, run_id: str, index: int, window: History | None, reach: int | None) -> None:
        scrub = self.scrub
        if run_id != self.run_id or self.history is not None or self._status_bar() is None:
            return
        if scrub.ahead == index:
            scrub.ahead = None
        if window is None:
            scrub.wanted = scrub.reach = None
            self.busy = ""
            return
        scrub.window, scrub.reach = window, reach
        self._window_answers(new=True)

    def _window_grown(self, window: History | None, events: list[Any]) -> bool:
        """More of the current window's events, in seq order (none: it has grown all it will).
        False if the window is no longer the one in use (the worker stops)."""
        scrub = self.scrub
        if window is None or scrub.window is not window or self.history is not None:
            return False
        if not events:
            scrub.reach = None
            if scrub.wanted is not None and not scrub.holds(scrub.wanted):
                wanted, scrub.wanted = scrub.wanted, None
                self._want_window(wanted)  # (it fell short: the run ends, or has a gap)
            return False
        last = window.seq_of_index(len(window) - 1) if len(window) > window.first_index else None
        if last is not None and events[0].seq is not None and events[0].seq > last + 1:
            return False  # (not contiguous: the window ends where it is)
        window.extend(events)
        self._window_answers(new=False)
        return True

    def _window_answers(self, *, new: bool) -> None:
        """The window is new or grew: the panes show the cursor's state if it holds it now (a
        window that only grew past the cursor shows nothing new)."""
        scrub = self.scrub
        answered = scrub.wanted is not None and scrub.holds(scrub.wanted)
        if answered:
            scrub.wanted = None
            if self.busy.startswith("loading the state"):
                self.busy = ""
        if self.replay is not None and scrub.holds(self.replay):
            if new or answered:
                self._refresh_replay_panes()
        elif self.replay is not None and scrub.wanted is None and not scrub.growing_to(self.replay):
            self._want_window(self.replay)

    @work(thread=True, exclusive=True, group="store-tree", exit_on_error=False)
    def _load_store_tree(self, run_id: str) -> None:
        """The tree's top level from the store's projections, shown until the fold is done (on
        either backend: the worker opens its reader the way the app does)."""
        assert self.path is not None
        try:
            with InspectorReader.open_scan(self.path) as reader:
                nodes = load_store_nodes(reader, run_id, lambda: self.reader)
        except BaseException:
            # the tree waits for the fold instead; the failure itself is reported (report_failure)
            self.post_message(StoreTreeLoaded(run_id, None))
            raise
        self.post_message(StoreTreeLoaded(run_id, nodes))

    def on_store_tree_loaded(self, message: StoreTreeLoaded) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._store_tree_loaded(message.run_id, message.nodes)

    def _store_tree_loaded(self, run_id: str, nodes: StoreNodes | None) -> None:
        if run_id == self.run_id and self.history is None and nodes is not None and len(nodes):
            self.node_tree.show(nodes)
        self._index_then_fold(run_id)

    @work(thread=True, exclusive=True, group="type-counts", exit_on_error=False)
    def _count_types(self, run_id: str, upto_position: int) -> None:
        """Events per type, from the type index on a worker's connection (a second on a 1M run).
        Without them (a failure is reported), the picker counts on demand. The scan waits for the
        replay window loading ahead of the first `[` (on two cores it made that window's snapshot
        read and fold take twice as long), as the trouble marks' scan does."""
        assert self.path is not None
        self._wait_for_window(lambda: get_current_worker().is_cancelled, ahead=True)
        with InspectorReader.open_scan(self.path) as reader:
            counts = reader.type_counts(run_id, upto_position=upto_position)
        self.post_message(TypesCounted(run_id, counts, upto_position))

    def on_types_counted(self, message: TypesCounted) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._types_counted(message.run_id, message.counts, message.upto_position)

    def _types_counted(self, run_id: str, counts: dict[str, int], upto_position: int) -> None:
        if run_id != self.run_id or self.reader is None:
            return
        try:  # what was committed meanwhile: one small range of the index
            top = max(upto_position, self.reader.last_position(run_id))
            later = self.reader.type_counts(run_id, after_position=upto_position, upto_position=top)
        except Exception as exc:  # (locked past the UI's busy timeout): the picker counts on demand
            self.report_failure("counting event types", exc, show=False)
            return
        for event_type, n in later.items():
            counts[event_type] = counts.get(event_type, 0) + n
        self.type_counts = counts
        self._counts_position = top  # live events after it are counted as they arrive (_count_live)
        self.known_types = self.known_types | frozenset(counts)

    def _count_live(self, events: list[Event]) -> None:
        counts = self.type_counts
        if counts is None:
            return
        for e in events:
            if e.position is not None and e.position > self._counts_position:
                counts[e.event_type] = counts.get(e.event_type, 0) + 1
                self._counts_position = e.position

    @work(thread=True, exclusive=True, group="timeline", exit_on_error=False)
    def _load_history(self, run_id: str) -> None:
        """Fold the run from its events into the slider's History, on a thread (~15-20 s for a
        million events, after the first paint; the list, tree and search work meanwhile)."""
        worker = get_current_worker()
        path = self.path
        assert path is not None
        started = time.monotonic()
        shown = [-1]  # the percentage on the status bar

        def progress(done: int, total: int | None) -> None:
            # What is folded so far is history that never becomes garbage: frozen, the collector's
            # full collections (33 of them while a 1M-event run folds) skip it (19 -> 15 s).
            gc.freeze()
            self._wait_for_window(lambda: worker.is_cancelled, ahead=True)
            # the user is at the keyboard: the fold stands still (a window answers the slider meanwhile)
            self._rest_from_input(lambda: worker.is_cancelled)
            percent = 100 * done // total if total else -1
            if time.monotonic() - started > 0.2 and total and percent != shown[0]:
                shown[0] = percent  # (each report waits for the UI thread: once a percent)
                self.post_message(BusyText(run_id, f"loading run {percent}%"))

        try:
            with InspectorReader.open_scan(path) as reader:
                timeline = load_history(reader, run_id, batch=FOLD_BATCH, progress=progress,
                                        cancelled=lambda: worker.is_cancelled)
        except BaseException:
            self.post_message(BusyText(run_id, ""))  # the failure itself: report_failure
            raise
        if worker.is_cancelled or timeline is None:
            return
        # A million-event history is millions of long-lived objects: left to the collector, each
        # full collection walks them all (a 1-2 s freeze of the UI). Frozen, collections skip them.
        gc.freeze()
        self.post_message(HistoryLoaded(run_id, timeline))

    def on_busy_text(self, message: BusyText) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        if message.run_id == self.run_id:
            self.busy = message.text

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._history_loaded(message.run_id, message.history)

    def _history_loaded(self, run_id: str, history: History) -> None:
        if run_id != self.run_id:
            return
        pending, self._pending_live = self._pending_live, []
        if pending:
            history.extend(pending)  # it skips what the load already folded
        self.history = history
        self.scrub.window = None  # (the whole run answers every index now)
        self.scrub.wanted = self.scrub.ahead = None
        self.scrub.snapshots = {}
        self.workers.cancel_group(self, "window")
        self.busy = ""
        self.events_list.forget_nids()
        self._refresh_replay_panes()
        if self.detail.event is not None and self.detail.event.node_id:
            self._show_detail()  # the node's nid is known now
        self._reveal_selection()  # (the tree shows the whole History now, every node in it)
        # the window and the snapshot it started from are freed by now: give their pages back (they
        # were tens of MB in the middle of the workers' arenas, resident until trimmed)
        release_free_memory()

    def _nid_of(self, node_id: str) -> str | None:
        tl = self.history
        if tl is None:
            return None
        return tl.nid_at(node_id, len(tl) - 1) if len(tl) else None

    # ------------------------------------------------------------------ live events
    def _on_new_events(self, events: list[Event]) -> None:
        if self.reader is None:
            return
        picker = self.app.screen
        if isinstance(picker, RunPicker) and any(e.run_id not in picker.run_ids for e in events):
            picker.update_runs(self.reader.runs())
        if self.run_id is None:
            first = next((e.run_id for e in events if e.run_id != "unassigned"), events[0].run_id if events else None)
            if first is None:
                return
            self._show_run(first, reset_view=False)
            return
        mine = [e for e in events if e.run_id == self.run_id]
        if not mine:
            if self._waiting_for_run:  # (the list of runs the message names may have grown)
                self._say_missing_run(self.reader)
            return
        if self._waiting_for_run:
            self.run_row = self.reader.run(self.run_id)
            self._say_missing_run(self.reader)
            self._update_header()
        self._count_live(mine)
        if self.search.take_live(len(mine)):
            self._build_search_index(self.run_id)
        new_types = {e.event_type for e in mine} - self.known_types
        if new_types:
            self.known_types = self.known_types | new_types
        if self.history is not None:
            self.history.extend(mine)
        else:
            self._pending_live.extend(mine)
            self.scrub.add_live(mine)
        lst = self.events_list
        shown = [e for e in mine if self.view.accepts(e)] if self.view.active else mine
        self.search.add_live_matches(self.search_text, shown)
        lst.append(shown)
        self._update_list_header()
        if any(e.event_type in ("node_created", "node_added", "edge_added") for e in mine):
            lst.forget_nids()
        self._update_status()
        if self._live_refresh is None:
            # a fast writer commits hundreds of times a second: redraw tree, header and slider at
            # most every LIVE_REFRESH seconds (the list itself takes each commit at once)
            self._live_refresh = self.set_timer(LIVE_REFRESH, self._refresh_live_panes)

    def _refresh_live_panes(self) -> None:
        self._live_refresh = None
        if self._status_bar() is None:
            return
        self.run_row = self._live_run()
        if self.replay is None:
            self._refresh_replay_panes()
        else:
            self._update_slider()
            self._update_status()

    def _live_run(self) -> dict[str, Any] | None:
        tl = self.history
        if tl is not None and len(tl):
            return tl.run_at(len(tl) - 1)
        return self.reader.run(self.run_id) if self.reader is not None and self.run_id else None

    # ------------------------------------------------------------------ replay
    def _seq_of_index(self, index: int) -> int:
        tl = self.history
        return tl.seq_of_index(index) if tl is not None else index + 1

    def _refresh_replay_panes(self) -> None:
        """Tree, header, slider and status as of the replay cursor (or live)."""
        tl = self.scrub.source(self.history, self.replay)
        if tl is not None:
            self.node_tree.show(tl, self.replay)
        self._update_header()
        self._update_slider()
        self._update_status()

    def _update_header(self) -> None:
        if self._message is not None:
            return
        tl = self.history
        shown = self.scrub.source(tl, self.replay)
        if shown is not None and self.replay is not None:
            self.header.show(self.run_id, shown.run_at(self.replay), as_of=shown.timestamp_text_at(self.replay))
        elif tl is not None and len(tl):
            self.header.show(self.run_id, tl.run_at(len(tl) - 1))
        elif self.run_id is None:
            self.header.show(None, None, note=f"{display_name(self.path)}: no events yet, waiting for a run")
        else:
            self.header.show(self.run_id, self.run_row)

    def _update_slider(self) -> None:
        slider = self.slider
        tl = self.scrub.slider_source(self.history)
        total = len(tl) if tl is not None else self.events_list.count
        if slider.timeline is not tl:
            slider.timeline = tl
        slider.total = total
        slider.live = self.replay is None
        slider.index = self.replay if self.replay is not None else max(0, total - 1)

    def _status_bar(self) -> StatusBar | None:
        """The status bar, looked up once (a DOM query per slider step costs ~5 ms)."""
        bar = self._status_widget
        if bar is None or not bar.is_attached:
            found = self.query("#status")
            bar = self._status_widget = found.first(StatusBar) if found else None
        return bar

    def _update_status(self) -> None:
        bar = self._status_bar()
        if bar is None:
            return  # shutting down: the screen is gone
        lst = self.events_list
        info = StatusInfo(follow=lst.follow, unseen=lst.unseen, row=lst.cursor, rows=lst.count,
                          total=self._run_total(),
                          busy=self.busy, notice=self.notice, speed=self.playback.speed)
        if self._message is not None:
            info.mode = "WAITING"
            info.rows = 0
        elif self.replay is not None:
            info.mode = "PLAY" if self.playback.playing else "REPLAY"
            tl = self.scrub.source(self.history, self.replay)
            if tl is not None:
                info.position, info.timestamp = tl.position_of_index(self.replay), tl.timestamp_text_at(self.replay)
            info.column = self.slider.cursor_note()
        node_label = self._nid_of(self.view.node_id) or "" if self.view.node_id else ""
        info.filters = self.view.describe(node_label)
        if self.search_text:
            info.search = self.search_text
            if self.search.matches is not None:
                info.match_count = len(self.search.matches)
                info.match_index = self.search.match_index(lst.cursor_seq)
        bar.show(info)

    def _run_total(self) -> int:
        """The run's events as of the newest commit taken: the unfiltered list's own count, else
        the live per-type counts (the run row is refreshed only every LIVE_REFRESH, so a live run
        showed "54/101 of 97" between two refreshes)."""
        lst = self.events_list
        if not lst.source.filtered:
            return lst.count
        if self.type_counts is not None:
            return sum(self.type_counts.values())
        return max(self.run_row.get("event_count", 0) if self.run_row else 0, lst.count)

    # ------------------------------------------------------------------ list, detail and tree
    @on(EventList.CursorMoved)
    def _on_cursor_moved(self, message: EventList.CursorMoved) -> None:
        if not self.query("#events"):
            return  # a move queued while the screen is being torn down (quitting)
        seq = self.events_list.cursor_seq
        if (self.replay is not None and not self.playback.playing and seq is not None
                and seq != self._replay_row_seq):
            self.replay = self._index_of_seq(seq)  # in replay, the time cursor follows the selection
        if self.events_list.follow and self.replay is None:
            # following a live run: the cursor moves with every commit; rebuilding the detail's JSON
            # tree each time (a layout of the screen) would delay the rows themselves, so the
            # detail catches up at most every DETAIL_FOLLOW seconds
            if self._detail_timer is None:
                self._detail_timer = self.set_timer(DETAIL_FOLLOW, self._show_detail)
            if self._reveal_timer is None:
                self._reveal_timer = self.set_timer(REVEAL_REST, self._reveal_selection)
        else:
            if self._detail_timer is not None:
                self._detail_timer.stop()
            self._detail_timer = self.set_timer(DETAIL_DEBOUNCE, self._show_detail_after_frame)
            if self._reveal_timer is not None:
                self._reveal_timer.stop()
            self._reveal_timer = self.set_timer(REVEAL_REST, self._reveal_selection)
        self._update_status()

    def _show_detail_after_frame(self) -> None:
        """The detail rebuilds its JSON tree (and the screen's layout) only once the frame the
        cursor's move asked for is on screen: a key's answer never waits for the detail."""
        self._detail_timer = None
        self.call_after_refresh(self._show_detail_at_rest)

    def _show_detail_at_rest(self) -> None:
        if self._input_waiting():  # (the key moves the cursor again: the detail waits for that)
            self._detail_timer = self.set_timer(DETAIL_DEBOUNCE, self._show_detail_after_frame)
            return
        self._show_detail()

    def caught_up(self) -> bool:
        """Whether the panes that follow the list's cursor once it rests have followed it: the
        detail pane shows the cursor's event and the tree's reveal of its node has run (both wait
        on timers, so screenshots and tests wait for this rather than sleeping)."""
        seq = self.events_list.cursor_seq
        detail = self.detail
        return (self._detail_timer is None and self._reveal_timer is None
                and (seq is None or not detail.display or (detail.event is not None and detail.event.seq == seq)))

    def _input_waiting(self) -> bool:
        """Whether a key or a click waits to be handled. What the panes do once the cursor rests
        (the detail, the tree's reveal) gives way to it: a key handled after them waits for their
        redraw, a layout of the screen if the tree's scrollbar comes or goes (a slider step's frame
        2-4x as long). A key is queued to the app (by the driver's thread), which runs a time key
        at once (a priority binding) and passes others on to the focused widget, which lets them
        bubble up to the screen: it is in one of those queues until it is handled (a handler
        that does not await is not interrupted). The mouse's moves do not count."""
        pump: Any = self.app.focused
        pumps: list[Any] = [self.app]
        while pump is not None and pump is not self.app:
            pumps.append(pump)
            pump = pump.parent
        try:
            return any(isinstance(m, (Key, MouseEvent)) and not isinstance(m, MouseMove)
                       for p in pumps for m in getattr(p._message_queue, "values", ()))  # (Textual's Queue)
        except AttributeError:  # a Textual without these internals: the panes follow at once, as before
            return False

    def _show_detail(self) -> None:
        self._detail_timer = None
        if not self.query("#events"):
            return  # the timer outlived the screen (quitting)
        e = self._selected_event()
        node_label = (self._nid_of(e.node_id) or "") if e is not None and e.node_id else ""
        if not self.detail.display:
            return  # collapsed: shown when it opens again
        if e is not self.detail.event or node_label != self._detail_node_label:
            # (the same event again when the fold has just named its node)
            self._detail_node_label = node_label
            self.detail.show_event(e, node_label=node_label)

    def _reveal_selection(self) -> None:
        """The path to the selected event's node opens in the tree (see REVEAL_REST)."""
        self._reveal_timer = None
        if not self.query("#events"):
            return  # the timer outlived the screen (quitting)
        if self._input_waiting():
            self._reveal_timer = self.set_timer(REVEAL_REST, self._reveal_selection)
            return
        e = self._selected_event()
        if e is not None:
            self.node_tree.reveal(e.node_id)

    def _selected_event(self) -> Event | None:
        lst = self.events_list
        seq = lst.cursor_seq
        return lst.event(seq) if seq is not None else None

    @on(EventList.ColumnsChanged)
    def _on_columns_changed(self, message: EventList.ColumnsChanged) -> None:
        self._update_list_header()

    def action_zoom(self) -> None:
        self.panes.toggle_zoom(self)

    def action_toggle_detail(self) -> None:
        if self.panes.toggle_detail(self):
            self._show_detail()  # (it did not follow the cursor while collapsed)

    @on(EventList.FollowChanged)
    def _on_follow_changed(self, message: EventList.FollowChanged) -> None:
        # the list's state now, not the message's: a later change may already have overtaken it
        self.follow = self.events_list.follow
        self._update_status()

    @on(EventList.Opened)
    def _on_opened(self, message: EventList.Opened) -> None:
        self._show_detail()
        self.detail.focus()

    def action_focus_next(self) -> None:
        self.focus_next()

    def action_focus_previous(self) -> None:
        self.focus_previous()

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, EventList):
            focused.key_enter()

    def action_toggle_follow(self) -> None:
        lst = self.events_list
        if self.replay is not None:
            self.action_live()
            return
        self.follow = not lst.follow

    def action_pick_run(self) -> None:
        if self.reader is None:
            return
        runs = self.reader.runs()
        if not runs:
            self.notify("no runs in this file yet", timeout=2, markup=False)
            return

        def chosen(run_id: str | None) -> None:
            if run_id is not None and run_id != self.run_id:
                self._show_run(run_id, reset_view=True)

        self.app.push_screen(RunPicker(runs, self.run_id), chosen)

    # ------------------------------------------------------------------ filter and search
    def _rebuild_view(self, *, keep_seq: int | None = None, jump_to_match: bool = False) -> None:
        """Show the list for the current filter, and find the search's matches, in a worker."""
        self._view_generation += 1
        self.node_tree.set_chosen(self.view.node_id)
        lst = self.events_list
        if keep_seq is None:
            keep_seq = lst.cursor_seq
        self.search.matches = None
        lst.matches = None
        if self.reader is None or self.run_id is None:
            return
        upto = self.reader.last_seq(self.run_id)
        if not self.view.active and lst.source.filtered:
            lst.set_source(AllRows(upto), keep_seq=keep_seq)
        if not self.view.active and not self.search_text:
            lst.refresh_rows()
            self.busy = ""
            self._after_view_change()
            return
        self.busy = "searching…" if self.search_text else "filtering…"
        counts = self._type_counts_upto(upto) if self.view.active else None
        if counts is not None:
            self._show_tail_first(upto, counts)
        found, first = self._first_match_inline(keep_seq) if jump_to_match else (False, None)
        if found and first is None:  # the whole run was read: no match to look for
            self._matches_built(self._view_generation, self.view, self.search_text, upto, array("q"))
            return
        build = partial(self._build_view, self._view_generation, self.run_id, self.view, self.search_text, upto,
                        keep_seq, jump_to_match and not found, counts)
        if found:
            # the match is on its way to the screen: the scan for all matches (which competes
            # with that frame for the GIL) starts once it is painted
            generation = self._view_generation  # (a newer view by then has its own worker: not replaced)
            self.call_after_refresh(lambda: generation == self._view_generation and build())
        else:
            build()

    def _first_match_inline(self, keep_seq: int | None) -> tuple[bool, int | None]:
        """Jump to the search's first match from the UI thread when a short read decides it (with
        the index: a few candidate blocks; a term found nowhere reads none), so the answer costs
        one frame instead of a worker's hand-over and a "searching…" frame. (False, None): the
        worker finds it. Not for a filtered list: the worker's rows must land before the jump."""
        if self.view.active or self.reader is None or self.run_id is None or not self.search_text:
            return False, None
        try:
            decided, seq = self.reader.first_match_within(self.run_id, self.search_text, after_seq=keep_seq or 0,
                                              index=self.search.index, max_positions=INLINE_POSITIONS)
        except Exception as exc:  # (a locked database, say): the worker tries
            self.report_failure("searching on the UI thread", exc, show=False)
            return False, None
        if decided:
            self._first_match_found(self._view_generation, self.search_text, seq)
        return decided, seq

    def _next_match_inline(self, from_seq: int, *, backward: bool = False) -> bool:
        """`n` (`N`: backward) before the worker has every match: the next (previous) one from the
        UI thread, if a short read finds it (see _first_match_inline). False when it does not decide."""
        if self.reader is None or self.run_id is None or not self.search_text:
            return False
        try:
            decided, seq = self.reader.first_match_within(self.run_id, self.search_text, after_seq=from_seq,
                                              index=self.search.index, max_positions=INLINE_POSITIONS,
                                              backward=backward)
        except Exception as exc:  # (a locked database, say): "still searching…", the worker finds it
            self.report_failure("searching on the UI thread", exc, show=False)
            return False
        if not decided or seq is None:
            return False
        self._show_match(seq)
        return True

    def _show_match(self, seq: int) -> None:
        lst = self.events_list
        if lst.follow:
            lst.set_follow(False)
        lst.go_to_seq(seq)
        self._update_status()

    def _type_counts_upto(self, upto: int) -> dict[str, int] | None:
        """Events per type of the run up to seq `upto` (None until they were counted): the kept
        counts plus one small range of positions committed since."""
        counts = self.type_counts
        if counts is None or self.reader is None or self.run_id is None:
            return None
        try:
            position = self.reader.position_of_seq(self.run_id, upto) if upto else None
            since = (self.reader.type_counts(self.run_id, after_position=self._counts_position,
                                 upto_position=position) if position and position > self._counts_position else {})
        except Exception as exc:  # (a locked database, say): the worker reads each row's seq instead
            self.report_failure("counting event types", exc, show=False)
            return None
        out = {t: n for t, n in counts.items() if n}
        for t, n in since.items():
            out[t] = out.get(t, 0) + n
        return out

    def _show_tail_first(self, upto: int, counts: dict[str, int]) -> None:
        """A type filter repaints at once: its row count from the type counts and its newest rows
        from the type index; the worker's full list replaces them (keeping the cursor).

        Only for the list's usual state (following the newest event, no node filter): elsewhere
        the cursor's row needs the full list anyway.
        """
        lst = self.events_list
        view = self.view
        if (view.node_id is not None or not lst.follow or self.replay is not None or self.reader is None
                or self.run_id is None):
            return
        shown = sorted(t for t in counts if view.accepts_type(t))
        height = max(1, lst.scrollable_content_region.height)
        try:
            tail = self.reader.tail_seqs(self.run_id, types=shown, upto_seq=upto, limit=max(TAIL_ROWS, 3 * height))
        except Exception as exc:  # the worker's list still comes
            self.report_failure("reading a filter's newest rows", exc, show=False)
            return
        lst.set_source(TailRows(sum(counts[t] for t in shown), tail), keep_seq=None)

    @work(thread=True, exclusive=True, group="view", exit_on_error=False)
    def _build_view(self, generation: int, run_id: str, view: ViewFilter, search: str | None, upto: int,
                    keep_seq: int | None, jump_to_match: bool = False, counts: dict[str, int] | None = None) -> None:
        """Rows first (so a filter repaints at once), then the first match, then all matches."""
        worker = get_current_worker()
        assert self.path is not None
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        try:  # a failure is reported by the app (report_failure); the busy text is cleared here
            with InspectorReader.open(self.path) as reader:
                if view.active:
                    rows = reader.matching_seqs(run_id, view.store_filter(), upto_seq=upto, cancelled=cancelled,
                                         type_counts=counts)
                    if rows is None:
                        return
                    self.post_message(RowsBuilt(generation, view, upto, rows, keep_seq))
                if not search:
                    return
                index = self._index_for_search(run_id)  # (partly built is fine)
                if jump_to_match:
                    first = reader.first_match(run_id, view.store_filter(search), after_seq=keep_seq or 0,
                                        index=index, cancelled=cancelled)
                    if worker.is_cancelled:
                        return
                    self.post_message(FirstMatchFound(generation, search, first))
                    if first is None:  # it read the whole run: no match to look for (later ones: _catch_up)
                        self.post_message(MatchesBuilt(generation, view, search, upto, array("q")))
                        return
                matches = reader.matching_seqs(run_id, view.store_filter(search), upto_seq=upto,
                                        cancelled=cancelled, index=index)
                if matches is None:
                    return
                self.post_message(MatchesBuilt(generation, view, search, upto, matches))
        except BaseException:
            self.post_message(BusyText(run_id, ""))
            raise

    def on_rows_built(self, m: RowsBuilt) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._rows_built(m.generation, m.view, m.upto, m.rows, m.keep_seq)

    def on_first_match_found(self, m: FirstMatchFound) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._first_match_found(m.generation, m.search, m.seq)

    def on_matches_built(self, m: MatchesBuilt) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._matches_built(m.generation, m.view, m.search, m.upto, m.matches)

    def _catch_up(self, view: ViewFilter, search: str | None, upto: int, seqs: array) -> None:
        """Add what arrived while a worker ran: one small indexed query past its snapshot."""
        assert self.reader is not None and self.run_id is not None
        if self.reader.last_seq(self.run_id) > upto:
            seqs.extend(self.reader.matching_seqs(self.run_id, view.store_filter(search), after_seq=upto,
                                      index=self.search.index) or array("q"))

    def _rows_built(self, generation: int, view: ViewFilter, upto: int, rows: array,
                    keep_seq: int | None) -> None:
        if generation != self._view_generation or self.reader is None:
            return
        self._catch_up(view, None, upto, rows)
        lst = self.events_list
        if isinstance(lst.source, TailRows) and lst.cursor_seq is not None:
            keep_seq = lst.cursor_seq  # the user may have moved among the first rows shown
        lst.set_source(FilteredRows(rows), keep_seq=keep_seq)
        if not self.search_text:
            self.busy = ""
        self._after_view_change()

    def _first_match_found(self, generation: int, search: str, seq: int | None) -> None:
        if generation != self._view_generation:
            return
        if seq is None:
            self.notify(f"no event payload contains {clean(search, limit=40)!r}", timeout=3, markup=False)
            return
        self._show_match(seq)

    def _matches_built(self, generation: int, view: ViewFilter, search: str | None, upto: int,
                       matches: array) -> None:
        if generation != self._view_generation or self.reader is None:
            return
        self._catch_up(view, search, upto, matches)
        self.search.matches = matches
        self.events_list.matches = matches
        self.events_list.refresh_rows()
        self.busy = ""
        self._update_status()

    def _after_view_change(self) -> None:
        if self.replay is not None:
            self.events_list.go_to_seq(self._seq_of_index(self.replay))
        self._update_status()

    def on_node_tree_node_chosen(self, message: NodeTree.NodeChosen) -> None:
        """Enter on a node narrows the list to its events; on the chosen node again, widens it."""
        node_id = message.node_id
        if node_id == self.view.node_id:
            node_id = None
        self.view = ViewFilter(types=self.view.types, hidden=self.view.hidden, node_id=node_id)
        self._rebuild_view()

    def action_node_filter(self) -> None:
        """Narrow the list to the event's node (or back to all nodes)."""
        lst = self.events_list
        seq = lst.cursor_seq
        e = lst.event(seq) if seq is not None else None
        node_id = e.node_id if e is not None else None
        if self.view.node_id is not None:
            node_id = None
        self.view = ViewFilter(types=self.view.types, hidden=self.view.hidden, node_id=node_id)
        self._rebuild_view()

    # ------------------------------------------------------------------ search and filter keys
    def action_search(self) -> None:
        self.query_one(SearchBar).open(self.search_text or "")

    def on_input_submitted(self, message: SearchBar.Submitted) -> None:
        if not isinstance(message.input, SearchBar):
            return
        bar = self.query_one(SearchBar)
        bar.close()
        self.events_list.focus()
        text = message.value
        self.search_text = text or None
        self._rebuild_view(jump_to_match=bool(text))

    def on_search_bar_closed(self, message: SearchBar.Closed) -> None:
        self.events_list.focus()

    def action_next_match(self) -> None:
        self._go_to_match(1)

    def action_previous_match(self) -> None:
        self._go_to_match(-1)

    def _go_to_match(self, direction: int) -> None:
        matches = self.search.matches
        if not self.search_text:
            self.notify("no search yet: press / to search", timeout=2, markup=False)
            return
        lst = self.events_list
        if matches is None:
            # all matches are still being marked (a common term in a big run takes a second):
            # the next or previous one is usually a short read away
            if not self.view.active and self._next_match_inline(lst.cursor_seq or 0, backward=direction < 0):
                return
            self.notify("still searching…", timeout=1, markup=False)
            return
        target = self.search.next_match(lst.cursor_seq or 0, direction)
        if target is not None:
            self._show_match(target)

    def action_clear(self) -> None:
        """Escape: close the search, else drop the search, else the node filter, else the type filter."""
        bar = self.query_one(SearchBar)
        if bar.is_open:
            bar.close()
            self.events_list.focus()
        elif self.search_text:
            self.search_text = None
            self._rebuild_view()
        elif self.view.node_id is not None:
            self.view = ViewFilter(types=self.view.types, hidden=self.view.hidden)
            self._rebuild_view()
        elif self.view.active:
            self.view = ViewFilter()
            self._rebuild_view()
        elif self.replay is not None:
            self.action_live()

    def action_pick_types(self) -> None:
        if self.reader is None or self.run_id is None:
            return
        if self.type_counts is not None:
            counts = {t: n for t, n in self.type_counts.items() if n}
        else:  # not counted yet (the run was just opened): count now
            counts = self.reader.count_by_type(run_id=self.run_id)
        self.known_types = frozenset(counts) | self.known_types
        shown = self.view.shown_types(self.known_types)

        def chosen(result: frozenset[str] | None) -> None:
            if result is None:
                return
            self.view = self.view.with_types(result, self.known_types)
            self._rebuild_view()

        self.app.push_screen(TypePicker(counts, shown), chosen)

    # ------------------------------------------------------------------ time cursor and playback
    def _history_ready(self) -> bool:
        """Whether the slider can move; if not, say why instead of ignoring the key (a 1M-event
        run's history takes ~20 s to fold in the background)."""
        tl = self.history
        if (tl is not None and len(tl)) or (tl is None and self.scrub.total):
            return True
        if tl is None and self.run_id is not None:
            self.notify("the run's outline is still loading: the time slider works once it is in",
                        timeout=2, markup=False)
        return False

    def on_time_slider_scrubbed(self, message: TimeSlider.Scrubbed) -> None:
        if not self._history_ready():
            return
        self.playback.stop()
        self.replay = message.index

    def _time_key(self) -> None:
        """A time key (a priority binding) pressed in the search bar is the bar's to type."""
        if isinstance(self.focused, Input):
            raise SkipAction()

    def action_step(self, delta: int) -> None:
        self._time_key()
        if not self._history_ready():
            return
        tl = self.history
        self.playback.stop()
        total = len(tl) if tl is not None else self.scrub.total
        start = self._time_start()
        current = start if start is not None else total - 1
        self.replay = max(0, min(total - 1, current + delta))
        self._paint_now()

    def _paint_now(self) -> None:
        """Draw a time key's changes now, not at the screen's next update tick: Textual draws at
        most 60 frames a second on a fixed beat, so a step that came within 1/60 s of another frame
        (the detail's, the header's clock) waited up to 16 ms for its own, idle (a third of the
        steps of the scrub benchmark). What a step changes is drawn by then (see watch_replay).

        This does what Textual does between a widget's refresh() and the tick (Widget._check_refresh
        posts an Update to the screen, whose handler marks it dirty), for the panes only, and leaves
        a step that scrolls, lays out or restyles to the tick (tests/test_tui_step_yields.py fails
        if this stops drawing the step).
        """
        try:
            if not self.is_current or self.app._batch_count:
                return
            panes = [self.events_list, self.node_tree, self.header, self.slider, self.detail, self._status_bar()]
            if any(p is None or p._layout_required or p._scroll_required or p._refresh_styles_required
                   for p in panes):
                return
            for pane in panes:
                if pane is not None and pane._repaint_required and pane.display:
                    pane._repaint_required = False
                    self._dirty_widgets.add(pane)
            update = self._on_timer_update  # (what the screen's update timer calls)
        except AttributeError:  # a Textual without these internals: the step is drawn at the next tick
            return
        update()

    def _time_start(self) -> int | None:
        """Where the time keys start: the replay cursor, else the event selected in the list (a user
        who picked event #10 and pressed `[` means #9, not the run's end); None: from the end."""
        if self.replay is not None:
            return self.replay
        lst = self.events_list
        if lst.follow or lst.cursor_seq is None:
            return None
        return self._index_of_seq(lst.cursor_seq)

    def _index_of_seq(self, seq: int) -> int:
        tl = self.history
        if tl is None:
            return seq - 1  # (before the fold, index = seq - 1: see _seq_of_index)
        index = tl.index_of_seq(seq)
        return index if index is not None else 0

    def action_replay_here(self) -> None:
        """Replay to the selected event; in the tree, to the node's first event (again: its last)."""
        if not self._history_ready():
            return
        if self.focused is self.node_tree:
            node = self.node_tree.cursor_node
            node_id = node.data if node is not None else None
            tl = self.history
            if node_id is None:
                self.notify("no node selected", timeout=2, markup=False)
                return
            if tl is None:
                self.notify("a node's events are known once the run is folded (see the status bar)",
                            timeout=3, markup=False)
                return
            own = tl.events_of(node_id)
            if not len(own):
                self.notify("no event of this node yet", timeout=2, markup=False)
                return
            target = own[-1] if self.replay == own[0] else own[0]
        else:
            seq = self.events_list.cursor_seq
            if seq is None:
                self.notify("no event selected", timeout=2, markup=False)
                return
            target = self._index_of_seq(seq)
        self.playback.stop()
        self.replay = target

    def action_jump(self, fraction: float) -> None:
        self._time_key()
        if not self._history_ready():
            return
        tl = self.history
        total = len(tl) if tl is not None else self.scrub.total
        step = max(1, round(total * abs(fraction)))
        self.action_step(step if fraction > 0 else -step)

    def action_live(self) -> None:
        self.playback.stop()
        self.replay = None

    def action_error_mark(self, direction: int) -> None:
        if not self._history_ready():
            return
        tl = self.scrub.slider_source(self.history)
        if tl is None or not tl.mark_count():
            self.notify("no errors or failed nodes in this run", timeout=3, markup=False)
            return
        start = self._time_start()
        current = start if start is not None else len(tl)
        target = tl.next_mark(current) if direction > 0 else tl.prev_mark(current)
        if target is None:
            self.notify("no more errors that way", timeout=2, markup=False)
            return
        self.playback.stop()
        self.replay = target

    # ------------------------------------------------------------------ playback
    def action_play(self) -> None:
        if self.playback.playing:
            self.playback.stop()
            self._update_status()
            return
        if not self._history_ready():
            return
        total = len(self.history) if self.history is not None else self.scrub.total
        if self.replay is None:
            seq = self.events_list.cursor_seq or 1
            start = seq - 1 if seq < total else 0
        else:
            start = self.replay if self.replay < total - 1 else 0
        self.playback.start(self.set_interval(PLAY_FRAME, self._play_frame))
        self.replay = start  # (playing already: the status says PLAY)

    def _play_frame(self) -> None:
        """Advance to the last event due by now, in the run's own timing times the speed."""
        if not self.playback.playing or self.replay is None:
            self.playback.stop()
            return
        tl = self.scrub.source(self.history, self.replay)
        if tl is None:
            return  # the window the cursor is in is loading: playback waits for it
        index = self.playback.advance(tl, self.replay)
        if index != self.replay:
            self.replay = index
        total = len(self.history) if self.history is not None else self.scrub.total
        if index >= total - 1:
            self.playback.stop()
            self._update_status()
        elif self.history is None and index >= len(tl) - 1:
            self._want_window(index + 1)  # the window's end: the next one, playback waits for it

    def action_speed(self, delta: int) -> None:
        speed = self.playback.change_speed(delta)
        self.notify(f"playback {speed}x", timeout=1.5, markup=False)
        self._update_status()

    # ------------------------------------------------------------------ misc
    def action_summary(self) -> None:
        """The run summary panel (tui/screens/summary.py) for the run shown; it reads on its own thread."""
        if self.path is None or self.run_id is None:
            self.notify("no run to summarise yet", timeout=2, markup=False)
            return
        from .summary import SummaryScreen  # (the report's modules: imported on first use, not to open)

        self.app.push_screen(SummaryScreen(self.path, self.run_id))

    def action_copy(self) -> None:
        text = self.detail.payload_text()
        if text is None:
            return
        self.app.copy_to_clipboard(text)
        event = self.detail.event
        copied = f"copied event #{event.position if event is not None else '?'} ({len(text):,} characters)"
        warning = clipboard_warning()
        if warning:
            self.notify(f"{copied}; {warning}", severity="warning", timeout=8, markup=False)
        else:
            self.notify(copied, timeout=2, markup=False)

