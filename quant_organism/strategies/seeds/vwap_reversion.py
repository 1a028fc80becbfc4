"""Rolling-VWAP reversion: fade closes stretched far from the volume-weighted price.

Score: -(close / VWAP - 1) / vol, where VWAP is the volume-weighted typical price of the last
`slow_period` bars (current included) and vol the std of the last `fast_period` one-bar log
returns; positive when price is stretched below VWAP. Long when the score > entry, optionally only
on volume >= `filter_threshold` x the previous `slow_period` bars' mean (capitulation); a long exits
when the score < exit (exit 0: back at VWAP) or after `signal_period` bars. Shorts mirror it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators, ratio, safe_div
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions


class VwapReversionSeed(BaseSeed):
    seed_type = SeedType.VWAP_REVERSION

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        window = g.ints("slow_period")
        deviation = ratio(bars.close[:, None], ind.matrix("vwap", window))
        score = -safe_div(deviation, ind.matrix("volatility", g.ints("fast_period")))
        vol_mult = g.row("filter_threshold")
        with np.errstate(invalid="ignore"):
            volume_ok = (vol_mult <= 0) | (bars.volume[:, None] >= vol_mult * ind.matrix("prior_volume", window))
        conditions = score_conditions(score, g.row("entry_threshold"), g.row("exit_threshold"), volume_ok, volume_ok)
        return hysteresis_positions(*conditions, close=bars.close, max_hold=g.ints("signal_period"))
