"""Filtering and searching the event list: what `t`, `/`, `n`/`N`, `x`, a chosen node and `esc` do.

A filtered view is built by a worker on its own read-only connection (rows first, so a filter
repaints at once; then the search's first match; then all matches), and whatever the writer
committed meanwhile is caught up with one small indexed query when the result lands. A search's
first match is looked for on the UI thread first, within a few thousand positions (the run's
search index, tui/search_index.py, usually narrows it to a few blocks or none), so it repaints
in one frame; the worker takes over when that does not decide it.

A mixin of `AgentTuiApp` (it uses the app's reader, run and widgets): split out so the app module
reads as the wiring and each behaviour reads on its own.
"""
from __future__ import annotations

from array import array
from functools import partial
from bisect import bisect_left, bisect_right

from textual import work
from textual.worker import get_current_worker

from .components.event_list import AllRows, FilteredRows, TailRows
from .components.node_tree import NodeTree
from .components.search_bar import SearchBar
from .components.type_picker import TypePicker
from .literal import clean
from .data.reader import InspectorReader
from .messages import BusyText, FirstMatchFound, MatchesBuilt, RowsBuilt
from .view_filter import ViewFilter

#: Rows of a type filter shown before its full list is built (at least three screens' worth).
TAIL_ROWS = 256
#: Positions a search may read on the UI thread for its first match (~3 ms) before a worker takes over.
INLINE_POSITIONS = 10_000


class FilteringMixin:
    """The list's filter (types, node) and search (see the module docstring)."""

    def _rebuild_view(self, *, keep_seq: int | None = None, jump_to_match: bool = False) -> None:
        """Show the list for the current filter, and find the search's matches, in a worker."""
        self._view_generation += 1
        self.tree.set_chosen(self.view.node_id)
        lst = self.events_list
        if keep_seq is None:
            keep_seq = lst.cursor_seq
        self.matches = None
        lst.matches = None
        if self.reader is None or self.run_id is None:
            return
        upto = self.reader.last_seq(self.run_id)
        if not self.view.active and lst.source.filtered:
            lst.set_source(AllRows(upto), keep_seq=keep_seq)
        if not self.view.active and not self.search_text:
            lst.refresh_rows()
            self._set_busy("")
            self._after_view_change()
            return
        self._set_busy("searching…" if self.search_text else "filtering…")
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
                                              index=self.search_index, max_positions=INLINE_POSITIONS)
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
                                              index=self.search_index, max_positions=INLINE_POSITIONS,
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
        if view.node_id is not None or not lst.follow or self.replay is not None or self.reader is None:
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
                index = self.search_index  # (None until its worker starts; partly built is fine)
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
                                      index=self.search_index) or array("q"))

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
            self._set_busy("")
        self._after_view_change()

    def _first_match_found(self, generation: int, search: str, seq: int | None) -> None:
        if generation != self._view_generation:
            return
        if seq is None:
            self.notify(f"no event payload contains {clean(search, limit=40)!r}", timeout=3, markup=False)
            return
        self._show_match(seq)

    def _matches_built(self, generation: int, view: ViewFilter, search: str, upto: int, matches: array) -> None:
        if generation != self._view_generation or self.reader is None:
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
        matches = self.matches
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
        if not matches:
            return
        seq = lst.cursor_seq or 0
        if direction > 0:
            i = bisect_right(matches, seq)
            target = matches[i] if i < len(matches) else matches[0]
        else:
            i = bisect_left(matches, seq) - 1
            target = matches[i] if i >= 0 else matches[-1]
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

        self.push_screen(TypePicker(counts, shown), chosen)
