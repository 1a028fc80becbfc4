"""EMA crossover: follow the trend when the fast EMA sits far enough above (below) the slow one.

Score: spread = EMA(fast) / EMA(slow) - 1. Long when spread > entry and the slow EMA rose by at
least `filter_threshold` over the last `signal_period` bars; exit when spread < exit (or undefined).
Shorts mirror it. Both EMAs and the slope use bars <= t only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import TOL, Indicators, lag_columns, ratio
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions


class EmaCrossoverSeed(BaseSeed):
    seed_type = SeedType.EMA_CROSSOVER

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        fast = ind.matrix("ema", g.ints("fast_period"))
        slow = ind.matrix("ema", g.ints("slow_period"))
        spread = ratio(fast, slow)
        slope = ratio(slow, lag_columns(slow, g.ints("signal_period")))
        min_slope = g.row("filter_threshold")
        with np.errstate(invalid="ignore"):
            long_ok, short_ok = slope >= min_slope - TOL, slope <= -min_slope + TOL
        conditions = score_conditions(spread, g.row("entry_threshold"), g.row("exit_threshold"), long_ok, short_ok)
        return hysteresis_positions(*conditions, close=bars.close)
