"""Backtest target-position signals on perpetual futures, long and short, one column per strategy.

Execution convention (enforced by kernel.py for every caller):
1. A target in {-1, 0, +1} at bar t is decided with bar t's close and fills at bar t+1's open as a
   market order: taker fee, slippage against the trader (buys at open*(1+s), sells at open*(1-s)).
   A reversal closes the old position and then opens the new one at the same open, each paying its
   own fee. The first bar's open can never be traded (there is no earlier decision).
2. Size: an entry spends `position_size` of the equity at that open on notional plus its entry fee,
   units = position_size * equity / (fill_price * (1 + taker_fee)); units stay fixed while the
   position is held (no rebalancing). position_size is in [0, 1]: no leverage.
3. Stop-loss and take-profit are fractions of the entry fill price (0 = none), live from the bar
   after the entry bar. Each bar they are checked first against the open (a gap through a level
   fills at the open) and then intrabar against low/high. If a bar touches both, the stop-loss wins
   (the conservative assumption, since the path inside a bar is unknown). Stop-loss exits pay taker
   fee + slippage; take-profit exits are limit orders (maker fee, no slippage) unless the cost model
   says otherwise (costs.py). A target change at an open takes precedence over a level gapped
   through at that same open (both exit at the open).
4. After a stop or take-profit exit the strategy stays flat until its target changes; a new
   target (including 0 and back) re-arms it.
5. Funding: a rate stamped at time T is paid at the open of the bar starting at T (inputs.py aligns
   it) on the position carried into that bar: payment = rate * units * open, so a long pays positive
   funding and a short receives it. Funding moves cash, hence equity and later position sizes.
6. Equity is marked at every close. A position still open at the last bar is valued at the last
   close without an exit fee and counts as a trade. An account whose equity reaches zero is
   liquidated and trades no more.
Fills, fees, cash and short debt are computed by vectorbt's order executor, so order records are
vectorbt's own (`to_vectorbt` rebuilds a `vectorbt.Portfolio` from them; funding is not part of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.backtest.compiled import kernel
from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.inputs import Bars, align_funding, per_column, period_ids, prepare_bars, targets_array
from quant_organism.backtest.metric_table import metrics_frame

INIT_CASH = 10_000.0
EXIT_REASONS = {
    kernel.EXIT_OPEN: "open",
    kernel.EXIT_SIGNAL: "signal",
    kernel.EXIT_STOP_LOSS: "stop_loss",
    kernel.EXIT_TAKE_PROFIT: "take_profit",
    kernel.EXIT_BANKRUPT: "bankrupt",
}


@dataclass(frozen=True)
class Market:
    """Validated bars with funding and sub-period ids: prepared once, reused for every chunk."""

    bars: Bars
    funding: np.ndarray
    period_ids: np.ndarray
    n_periods: int

    @classmethod
    def prepare(
        cls,
        ohlcv: pd.DataFrame,
        funding: pd.Series | pd.DataFrame | np.ndarray | None = None,
        consistency_period: str | int = "W",
        bars_per_year: float | None = None,
    ) -> "Market":
        bars = prepare_bars(ohlcv, bars_per_year)
        ids, count = period_ids(bars, consistency_period)
        return cls(bars, align_funding(funding, bars), ids, count)


@dataclass(frozen=True)
class Params:
    """Per-column risk genes, checked: stop_loss, take_profit (fractions, 0 = none), position_size."""

    stop_loss: np.ndarray
    take_profit: np.ndarray
    position_size: np.ndarray

    @classmethod
    def of(cls, n_columns: int, stop_loss=0.0, take_profit=0.0, position_size=1.0) -> "Params":
        return cls(
            per_column(stop_loss, n_columns, "stop_loss", 0.0, 1.0),
            per_column(take_profit, n_columns, "take_profit", 0.0, 100.0),
            per_column(position_size, n_columns, "position_size", 0.0, 1.0),
        )


@dataclass(frozen=True)
class RawRun:
    """What the kernel returned: the metric matrix, plus detail arrays when asked for."""

    metrics: np.ndarray
    equity: np.ndarray | None = None
    position: np.ndarray | None = None
    orders: np.ndarray | None = None
    trades: np.ndarray | None = None


def simulate(
    market: Market,
    targets: np.ndarray,
    params: Params,
    costs: CostModel,
    init_cash: float = INIT_CASH,
    detail: bool = False,
) -> RawRun:
    """Run the kernel on int8 targets (bars x columns) for all columns in one call."""
    n, m = targets.shape
    if n != len(market.bars):
        raise ValueError(f"targets have {n} rows but the market has {len(market.bars)} bars")
    if detail:
        equity = np.empty((n, m), order="F")
        position = np.empty((n, m), order="F")
        orders = kernel.empty_order_records(2 * n * m)
        trades = kernel.empty_trade_records(n * m)
    else:
        equity = position = np.empty((0, 0), order="F")
        orders = kernel.empty_order_records(0)
        trades = kernel.empty_trade_records(0)
    b = market.bars
    metrics, n_orders, n_trades = kernel.simulate_nb(
        b.open, b.high, b.low, b.close, market.funding, targets,
        params.stop_loss, params.take_profit, params.position_size,
        float(costs.taker_fee), float(costs.maker_fee), float(costs.slippage), costs.take_profit_order == "limit",
        float(init_cash), market.period_ids, market.n_periods, b.bars_per_year, detail,
        equity, position, orders, trades,
    )  # fmt: skip
    if not detail:
        return RawRun(metrics)
    return RawRun(metrics, equity, position, orders[:n_orders], trades[:n_trades])


def fused_sim(market: Market, params: Params, costs: CostModel, init_cash: float = INIT_CASH) -> tuple:
    """The market, risk genes and costs in the order the fused kernel passes them on (fused.py)."""
    b = market.bars
    return (
        b.open, b.high, b.low, b.close, market.funding, params.stop_loss, params.take_profit, params.position_size,
        float(costs.taker_fee), float(costs.maker_fee), float(costs.slippage), costs.take_profit_order == "limit",
        float(init_cash), market.period_ids, market.n_periods, float(b.bars_per_year),
    )  # fmt: skip


@dataclass(frozen=True)
class BacktestResult:
    """A detailed run: per-column metrics, per-bar equity and position (units), trades and orders."""

    metrics: pd.DataFrame
    equity: pd.DataFrame
    position: pd.DataFrame
    trades: pd.DataFrame
    orders: np.ndarray  # vectorbt order records (vectorbt.portfolio.enums.order_dt)
    close: pd.Series
    init_cash: float

    @property
    def returns(self) -> pd.DataFrame:
        """Per-bar returns of each column's equity, the first bar measured from the initial cash."""
        prev = self.equity.shift(1)
        prev.iloc[0] = self.init_cash
        return self.equity / prev - 1.0

    def to_vectorbt(self):
        """The same fills as a `vectorbt.Portfolio` (without funding, which vectorbt cannot book)."""
        import vectorbt as vbt
        from vectorbt.portfolio.enums import log_dt

        wrapper = vbt.base.array_wrapper.ArrayWrapper(self.equity.index, self.equity.columns, ndim=2)
        close = np.broadcast_to(self.close.to_numpy()[:, None], self.equity.shape)
        return vbt.Portfolio(
            wrapper,
            close,
            self.orders,
            np.empty(0, dtype=log_dt),
            np.full(self.equity.shape[1], self.init_cash),
            cash_sharing=False,
        )


