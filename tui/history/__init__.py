"""A run's replay history: every event folded once, so the time slider shows any moment at once.

Glossary (the same words mean the same thing everywhere in the inspector):

- position: the store's global event number (events.id), gapless across all runs, in commit order.
- seq: an event's 1-based number within its run (events.seq), gapless; the event list's rows are addressed by it.
- index: an event's 0-based place in its run's History (index = seq - 1 when the whole run is folded).
- row: a 0-based line of the event list as currently filtered (row -> seq through the list's row source).
- History: the run's events folded once and recorded as changes (record.py); `*_at(index)` answers as of an index.
- state_at_index(index): the full RunState after the event at that index (History); the store's
  `state_at(run_id, position)` is the same state by global position.
- position_of_index / seq_of_index / index_of_position / index_of_seq: the conversions, named for what they take.
- replay cursor: the index the inspector shows the past at (None: live, the newest state).
- live: showing the newest state and following new events as the follower delivers them.
- time axis: the run's time span cut into slider columns (axis.py); a fraction is 0.0 .. 1.0 along it.
- mark: an event that raised the run's error count or failed a node (what `e`/`E` jump between).
- fold: `agenttui.store.fold`, the one function from events to state (live, rebuild, replay, compare).
- window: a History that starts from a stored snapshot's state (`History.from_state`, window.py) and holds
  run indices first_index .. len-1; what the replay cursor reads before the whole run is folded.
- outline: the slider's axis and trouble marks read from the store (outline.py), before the fold.
- scrub: the outline and the current window of one run, as the inspector holds them (scrub.py).
"""
from .axis import TimeAxis
from .record import MARK_KINDS, NODE_DISPLAY_FIELDS, RUN_DISPLAY_FIELDS, History, HistoryError, load_history

__all__ = ["MARK_KINDS", "NODE_DISPLAY_FIELDS", "RUN_DISPLAY_FIELDS", "History", "HistoryError", "TimeAxis",
           "load_history"]
