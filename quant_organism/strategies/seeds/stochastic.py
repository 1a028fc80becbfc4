"""Stochastic oscillator reversal: %K crossing %D inside the oversold / overbought zone.

%K = 100 * (close - lowest low) / (highest high - lowest low) over the last `fast_period` bars
(current bar included; undefined when the range is zero), %D = SMA(%K, signal_period). Long on the
bar %K crosses above %D while %D < 50 - entry, if close >= SMA(slow) * (1 - filter); a long exits
when %K > 50 - exit (with exit = -30: above 80). Shorts mirror it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import TOL, Indicators, lag_columns
from ..ohlcv import Bars
from ..positions import hysteresis_positions
from .rsi_filter import trend_permits


class StochasticSeed(BaseSeed):
    seed_type = SeedType.STOCHASTIC

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        k_period = g.ints("fast_period")
        k = ind.matrix("stochastic_k", k_period)
        d = ind.matrix("stochastic_d", k_period, g.ints("signal_period"))
        one = np.ones(len(genes), dtype=np.int64)
        k_prev, d_prev = lag_columns(k, one), lag_columns(d, one)
        entry, exit_ = g.row("entry_threshold"), g.row("exit_threshold")
        long_ok, short_ok = trend_permits(bars, ind, g)
        with np.errstate(invalid="ignore"):
            cross_up = (k > d) & (k_prev <= d_prev)
            cross_down = (k < d) & (k_prev >= d_prev)
            long_entry = cross_up & (50.0 - d > entry + TOL) & long_ok
            short_entry = cross_down & (d - 50.0 > entry + TOL) & short_ok
            long_exit = ~(50.0 - k >= exit_)
            short_exit = ~(k - 50.0 >= exit_)
        return hysteresis_positions(long_entry, long_exit, short_entry, short_exit, close=bars.close)
