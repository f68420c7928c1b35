"""`agenttui open`: the live inspector on one store file (or a folder of them).

Data flows one way: the writer commits -> the watcher thread sees the file change and reads the new
events -> this app appends them to the event list and feeds them to the Timeline (the fold), which
the tree, header and slider show. The app opens the database read-only and never writes to it.

Every key is a `Binding` with an id (remap with AGENTTUI_KEYMAP="search=ctrl+f;quit=ctrl+q"), shown
in the footer and the help screen, and offered in the command palette.
"""
from __future__ import annotations

import os
import sys
import time
from array import array
from bisect import bisect_left, bisect_right
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from agenttui.store import Event, NotAStoreError, SchemaTooNewError, SQLiteStore

from .commands import InspectorCommands
from .components.detail import DetailPane
from .components.event_list import AllRows, EventList, FilteredRows
from .components.header import RunHeader
from .components.help_screen import HelpScreen
from .components.node_tree import NodeTree
from .components.run_picker import RunPicker
from .components.search_bar import SearchBar
from .components.session_picker import SessionPicker
from .components.status_bar import StatusBar, StatusInfo
from .components.time_slider import TimeSlider
from .components.type_picker import TypePicker
from .literal import clean
from .queries import first_match, last_seq, matching_seqs
from .replay import Timeline, load_timeline
from .view_filter import ViewFilter, payload_matches
from .watcher import Change, StoreWatcher

SPEEDS = (1, 2, 5, 10)
#: Longest pause playback makes between two events, in run time (seconds), so idle gaps do not stall it.
MAX_PLAY_GAP = 3.0
#: Playback frame interval (seconds): events due within one frame are shown together.
PLAY_FRAME = 1 / 30
#: How long the UI thread waits on a locked database before showing what it has (and retrying).
UI_BUSY_TIMEOUT_MS = 250
#: Events folded between two looks at whether the user is typing (the fold of a big run takes a while).
FOLD_BATCH = 2000
#: After a key press, the fold pauses this long between batches for this many seconds.
FOLD_PAUSE = 0.05
INPUT_GRACE = 1.0


