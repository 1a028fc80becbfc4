"""Causal indicators, computed once per distinct period and shared by every genome of a batch.

Each function returns a float64 array the length of its input whose value at bar t depends only on
bars <= t (the kernels run strictly left to right, so a prefix of the input gives a bit-identical
prefix of the output). Bars before an indicator has a full window are NaN; seeds turn NaN into
"no position". `Indicators` memoises per (name, period) and `matrix` lays the values out as a
bars x genomes array, one column per genome, computing each distinct period only once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from . import kernels
from .ohlcv import Bars

# Comparisons of scores against thresholds add this margin, so that float rounding in indicators of
# constant prices (e.g. an EMA a hair off the price) never opens a position.
TOL = 1e-12


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def ema(x: np.ndarray, period: int) -> np.ndarray:
    """EMA with alpha 2/(period+1), seeded at the first bar; NaN for the first period-1 bars."""
    return kernels.ewm(_f64(x), 2.0 / (period + 1.0), period)


def wilder(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder smoothing (alpha 1/period), seeded at the first value; NaN for the first period-1 values."""
    return kernels.ewm(_f64(x), 1.0 / period, period)


def sma(x: np.ndarray, period: int) -> np.ndarray:
    return kernels.rolling_sum_mean(_f64(x), period, True)


def rolling_sum(x: np.ndarray, period: int) -> np.ndarray:
    return kernels.rolling_sum_mean(_f64(x), period, False)


def rolling_std(x: np.ndarray, period: int) -> np.ndarray:
    """Sample standard deviation over the last `period` values (NaN inside the window gives NaN)."""
    return kernels.rolling_std(_f64(x), period)


def rolling_max(x: np.ndarray, period: int) -> np.ndarray:
    return kernels.rolling_extreme(_f64(x), period, True)


def rolling_min(x: np.ndarray, period: int) -> np.ndarray:
    return kernels.rolling_extreme(_f64(x), period, False)


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    """x[t - lag] at t (NaN where t < lag): 'the previous `lag` bars, current one excluded'."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if lag == 0:
        out[:] = x
    elif lag < len(x):
        out[lag:] = x[:-lag]
    return out


def log_returns(close: np.ndarray) -> np.ndarray:
    out = np.full(len(close), np.nan)
    out[1:] = np.diff(np.log(close))
    return out


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder RSI in [0, 100]; NaN until `period` changes are seen and wherever nothing has moved."""
    out = np.full(len(close), np.nan)
    if len(close) < 2:
        return out
    change = np.diff(close)
    gain = wilder(np.maximum(change, 0.0), period)
    loss = wilder(np.maximum(-change, 0.0), period)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.where(total > 0, 100.0 * gain / total, np.nan)
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = shift(close, 1)
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))  # fmax: bar 0 has no prev
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    return wilder(true_range(high, low, close), period)


def midpoint(high: np.ndarray, low: np.ndarray, period: int) -> np.ndarray:
    """(highest high + lowest low) / 2 over the last `period` bars, current bar included (Ichimoku lines)."""
    return (rolling_max(high, period) + rolling_min(low, period)) / 2.0


def rolling_vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, period: int) -> np.ndarray:
    """Volume-weighted typical price over the last `period` bars; NaN where that volume is zero."""
    typical = (high + low + close) / 3.0
    num = rolling_sum(typical * volume, period)
    den = rolling_sum(volume, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b - 1, NaN where b is not positive (so a vanished denominator never looks like a signal)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b - 1.0, np.nan)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is not positive."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b, np.nan)


def lag_columns(matrix: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Column g shifted down by lags[g] bars (NaN-filled): each genome looks back its own distance."""
    out = np.full(matrix.shape, np.nan)
    for lag in np.unique(lags):
        cols = np.flatnonzero(lags == lag)
        lag = int(lag)
        if lag == 0:
            out[:, cols] = matrix[:, cols]
        elif lag < matrix.shape[0]:
            out[lag:, cols] = matrix[:-lag, cols]
    return out


class Indicators:
    """Memoised indicators of one set of bars, laid out per genome by `matrix`."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self._memo: dict[Hashable, np.ndarray] = {}

    def cached(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def matrix(self, name: str, *params: Sequence[int] | np.ndarray) -> np.ndarray:
        """bars x genomes: column g is indicator `name` with the g-th value of each parameter array."""
        keys = list(zip(*(np.asarray(p, dtype=np.int64).tolist() for p in params)))
        distinct = sorted(set(keys))
        position = {key: i for i, key in enumerate(distinct)}
        method = getattr(self, name)
        columns = np.column_stack([method(*key) for key in distinct])
        return columns[:, [position[key] for key in keys]]

    # --- the indicators seeds use, one cache entry per parameter set ---------------------
    @property
    def returns(self) -> np.ndarray:
        return self.cached("returns", lambda: log_returns(self.bars.close))

    def ema(self, period: int) -> np.ndarray:
        return self.cached(("ema", period), lambda: ema(self.bars.close, period))

    def sma(self, period: int) -> np.ndarray:
        return self.cached(("sma", period), lambda: sma(self.bars.close, period))

    def rsi(self, period: int) -> np.ndarray:
        return self.cached(("rsi", period), lambda: rsi(self.bars.close, period))

    def atr(self, period: int) -> np.ndarray:
        b = self.bars
        return self.cached(("atr", period), lambda: atr(b.high, b.low, b.close, period))

    def volatility(self, period: int) -> np.ndarray:
        """Sample std of the last `period` one-bar log returns (bar t's return included)."""
        return self.cached(("vol", period), lambda: rolling_std(self.returns, period))

    def momentum(self, period: int) -> np.ndarray:
        """close[t] / close[t - period] - 1."""
        c = self.bars.close
        return self.cached(("mom", period), lambda: ratio(c, shift(c, period)))

    def prior_high(self, period: int) -> np.ndarray:
        """Highest high of the previous `period` bars, current bar excluded."""
        return self.cached(("prior_high", period), lambda: shift(rolling_max(self.bars.high, period), 1))

    def prior_low(self, period: int) -> np.ndarray:
        """Lowest low of the previous `period` bars, current bar excluded."""
        return self.cached(("prior_low", period), lambda: shift(rolling_min(self.bars.low, period), 1))

    def prior_volume(self, period: int) -> np.ndarray:
        """Mean volume of the previous `period` bars, current bar excluded."""
        return self.cached(("prior_volume", period), lambda: shift(sma(self.bars.volume, period), 1))

    def midpoint(self, period: int) -> np.ndarray:
        b = self.bars
        return self.cached(("mid", period), lambda: midpoint(b.high, b.low, period))

    def vwap(self, period: int) -> np.ndarray:
        b = self.bars
        return self.cached(("vwap", period), lambda: rolling_vwap(b.high, b.low, b.close, b.volume, period))

    def stochastic_k(self, period: int) -> np.ndarray:
        """%K in [0, 100] over the last `period` bars (current included); NaN when the range is zero."""
        b = self.bars

        def compute() -> np.ndarray:
            hh, ll = rolling_max(b.high, period), rolling_min(b.low, period)
            return 100.0 * safe_div(b.close - ll, hh - ll)

        return self.cached(("stoch_k", period), compute)

    def stochastic_d(self, k_period: int, d_period: int) -> np.ndarray:
        return self.cached(("stoch_d", k_period, d_period), lambda: sma(self.stochastic_k(k_period), d_period))

    def funding_mean(self, period: int) -> np.ndarray:
        if self.bars.funding is None:
            raise ValueError("funding_rate column is required for funding indicators")
        return self.cached(("funding", period), lambda: sma(self.bars.funding, period))
