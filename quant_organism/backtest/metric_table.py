"""Per-strategy performance metrics: their names, meanings and a frame of them.

The numbers are computed in the compiled kernel (kernel.py) while each column is simulated:
- total_return, sharpe, sortino, max_drawdown, consistency: core/metrics.py's figures of the per-bar
  equity path from the initial cash, under its one convention (Sharpe and Sortino annualised by the
  bar interval, 8,760 bars a year for 1h; 0 without variance, e.g. never traded; consistency over
  calendar weeks by default);
- win_rate: share of trades with positive PnL (fees and funding included); NaN without trades;
- trade_count: round trips, including one still open at the end;
- turnover: traded notional over the equity at each fill, summed and annualised (times per year);
- exposure: share of bars closing with an open position;
- profit_factor: gross profit / gross loss of trades; inf with no losing trade, NaN without trades;
- fees, funding: totals paid as fractions of the initial cash (negative funding = received).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_organism.backtest.compiled import kernel

METRICS: tuple[str, ...] = (
    "total_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "trade_count",
    "turnover",
    "exposure",
    "profit_factor",
    "consistency",
    "fees",
    "funding",
)
assert len(METRICS) == kernel.N_METRICS


def metrics_frame(matrix: np.ndarray, columns) -> pd.DataFrame:
    """The kernel's metric matrix (columns x metrics) as a frame indexed by signal column."""
    frame = pd.DataFrame(matrix, index=pd.Index(columns), columns=list(METRICS))
    frame["trade_count"] = frame["trade_count"].astype(np.int64)
    return frame


def equity_metrics(
    equity: pd.Series | np.ndarray,
    init_cash: float,
    bars_per_year: float,
    period_ids: np.ndarray | None = None,
    in_position: np.ndarray | None = None,
) -> dict[str, float]:
    """Return-based metrics of an equity curve (marked at bar closes) computed by the kernel's own code.

    For callers holding an equity path from elsewhere (paper trading, replays). `period_ids` numbers
    the consistency sub-periods per bar (default: the whole path is one period).
    """
    values = np.ascontiguousarray(np.asarray(equity, dtype=np.float64))
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("equity must be a non-empty 1-d series")
    ids = np.zeros(len(values), dtype=np.int64) if period_ids is None else np.asarray(period_ids, dtype=np.int64)
    if ids.shape != values.shape or np.any(np.diff(ids) < 0) or ids[0] != 0:
        raise ValueError("period_ids must number the bars' sub-periods 0, 1, ... in order, one per bar")
    exposure_bars = int(np.count_nonzero(in_position)) if in_position is not None else 0
    out = np.full(kernel.N_METRICS, np.nan)
    kernel.equity_metrics_nb(values, float(init_cash), exposure_bars, ids, int(ids[-1]) + 1, float(bars_per_year), out)
    names = ("total_return", "sharpe", "sortino", "max_drawdown", "consistency", "exposure")
    return {name: float(out[METRICS.index(name)]) for name in names}
