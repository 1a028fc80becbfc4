"""A deployment paper-traded over a span it was never chosen on: the forward record of the retrospective.

`trade_forward` runs the given strategies (each with its allocation) through the very runtime the paper
asset uses: the engine with its paper books, the backtest's sizing, the portfolio's risk controls, a
DuckDB ledger (temporary), then the same parity check as `runtime/paper_performance` (every book against
the vectorised backtest of the same bars, up to the first risk control that acted on it). The capital not
allocated stays in cash and earns nothing. History before `start` only warms the signals up.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.backtest import CostModel
from quant_organism.catalog import StrategyConfig
from quant_organism.core import metrics
from quant_organism.runtime.ledger import PaperLedger, PaperTrader
from quant_organism.runtime.paper_engine import StrategyRuntimeEngine
from quant_organism.runtime.parity import ledger_parity
from quant_organism.runtime.policy import RuntimePolicy
from quant_organism.runtime.risk import RiskLimits
from quant_organism.runtime.weekly_stop import WeeklyStop


@dataclass
class ForwardRecord:
    """What a portfolio earned over a span: per-bar returns of the whole capital and what trading cost."""

    returns: pd.Series  # per-bar return of the whole capital (cash included), indexed by bar close time's bar
    trades: int = 0
    costs: float = 0.0  # fees and funding paid, as a fraction of the capital
    turnover: float = 0.0  # traded notional over the capital
    parity_problems: list[str] = field(default_factory=list)
    books_checked: int = 0
    strategy_returns: pd.DataFrame = field(default_factory=pd.DataFrame)  # per strategy, on its own sleeve

    @property
    def total_return(self) -> float:
        return metrics.total_return(self.returns)

    @property
    def max_drawdown(self) -> float:
        return metrics.max_drawdown(self.returns)

    @property
    def parity_ok(self) -> bool:
        return not self.parity_problems


def flat_record(index: pd.DatetimeIndex) -> ForwardRecord:
    """Cash: zero return on every bar."""
    return ForwardRecord(pd.Series(0.0, index=index, dtype=np.float64))


def span_index(frames: Mapping[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The union of the coins' bar times in [start, end)."""
    parts = [f.index[(f.index >= start) & (f.index < end)] for f in frames.values()]
    if not parts:
        return pd.DatetimeIndex([], tz="UTC")
    union = parts[0]
    for part in parts[1:]:
        union = union.union(part)
    return union


def trade_forward(
    configs: Sequence[StrategyConfig],
    frames: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    costs: CostModel = CostModel(),
    risk: RiskLimits | None = None,
    weekly_stops: Mapping[str, WeeklyStop] | None = None,
) -> ForwardRecord:
    """Paper-trade `configs` (allocations set; they sum to at most 1) on the bars of [start, end); `weekly_stops`:
    the probation sleeves' stops (runtime/weekly_stop.py)."""
    index = span_index(frames, start, end)
    live = [c for c in configs if (c.allocation or 0.0) > 0.0]
    if not live or len(index) == 0:
        return flat_record(index)
    cut = {coin: f.loc[f.index < end] for coin, f in frames.items()}
    engine = StrategyRuntimeEngine(
        live, policy=RuntimePolicy.backtest_parity(), costs=costs, coins=sorted(cut), signal_mode="precomputed",
        risk=RiskLimits() if risk is None else risk, weekly_stops=weekly_stops,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="qo-forward-") as tmp:
        ledger = PaperLedger(Path(tmp) / "forward.duckdb")
        summary = PaperTrader(engine, ledger).run(cut, start=start, end=end)
        until = first_interventions(ledger, [c.name for c in live])
        parity = ledger_parity(ledger, live, lambda c, coin: cut.get(coin), costs, until=until)
    result = summary.result
    marks = result.marks_frame()
    initial = {key: book.state.initial_cash for key, book in engine.books.items()}
    books = result.equity(marks).ffill()
    books = books.fillna({key: initial[key] for key in books.columns}).reindex(index).ffill()
    books = books.fillna({key: initial[key] for key in books.columns})
    allocated = sum(initial.values())
    equity = books.sum(axis=1) + (engine.capital - allocated)
    previous = equity.shift(1).fillna(engine.capital)
    returns = (equity / previous - 1.0).astype(np.float64)
    per_strategy = {}
    for name in books.columns.get_level_values(0).unique():
        sleeve = books[name].sum(axis=1)
        base = sum(v for (s, _), v in initial.items() if s == name)
        per_strategy[name] = sleeve / sleeve.shift(1).fillna(base) - 1.0
    fees = float(marks["fees"].sum()) if len(marks) else 0.0
    funding = float(marks["funding"].sum()) if len(marks) else 0.0
    notional = sum(abs(f.units) * f.price for f in result.fills)
    problems = [f"{b.strategy} {b.coin}: {p}" for b in parity for p in b.problems]
    return ForwardRecord(
        returns=returns, trades=len(result.trades) + len(result.open_trades), costs=(fees + max(funding, 0.0)) / engine.capital,
        turnover=float(notional / engine.capital), parity_problems=problems, books_checked=len(parity),
        strategy_returns=pd.DataFrame(per_strategy).astype(np.float64),
    )  # fmt: skip


def buy_and_hold_record(frames: Mapping[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp) -> ForwardRecord:
    """Equal capital in every coin at the last close before `start`, held to the end (no rebalancing, no costs)."""
    index = span_index(frames, start, end)
    if len(index) == 0:
        return flat_record(index)
    growth = []
    for frame in frames.values():
        before = frame.loc[frame.index < start, "close"]
        inside = frame.loc[(frame.index >= start) & (frame.index < end), "close"]
        if before.empty or inside.empty:
            continue
        growth.append((inside / float(before.iloc[-1])).reindex(index).ffill().fillna(1.0))
    if not growth:
        return flat_record(index)
    equity = pd.concat(growth, axis=1).mean(axis=1)
    returns = equity / equity.shift(1).fillna(1.0) - 1.0
    return ForwardRecord(returns.astype(np.float64))


def first_interventions(ledger: PaperLedger, names: Iterable[str]) -> dict[tuple[str, str], pd.Timestamp]:
    """(strategy, coin) -> the bar of the first risk control that acted on that book (breakers act on all):
    from the next bar on the book deliberately differs from the backtest (parity is judged up to there)."""
    events = ledger.risk_events()
    events = events[events["kind"] != "reset"] if len(events) else events
    out: dict[tuple[str, str], pd.Timestamp] = {}
    if events.empty:
        return out
    books = ledger.table("books")
    wanted = set(names)
    for strategy, coin in books[["strategy", "coin"]].itertuples(index=False):
        if strategy not in wanted:
            continue
        mine = events[
            ((events["strategy"] == strategy) | (events["strategy"] == "*"))
            & ((events["coin"] == coin) | (events["coin"] == "*"))
        ]
        if len(mine):
            out[(strategy, coin)] = pd.Timestamp(mine["bar_time"].min())
    return out


__all__ = ["ForwardRecord", "buy_and_hold_record", "first_interventions", "flat_record",
           "span_index", "trade_forward"]  # fmt: skip
