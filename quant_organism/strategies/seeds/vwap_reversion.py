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

from .. import rules
from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators
from ..ohlcv import Bars
from ..positions import track_positions


class VwapReversionSeed(BaseSeed):
    seed_type = SeedType.VWAP_REVERSION

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        window = g.ints("slow_period")
        vwap, (vwap_row,) = ind.table("vwap", window)
        volume_mean, _ = ind.table("volume_mean", window)  # same uses, so the same rows as the VWAP
        vol, (vol_row,) = ind.table("volatility", g.ints("fast_period"))
        cond = rules.new_conditions(len(genes), bars.n)
        rules.vwap_reversion(
            bars.close, bars.volume, vwap, vwap_row, vol, vol_row, volume_mean,
            g.floats("entry_threshold"), g.floats("exit_threshold"), g.floats("filter_threshold"), cond,
        )  # fmt: skip
        return track_positions(cond, bars.close, max_hold=g.ints("signal_period")).T
