"""One strategy's paper account on one coin, advanced bar by bar under the backtest's execution convention.

This is a second, independent implementation of the convention that backtest/simulate.py states (and
its compiled kernel enforces), written bar by bar so that the runtime can trade live bars; the bar's
arithmetic is compiled (book_kernel.py) and shared by a live step, a replay and a paper run. The replay
stage runs both implementations on the same window and fails a candidate when they disagree, so a drift
between the two shows up as a failed validation rather than as silent PnL.

Per bar, in this order (the kernel's order):
1. funding stamped at the bar's open is paid on the position carried into the bar (rate*units*open);
2. the order decided at the previous close fills at this open: a change of direction closes the old
   position and opens the new one, each a market order (taker fee, slippage against the trader);
   an entry spends `fraction` of the book's equity on notional plus fee;
3. from the bar after the entry bar, stop-loss then take-profit: gapped through at the open -> the
   open, else touched intrabar (low/high) -> the level; both touched -> the stop. Stops pay taker +
   slippage, take-profits maker and no slippage when resting limits (CostModel.take_profit_order).
   After a stop or take-profit the book stays flat until the strategy's target changes;
4. marked at the close; equity <= 0 liquidates the book, which then never trades again.
Fills follow vectorbt's order arithmetic (buys cost units*price*(1+s)*(1+fee) and are cut to the
cash available; sells receive units*price*(1-s)*(1-fee)), as the backtest does through vectorbt.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel

from .compiled import book_kernel as kernel


@dataclass(frozen=True)
class Order:
    """What the strategy wants from the next open: a direction in {-1, 0, 1} and the entry's equity fraction."""

    direction: int
    fraction: float
    decided_at: pd.Timestamp


@dataclass(frozen=True)
class Fill:
    """One execution: at `time` (the bar's open time), `seq` orders the fills within that bar."""

    strategy: str
    coin: str
    time: pd.Timestamp
    seq: int
    side: str  # "buy" | "sell"
    kind: str  # "entry" | "exit"
    reason: str  # "signal" | "stop_loss" | "take_profit"
    units: float
    price: float  # the fill price, slippage included
    fee: float
    liquidity: str  # "taker" | "maker"


@dataclass(frozen=True)
class Trade:
    """A round trip; the fields and exit reasons of the backtest's trades table."""

    strategy: str
    coin: str
    entry_time: pd.Timestamp
    exit_time: pd.Timestamp
    direction: int
    size: float  # units
    entry_price: float
    exit_price: float
    fees: float
    funding: float
    pnl: float
    ret: float
    exit_reason: str  # "signal" | "stop_loss" | "take_profit" | "bankrupt" | "open"


@dataclass(slots=True)
class Mark:
    """The book at a bar's close: position, cash, equity, and what the bar cost. A record, never changed once
    made; not a frozen dataclass only because one is made per book and bar, and freezing costs 1.3 µs each."""

    strategy: str
    coin: str
    time: pd.Timestamp
    direction: int
    units: float
    entry_price: float | None
    stop_loss: float | None
    take_profit: float | None
    cash: float
    close: float
    equity: float
    pnl: float  # equity change over the bar
    fees: float
    funding: float


def _optional(value: float) -> float | None:
    return None if value != value else value


@functools.lru_cache(maxsize=4096)
def _iso(nanos: int, tz: Any) -> str:
    """A time's ISO text, remembered: a paper run writes each bar's time into every book's saved state."""
    return (pd.Timestamp(nanos, tz=tz) if tz is not None else pd.Timestamp(nanos)).isoformat()


class _Field:
    """A BookState field stored at `index` of the book's float or int row (absent: NaN or NAT, read as None)."""

    def __init__(self, row: str, index: int, kind: type = float, optional: bool = False) -> None:
        self.row, self.index, self.kind, self.optional = row, index, kind, optional

    def __get__(self, state, owner=None):
        if state is None:
            return self
        value = getattr(state, self.row)[self.index].item()
        if self.kind is pd.Timestamp:
            return None if value == kernel.NAT else state.box(value)
        if self.optional and (value == kernel.NAT if self.row == "i" else value != value):
            return None
        return self.kind(value)

    def __set__(self, state, value) -> None:
        row = getattr(state, self.row)
        if value is None:
            row[self.index] = kernel.NAT if self.row == "i" else math.nan
        elif self.kind is pd.Timestamp:
            value = pd.Timestamp(value)
            state.tz = value.tz
            row[self.index] = value.value
        else:
            row[self.index] = value


