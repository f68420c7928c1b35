"""Custom projections: registering folds, and their state at any position or time (examples/pnl)."""
from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from agenttui import Recorder
from agenttui.store import (
    Event, FunctionProjection, Projection, ProjectionError, ProjectionRegistry, Projector, SQLiteStore,
    global_projections, load_projections, project, register_projection, registry_for,
)
from agenttui.store import projections as projections_module
from agenttui.store.envelope import format_datetime

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import pnl_projection  # noqa: E402  (registers "balance" and "pnl")
from pnl_projection import BalanceProjection, PnL, PnLProjection  # noqa: E402

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)


def ts(seconds: float) -> str:
    return format_datetime(T0 + timedelta(seconds=seconds))


def money_events(run_id: str = "r1") -> list[Event]:
    """A ledger with known figures: +100, bet 10 won 25, bet 20 lost, fee 1.5, -30 withdrawn."""
    spec = [("FundsDeposited", {"amount": 100}), ("note", {"text": "noise"}), ("BetPlaced", {"amount": 10}),
            ("BetWon", {"amount": 25}), ("BetPlaced", {"amount": 20}), ("FeeCharged", {"fee": 1.5}),
            ("FundsWithdrawn", {"amount": 30}), ("note", {"text": "more noise"})]
    return [Event(t, p, run_id=run_id, timestamp=ts(i)) for i, (t, p) in enumerate(spec)]


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    s = SQLiteStore(tmp_path / "ledger.db")
    s.append(money_events())
    yield s
    s.close()


def brute_force(projection: Projection, events: list[Event]) -> Any:
    state = projection.initial()
    for e in events:
        if projection.event_types is None or e.event_type in projection.event_types:
            state = projection.apply(state, e)
    return state


# ------------------------------------------------------------------------------ the PnL example

def test_balance_and_pnl_of_the_example_at_the_end_and_at_every_position(store: Any) -> None:
    assert project(store, "balance", "r1") == pytest.approx(100 - 10 + 25 - 20 - 1.5 - 30)
    pnl = project(store, "pnl", "r1")
    assert (pnl.total_wagered, pnl.total_won, pnl.total_fees, pnl.bet_count, pnl.win_count) == (30, 25, 1.5, 2, 1)
    assert pnl.net_pnl == pytest.approx(-6.5) and pnl.win_rate == 0.5 and pnl.roi == pytest.approx(-6.5 / 30)
    expected_balance = [0, 100, 100, 90, 115, 95, 93.5, 63.5, 63.5]
    for position in range(0, 9):
        assert project(store, "balance", "r1", position=position) == pytest.approx(expected_balance[position])
    assert PnLProjection().describe(pnl)["net_pnl"] == -6.5
    assert BalanceProjection().describe(63.5) == {"balance": 63.5}


def test_state_at_a_timestamp_folds_the_events_stamped_up_to_it(store: Any) -> None:
    assert project(store, "balance", "r1", timestamp=ts(3)) == 115
    assert project(store, "balance", "r1", timestamp=ts(3.5)) == 115
    assert project(store, "balance", "r1", timestamp="2026-03-01T10:00:02+01:00") == 90  # offsets normalised
    assert project(store, "balance", "r1", timestamp=ts(-1)) == 0
    # an event stamped earlier than events before it (clock skew) counts from its own time on
    store.append(Event("FundsDeposited", {"amount": 1000}, run_id="r1", timestamp=ts(0.5)))
    assert project(store, "balance", "r1", timestamp=ts(0.7)) == 1100
    assert project(store, "balance", "r1", timestamp=ts(0.7), position=8) == 100


def test_counterfactual_state_without_some_events(store: Any) -> None:
    lost_bet = store.events(types=["BetPlaced"], limit=None)[1]
    assert project(store, "balance", "r1", exclude=[lost_bet.event_id]) == pytest.approx(63.5 + 20)
    assert project(store, "balance", "r1") == pytest.approx(63.5), "the real state is unchanged"


def test_a_bad_event_names_the_projection_position_and_event(store: Any) -> None:
    bad = Event("BetPlaced", {"amount": "lots"}, run_id="r1", timestamp=ts(20))
    store.append(bad)
    with pytest.raises(ProjectionError) as info:
        project(store, "balance", "r1")
    msg = str(info.value)
    assert "'balance'" in msg and f"position {bad.position}" in msg and bad.event_id in msg
    assert "BetPlaced.amount must be a finite number, got 'lots'" in msg
    assert project(store, "balance", "r1", position=bad.position - 1) == pytest.approx(63.5)


