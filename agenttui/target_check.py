"""What is wrong with a target, said the same way by every command and by the inspector.

`agenttui open` checks its target before the terminal UI starts: a file that is not an agenttui store
(or an empty one) and an event type the store does not hold are errors on stderr with a non-zero
exit, as for every other command. A run that is not there yet is not an error: the inspector opens
it as soon as its first event is committed, and says meanwhile which runs there are.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Any, Sequence

from agenttui.store import AgentTuiError, NotAStoreError, open_store

__all__ = ["check_open_target", "empty_file_message", "no_run_message", "no_type_message", "runs_here"]

#: Runs named in a "runs here" list before it says how many more there are.
LISTED = 10


def runs_here(runs: Sequence[dict[str, Any]] | Sequence[str], total: int | None = None) -> str:
    ids = [r if isinstance(r, str) else r["run_id"] for r in runs]
    total = len(ids) if total is None else total
    shown = ", ".join(ids[:LISTED]) or "none"
    return shown + (f", … ({total:,} in all)" if total > LISTED else "")


def no_run_message(where: str, missing: Sequence[str], runs: Sequence[dict[str, Any]] | Sequence[str],
                   *, total: int | None = None, yet: bool = False) -> str:
    """`where: no run 'x' (runs here: a, b)`: the wording of copy, open and the inspector."""
    names = ", ".join(repr(r) for r in missing)
    return f"{where}: no run {names}{' yet' if yet else ''} (runs here: {runs_here(runs, total)})"


def no_type_message(where: str, missing: Sequence[str], present: Sequence[str]) -> str:
    names = ", ".join(repr(t) for t in missing)
    plural = "s" if len(missing) > 1 else ""
    return f"{where}: no event{plural} of type {names} (types here: {', '.join(sorted(present)) or 'none'})"


def empty_file_message(path: str) -> str:
    return f"{path}: an empty file (0 bytes), not an agenttui store"


def is_empty_file(path: str) -> bool:
    try:
        return os.path.isfile(path) and os.path.getsize(path) == 0
    except OSError:
        return False


def check_open_target(target: str, types: Sequence[str] | None = None, run_id: str | None = None) -> None:
    """Raise AgentTuiError (or the store's own error) for a target `agenttui open` cannot show.

    Left to the inspector, which waits and then shows it: a file that does not exist yet, a SQLite
    file whose writer has not created the schema yet, a database locked by a writer right now, and a
    folder of sessions.
    """
    if os.path.isdir(target):
        return
    is_url = "://" in target
    if not is_url and not os.path.exists(target):
        return
    if not is_url and is_empty_file(target):
        raise AgentTuiError(empty_file_message(target))
    try:
        store = open_store(target, readonly=True)
    except NotAStoreError as exc:
        if "no schema" in str(exc):
            return
        raise
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return
        raise
    with store:
        if types:
            # within the run asked for when it is there (its view is what the filter narrows)
            scope = run_id is not None and store.run(run_id) is not None
            present = set(store.count_by_type(run_id=run_id) if scope else store.count_by_type())
            missing = [t for t in types if t not in present]
            if missing and present:  # (an empty store: the types may well come; the view waits)
                where = f"{target} run {run_id!r}" if scope else target
                raise AgentTuiError(no_type_message(where, missing, sorted(present)))
