"""`agenttui open`: the live inspector on one store file (or a folder of them).

Data flows one way: the writer commits -> the store's follower thread sees the commit and reads the new
events -> this app appends them to the event list and feeds them to the History (the fold), which
the tree, header and slider show. The app opens the database read-only and never writes to it.

Every key is a `Binding` with an id (remap with AGENTTUI_KEYMAP="search=ctrl+f;quit=ctrl+q"), shown
in the footer and the help screen, and offered in the command palette.
"""
from __future__ import annotations

import gc
import logging
import os
import sys
import time
from array import array
from bisect import bisect_left
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from agenttui.store import Event, NotAStoreError, SchemaTooNewError
from agenttui.store.follow import StoreFollower

from .commands import InspectorCommands
from .filtering import FilteringMixin
from .playback import SPEEDS, PlaybackMixin
from .components.detail import DetailPane
from .components.event_list import AllRows, EventList
from .components.header import RunHeader
from .components.help_screen import HelpScreen
from .components.node_tree import NodeTree
from .components.run_picker import RunPicker
from .components.search_bar import SearchBar
from .components.session_picker import SessionPicker
from .components.status_bar import StatusBar, StatusInfo
from .components.time_slider import TimeSlider
from .literal import clean
from .messages import (BusyText, HistoryLoaded, SearchIndexDone, SearchIndexStarted, StoreChanged, StoreTreeLoaded,
                       TypesCounted)
from .data.reader import InspectorReader
from .data.store_tree import StoreNodes, load_store_nodes
from .data.targets import Change, display_name, follower_for, resolve
from .history import History, load_history
from .view_filter import ViewFilter, payload_matches

if TYPE_CHECKING:  # numpy comes with the index, after the first paint
    from .data.search_index import SearchIndex

logger = logging.getLogger("agenttui.tui")

#: What each worker group does, as a failure report names it.
WORK_NAMES = {"search-index": "indexing the run for search", "store-tree": "reading the node tree",
              "type-counts": "counting event types", "timeline": "folding the run's history",
              "view": "filtering the list"}
#: How long the UI thread waits on a locked database before showing what it has (and retrying).
UI_BUSY_TIMEOUT_MS = 250
#: Events folded between two looks at whether the user is typing (the fold of a big run takes a while).
FOLD_BATCH = 2000
#: After a key press, the fold pauses this long between batches for this many seconds.
FOLD_PAUSE = 0.05
INPUT_GRACE = 1.0
#: The detail pane follows the list's cursor once it rests this long (a user's moves) ...
DETAIL_DEBOUNCE = 0.03
#: ... or at most this often while the list follows a live run (see _on_cursor_moved).
DETAIL_FOLLOW = 0.25
#: Live events a search scans past the search index before a worker extends it (~10 ms of LIKE).
INDEX_LAG = 4096
#: Shortest interval between two redraws of the tree, header and slider for live events (the list
#: takes each commit at once; at 50 ms these redraws held up a commit's frame often enough to cost
#: ~10 ms of commit-to-screen p95).
LIVE_REFRESH = 0.1