def test_recorded_by_an_agent_and_projected_from_the_session_file(tmp_path: Path) -> None:
    with Recorder.session(tmp_path, task="bet") as run:
        with run.node("betting"):
            run.event("FundsDeposited", amount=50)
            run.event("BetPlaced", amount=5, game="dice")
            run.event("BetWon", amount=12, game="dice")
            run.event("FeeCharged", fee=0.5)
    with SQLiteStore(run.path, readonly=True) as store:
        assert project(store, "balance", run.run_id) == pytest.approx(56.5)
        assert project(store, "pnl", run.run_id).net_pnl == pytest.approx(6.5)


# -------------------------------------------------------------------------------- the projector

def test_projector_checkpoints_agree_with_a_fold_from_scratch_everywhere(tmp_path: Path) -> None:
    rng = random.Random(5)
    store = SQLiteStore(tmp_path / "big.db")
    evs = []
    for i in range(1500):
        kind = rng.choice(["FundsDeposited", "BetPlaced", "BetWon", "FeeCharged", "tool_invoked"])
        payload = {"fee": rng.randint(0, 3)} if kind == "FeeCharged" else {"amount": rng.randint(1, 50)}
        evs.append(Event(kind, payload, run_id="r", timestamp=ts(i)))
    store.append(evs)
    projector = Projector(store, PnLProjection(), "r", checkpoint_every=1)
    latest = projector.latest()
    assert projector.checkpoint_every > 1, "checkpoints were thinned to stay bounded"
    assert len(projector._checkpoints) <= projections_module.MAX_CHECKPOINTS
    assert latest == brute_force(PnLProjection(), evs)
    for position in rng.sample(range(0, 1501), 60) + [0, 1, 1500]:
        assert projector.state_at(position) == brute_force(PnLProjection(), evs[:position]), position
    store.close()


def test_latest_folds_only_what_was_committed_since_and_returns_copies(store: Any) -> None:
    projector = Projector(store, PnLProjection(), "r1")
    first = projector.latest()
    folded = projector.events_folded
    assert folded == 4, "only the projection's event types are read from the store"
    first.total_wagered = 1e9  # mutating an answer must not leak into the next one
    store.append([Event("BetPlaced", {"amount": 7}, run_id="r1"), Event("note", {}, run_id="r1")])
    second = projector.latest()
    assert projector.events_folded == folded + 1
    assert second.total_wagered == 37 and second.bet_count == 3


def test_whole_store_projection_spans_runs(store: Any) -> None:
    store.append(money_events("r2"))
    assert project(store, "balance") == pytest.approx(2 * 63.5)
    assert project(store, "balance", "r2") == pytest.approx(63.5)
    assert project(store, "balance", None, position=8) == pytest.approx(63.5)


def test_invalid_positions_are_refused(store: Any) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        project(store, "balance", "r1", position=-1)
    with pytest.raises(Exception, match="timestamp"):
        project(store, "balance", "r1", timestamp="yesterday")


# ------------------------------------------------------------------------------------ registries

class Count(Projection):
    name = "count-test"

    def initial(self) -> int:
        return 0

    def apply(self, state: int, event: Event) -> int:
        return state + 1


def test_global_registration_duplicates_and_replacement() -> None:
    register_projection(Count)
    try:
        assert isinstance(global_projections.get("count-test"), Count)
        with pytest.raises(ProjectionError, match="already registered"):
            register_projection(Count())
        replacement = Count()
        register_projection(replacement, replace=True)
        assert global_projections.get("count-test") is replacement
    finally:
        global_projections.unregister("count-test")
    with pytest.raises(ProjectionError, match=r"no projection named 'count-test' \(registered: .*balance"):
        global_projections.get("count-test")


def test_per_store_registration_is_seen_by_that_store_only(store: Any, tmp_path: Path) -> None:
    other = SQLiteStore(tmp_path / "other.db")
    registry_for(store).register(FunctionProjection("notes", lambda: [], lambda s, e: s + [e.payload["text"]],
                                                    event_types={"note"}))
    assert project(store, "notes", "r1") == ["noise", "more noise"]
    assert "notes" in registry_for(store) and "balance" in registry_for(store)
    assert "notes" not in registry_for(other)
    with pytest.raises(ProjectionError, match="no projection named 'notes'"):
        project(other, "notes")
    other.close()


