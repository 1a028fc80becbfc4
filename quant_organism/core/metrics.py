"""Performance figures under one convention: the only place the package defines a Sharpe ratio, a Sortino
ratio, a drawdown, a consistency share, a year or an annualisation.

The convention (test_metrics.py pins it):
- **Returns** are simple per-period returns, equity[t] / equity[t-1] - 1; a path starts from its initial
  capital, so its first return is measured against it. Callers drop or fill missing returns themselves:
  a missing bar means something different to a backtest (flat) and to a forward record (no bar).
- **Sharpe** = mean / sample std (ddof=1) × sqrt(periods per year). It is 0 with fewer than two returns
  or a (numerically) zero variance: a variance at most 1e-12 of the mean square, which is what rounding
  leaves of a constant series whose sums were accumulated in floating point. A per-period Sharpe (the
  deflated Sharpe, PBO, the superiority test) is the same with periods_per_year = 1.
- **Sortino** = mean / root mean square of the negative returns (over all n returns) × sqrt(periods per
  year), vectorbt's definition; 0 without a losing period or with fewer than two returns.
- **Max drawdown** = the largest fall from a running equity peak, a positive fraction (0.25 = -25%); the
  initial capital counts as a peak, so a path that only loses has a drawdown from its start.
- **Consistency** = the share of sub-periods (weeks, say) whose compounded return is positive.
- **A year** is 365 days (crypto trades every day): 8,760 hourly bars, 2,190 four-hour bars, 365 days.
  Bars per year of a series come from its median bar spacing.

The formulas are compiled (numba) so that the backtest kernel scores each column with these very
functions; the plain-Python entry points below run the same code on a return series. Editing this file
invalidates the kernels that call it: they stamp their numba cache with this file's source.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_organism.core.compiled.metric_kernels import path_figures_nb, sharpe_from_sums

YEAR = pd.Timedelta(days=365)
DAYS_PER_YEAR = 365.0
HOURS_PER_YEAR = 8760.0


def figures(returns: Any, periods_per_year: float = 1.0, period_ids: np.ndarray | None = None) -> dict[str, float]:
    """total_return, sharpe, sortino, max_drawdown and consistency of one return series (the convention above).

    `period_ids` number the consistency sub-periods per return (default: the whole series is one).
    """
    values = _returns(returns)
    ids = np.zeros(len(values), dtype=np.int64) if period_ids is None else np.asarray(period_ids, dtype=np.int64)
    if ids.shape != values.shape or (len(ids) and (ids[0] != 0 or np.any(np.diff(ids) < 0))):
        raise ValueError("period_ids must number the returns' sub-periods 0, 1, ... in order, one per return")
    n_periods = int(ids[-1]) + 1 if len(ids) else 0
    equity = np.cumprod(1.0 + values)
    total, sharpe_, sortino, drawdown, consistency = path_figures_nb(equity, 1.0, ids, n_periods, float(periods_per_year))
    return {
        "total_return": float(total),
        "sharpe": float(sharpe_),
        "sortino": float(sortino),
        "max_drawdown": float(drawdown),
        "consistency": float(consistency),
    }


def sharpe(returns: Any, periods_per_year: float = 1.0) -> float | np.ndarray:
    """Sharpe of a return series, or of each column of a (periods x series) matrix; per period by default."""
    values = np.asarray(getattr(returns, "to_numpy", lambda: returns)(), dtype=np.float64)
    if values.ndim not in (1, 2):
        raise ValueError(f"returns must be 1-d or 2-d, got shape {values.shape}")
    n = float(values.shape[0])
    result = sharpe_from_sums(values.sum(axis=0), (values * values).sum(axis=0), n, float(periods_per_year))
    return float(result) if values.ndim == 1 else np.asarray(result)


def block_sharpes(equity: np.ndarray, start: float, blocks: int, periods_per_year: float) -> np.ndarray:
    """Annualised Sharpe of each of `blocks` contiguous, near-equal blocks of bars (blocks x columns), from equity
    paths marked per bar (bars x columns) that start from `start`: each bar's return belongs to the block of its
    bar, the first measured against `start`, as every path here is."""
    marks = np.asarray(equity, dtype=np.float64)
    if not 1 <= blocks <= marks.shape[0] // 2:
        raise ValueError(f"{blocks} blocks of {marks.shape[0]} bars: each block needs at least two")
    previous = np.vstack([np.full((1, marks.shape[1]), float(start)), marks[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0.0, marks / previous - 1.0, 0.0)
    edges = np.linspace(0, marks.shape[0], blocks + 1).astype(np.int64)[:-1]
    counts = np.diff(np.append(edges, marks.shape[0])).astype(np.float64)[:, None]
    total, total_sq = np.add.reduceat(returns, edges, axis=0), np.add.reduceat(returns * returns, edges, axis=0)
    return np.asarray(sharpe_from_sums(total, total_sq, counts, float(periods_per_year)))


def max_drawdown(returns: Any) -> float:
    """Largest fall from a running peak of the compounded returns, the initial capital included."""
    return figures(returns)["max_drawdown"]


def total_return(returns: Any) -> float:
    """The compounded return of the series."""
    return float(np.prod(1.0 + _returns(returns)) - 1.0)


def growth(returns: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Equity multiple after each period, starting from 1 (missing returns count as flat)."""
    return (1.0 + returns.fillna(0.0)).cumprod()


def bars_per_year(index: pd.Index, default: float | None = None) -> float:
    """Bars per year from the median bar spacing (8,760 for hourly bars); `default` (else an error) when
    the index has no spacing to read (fewer than two increasing timestamps)."""
    step = _regular_step(index)
    if step is None:
        step = pd.Series(index).diff().median() if len(index) > 1 else None
    if not isinstance(step, pd.Timedelta) or step <= pd.Timedelta(0):
        if default is not None:
            return float(default)
        raise ValueError("cannot derive the bar interval: need at least 2 increasing timestamps")
    return float(YEAR / step)


def _regular_step(index: pd.Index) -> pd.Timedelta | None:
    """The spacing of a time index on a regular grid (every step equal, so it is the median too), else None.
    pandas' median of the steps costs 0.4 ms on a year of hourly bars, a check of the raw steps 0.02 ms."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    steps = np.diff(index.asi8)
    if steps[0] <= 0 or not (steps == steps[0]).all():
        return None
    return index[1] - index[0]


def periods_per_year(interval: str) -> float:
    """Bars per year of a candle interval such as "1h", "4h", "1d" or "15m"."""
    step = pd.Timedelta(interval)
    if step <= pd.Timedelta(0):
        raise ValueError(f"a candle interval must be positive, got {interval!r}")
    return float(YEAR / step)


def _returns(returns: Any) -> np.ndarray:
    values = np.ascontiguousarray(np.asarray(getattr(returns, "to_numpy", lambda: returns)(), dtype=np.float64))
    if values.ndim != 1:
        raise ValueError(f"returns must be a 1-d series, got shape {values.shape}")
    return values
