"""Donchian breakout (turtle style): enter on a close beyond the previous N bars' range.

The entry channel is the highest high / lowest low of the previous `slow_period` bars, EXCLUDING the
current bar (a bar cannot break out of a range that already contains it). Long when close >
upper * (1 + entry), optionally only on volume >= `filter_threshold` x the mean of the previous
`signal_period` bars. A long exits when close < the previous `fast_period` bars' lowest low *
(1 - exit); shorts mirror it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import TOL, Indicators, ratio
from ..ohlcv import Bars
from ..positions import hysteresis_positions


class DonchianBreakoutSeed(BaseSeed):
    seed_type = SeedType.DONCHIAN_BREAKOUT

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        close = bars.close[:, None]
        slow, fast = g.ints("slow_period"), g.ints("fast_period")
        entry, exit_, vol_mult = g.row("entry_threshold"), g.row("exit_threshold"), g.row("filter_threshold")
        above = ratio(close, ind.matrix("prior_high", slow))
        below = ratio(close, ind.matrix("prior_low", slow))
        exit_low = ratio(close, ind.matrix("prior_low", fast))
        exit_high = ratio(close, ind.matrix("prior_high", fast))
        baseline = ind.matrix("prior_volume", g.ints("signal_period"))
        with np.errstate(invalid="ignore"):
            volume_ok = (vol_mult <= 0) | (bars.volume[:, None] >= vol_mult * baseline)
            long_entry = (above > entry + TOL) & volume_ok
            short_entry = (below < -entry - TOL) & volume_ok
            long_exit = ~(exit_low >= -exit_)
            short_exit = ~(exit_high <= exit_)
        return hysteresis_positions(long_entry, long_exit, short_entry, short_exit, close=bars.close)
