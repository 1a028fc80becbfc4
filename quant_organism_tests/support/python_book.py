"""The paper book as it was written before it was compiled (runtime/compiled/book_kernel.py): plain Python over one bar
at a time. Kept as the reference the compiled book is compared with, bit for bit, in test_runtime_book.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.runtime.book import Fill, Mark, Order, Trade

_REL_TOL, _ABS_TOL = 1e-9, 1e-12  # vectorbt's tolerances for "this fill exactly spends the cash"


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


def _add(a: float, b: float) -> float:
    """a + b, snapped to 0 when the two cancel up to rounding (as vectorbt does for cash and units)."""
    return 0.0 if _close(abs(a), abs(b)) and (a > 0) != (b > 0) else a + b


@dataclass
class BookState:
    """Everything a book needs to resume exactly where it stopped (JSON-able via `to_dict`)."""

    initial_cash: float
    cash: float
    units: float = 0.0
    direction: int = 0
    blocked: int = 0  # the direction of the last stopped-out trade while its target still holds
    bankrupt: bool = False
    entry_bar: int = -1
    entry_time: pd.Timestamp | None = None
    entry_price: float | None = None
    entry_equity: float = 0.0
    stop_price: float | None = None
    take_profit_price: float | None = None
    trade_fees: float = 0.0
    trade_funding: float = 0.0
    pending: Order | None = None
    bars: int = 0  # bars processed so far; the bar counter stops are timed with
    last_time: pd.Timestamp | None = None
    last_close: float | None = None
    equity: float = 0.0
    last_decision_bar: int | None = None
    last_decision_time: pd.Timestamp | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}  # no deep copy: it runs every bar
        for key in ("entry_time", "last_time", "last_decision_time"):
            out[key] = None if out[key] is None else out[key].isoformat()
        if self.pending is not None:
            p = self.pending
            out["pending"] = {"direction": p.direction, "fraction": p.fraction, "decided_at": p.decided_at.isoformat()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BookState:
        data = dict(data)
        for key in ("entry_time", "last_time", "last_decision_time"):
            data[key] = None if data.get(key) is None else pd.Timestamp(data[key])
        pending = data.get("pending")
        if pending is not None:
            data["pending"] = Order(int(pending["direction"]), float(pending["fraction"]), pd.Timestamp(pending["decided_at"]))
        return cls(**data)


class PaperBook:
    """A strategy's account on one coin. Call `open_bar`, then (at the close) `target`/`submit`, then `close_bar`."""

    def __init__(
        self,
        strategy: str,
        coin: str,
        initial_cash: float,
        stop_loss: float,
        take_profit: float,
        costs: CostModel,
        state: BookState | None = None,
    ) -> None:
        if not math.isfinite(initial_cash) or initial_cash < 0:
            raise ValueError(f"book {strategy}/{coin}: initial cash must be finite and >= 0, got {initial_cash}")
        if not 0.0 <= stop_loss < 1.0 or not 0.0 <= take_profit:
            raise ValueError(f"book {strategy}/{coin}: stop_loss must be in [0, 1) and take_profit >= 0")
        self.strategy, self.coin = strategy, coin
        self.stop_loss, self.take_profit = float(stop_loss), float(take_profit)
        self.costs = costs
        self.state = state if state is not None else BookState(initial_cash=initial_cash, cash=initial_cash, equity=initial_cash)
        self._bar_fees = 0.0
        self._bar_funding = 0.0
        self._seq = 0

    # --- the bar -----------------------------------------------------------------------------
    def open_bar(
        self, time: pd.Timestamp, open_: float, high: float, low: float, funding_rate: float = 0.0
    ) -> tuple[list[Fill], list[Trade]]:
        """Steps 1-3 of the module docstring for a new bar; returns its fills and the trades they closed."""
        s = self.state
        if s.last_time is not None and time <= s.last_time:
            raise ValueError(f"book {self.strategy}/{self.coin}: bar {time} is not after the last bar {s.last_time}")
        s.bars += 1
        s.last_time = time
        self._bar_fees = self._bar_funding = 0.0
        self._seq = 0
        fills: list[Fill] = []
        trades: list[Trade] = []
        if s.direction != 0 and funding_rate != 0.0:
            pay = funding_rate * s.units * open_
            s.cash -= pay
            s.trade_funding += pay
            self._bar_funding += pay
        order, s.pending = s.pending, None
        if order is not None and not s.bankrupt and order.direction != s.direction:
            if s.direction != 0:
                self._exit(time, open_, "signal", fills, trades)
            if order.direction != 0 and not s.bankrupt and s.cash > 0.0:
                self._enter(time, order, open_, fills)
        if s.direction != 0 and s.entry_bar < s.bars:
            self._check_levels(time, open_, high, low, fills, trades)
        return fills, trades

    def target(self, wanted: int) -> int:
        """The strategy's target at this close after the stay-flat-after-a-stop rule (updates the block)."""
        s = self.state
        if s.blocked != 0:
            if wanted == s.blocked:
                return 0
            s.blocked = 0
        return wanted

    def submit(self, direction: int, fraction: float, time: pd.Timestamp) -> None:
        """Queue the order to fill at the next open (replacing any queued one)."""
        if direction not in (-1, 0, 1):
            raise ValueError(f"order direction must be -1, 0 or 1, got {direction}")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"order fraction must be in [0, 1], got {fraction}")
        self.state.pending = Order(int(direction), float(fraction), time)
        self.state.last_decision_bar = self.state.bars
        self.state.last_decision_time = time

    def close_bar(self, time: pd.Timestamp, close: float) -> tuple[Mark, list[Trade]]:
        """Step 4: mark to the close; liquidate an exhausted account (its trade ends 'bankrupt')."""
        s = self.state
        trades: list[Trade] = []
        equity = s.cash + s.units * close
        if equity <= 0.0 and not s.bankrupt:
            if s.direction != 0:
                trades.append(self._trade(time, s.units, close, -s.entry_equity, "bankrupt"))
            s.bankrupt = True
            s.direction, s.units, s.cash, equity = 0, 0.0, 0.0, 0.0
            s.pending = None
        pnl = equity - s.equity
        s.equity, s.last_close = equity, close
        mark = Mark(
            self.strategy, self.coin, time, s.direction, s.units, s.entry_price if s.direction else None,
            s.stop_price if s.direction else None, s.take_profit_price if s.direction else None,
            s.cash, close, equity, pnl, self._bar_fees, self._bar_funding,
        )  # fmt: skip
        return mark, trades

    def open_trade(self) -> Trade | None:
        """The position still open, valued at the last close without an exit fee (the backtest's 'open')."""
        s = self.state
        if s.direction == 0 or s.last_time is None or s.last_close is None:
            return None
        return self._trade(s.last_time, s.units, s.last_close, s.equity - s.entry_equity, "open")

    # --- fills -------------------------------------------------------------------------------
    def _enter(self, time: pd.Timestamp, order: Order, open_: float, fills: list[Fill]) -> None:
        s = self.state
        slip, fee = self.costs.slippage, self.costs.taker_fee
        ref = open_ * (1.0 + slip) if order.direction > 0 else open_ * (1.0 - slip)
        units = order.direction * order.fraction * s.cash / (ref * (1.0 + fee))
        entry_equity = s.cash
        filled = self._execute(units, open_, fee, slip)
        if filled is None:
            return
        size, price, paid = filled
        s.direction = order.direction
        s.entry_bar, s.entry_time, s.entry_price, s.entry_equity = s.bars, time, price, entry_equity
        s.trade_fees, s.trade_funding = paid, 0.0
        sl, tp = self.stop_loss, self.take_profit
        if order.direction > 0:
            s.stop_price = price * (1.0 - sl) if sl > 0.0 else None
            s.take_profit_price = price * (1.0 + tp) if tp > 0.0 else None
        else:
            s.stop_price = price * (1.0 + sl) if sl > 0.0 else None
            s.take_profit_price = price * (1.0 - tp) if tp > 0.0 else None
        fills.append(self._fill(time, size, price, paid, "entry", "signal", "taker"))

    def _check_levels(self, time, open_: float, high: float, low: float, fills: list[Fill], trades: list[Trade]) -> None:
        s = self.state
        sl, tp = s.stop_price, s.take_profit_price
        price, reason = None, None
        if s.direction > 0:
            if sl is not None and open_ <= sl:
                price, reason = open_, "stop_loss"
            elif tp is not None and open_ >= tp:
                price, reason = open_, "take_profit"
            elif sl is not None and low <= sl:
                price, reason = sl, "stop_loss"
            elif tp is not None and high >= tp:
                price, reason = tp, "take_profit"
        else:
            if sl is not None and open_ >= sl:
                price, reason = open_, "stop_loss"
            elif tp is not None and open_ <= tp:
                price, reason = open_, "take_profit"
            elif sl is not None and high >= sl:
                price, reason = sl, "stop_loss"
            elif tp is not None and low <= tp:
                price, reason = tp, "take_profit"
        if reason is not None:
            blocked = s.direction
            self._exit(time, price, reason, fills, trades)
            s.blocked = blocked

    def _exit(self, time, price: float, reason: str, fills: list[Fill], trades: list[Trade]) -> None:
        s = self.state
        maker = reason == "take_profit" and self.costs.take_profit_order == "limit"
        fee = self.costs.maker_fee if maker else self.costs.taker_fee
        slip = 0.0 if maker else self.costs.slippage
        units_before = s.units
        filled = self._execute(-s.units, price, fee, slip)
        size, fill_price, paid = filled if filled is not None else (0.0, math.nan, 0.0)
        s.trade_fees += paid
        if filled is not None:
            fills.append(self._fill(time, size, fill_price, paid, "exit", reason, "maker" if maker else "taker"))
        trades.append(self._trade(time, units_before, fill_price, s.cash - s.entry_equity, reason))
        s.direction = 0
        if s.units != 0.0:  # the cover could not be paid in full: the account is exhausted
            s.bankrupt = True
            s.units = s.cash = 0.0

    def _execute(self, units: float, price: float, fee: float, slip: float) -> tuple[float, float, float] | None:
        """Fill `units` (signed) at `price`: vectorbt's arithmetic; returns (units filled, fill price, fee)."""
        s = self.state
        deficit = s.cash if s.cash < 0.0 else 0.0  # funding can push a full long's cash below 0
        cash = s.cash - deficit
        if units > 0.0:
            adj = price * (1.0 + slip)
            if cash == 0.0:
                return None
            req = units * adj
            total = req + req * fee
            if _close(total, cash) or total < cash:
                size, paid, spent = units, req * fee, total
            else:  # not enough cash: buy what the cash pays for, fee included
                budget = cash / (1.0 + fee)
                size, paid, spent = budget / adj, cash - budget, cash
            s.cash = _add(cash, -spent) + deficit
            s.units = _add(s.units, size)
        elif units < 0.0:
            adj = price * (1.0 - slip)
            size = -units
            received = size * adj
            paid = received * fee
            s.cash = cash + _add(received, -paid) + deficit
            s.units = _add(s.units, -size)
        else:
            return None
        self._bar_fees += paid
        return size, adj, paid

    def _fill(self, time, units: float, price: float, fee: float, kind: str, reason: str, liquidity: str) -> Fill:
        buy = (kind == "entry") == (self.state.direction > 0)
        self._seq += 1
        side = "buy" if buy else "sell"
        return Fill(self.strategy, self.coin, time, self._seq, side, kind, reason, units, price, fee, liquidity)

    def _trade(self, exit_time, units: float, exit_price: float, pnl: float, reason: str) -> Trade:
        s = self.state
        ret = pnl / s.entry_equity if s.entry_equity > 0.0 else 0.0
        return Trade(
            self.strategy, self.coin, s.entry_time, exit_time, s.direction, abs(units), s.entry_price,
            exit_price, s.trade_fees, s.trade_funding, pnl, ret, reason,
        )  # fmt: skip