class BookState:
    """Everything a book needs to resume exactly where it stopped (JSON-able via `to_dict`).

    A view of the book's rows in the engine's state tables (book_kernel.py): the compiled bar loop and the
    engine's Python decisions read and write the same numbers. Built from keyword fields (a fresh row of its
    own), or by the engine over its rows."""

    FIELDS = (
        "initial_cash", "cash", "units", "direction", "blocked", "bankrupt", "entry_bar", "entry_time", "entry_price",
        "entry_equity", "stop_price", "take_profit_price", "trade_fees", "trade_funding", "pending", "bars",
        "last_time", "last_close", "equity", "last_decision_bar", "last_decision_time",
    )  # fmt: skip
    initial_cash = _Field("f", kernel.INITIAL_CASH)
    cash = _Field("f", kernel.CASH)
    units = _Field("f", kernel.UNITS)
    direction = _Field("i", kernel.DIRECTION, int)
    blocked = _Field("i", kernel.BLOCKED, int)
    bankrupt = _Field("i", kernel.BANKRUPT, bool)
    entry_bar = _Field("i", kernel.ENTRY_BAR, int)
    entry_time = _Field("i", kernel.ENTRY_TIME, pd.Timestamp)
    entry_price = _Field("f", kernel.ENTRY_PRICE, optional=True)
    entry_equity = _Field("f", kernel.ENTRY_EQUITY)
    stop_price = _Field("f", kernel.STOP, optional=True)
    take_profit_price = _Field("f", kernel.TAKE, optional=True)
    trade_fees = _Field("f", kernel.TRADE_FEES)
    trade_funding = _Field("f", kernel.TRADE_FUNDING)
    bars = _Field("i", kernel.BARS, int)
    last_time = _Field("i", kernel.LAST_TIME, pd.Timestamp)
    last_close = _Field("f", kernel.LAST_CLOSE, optional=True)
    equity = _Field("f", kernel.EQUITY)
    last_decision_bar = _Field("i", kernel.LAST_DECISION_BAR, int, optional=True)
    last_decision_time = _Field("i", kernel.LAST_DECISION_TIME, pd.Timestamp)

    def __init__(self, initial_cash: float, cash: float, **fields: Any) -> None:
        self.f, self.i, self.tz = np.full(kernel.N_FLOAT, math.nan), np.zeros(kernel.N_INT, np.int64), None
        self.f[
            [kernel.UNITS, kernel.ENTRY_EQUITY, kernel.TRADE_FEES, kernel.TRADE_FUNDING, kernel.EQUITY, kernel.PENDING_FRACTION]
        ] = 0.0
        self.f[[kernel.BAR_FEES, kernel.BAR_FUNDING, kernel.STOP_LOSS, kernel.TAKE_PROFIT]] = 0.0
        self.i[[kernel.ENTRY_TIME, kernel.PENDING_DIRECTION, kernel.PENDING_AT, kernel.LAST_TIME, kernel.LAST_DECISION_BAR]] = (
            kernel.NAT
        )
        self.i[kernel.LAST_DECISION_TIME] = kernel.NAT
        self.i[kernel.ENTRY_BAR] = -1
        self.initial_cash, self.cash = initial_cash, cash
        unknown = set(fields) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"BookState has no field(s) {sorted(unknown)}")
        for name, value in fields.items():
            setattr(self, name, value)

    @classmethod
    def view(cls, f: np.ndarray, i: np.ndarray, tz: Any = None) -> BookState:
        """The state held in these rows (the engine's tables)."""
        state = cls.__new__(cls)
        state.f, state.i, state.tz = f, i, tz
        return state

    def copy_into(self, f: np.ndarray, i: np.ndarray) -> None:
        """Write this state into other rows, leaving their book's stop and take-profit settings as they are."""
        keep = f[[kernel.STOP_LOSS, kernel.TAKE_PROFIT]].copy()
        f[:], i[:] = self.f, self.i
        f[[kernel.STOP_LOSS, kernel.TAKE_PROFIT]] = keep

    def box(self, nanos: int) -> pd.Timestamp:
        return pd.Timestamp(nanos, tz=self.tz) if self.tz is not None else pd.Timestamp(nanos)

    @property
    def pending(self) -> Order | None:
        direction = self.i[kernel.PENDING_DIRECTION].item()
        if direction == kernel.NO_ORDER:
            return None
        return Order(direction, self.f[kernel.PENDING_FRACTION].item(), self.box(self.i[kernel.PENDING_AT].item()))

    @pending.setter
    def pending(self, order: Order | None) -> None:
        if order is None:
            self.i[kernel.PENDING_DIRECTION] = kernel.NO_ORDER
            return
        at = pd.Timestamp(order.decided_at)
        self.tz = at.tz
        self.i[kernel.PENDING_DIRECTION], self.f[kernel.PENDING_FRACTION], self.i[kernel.PENDING_AT] = (
            order.direction,
            order.fraction,
            at.value,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields by name, times as ISO text (the ledger writes one per book and bar: read the rows once)."""
        f, i, k = self.f.tolist(), self.i.tolist(), kernel
        iso = [None if v == k.NAT else _iso(v, self.tz) for v in (i[k.ENTRY_TIME], i[k.LAST_TIME], i[k.LAST_DECISION_TIME])]
        pending = None
        if i[k.PENDING_DIRECTION] != k.NO_ORDER:
            at = _iso(i[k.PENDING_AT], self.tz)
            pending = {"direction": i[k.PENDING_DIRECTION], "fraction": f[k.PENDING_FRACTION], "decided_at": at}
        return {
            "initial_cash": f[k.INITIAL_CASH], "cash": f[k.CASH], "units": f[k.UNITS], "direction": i[k.DIRECTION],
            "blocked": i[k.BLOCKED], "bankrupt": bool(i[k.BANKRUPT]), "entry_bar": i[k.ENTRY_BAR], "entry_time": iso[0],
            "entry_price": _optional(f[k.ENTRY_PRICE]), "entry_equity": f[k.ENTRY_EQUITY],
            "stop_price": _optional(f[k.STOP]), "take_profit_price": _optional(f[k.TAKE]), "trade_fees": f[k.TRADE_FEES],
            "trade_funding": f[k.TRADE_FUNDING], "pending": pending, "bars": i[k.BARS], "last_time": iso[1],
            "last_close": _optional(f[k.LAST_CLOSE]), "equity": f[k.EQUITY],
            "last_decision_bar": None if i[k.LAST_DECISION_BAR] == k.NAT else i[k.LAST_DECISION_BAR],
            "last_decision_time": iso[2],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BookState:
        data = dict(data)
        for key in ("entry_time", "last_time", "last_decision_time"):
            data[key] = None if data.get(key) is None else pd.Timestamp(data[key])
        pending = data.get("pending")
        if pending is not None:
            data["pending"] = Order(int(pending["direction"]), float(pending["fraction"]), pd.Timestamp(pending["decided_at"]))
        return cls(**data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BookState) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"BookState({self.to_dict()})"


class PaperBook:
    """A strategy's account on one coin: its state, the stay-flat-after-a-stop rule and the order queue.

    The bars themselves are processed by the engine through book_kernel.advance, on the rows this book
    views (its own when made alone)."""

    def __init__(
        self,
        strategy: str,
        coin: str,
        initial_cash: float,
        stop_loss: float,
        take_profit: float,
        costs: CostModel,
        state: BookState | None = None,
        rows: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        if not math.isfinite(initial_cash) or initial_cash < 0:
            raise ValueError(f"book {strategy}/{coin}: initial cash must be finite and >= 0, got {initial_cash}")
        if not 0.0 <= stop_loss < 1.0 or not 0.0 <= take_profit:
            raise ValueError(f"book {strategy}/{coin}: stop_loss must be in [0, 1) and take_profit >= 0")
        self.strategy, self.coin = strategy, coin
        self.stop_loss, self.take_profit = float(stop_loss), float(take_profit)
        self.costs = costs
        fresh = state if state is not None else BookState(initial_cash=initial_cash, cash=initial_cash, equity=initial_cash)
        if rows is None:
            rows = (np.empty(kernel.N_FLOAT), np.empty(kernel.N_INT, np.int64))
        fresh.copy_into(*rows)
        rows[0][kernel.STOP_LOSS], rows[0][kernel.TAKE_PROFIT] = self.stop_loss, self.take_profit
        self.state = BookState.view(*rows, tz=fresh.tz)

    def target(self, wanted: int) -> int:
        """The strategy's target at this close after the stay-flat-after-a-stop rule (updates the block)."""
        return int(kernel.blocked_target(self.state.i, np.int64(wanted)))

    def submit(self, direction: int, fraction: float, time: pd.Timestamp) -> None:
        """Queue the order to fill at the next open (replacing any queued one)."""
        if direction not in (-1, 0, 1):
            raise ValueError(f"order direction must be -1, 0 or 1, got {direction}")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"order fraction must be in [0, 1], got {fraction}")
        s = self.state
        s.pending = Order(int(direction), float(fraction), time)
        s.last_decision_bar = s.bars
        s.last_decision_time = time

    def open_trade(self) -> Trade | None:
        """The position still open, valued at the last close without an exit fee (the backtest's 'open')."""
        s = self.state
        if s.direction == 0 or s.last_time is None or s.last_close is None:
            return None
        pnl = s.equity - s.entry_equity
        ret = pnl / s.entry_equity if s.entry_equity > 0.0 else 0.0
        return Trade(
            self.strategy, self.coin, s.entry_time, s.last_time, s.direction, abs(s.units), s.entry_price,
            s.last_close, s.trade_fees, s.trade_funding, pnl, ret, "open",
        )  # fmt: skip
