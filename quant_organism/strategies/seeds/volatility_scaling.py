"""Volatility-targeted trend: ride momentum while realised volatility stays near its baseline.

Score: log(close[t] / close[t - signal_period]) / (baseline vol * sqrt(signal_period)), a momentum
t-statistic, with baseline vol the std of the last `slow_period` one-bar log returns. Long when the
score > entry, short when < -entry, exit when the score falls back past exit. Volatility target with
discrete positions: whenever the short-window vol (last `fast_period` returns) exceeds
`filter_threshold` x the baseline, the seed goes and stays flat. Vols use returns up to bar t only.
"""

from __future__ import annotations

import numpy as np

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class VolatilityScalingSeed(RuleSeed):
    seed_type = SeedType.VOLATILITY_SCALING

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        lookback = g.ints("signal_period")
        vol, (baseline_row, short_row) = ind.table("volatility", g.ints("slow_period"), g.ints("fast_period"))
        growth, (growth_row,) = ind.table("log_momentum", lookback)
        args = (ind.bars.close, vol, baseline_row, short_row, growth, growth_row, np.sqrt(lookback), *g.thresholds())
        return RuleInputs("volatility_scaling", args, ind.bars.close)