class AgentTuiApp(App[int]):
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
        self.target = os.path.abspath(os.fspath(path))
        self.path: str | None = None if os.path.isdir(self.target) else self.target
        self.requested_run = run_id
        self.fixed_clock = clock is not None
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.poll_interval = poll_interval
        self.use_file_events = use_file_events
        self.user_keymap = dict(keymap or {})
        self.store: SQLiteStore | None = None
        self.watcher: StoreWatcher | None = None
        self.run_id: str | None = None
        self.run_row: dict[str, Any] | None = None
        self.timeline: Timeline | None = None
        self._pending_live: list[Event] = []
        self.view = ViewFilter(types=frozenset(types) if types else None)
        self.search_text: str | None = None
        self.matches: array | None = None
        self.replay: int | None = None
        self.playing = False
        self.speed_index = 0
        self._play_timer = None
        self._play_anchor: tuple[float, float] | None = None  # (wall time, run time) at play start
        self.notice = ""
        self.busy = ""
        self.known_types: frozenset[str] = frozenset()
        self._view_generation = 0
        self._detail_timer = None
        self._status_timer = None
        self._message: str | None = None
        self._list_header = ""
        self._last_input = 0.0

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
        self._stop_watcher()
        self._close_store()

    # ------------------------------------------------------------------ opening the file
    def _open(self) -> None:
        """Open (or reopen) the file; wait for it if it is not there yet."""
        assert self.path is not None
        self._close_store()
        name = os.path.basename(self.path)
        try:
            # a short busy timeout: the UI thread must not hang on a writer's exclusive lock
            store = SQLiteStore(self.path, readonly=True, busy_timeout_ms=UI_BUSY_TIMEOUT_MS)
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
        self.store = store
        position = store.last_position()
        self._hide_message()
        run_id = self.run_id or self.requested_run or store.latest_run_id()
        self._show_run(run_id, reset_view=False)
        self._watch(position)

    def _close_store(self) -> None:
        if self.store is not None:
            try:
                self.store.close()
            except Exception:
                pass
            self.store = None

    def _watch(self, position: int | None) -> None:
        if self.watcher is None:
            assert self.path is not None
            self.watcher = StoreWatcher(self.path, self._on_watch_change, poll_interval=self.poll_interval,
                                        use_file_events=self.use_file_events)
            self.watcher.start(position)
        elif position is not None:
            self.watcher.follow_from(position)

    def _stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _on_watch_change(self, change: Change) -> None:
        """Called on the watcher thread: hand the change to the app's thread."""
        try:
            self.call_from_thread(self._apply_change, change)
        except RuntimeError:  # the app is shutting down
            pass

    def _apply_change(self, change: Change) -> None:
        if change.kind == "events":
            self._on_new_events(change.events)
        elif change.kind == "appeared":
            self.notify(f"{os.path.basename(self.path or '')} appeared", timeout=3)
            self.timeline = None
            self.run_id = None
            self._open()
        elif change.kind == "replaced":
            self.notify(clean(change.message), severity="warning", timeout=5)
            self.timeline = None
            self.run_id = None  # the new file may hold other runs: start from the requested or latest
            self._open()
        elif change.kind == "deleted":
            self._close_store()
            self.events_list.attach(None, self.run_id, AllRows(0))
            self._show_message(f"{os.path.basename(self.path or '')} was deleted\n\nwaiting for it to come back…")
        elif change.kind == "unusable":
            self._show_message(f"cannot open {os.path.basename(self.path or '')}\n\n{clean(change.message)}",
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
        store = self.store
        assert store is not None
        if run_id != self.run_id:
            self._stop_playing()
            self.replay = None
            self.timeline = None
            self.tree.clear()
        if reset_view:
            self.view = ViewFilter()
            self.search_text = None
            self.matches = None
        self.run_id = run_id
        self.run_row = store.run(run_id) if run_id else None
        self.known_types = frozenset()  # filled by the type picker's count (a GROUP BY is too slow to open with)
        total = last_seq(store, run_id) if run_id else 0
        lst = self.events_list
        lst.follow = True
        lst.attach(store, run_id, AllRows(total), last_position=store.last_position())
        self._update_list_header()
        self._update_header()
        if self.view.active:
            self._rebuild_view()
        if run_id is not None:
            self._pending_live = []
            self._load_timeline(run_id)
        self._update_slider()
        self._update_status()

    def _update_list_header(self) -> None:
        """Column titles aligned with the rows (the position column widens as the log grows)."""
        text = Text("".join(seg.text for seg in self.events_list.header_text()), no_wrap=True, style="bold")
        if text.plain != self._list_header:
            self._list_header = text.plain
            self.query_one("#list-header", Static).update(text)

    @work(thread=True, exclusive=True, group="timeline")
    def _load_timeline(self, run_id: str) -> None:
        """Fold the run from its events (the store's checkpoints make it fast) on a thread."""
        worker = get_current_worker()
        path = self.path
        assert path is not None
        started = time.monotonic()

        def progress(done: int, total: int | None) -> None:
            if time.monotonic() - self._last_input < INPUT_GRACE:
                # the user is at the keyboard: the fold steps aside so keys answer at once
                time.sleep(FOLD_PAUSE)
            if time.monotonic() - started > 0.2 and total:
                self.call_from_thread(self._set_busy, f"loading run {100 * done // total}%")

        # The fold holds the GIL for long stretches; a short switch interval keeps the UI thread,
        # which releases the GIL on every SQLite call, from waiting 5 ms each time it wants it back.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        try:
            with SQLiteStore(path, readonly=True) as store:
                timeline = load_timeline(store, run_id, batch=FOLD_BATCH, progress=progress,
                                         cancelled=lambda: worker.is_cancelled)
        except Exception as exc:
            self.call_from_thread(self._set_busy, f"could not fold the run: {clean(exc, limit=60)}")
            return
        finally:
            sys.setswitchinterval(interval)
        if worker.is_cancelled or timeline is None:
            return
        self.call_from_thread(self._timeline_loaded, run_id, timeline)

    def _timeline_loaded(self, run_id: str, timeline: Timeline) -> None:
        if run_id != self.run_id:
            return
        pending, self._pending_live = self._pending_live, []
        if pending:
            timeline.extend(pending)  # it skips what the load already folded
        self.timeline = timeline
        self._set_busy("")
        self.events_list.forget_nids()
        self._refresh_replay_panes()

    def _set_busy(self, text: str) -> None:
        self.busy = text
        self._update_status()

    def _nid_of(self, node_id: str) -> str | None:
        tl = self.timeline
        if tl is None:
            return None
        node = tl.live.nodes.get(node_id)
        return node.get("node_nid") if node else None

    # ------------------------------------------------------------------ live events
    def _on_new_events(self, events: list[Event]) -> None:
        if self.store is None:
            return
        if self.run_id is None:
            first = next((e.run_id for e in events if e.run_id != "unassigned"), events[0].run_id if events else None)
            if first is None:
                return
            self._show_run(first, reset_view=False)
            return
        mine = [e for e in events if e.run_id == self.run_id]
        if not mine:
            return
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
        self.run_row = self._live_run()
        if self.replay is None:
            self._refresh_replay_panes()
        else:
            self._update_slider()
            self._update_status()

    def _live_run(self) -> dict[str, Any] | None:
        tl = self.timeline
        if tl is not None and timeline_total(tl):
            return tl.run_at(timeline_total(tl) - 1)
        return self.store.run(self.run_id) if self.store is not None and self.run_id else None

    # ------------------------------------------------------------------ filtered views
    def _rebuild_view(self, *, keep_seq: int | None = None, jump_to_match: bool = False) -> None:
        """Show the list for the current filter, and find the search's matches, in a worker."""
        self._view_generation += 1
        self.tree.set_chosen(self.view.node_id)
        lst = self.events_list
        if keep_seq is None:
            keep_seq = lst.cursor_seq
        self.matches = None
        lst.matches = None
        if self.store is None or self.run_id is None:
            return
        upto = last_seq(self.store, self.run_id)
        if not self.view.active and lst.source.filtered:
            lst.set_source(AllRows(upto), keep_seq=keep_seq)
        if not self.view.active and not self.search_text:
            lst.refresh_rows()
            self._set_busy("")
            self._after_view_change()
            return
        self._set_busy("searching…" if self.search_text else "filtering…")
        self._build_view(self._view_generation, self.run_id, self.view, self.search_text, upto, keep_seq,
                         jump_to_match)

    @work(thread=True, exclusive=True, group="view")
    def _build_view(self, generation: int, run_id: str, view: ViewFilter, search: str | None, upto: int,
                    keep_seq: int | None, jump_to_match: bool) -> None:
        """Rows first (so a filter repaints at once), then the first match, then all matches."""
        worker = get_current_worker()
        assert self.path is not None
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        try:
            with SQLiteStore(self.path, readonly=True) as store:
                if view.active:
                    rows = matching_seqs(store, run_id, view.store_filter(), upto_seq=upto, cancelled=cancelled)
                    if rows is None:
                        return
                    self.call_from_thread(self._rows_built, generation, view, upto, rows, keep_seq)
                if not search:
                    return
                if jump_to_match:
                    first = first_match(store, run_id, view.store_filter(search), after_seq=keep_seq or 0)
                    self.call_from_thread(self._first_match_found, generation, search, first)
                matches = matching_seqs(store, run_id, view.store_filter(search), upto_seq=upto,
                                        cancelled=cancelled)
                if matches is None:
                    return
                self.call_from_thread(self._matches_built, generation, view, search, upto, matches)
        except Exception as exc:
            self.call_from_thread(self._set_busy, f"filter failed: {clean(exc, limit=60)}")

    def _catch_up(self, view: ViewFilter, search: str | None, upto: int, seqs: array) -> None:
        """Add what arrived while a worker ran: one small indexed query past its snapshot."""
        assert self.store is not None and self.run_id is not None
        if last_seq(self.store, self.run_id) > upto:
            seqs.extend(matching_seqs(self.store, self.run_id, view.store_filter(search), after_seq=upto)
                        or array("q"))

    def _rows_built(self, generation: int, view: ViewFilter, upto: int, rows: array,
                    keep_seq: int | None) -> None:
        if generation != self._view_generation or self.store is None:
            return
        self._catch_up(view, None, upto, rows)
        self.events_list.set_source(FilteredRows(rows), keep_seq=keep_seq)
        if not self.search_text:
            self._set_busy("")
        self._after_view_change()

    def _first_match_found(self, generation: int, search: str, seq: int | None) -> None:
        if generation != self._view_generation:
            return
        if seq is None:
            self.notify(f"no event payload contains {clean(search, limit=40)!r}", timeout=3)
            return
        lst = self.events_list
        if lst.follow:
            lst.set_follow(False)
        lst.go_to_seq(seq)
        self._update_status()

    def _matches_built(self, generation: int, view: ViewFilter, search: str, upto: int, matches: array) -> None:
        if generation != self._view_generation or self.store is None:
            return
        self._catch_up(view, search, upto, matches)
        self.matches = matches
        self.events_list.matches = matches
        self.events_list.refresh_rows()
        self._set_busy("")
        self._update_status()

    def _after_view_change(self) -> None:
        if self.replay is not None and self.timeline is not None:
            self.events_list.go_to_seq(self._seq_of_index(self.replay))
        self._update_status()

    # ------------------------------------------------------------------ replay
    def _seq_of_index(self, index: int) -> int:
        tl = self.timeline
        return tl.seq_at(index) if tl is not None else index + 1

    def _set_replay(self, index: int | None) -> None:
        tl = self.timeline
        lst = self.events_list
        if index is None or tl is None:
            self.replay = None
            lst.replay_seq = None
            lst.set_follow(True)
            lst.refresh_rows()
        else:
            index = max(0, min(index, timeline_total(tl) - 1))
            self.replay = index
            seq = self._seq_of_index(index)
            lst.replay_seq = seq
            if lst.follow:
                lst.set_follow(False)
            lst.go_to_seq(seq)
            lst.refresh_rows()
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
        elif tl is not None and timeline_total(tl):
            self.header.show(self.run_id, tl.run_at(timeline_total(tl) - 1))
        elif self.run_id is None:
            self.header.show(None, None, note=f"{os.path.basename(self.path or '')}: no events yet, waiting for a run")
        else:
            self.header.show(self.run_id, self.run_row)

    def _update_slider(self) -> None:
        slider = self.slider
        tl = self.timeline
        total = timeline_total(tl) if tl is not None else self.events_list.count
        if slider.timeline is not tl:
            slider.timeline = tl
        slider.total = total
        slider.live = self.replay is None
        slider.index = self.replay if self.replay is not None else max(0, total - 1)

    def _update_status(self) -> None:
        if not self.query("#status"):
            return  # shutting down: the screen is gone
        lst = self.events_list
        info = StatusInfo(follow=lst.follow, unseen=lst.unseen, row=lst.cursor, rows=lst.count,
                          total=self.run_row.get("event_count", 0) if self.run_row else lst.count,
                          busy=self.busy, notice=self.notice, speed=SPEEDS[self.speed_index])
        if self._message is not None:
            info.mode = "WAITING"
            info.rows = 0
        elif self.replay is not None:
            info.mode = "PLAY" if self.playing else "REPLAY"
            tl = self.timeline
            if tl is not None:
                info.position, info.timestamp = tl.position_at(self.replay), tl.timestamp_text_at(self.replay)
        node_label = self._nid_of(self.view.node_id) or "" if self.view.node_id else ""
        info.filters = self.view.describe(node_label)
        if self.search_text:
            info.search = self.search_text
            if self.matches is not None:
                info.match_count = len(self.matches)
                seq = lst.cursor_seq
                if seq is not None and lst.is_match(seq):
                    info.match_index = bisect_left(self.matches, seq)
        self.query_one("#status", StatusBar).show(info)

    @on(TimeSlider.Scrubbed)
    def _on_scrubbed(self, message: TimeSlider.Scrubbed) -> None:
        if self.timeline is None:
            return
        self._stop_playing()
        self._set_replay(message.index)

    def action_step(self, delta: int) -> None:
        tl = self.timeline
        if tl is None or not timeline_total(tl):
            return
        self._stop_playing()
        total = timeline_total(tl)
        current = self.replay if self.replay is not None else total - 1
        self._set_replay(max(0, min(total - 1, current + delta)))

    def action_jump(self, fraction: float) -> None:
        tl = self.timeline
        if tl is None or not timeline_total(tl):
            return
        total = timeline_total(tl)
        step = max(1, round(total * abs(fraction)))
        self.action_step(step if fraction > 0 else -step)

    def action_live(self) -> None:
        self._stop_playing()
        self._set_replay(None)

    def action_error_mark(self, direction: int) -> None:
        tl = self.timeline
        if tl is None:
            return
        if not tl.mark_count():
            self.notify("no errors or failed nodes in this run", timeout=3)
            return
        current = self.replay if self.replay is not None else timeline_total(tl)
        target = tl.next_mark(current) if direction > 0 else tl.prev_mark(current)
        if target is None:
            self.notify("no more errors that way", timeout=2)
            return
        self._stop_playing()
        self._set_replay(target)

    # ------------------------------------------------------------------ playback
    def action_play(self) -> None:
        if self.playing:
            self._stop_playing()
            self._update_status()
            return
        tl = self.timeline
        if tl is None or not timeline_total(tl):
            return
        total = timeline_total(tl)
        if self.replay is None:
            seq = self.events_list.cursor_seq or 1
            start = seq - 1 if seq < total else 0
        else:
            start = self.replay if self.replay < total - 1 else 0
        self.playing = True
        self._set_replay(start)
        self._play_anchor = None
        self._play_timer = self.set_interval(PLAY_FRAME, self._play_frame)

    def _stop_playing(self) -> None:
        self.playing = False
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None

    def _play_frame(self) -> None:
        """Advance to the last event due by now, in the run's own timing times the speed."""
        tl = self.timeline
        if not self.playing or tl is None or self.replay is None:
            self._stop_playing()
            return
        total = timeline_total(tl)
        speed = SPEEDS[self.speed_index]
        now = time.monotonic()
        if self._play_anchor is None:
            self._play_anchor = (now, 0.0)
        wall0, budget0 = self._play_anchor
        budget = budget0 + (now - wall0) * speed  # run seconds we may advance since the anchor
        index = self.replay
        spent = 0.0
        moved = 0
        while index < total - 1 and moved < 5000:
            gap = min(MAX_PLAY_GAP, max(0.0, tl.timestamp_at(index + 1) - tl.timestamp_at(index)))
            if spent + gap > budget:
                break
            spent += gap
            index += 1
            moved += 1
        if moved:
            self._play_anchor = (now, budget - spent)
            self._set_replay(index)
        if index >= total - 1:
            self._stop_playing()
            self._update_status()

    def action_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        if self.playing:
            self._play_anchor = None
        self.notify(f"playback {SPEEDS[self.speed_index]}x", timeout=1.5)
        self._update_status()

    # ------------------------------------------------------------------ list, detail and tree
    @on(EventList.CursorMoved)
    def _on_cursor_moved(self, message: EventList.CursorMoved) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(0.03, self._show_detail)
        self._update_status()

    def _show_detail(self) -> None:
        if not self.query("#events"):
            return  # the timer outlived the screen (quitting)
        lst = self.events_list
        seq = lst.cursor_seq
        e = lst.event(seq) if seq is not None else None
        node_label = (self._nid_of(e.node_id) or "") if e is not None and e.node_id else ""
        if e is not self.detail.event:
            self.detail.show_event(e, node_label=node_label)

    @on(EventList.FollowChanged)
    def _on_follow_changed(self, message: EventList.FollowChanged) -> None:
        self._update_status()

    @on(EventList.Opened)
    def _on_opened(self, message: EventList.Opened) -> None:
        self._show_detail()
        self.detail.focus()

    @on(NodeTree.NodeChosen)
    def _on_node_chosen(self, message: NodeTree.NodeChosen) -> None:
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

    # ------------------------------------------------------------------ search and filters
    def action_search(self) -> None:
        self.query_one(SearchBar).open(self.search_text or "")

    @on(SearchBar.Submitted)
    def _on_search_submitted(self, message: SearchBar.Submitted) -> None:
        bar = self.query_one(SearchBar)
        bar.close()
        self.events_list.focus()
        text = message.value
        self.search_text = text or None
        self._rebuild_view(jump_to_match=bool(text))

    @on(SearchBar.Closed)
    def _on_search_closed(self) -> None:
        self.events_list.focus()

    def action_next_match(self) -> None:
        self._go_to_match(1)

    def action_previous_match(self) -> None:
        self._go_to_match(-1)

    def _go_to_match(self, direction: int) -> None:
        matches = self.matches
        if not self.search_text:
            self.notify("no search yet: press / to search", timeout=2)
            return
        if matches is None:
            self.notify("still searching…", timeout=1)
            return
        if not matches:
            return
        lst = self.events_list
        seq = lst.cursor_seq or 0
        if direction > 0:
            i = bisect_right(matches, seq)
            target = matches[i] if i < len(matches) else matches[0]
        else:
            i = bisect_left(matches, seq) - 1
            target = matches[i] if i >= 0 else matches[-1]
        if lst.follow:
            lst.set_follow(False)
        lst.go_to_seq(target)
        self._update_status()

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
        if self.store is None or self.run_id is None:
            return
        counts = self.store.count_by_type(run_id=self.run_id)
        self.known_types = frozenset(counts) | self.known_types
        shown = self.view.shown_types(self.known_types)

        def chosen(result: frozenset[str] | None) -> None:
            if result is None:
                return
            self.view = self.view.with_types(result, self.known_types)
            self._rebuild_view()

        self.push_screen(TypePicker(counts, shown), chosen)

    def action_pick_run(self) -> None:
        if self.store is None:
            return
        runs = self.store.runs()
        if not runs:
            self.notify("no runs in this file yet", timeout=2)
            return

        def chosen(run_id: str | None) -> None:
            if run_id is not None and run_id != self.run_id:
                self.view = ViewFilter()
                self.search_text = None
                self.matches = None
                self._show_run(run_id, reset_view=True)

        self.push_screen(RunPicker(runs, self.run_id), chosen)

    # ------------------------------------------------------------------ misc
    def action_copy(self) -> None:
        text = self.detail.payload_text()
        if text is None:
            return
        self.copy_to_clipboard(text)
        self.notify(f"copied event #{self.detail.event.position} ({len(text):,} characters)", timeout=2)

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

def timeline_total(tl: Timeline) -> int:
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
