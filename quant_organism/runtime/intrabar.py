"""The paper books between bar closes: stops and take-profits on the first trade past their level, live P&L.

Why: bar-close processing (the engine) learns of a stop an hour late. Here every trade of a coin is checked
against the levels its books hold, with the kernel's rule (book_kernel._check_levels): a long's stop fires at
a price at or below its level, its take-profit at or above; a short the other way round; not in the bar the
position was entered, nor when the order decided at the last close changes the position at this bar's open.
The first trade past a level fires it, at that trade's price; the book is then out for the rest of the bar.

The engine still processes the bar at its close, unchanged, and exits the book at the price the backtest's
stop model gives (the level, or the open when the bar gapped through it). So the ledger stays equal to
bar-close processing, and each intrabar exit is kept beside that model price (`IntrabarExit.model_price`,
filled in by live_session.py) so the difference is measured, not hidden.

Live equity marks each book at the coin's last trade (an exited book at its exit price, less the taker fee and
slippage it would pay), which gives the book's live P&L and drawdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from quant_organism.backtest.compiled.exit_rule import STOP, TAKE, exit_at
from quant_organism.backtest.costs import CostModel


@dataclass
class IntrabarExit:
    strategy: str
    coin: str
    bar_time: pd.Timestamp  # the open time of the bar it fired in
    time: pd.Timestamp  # the trade's time
    reason: str  # "stop_loss" | "take_profit"
    direction: int
    units: float
    level: float
    price: float  # the first trade past the level
    model_price: float | None = None  # the bar-close book's exit price for this book and bar
    model_reason: str | None = None

    def to_dict(self) -> dict:
        gap = None if self.model_price is None else (self.price / self.model_price - 1.0) * self.direction * 1e4
        return {"strategy": self.strategy, "coin": self.coin, "bar_time": self.bar_time.isoformat(),
                "time": self.time.isoformat(), "reason": self.reason, "direction": self.direction, "units": self.units,
                "level": self.level, "price": self.price, "model_price": self.model_price, "model_reason": self.model_reason,
                "better_than_model_bps": None if gap is None else round(gap, 3)}  # fmt: skip


@dataclass
class _Watched:
    strategy: str
    coin: str
    direction: int
    units: float
    cash: float
    stop: float | None
    take: float | None
    armed: bool  # whether the levels apply in this bar
    exit: IntrabarExit | None = None


@dataclass
class IntrabarWatch:
    """The books of one engine as they stand after a close, watched over the next bar."""

    costs: CostModel = field(default_factory=CostModel)
    books: dict[tuple[str, str], _Watched] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    bar_time: pd.Timestamp | None = None
    exits: list[IntrabarExit] = field(default_factory=list)

    def arm(self, engine, bar_time: pd.Timestamp) -> None:
        """Watch `engine`'s books over the bar opening at `bar_time` (their states after the previous close)."""
        self.bar_time, self.books, self.exits = bar_time, {}, []
        for key, book in engine.books.items():
            s = book.state
            pending = s.pending
            changes = pending is not None and pending.direction != s.direction
            self.books[key] = _Watched(
                key[0], key[1], s.direction, s.units, s.cash, s.stop_price, s.take_profit_price,
                armed=s.direction != 0 and not changes and not s.bankrupt,
            )  # fmt: skip
            if s.last_close is not None:  # the close just processed is the price until the next trade
                self.prices[key[1]] = s.last_close

    def on_price(self, coin: str, time: pd.Timestamp, price: float) -> list[IntrabarExit]:
        """A trade of `coin`: the exits it fires (each book at most once per bar)."""
        self.prices[coin] = price
        fired = []
        for book in self.books.values():
            if book.coin != coin or not book.armed or book.exit is not None:
                continue
            reason, level = _crossed(book, price)
            if reason is None:
                continue
            book.exit = IntrabarExit(book.strategy, coin, self.bar_time, time, reason, book.direction, book.units, level, price)
            fired.append(book.exit)
        self.exits += fired
        return fired

    def equity(self) -> float:
        """The books' equity marked at each coin's last trade."""
        return sum(self._value(b) for b in self.books.values())

    def positions(self) -> dict[str, float]:
        """Units held per coin, net over the books, after the exits fired in this bar."""
        out: dict[str, float] = {}
        for b in self.books.values():
            if b.direction != 0 and b.exit is None:
                out[b.coin] = out.get(b.coin, 0.0) + b.units
        return out

    def _value(self, book: _Watched) -> float:
        if book.direction == 0:
            return book.cash
        if book.exit is not None:
            cost = abs(book.units) * book.exit.price * (self.costs.taker_fee + self.costs.slippage)
            return book.cash + book.units * book.exit.price - cost
        return book.cash + book.units * self.prices.get(book.coin, 0.0)


def _crossed(book: _Watched, price: float) -> tuple[str | None, float]:
    """The exit rule of the backtest and the paper book (backtest/compiled/exit_rule.py) on one trade: a bar whose open, high
    and low are its price."""
    stop = math.nan if book.stop is None else book.stop
    take = math.nan if book.take is None else book.take
    level, which = exit_at(book.direction, price, price, price, stop, take)
    if which == STOP:
        return "stop_loss", stop
    if which == TAKE:
        return "take_profit", take
    return None, 0.0