def run_backtest(
    ohlcv: pd.DataFrame,
    signals: pd.DataFrame | pd.Series,
    *,
    stop_loss=0.0,
    take_profit=0.0,
    position_size=1.0,
    funding: pd.Series | pd.DataFrame | np.ndarray | None = None,
    costs: CostModel = CostModel(),
    consistency_period: str | int = "W",
    bars_per_year: float | None = None,
    init_cash: float = INIT_CASH,
) -> BacktestResult:
    """Backtest a few signal columns in detail (per-bar equity, trades, orders): for inspection and tests.

    For many columns use `evaluate_signals`, which returns metrics only and runs in bounded memory.
    """
    frame = signals.to_frame() if isinstance(signals, pd.Series) else signals
    market = Market.prepare(ohlcv, funding, consistency_period, bars_per_year)
    targets = targets_array(frame, market.bars)
    columns = frame.columns if isinstance(frame, pd.DataFrame) else pd.RangeIndex(targets.shape[1])
    params = Params.of(targets.shape[1], stop_loss, take_profit, position_size)
    raw = simulate(market, targets, params, costs, init_cash, detail=True)
    index = market.bars.index
    return BacktestResult(
        metrics=metrics_frame(raw.metrics, columns),
        equity=pd.DataFrame(raw.equity, index=index, columns=columns),
        position=pd.DataFrame(raw.position, index=index, columns=columns),
        trades=trades_table(raw.trades, index, columns),
        orders=raw.orders,
        close=pd.Series(market.bars.close, index=index),
        init_cash=float(init_cash),
    )


def trades_table(records: np.ndarray, index: pd.Index, columns) -> pd.DataFrame:
    """The kernel's trade records (`kernel.trade_dt`) as a table: each trade's column name after its column number,
    its exit reason in words, and its entry and exit times from the bars' index (one frame built once)."""
    data: dict = {}
    for name in records.dtype.names:
        data[name] = records[name]
        if name == "col":
            data["column"] = np.asarray(columns)[records["col"]] if len(records) else []
    data["exit_reason"] = pd.Series(records["exit_reason"]).map(EXIT_REASONS).to_numpy()
    data["entry_time"] = index[records["entry_idx"]]
    data["exit_time"] = index[records["exit_idx"]]
    return pd.DataFrame(data)
