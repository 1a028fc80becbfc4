"""EMA crossover: follow the trend when the fast EMA sits far enough above (below) the slow one.

Score: spread = EMA(fast) / EMA(slow) - 1. Long when spread > entry and the slow EMA rose by at
least `filter_threshold` over the last `signal_period` bars; exit when spread < exit (or undefined).
Shorts mirror it. Both EMAs and the slope use bars <= t only.
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


class EmaCrossoverSeed(BaseSeed):
    seed_type = SeedType.EMA_CROSSOVER

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        ema, (fast, slow) = ind.table("ema", g.ints("fast_period"), g.ints("slow_period"))
        cond = rules.new_conditions(len(genes), bars.n)
        rules.ema_crossover(
            bars.close, ema, fast, slow, g.ints("signal_period"),
            g.floats("entry_threshold"), g.floats("exit_threshold"), g.floats("filter_threshold"), cond,
        )  # fmt: skip
        return track_positions(cond, bars.close).T
