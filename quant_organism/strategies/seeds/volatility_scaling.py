"""Volatility-targeted trend: ride momentum while realised volatility stays near its baseline.

Score: log(close[t] / close[t - signal_period]) / (baseline vol * sqrt(signal_period)), a momentum
t-statistic, with baseline vol the std of the last `slow_period` one-bar log returns. Long when the
score > entry, short when < -entry, exit when the score falls back past exit. Volatility target with
discrete positions: whenever the short-window vol (last `fast_period` returns) exceeds
`filter_threshold` x the baseline, the seed goes and stays flat. Vols use returns up to bar t only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators, safe_div
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions


class VolatilityScalingSeed(BaseSeed):
    seed_type = SeedType.VOLATILITY_SCALING

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        lookback = g.ints("signal_period")
        baseline = ind.matrix("volatility", g.ints("slow_period"))
        growth = np.log1p(ind.matrix("momentum", lookback))
        score = safe_div(growth, baseline * np.sqrt(lookback)[None, :])
        with np.errstate(invalid="ignore"):
            calm = safe_div(ind.matrix("volatility", g.ints("fast_period")), baseline) <= g.row("filter_threshold")
        long_entry, long_exit, short_entry, short_exit = score_conditions(
            score, g.row("entry_threshold"), g.row("exit_threshold"), calm, calm
        )
        return hysteresis_positions(long_entry, long_exit | ~calm, short_entry, short_exit | ~calm, close=bars.close)
