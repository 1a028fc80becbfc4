"""RSI mean reversion with a trend filter: buy oversold dips, sell overbought rallies.

Score: 50 - RSI(fast_period) (Wilder), positive when oversold. Long when RSI < 50 - entry and close
>= SMA(slow) * (1 - filter): with a small filter it only buys dips in an uptrend (Connors style),
with filter 0.5 the trend is ignored. A long exits when RSI > 50 - exit or after `signal_period`
bars (time stop). Shorts mirror it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators, ratio
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions


def trend_permits(bars: Bars, ind: Indicators, g: GeneColumns) -> tuple[np.ndarray, np.ndarray]:
    """(long_ok, short_ok): close within `filter_threshold` of the slow SMA on the trade's side."""
    gap = ratio(bars.close[:, None], ind.matrix("sma", g.ints("slow_period")))
    tolerance = g.row("filter_threshold")
    with np.errstate(invalid="ignore"):
        return gap >= -tolerance, gap <= tolerance


class RsiFilterSeed(BaseSeed):
    seed_type = SeedType.RSI_FILTER

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        score = 50.0 - ind.matrix("rsi", g.ints("fast_period"))
        long_ok, short_ok = trend_permits(bars, ind, g)
        conditions = score_conditions(score, g.row("entry_threshold"), g.row("exit_threshold"), long_ok, short_ok)
        return hysteresis_positions(*conditions, close=bars.close, max_hold=g.ints("signal_period"))
