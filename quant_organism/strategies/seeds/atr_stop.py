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

from .. import rules
from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators
from ..ohlcv import Bars
from ..positions import track_positions


class AtrStopSeed(BaseSeed):
    seed_type = SeedType.ATR_STOP

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        ema, (fast, slow) = ind.table("ema", g.ints("fast_period"), g.ints("slow_period"))
        atr, (atr_row,) = ind.table("atr", g.ints("signal_period"))
        cond = rules.new_conditions(len(genes), bars.n)
        rules.atr_stop(bars.close, ema, fast, slow, atr, atr_row, g.floats("entry_threshold"), g.floats("filter_threshold"), cond)
        return track_positions(cond, bars.close, trail_scale=atr, trail_row=atr_row, trail_mult=g.floats("exit_threshold")).T
