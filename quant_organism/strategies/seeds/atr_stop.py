"""Trend entry with an ATR trailing stop (chandelier exit), computed causally.

Long when EMA(fast) > EMA(slow), close > EMA(slow) + entry * ATR(signal_period) and ATR/close >=
`filter_threshold`. A long exits when the trend flips (EMA(fast) <= EMA(slow)) or when close drops
below the highest close since entry minus exit * ATR at that bar; the running high starts at the
entry bar, so the stop only ever uses closes already seen. After a stop the side re-arms only once
its entry condition has lapsed. Shorts mirror it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import TOL, Indicators, ratio, safe_div
from ..ohlcv import Bars
from ..positions import hysteresis_positions


class AtrStopSeed(BaseSeed):
    seed_type = SeedType.ATR_STOP

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        close = bars.close[:, None]
        fast = ind.matrix("ema", g.ints("fast_period"))
        slow = ind.matrix("ema", g.ints("slow_period"))
        atr = ind.matrix("atr", g.ints("signal_period"))
        stretch = safe_div(close - slow, atr)
        trend = ratio(fast, slow)
        entry = g.row("entry_threshold")
        with np.errstate(invalid="ignore"):
            active = safe_div(atr, close) >= g.row("filter_threshold")
            up, down = trend > TOL, trend < -TOL
            long_entry = up & (stretch > entry + TOL) & active
            short_entry = down & (stretch < -entry - TOL) & active
        trail = g.row("exit_threshold") * atr
        return hysteresis_positions(long_entry, ~up, short_entry, ~down, close=bars.close, trail=trail)
