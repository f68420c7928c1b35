"""Balance and profit-and-loss of a betting agent, as custom projections over its own events.

The agent records plain facts as events (`run.event("BetPlaced", amount=5, game="dice")`):

    FundsDeposited {amount, asset?}     money in
    FundsWithdrawn {amount, asset?}     money out
    BetPlaced      {amount, game?}      stake leaves the balance
    BetWon         {amount, game?}      payout (stake included) comes back
    FeeCharged     {fee}                platform fee

Balance and P&L are never stored: they are folds over those facts, so they can be asked for at any
position or time of the run ("what was the balance before the third bet?") and rebuilt at will.

Use from Python:

    from agenttui.store import open_store, project
    import pnl_projection                      # registers "balance" and "pnl"
    store = open_store("run.db")
    project(store, "pnl", run_id).net_pnl
    project(store, "balance", run_id, timestamp="2026-03-01T09:00:05Z")

or load the file where a projection file is accepted (`load_projections("examples/pnl_projection.py")`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agenttui.store import Event, Projection, register_projection

MONEY_EVENTS = frozenset({"FundsDeposited", "FundsWithdrawn", "BetPlaced", "BetWon", "FeeCharged"})


def _amount(event: Event, field: str = "amount") -> float:
    """The event's money field as a number; a ledger must not guess, so a bad value is an error."""
    value = event.payload.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{event.event_type}.{field} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{event.event_type}.{field} must not be negative, got {value!r}")
    return float(value)


class BalanceProjection(Projection):
    """Funds available: deposits and winnings in; withdrawals, stakes and fees out."""

    name = "balance"
    description = "funds available (deposits + winnings - withdrawals - stakes - fees)"
    event_types = MONEY_EVENTS

    def initial(self) -> float:
        return 0.0

    def apply(self, state: float, event: Event) -> float:
        t = event.event_type
        if t in ("FundsDeposited", "BetWon"):
            return state + _amount(event)
        if t in ("FundsWithdrawn", "BetPlaced"):
            return state - _amount(event)
        if t == "FeeCharged":
            return state - _amount(event, "fee")
        return state

    def copy(self, state: float) -> float:
        return state  # a float is immutable: no copy needed for checkpoints

    def describe(self, state: float) -> dict[str, Any]:
        return {"balance": round(state, 2)}


@dataclass
class PnL:
    total_wagered: float = 0.0
    total_won: float = 0.0
    total_fees: float = 0.0
    bet_count: int = 0
    win_count: int = 0

    @property
    def net_pnl(self) -> float:
        return self.total_won - self.total_wagered - self.total_fees

    @property
    def win_rate(self) -> float:
        return self.win_count / self.bet_count if self.bet_count else 0.0

    @property
    def roi(self) -> float:
        return self.net_pnl / self.total_wagered if self.total_wagered else 0.0


class PnLProjection(Projection):
    """Rolling profit and loss of the bets: stakes, winnings, fees, hit rate and return on stakes."""

    name = "pnl"
    description = "profit and loss of the bets"
    event_types = frozenset({"BetPlaced", "BetWon", "FeeCharged"})

    def initial(self) -> PnL:
        return PnL()

    def apply(self, state: PnL, event: Event) -> PnL:
        t = event.event_type
        if t == "BetPlaced":
            state.total_wagered += _amount(event)
            state.bet_count += 1
        elif t == "BetWon":
            state.total_won += _amount(event)
            state.win_count += 1
        elif t == "FeeCharged":
            state.total_fees += _amount(event, "fee")
        return state

    def copy(self, state: PnL) -> PnL:
        return PnL(state.total_wagered, state.total_won, state.total_fees, state.bet_count, state.win_count)

    def describe(self, state: PnL) -> dict[str, Any]:
        return {"net_pnl": round(state.net_pnl, 2), "total_wagered": round(state.total_wagered, 2),
                "total_won": round(state.total_won, 2), "total_fees": round(state.total_fees, 2),
                "bets": state.bet_count, "wins": state.win_count, "win_rate": round(state.win_rate, 4),
                "roi": round(state.roi, 4)}


#: What `load_projections("examples/pnl_projection.py")` returns.
PROJECTIONS = [BalanceProjection(), PnLProjection()]

for _p in PROJECTIONS:
    register_projection(_p, replace=True)  # re-importing the file must not fail