class AgentTuiApp(FilteringMixin, PlaybackMixin, App[int]):
    """The inspector. `clock` (returns an aware datetime) fixes "now" for deterministic screens."""

    TITLE = "agenttui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {InspectorCommands}
    ENABLE_COMMAND_PALETTE = True
    AUTO_FOCUS = "#events"

    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit the inspector"),
        Binding("question_mark,f1", "help", "Help", id="help", tooltip="This help: every key and its id"),
        Binding("slash", "search", "Search", id="search", tooltip="Search the run's payloads (case-insensitive)"),
        Binding("n", "next_match", "Next match", show=False, id="next_match", tooltip="Next search match"),
        Binding("N", "previous_match", "Prev match", show=False, id="previous_match",
                tooltip="Previous search match"),
        Binding("t", "pick_types", "Types", id="pick_types",
                tooltip="Pick the event types to show (with counts per type)"),
        Binding("escape", "clear", "Clear", show=False, id="clear",
                tooltip="Close the search; else clear the search, the node filter, the type filter; else go live"),
        Binding("f", "toggle_follow", "Follow", id="follow", tooltip="Follow the newest event (toggle)"),
        Binding("left_square_bracket", "step(-1)", "Back", id="step_back", tooltip="Time cursor one event back"),
        Binding("right_square_bracket", "step(1)", "Fwd", id="step_forward",
                tooltip="Time cursor one event forward"),
        Binding("left_curly_bracket", "jump(-0.05)", "-5%", show=False, id="jump_back",
                tooltip="Time cursor back 5% of the run"),
        Binding("right_curly_bracket", "jump(0.05)", "+5%", show=False, id="jump_forward",
                tooltip="Time cursor forward 5% of the run"),
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

    def __init__(
        self,
        path: str | os.PathLike[str],
        run_id: str | None = None,
        types: Iterable[str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        poll_interval: float = 0.25,
        use_file_events: bool = True,
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.target = resolve(path)  # a path made absolute, or a postgresql:// URL as given
        self.path: str | None = None if os.path.isdir(self.target) else self.target
        self.requested_run = run_id
        self.fixed_clock = clock is not None
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.poll_interval = poll_interval
        self.use_file_events = use_file_events
        self.user_keymap = dict(keymap or {})
        #: the UI thread's read model (workers open their own: a connection serves one thread)
        self.reader: InspectorReader | None = None
        self.watcher: StoreFollower | None = None
        self.run_id: str | None = None
        self.run_row: dict[str, Any] | None = None
        self.timeline: History | None = None
        self._pending_live: list[Event] = []
        self.view = ViewFilter(types=frozenset(types) if types else None)
        self.search_text: str | None = None
        self.matches: array | None = None
        #: the run's payload search pre-filter (SQLite targets), usable while its worker builds it
        self.search_index: SearchIndex | None = None
        self._unindexed = 0  # live events of the run since the index was last extended
        self._switch_interval = sys.getswitchinterval()  # the interpreter's, restored on unmount
        self.replay: int | None = None
        self.playing = False
        self.speed_index = 0
        self._play_timer = None
        self._play_anchor: tuple[float, float] | None = None  # (wall time, run seconds still owed) of the last step
        self.notice = ""
        self.busy = ""
        self.known_types: frozenset[str] = frozenset()
        #: events per type of the run as of `_counts_position` (None until a worker counted them
        #: after the first paint; live events keep it exact): the picker's counts, a filter's row count
        self.type_counts: dict[str, int] | None = None
        self._counts_position = 0
        self._view_generation = 0
        self._detail_timer = None
        self._detail_node_label = ""
        self._message: str | None = None
        self._status_widget: StatusBar | None = None
        self._list_header = ""
        self._last_input = 0.0
        self._live_refresh = None

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
    def tree(self) -> NodeTree:
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
        # Workers (the tree's first level, the index, the fold) and the UI thread share the GIL. A
        # thread that gives it up on every SQLite step waits up to the switch interval to get it back
        # while the other one runs Python: at the default 5 ms, the tree of a 10,000-node run came
        # 0.2-0.4 s after first paint instead of ~0.05 s, and keys waited on the fold.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.0005))
        keymap = dict(parse_keymap(os.environ.get("AGENTTUI_KEYMAP", "")))
        keymap.update(self.user_keymap)
        if keymap:
            self.set_keymap(keymap)
        self.events_list.nid_of = self._nid_of
        self.query_one("#list-header", Static).update(Text(""))
        if not self.fixed_clock:
            self.set_interval(1.0, self.header.tick)
        if self.path is None:
            self.push_screen(SessionPicker(self.target), self._session_chosen)
            self._show_message(f"choose a session file in {self.target}")
            return
        self._open()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent)):
            self._last_input = time.monotonic()  # the fold of a big run makes way (see _load_timeline)
        await super().on_event(event)

    def _session_chosen(self, path: str | None) -> None:
        if path is None:
            self.exit(0)
            return
        self.path = path
        self._open()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        self._stop_watcher()
        self._close_store()

    # ------------------------------------------------------------------ opening the file
    def _open(self) -> None:
        """Open (or reopen) the file; wait for it if it is not there yet."""
        assert self.path is not None
        self._close_store()
        name = display_name(self.path)
        try:
            # a short busy timeout: the UI thread must not hang on a writer's exclusive lock
            reader = InspectorReader.open(self.path, busy_timeout_ms=UI_BUSY_TIMEOUT_MS)
        except FileNotFoundError:
            self._show_message(f"waiting for {name}…\n\n{self.path} does not exist yet; it opens as soon as a "
                               "writer creates it.")
            self._watch(None)
            return
        except SchemaTooNewError as exc:
            self._show_message(f"cannot open {name}\n\n{exc}", error=True)
            self._watch(None)
            return
        except NotAStoreError as exc:
            if "no schema" in str(exc):
                self._show_message(f"waiting for {name}…\n\nthe writer is still creating it.")
            else:
                self._show_message(f"cannot open {name}\n\n{exc}", error=True)
            self._watch(None)
            return
        except Exception as exc:  # locked past the busy timeout, permissions
            self._show_message(f"cannot open {name} yet: {clean(exc)}\n\nretrying as soon as it can be read…",
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
        """Called on the watcher thread: queue the change for the app's thread (never blocks, so
        stopping the watcher while the app shuts down cannot deadlock)."""
        self.post_message(StoreChanged(change))

    def on_store_changed(self, message: StoreChanged) -> None:
        self._apply_change(message.change)

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

    def _apply_change(self, change: Change) -> None:
        if change.kind == "events":
            self._on_new_events(change.events)
        elif change.kind == "appeared":
            self.notify(f"{display_name(self.path)} appeared", timeout=3, markup=False)
            self.timeline = None
            self.run_id = None
            self._open()
        elif change.kind == "replaced":
            self.notify(clean(change.message), severity="warning", timeout=5, markup=False)
            self.timeline = None
            self.run_id = None  # the new file may hold other runs: start from the requested or latest
            self._open()
        elif change.kind == "deleted":
            self._close_store()
            self.events_list.attach(None, self.run_id, AllRows(0))
            self._show_message(f"{display_name(self.path)} was deleted\n\nwaiting for it to come back…")
        elif change.kind == "unusable":
            self._show_message(f"cannot open {display_name(self.path)}\n\n{clean(change.message)}",
                               error=True)
        elif change.kind == "problem":
            self.notice = clean(change.message, limit=80)
            self._update_status()

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self._message = text
        message = self.query_one("#message", Static)
        message.update(Text(text, style="bold red" if error else "bold"))
        message.set_class(error, "-error")
        self.screen.add_class("-no-store")
        self.header.show(None, None, note="error" if error else "waiting")
        self._update_status()

    def _hide_message(self) -> None:
        self._message = None
        self.screen.remove_class("-no-store")

    # ------------------------------------------------------------------ showing a run
    def _show_run(self, run_id: str | None, *, reset_view: bool) -> None:
        """Point every pane at `run_id` (None: the file has no events yet)."""
        reader = self.reader
        assert reader is not None
        if run_id != self.run_id:
            self._stop_playing()
            self.replay = None
            self.timeline = None
            self.search_index = None  # positions of another run (or of a replaced file)
            self.workers.cancel_group(self, "search-index")
            self.tree.clear()
        if reset_view:
            self.view = ViewFilter()
            self.search_text = None
            self.matches = None
        self.run_id = run_id
        self.run_row = reader.run(run_id) if run_id else None
        self.known_types = frozenset()  # filled by the type counts (a GROUP BY is too slow to open with)
        self.type_counts = None
        total = reader.last_seq(run_id) if run_id else 0
        lst = self.events_list
        lst.follow = True
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
        if self.timeline is None:
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
        if self.search_index is None and self.reader.supports_search_index:
            self._build_search_index(run_id, then_fold=self.timeline is None)
        elif self.timeline is None:
            self._load_timeline(run_id)

    @work(thread=True, exclusive=True, group="search-index", exit_on_error=False)
    def _build_search_index(self, run_id: str, then_fold: bool = False) -> None:
        """Index the run's payloads for `/` (see tui/search_index.py), or extend the index with
        what was appended since. Searches use it while it grows: what it does not cover yet they
        scan. PostgreSQL targets go without it (their casefold is ICU's, not Python's)."""
        worker = get_current_worker()
        path = self.path
        assert path is not None
        try:  # on failure searches scan the run instead (the failure is reported: see report_failure)
            from .data.search_index import SearchIndex

            index = self.search_index
            if index is None or index.run_id != run_id:
                index = SearchIndex(run_id)
                self.post_message(SearchIndexStarted(run_id, index))
            with InspectorReader.open(path) as reader:
                index.extend(reader, cancelled=lambda: worker.is_cancelled)
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
        if run_id == self.run_id and self.search_index is None:
            self.search_index = index

    def _fold_after_index(self, run_id: str) -> None:
        if run_id != self.run_id or self.timeline is not None or self.reader is None:
            return
        if any(w.group == "timeline" and w.is_running for w in self.workers):
            return
        self._load_timeline(run_id)

    @work(thread=True, exclusive=True, group="store-tree", exit_on_error=False)
    def _load_store_tree(self, run_id: str) -> None:
        """The tree's top level from the store's projections, shown until the fold is done (on
        either backend: the worker opens its reader the way the app does)."""
        assert self.path is not None
        try:
            with InspectorReader.open(self.path) as reader:
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
        if run_id == self.run_id and self.timeline is None and nodes is not None and len(nodes):
            self.tree.show(nodes)  # type: ignore[arg-type]  (the part of a History the tree reads)
        self._index_then_fold(run_id)

    @work(thread=True, exclusive=True, group="type-counts", exit_on_error=False)
    def _count_types(self, run_id: str, upto_position: int) -> None:
        """Events per type, from the type index on a worker's connection (a second on a 1M run).
        Without them (a failure is reported), the picker counts on demand."""
        assert self.path is not None
        with InspectorReader.open(self.path) as reader:
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
    def _load_timeline(self, run_id: str) -> None:
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
            if time.monotonic() - self._last_input < INPUT_GRACE:
                # the user is at the keyboard: the fold steps aside so keys answer at once
                time.sleep(FOLD_PAUSE)
            percent = 100 * done // total if total else -1
            if time.monotonic() - started > 0.2 and total and percent != shown[0]:
                shown[0] = percent  # (each report waits for the UI thread: once a percent)
                self.post_message(BusyText(run_id, f"loading run {percent}%"))

        try:
            with InspectorReader.open(path) as reader:
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
            self._set_busy(message.text)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        if self._status_bar() is None:
            return  # a late result while the app shuts down: nowhere to show it
        self._timeline_loaded(message.run_id, message.history)

    def _timeline_loaded(self, run_id: str, timeline: History) -> None:
        if run_id != self.run_id:
            return
        pending, self._pending_live = self._pending_live, []
        if pending:
            timeline.extend(pending)  # it skips what the load already folded
        self.timeline = timeline
        self._set_busy("")
        self.events_list.forget_nids()
        self._refresh_replay_panes()
        if self.detail.event is not None and self.detail.event.node_id:
            self._show_detail()  # the node's nid is known now

    def _set_busy(self, text: str) -> None:
        self.busy = text
        self._update_status()

    def _nid_of(self, node_id: str) -> str | None:
        tl = self.timeline
        if tl is None:
            return None
        return tl.nid_at(node_id, len(tl) - 1) if len(tl) else None

    # ------------------------------------------------------------------ live events
    def _on_new_events(self, events: list[Event]) -> None:
        if self.reader is None:
            return
        picker = self.screen
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
            return
        self._count_live(mine)
        self._unindexed += len(mine)
        index = self.search_index
        if index is not None and not index.building and self._unindexed >= INDEX_LAG:
            self._unindexed = 0
            self._build_search_index(self.run_id)
        new_types = {e.event_type for e in mine} - self.known_types
        if new_types:
            self.known_types = self.known_types | new_types
        if self.timeline is not None:
            self.timeline.extend(mine)
        else:
            self._pending_live.extend(mine)
        lst = self.events_list
        shown = [e for e in mine if self.view.accepts(e)] if self.view.active else mine
        if self.search_text and self.matches is not None:
            needle = self.search_text.lower()
            for e in shown:
                if payload_matches(e, needle) and e.seq is not None:
                    self.matches.append(e.seq)
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
        tl = self.timeline
        if tl is not None and len(tl):
            return tl.run_at(len(tl) - 1)
        return self.reader.run(self.run_id) if self.reader is not None and self.run_id else None

    # ------------------------------------------------------------------ filtered views
    # ------------------------------------------------------------------ replay
    def _seq_of_index(self, index: int) -> int:
        tl = self.timeline
        return tl.seq_of_index(index) if tl is not None else index + 1

    def _set_replay(self, index: int | None) -> None:
        tl = self.timeline
        lst = self.events_list
        if index is None or tl is None:
            self.replay = None
            lst.replay_seq = None
            lst.set_follow(True)
            lst.refresh()  # rows are cached by their replay flags too: only changed rows re-render
        else:
            index = max(0, min(index, len(tl) - 1))
            self.replay = index
            seq = self._seq_of_index(index)
            lst.replay_seq = seq
            if lst.follow:
                lst.set_follow(False)
            lst.go_to_seq(seq)
            lst.refresh()
        self._refresh_replay_panes()

    def _refresh_replay_panes(self) -> None:
        """Tree, header, slider and status as of the replay cursor (or live)."""
        tl = self.timeline
        if tl is not None:
            self.tree.show(tl, self.replay)
        self._update_header()
        self._update_slider()
        self._update_status()

    def _update_header(self) -> None:
        if self._message is not None:
            return
        tl = self.timeline
        if tl is not None and self.replay is not None:
            self.header.show(self.run_id, tl.run_at(self.replay), as_of=tl.timestamp_text_at(self.replay))
        elif tl is not None and len(tl):
            self.header.show(self.run_id, tl.run_at(len(tl) - 1))
        elif self.run_id is None:
            self.header.show(None, None, note=f"{display_name(self.path)}: no events yet, waiting for a run")
        else:
            self.header.show(self.run_id, self.run_row)

    def _update_slider(self) -> None:
        slider = self.slider
        tl = self.timeline
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
                          busy=self.busy, notice=self.notice, speed=SPEEDS[self.speed_index])
        if self._message is not None:
            info.mode = "WAITING"
            info.rows = 0
        elif self.replay is not None:
            info.mode = "PLAY" if self.playing else "REPLAY"
            tl = self.timeline
            if tl is not None:
                info.position, info.timestamp = tl.position_of_index(self.replay), tl.timestamp_text_at(self.replay)
        node_label = self._nid_of(self.view.node_id) or "" if self.view.node_id else ""
        info.filters = self.view.describe(node_label)
        if self.search_text:
            info.search = self.search_text
            if self.matches is not None:
                info.match_count = len(self.matches)
                seq = lst.cursor_seq
                if seq is not None and lst.is_match(seq):
                    info.match_index = bisect_left(self.matches, seq)
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
        if self.events_list.follow and self.replay is None:
            # following a live run: the cursor moves with every commit; rebuilding the detail's JSON
            # tree each time (a layout of the screen) would delay the rows themselves, so the
            # detail catches up at most every DETAIL_FOLLOW seconds
            if self._detail_timer is None:
                self._detail_timer = self.set_timer(DETAIL_FOLLOW, self._show_detail)
        else:
            if self._detail_timer is not None:
                self._detail_timer.stop()
            self._detail_timer = self.set_timer(DETAIL_DEBOUNCE, self._show_detail_after_frame)
        self._update_status()

    def _show_detail_after_frame(self) -> None:
        """The detail rebuilds its JSON tree (and the screen's layout) only once the frame the
        cursor's move asked for is on screen: a key's answer never waits for the detail."""
        self._detail_timer = None
        self.call_after_refresh(self._show_detail)

    def _show_detail(self) -> None:
        self._detail_timer = None
        if not self.query("#events"):
            return  # the timer outlived the screen (quitting)
        lst = self.events_list
        seq = lst.cursor_seq
        e = lst.event(seq) if seq is not None else None
        node_label = (self._nid_of(e.node_id) or "") if e is not None and e.node_id else ""
        if e is not self.detail.event or node_label != self._detail_node_label:
            # (the same event again when the fold has just named its node)
            self._detail_node_label = node_label
            self.detail.show_event(e, node_label=node_label)

    @on(EventList.FollowChanged)
    def _on_follow_changed(self, message: EventList.FollowChanged) -> None:
        self._update_status()

    @on(EventList.Opened)
    def _on_opened(self, message: EventList.Opened) -> None:
        self._show_detail()
        self.detail.focus()

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, EventList):
            focused.key_enter()

    def action_toggle_follow(self) -> None:
        lst = self.events_list
        if self.replay is not None:
            self.action_live()
            return
        lst.set_follow(not lst.follow)
        self._update_status()

    def action_pick_run(self) -> None:
        if self.reader is None:
            return
        runs = self.reader.runs()
        if not runs:
            self.notify("no runs in this file yet", timeout=2, markup=False)
            return

        def chosen(run_id: str | None) -> None:
            if run_id is not None and run_id != self.run_id:
                self.view = ViewFilter()
                self.search_text = None
                self.matches = None
                self._show_run(run_id, reset_view=True)

        self.push_screen(RunPicker(runs, self.run_id), chosen)

    # ------------------------------------------------------------------ misc
    def action_summary(self) -> None:
        """The run summary panel (tui/screens/summary.py) for the run shown; it reads on its own thread."""
        if self.path is None or self.run_id is None:
            self.notify("no run to summarise yet", timeout=2, markup=False)
            return
        from .screens.summary import SummaryScreen  # (the report's modules: imported on first use, not to open)

        self.push_screen(SummaryScreen(self.path, self.run_id))

    def action_copy(self) -> None:
        text = self.detail.payload_text()
        if text is None:
            return
        self.copy_to_clipboard(text)
        self.notify(f"copied event #{self.detail.event.position} ({len(text):,} characters)", timeout=2, markup=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_rows()))

    def binding_rows(self) -> list[tuple[str, str, str]]:
        """(keys, description, id) of every inspector binding, as currently mapped."""
        rows: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for cls in (type(self), EventList, TimeSlider, SearchBar):
            for b in getattr(cls, "BINDINGS", []):
                if not isinstance(b, Binding) or not b.id or b.id in seen:
                    continue
                seen.add(b.id)
                keys = self.binding_keys(b.id) or b.key
                shown = ", ".join(self.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))
                rows.append((shown, b.tooltip or b.description or b.action, b.id))
        return rows

    def binding_keys(self, binding_id: str) -> str:
        keys = self._keymap.get(binding_id)
        if keys:
            return keys
        for cls in (type(self), EventList, TimeSlider, SearchBar):
            for b in getattr(cls, "BINDINGS", []):
                if isinstance(b, Binding) and b.id == binding_id:
                    return b.key
        return ""


# ---------------------------------------------------------------------------- timeline helpers

def timeline_total(tl: History) -> int:
    return len(tl)


def parse_keymap(text: str) -> list[tuple[str, str]]:
    """AGENTTUI_KEYMAP: "id=keys" entries separated by ';' or whitespace (keys: comma-separated)."""
    out = []
    for entry in text.replace(";", " ").split():
        binding_id, sep, keys = entry.partition("=")
        if sep and binding_id and keys:
            out.append((binding_id.strip(), keys.strip()))
    return out


def run_app(path: str | os.PathLike[str], run_id: str | None = None, types: Iterable[str] | None = None) -> int:
    """Run the inspector in the terminal until the user quits; returns the exit status."""
    app = AgentTuiApp(path, run_id=run_id, types=list(types) if types else None)
    result = app.run()
    return int(result or 0)
