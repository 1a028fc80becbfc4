"""Stochastic oscillator reversal: %K crossing %D inside the oversold / overbought zone.

%K = 100 * (close - lowest low) / (highest high - lowest low) over the last `fast_period` bars
(current bar included; undefined when the range is zero), %D = SMA(%K, signal_period). Long on the
bar %K crosses above %D while %D < 50 - entry, if close >= SMA(slow) * (1 - filter); a long exits
when %K > 50 - exit (with exit = -30: above 80). Shorts mirror it.
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


class StochasticSeed(BaseSeed):
    seed_type = SeedType.STOCHASTIC

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        k_period = g.ints("fast_period")
        k, (k_row,) = ind.table("stochastic_k", k_period)
        d, d_row = ind.stochastic_d_table(k_period, g.ints("signal_period"))
        sma, (sma_row,) = ind.table("sma", g.ints("slow_period"))
        cond = rules.new_conditions(len(genes), bars.n)
        rules.stochastic(
            bars.close, k, k_row, d, d_row, sma, sma_row,
            g.floats("entry_threshold"), g.floats("exit_threshold"), g.floats("filter_threshold"), cond,
        )  # fmt: skip
        return track_positions(cond, bars.close).T
