"""SMA trend filter: hold the side of the slow SMA that price is on, when the fast SMA and the slope agree.

Score: close / SMA(slow) - 1. Long when the score > entry, SMA(fast) > SMA(slow) and the slow SMA
rose by at least `filter_threshold` over `signal_period` bars; exit when the score < exit (or
undefined). Shorts mirror it. All averages end at bar t.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import TOL, Indicators, lag_columns, ratio
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions


class SmaTrendSeed(BaseSeed):
    seed_type = SeedType.SMA_TREND

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        fast = ind.matrix("sma", g.ints("fast_period"))
        slow = ind.matrix("sma", g.ints("slow_period"))
        score = ratio(bars.close[:, None], slow)
        agree = ratio(fast, slow)
        slope = ratio(slow, lag_columns(slow, g.ints("signal_period")))
        min_slope = g.row("filter_threshold")
        with np.errstate(invalid="ignore"):
            long_ok = (agree > TOL) & (slope >= min_slope - TOL)
            short_ok = (agree < -TOL) & (slope <= -min_slope + TOL)
        conditions = score_conditions(score, g.row("entry_threshold"), g.row("exit_threshold"), long_ok, short_ok)
        return hysteresis_positions(*conditions, close=bars.close)