def test_registry_refuses_what_is_not_a_projection() -> None:
    reg = ProjectionRegistry()
    with pytest.raises(ProjectionError, match="has no apply"):
        reg.register(type("Half", (), {"initial": lambda self: 0})())

    class NeedsArgs(Projection):
        def __init__(self, x: int) -> None:
            self.x = x

    with pytest.raises(ProjectionError, match="cannot be created without arguments"):
        reg.register(NeedsArgs)

    @reg.register
    class Decorated(Count):
        name = "decorated"

    assert reg.names() == ["decorated"] and Decorated.name == "decorated"
    with pytest.raises(ProjectionError, match="no projection named 'zzz' is registered here"):
        reg.unregister("zzz")


# ---------------------------------------------------------------------------- loading from files

def test_load_projections_from_files_and_modules(tmp_path: Path) -> None:
    loaded = load_projections(str(EXAMPLES / "pnl_projection.py"))
    assert [p.name for p in loaded] == ["balance", "pnl"]
    only, = load_projections(f"{EXAMPLES / 'pnl_projection.py'}:PnLProjection")
    assert isinstance(only.initial(), PnL) or type(only.initial()).__name__ == "PnL"
    assert [p.name for p in load_projections("pnl_projection")] == ["balance", "pnl"]  # importable module
    plain = tmp_path / "mine.py"
    plain.write_text("from agenttui.store import Projection\n"
                     "class Ticks(Projection):\n"
                     "    name = 'ticks'\n"
                     "    event_types = {'tick'}\n"
                     "    def initial(self): return 0\n"
                     "    def apply(self, s, e): return s + 1\n")
    assert [p.name for p in load_projections(str(plain))] == ["ticks"]
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(ProjectionError, match="defines no projection"):
        load_projections(str(empty))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('import-time bug')\n")
    with pytest.raises(ProjectionError, match="loading failed: RuntimeError: import-time bug"):
        load_projections(str(broken))
    with pytest.raises(ProjectionError, match="no such projection file"):
        load_projections(str(tmp_path / "missing.py"))
    with pytest.raises(ProjectionError, match="has no attribute 'Nope'"):
        load_projections(f"{plain}:Nope")


# ------------------------------------------------------------------ property: any point, any query

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_money = st.tuples(st.sampled_from(["FundsDeposited", "BetPlaced", "BetWon", "FeeCharged", "note"]),
                   st.integers(0, 100), st.integers(-3, 30))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(_money, min_size=1, max_size=60), every=st.integers(1, 7),
       queries=st.lists(st.tuples(st.integers(0, 65), st.one_of(st.none(), st.integers(-4, 70))), min_size=1,
                        max_size=8))
def test_any_query_agrees_with_a_fold_of_the_matching_events(tmp_path_factory, spec, every, queries) -> None:
    """Positions and timestamps in any order, clock skew included, against a brute-force fold."""
    store = SQLiteStore(tmp_path_factory.mktemp("prop") / "p.db")
    evs = [Event(t, {"fee": a} if t == "FeeCharged" else {"amount": a}, run_id="r", timestamp=ts(sec))
           for t, a, sec in spec]  # seconds may go backwards: a skewed clock
    store.append(evs)
    projector = Projector(store, BalanceProjection(), "r", checkpoint_every=every)
    for position, second in queries:
        limit = None if second is None else ts(second / 2)  # on and between event times
        expected = brute_force(BalanceProjection(), [
            e for e in evs[:position] if limit is None or e.timestamp <= limit])
        assert projector.state_at(position, timestamp=limit) == pytest.approx(expected), (position, second)
    store.close()


def test_a_failed_fold_does_not_leave_a_half_applied_state_behind(store: Any) -> None:
    class Fragile(Projection):
        name = "fragile"

        def initial(self) -> dict:
            return {"n": 0}

        def apply(self, state: dict, event: Event) -> dict:
            state["n"] += 1  # mutates first ...
            if event.payload.get("text") == "more noise":
                raise RuntimeError("cannot handle it")  # ... then fails
            return state

    projector = Projector(store, Fragile(), "r1", checkpoint_every=3)
    with pytest.raises(ProjectionError, match="cannot handle it"):
        projector.latest()
    assert projector.state_at(7) == {"n": 7}, "the main line was rolled back, not left at n=8"
    with pytest.raises(ProjectionError):
        projector.latest()
