"""The appending store keeps a delta checkpoint every `snapshot_every` events between its full ones
(which a big tree spaces by twice its node count): every checkpoint, delta or full, reads back as
the fold of the run's events up to it, with one writer or two taking turns."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from agenttui.demo import generate_run
from agenttui.store import RunState, SQLiteStore
from agenttui.store.snapshots import DELTA_MAGIC

RUN = "deltas"


def _snapshots(path: Path) -> list[tuple[int, int, bytes]]:
    with SQLiteStore(path, readonly=True) as store:
        return [(p, s, bytes(b)) for p, s, b in store.connection.execute(
            "SELECT position, seq, state FROM snapshots WHERE run_id = ? ORDER BY position", (RUN,))]


def _check_every_checkpoint_and_some_positions(path: Path) -> None:
    snaps = {p for p, _, _ in _snapshots(path)}
    rng = random.Random(2)
    with SQLiteStore(path, readonly=True) as store:
        events = list(store.timeline(RUN))
        picks = {len(events) - 1, *rng.sample(range(len(events)), 20), *(i for i, e in enumerate(events)
                                                                          if e.position in snaps)}
        state = RunState(RUN)
        for i, e in enumerate(events):
            state.apply(e)
            if i in picks:
                assert store.state_at(RUN, e.position).comparable() == state.comparable(), i


@pytest.mark.parametrize("batch", [1, 37, 100, 150, 2400])
def test_a_long_lived_writer_keeps_deltas_between_its_full_checkpoints(tmp_path: Path, batch: int) -> None:
    """Batches bigger than snapshot_every (150, and the whole run in one) are checkpointed inside too."""
    events = list(generate_run(7, n_events=2400, run_id=RUN, start="2026-03-01T09:00:00Z"))
    path = tmp_path / "d.db"
    with SQLiteStore(path, snapshot_every=60) as store:
        for k in range(0, len(events), batch):
            store.append(events[k:k + batch])
        nodes = len(store.nodes(RUN))
    assert 2 * nodes > 120, "the run's tree must space its full checkpoints wider than snapshot_every"
    snaps = _snapshots(path)
    deltas = [s for _, s, b in snaps if b[:4] == DELTA_MAGIC]
    assert len(deltas) >= 3
    seqs = [s for _, s, _ in snaps]
    assert max(b - a for a, b in zip(seqs, seqs[1:])) < 60 + min(batch, 60)  # none of the gaps a full leaves
    _check_every_checkpoint_and_some_positions(path)


def test_two_writers_taking_turns_write_only_deltas_over_their_own_checkpoints(tmp_path: Path) -> None:
    """A writer whose cached fold another writer moved past reloads it, and writes no delta until its
    next full checkpoint: a delta names a checkpoint and holds what changed since, as this writer saw it."""
    events = list(generate_run(8, n_events=2400, run_id=RUN, start="2026-03-01T09:00:00Z"))
    path = tmp_path / "two.db"
    first, second = SQLiteStore(path, snapshot_every=60), SQLiteStore(path, snapshot_every=60)
    try:
        for k in range(0, len(events), 50):
            (first if (k // 50) % 5 else second).append(events[k:k + 50])
    finally:
        first.close()
        second.close()
    _check_every_checkpoint_and_some_positions(path)


def test_a_rolled_back_append_leaves_no_delta_over_rows_that_never_were(tmp_path: Path, monkeypatch) -> None:
    events = list(generate_run(9, n_events=1500, run_id=RUN, start="2026-03-01T09:00:00Z"))
    path = tmp_path / "rb.db"
    with SQLiteStore(path, snapshot_every=60) as store:
        store.append(events[:900])
        from agenttui.store import search_blocks

        monkeypatch.setattr(search_blocks, "INSERT_SQL", "INSERT INTO no_such_table VALUES (?,?,?,?,?,?,?)")
        with pytest.raises(Exception, match="no_such_table"):
            store.append(events[900:1100])  # completes a search block whose write fails: rolled back
        monkeypatch.undo()
        for k in range(900, len(events), 60):
            store.append(events[k:k + 60])
    _check_every_checkpoint_and_some_positions(path)
