"""Ichimoku cloud, in its causal form only.

The classic chart draws senkou spans A and B `displacement` bars AHEAD of the bar they are computed
on, and the chikou span (the close) `displacement` bars BEHIND. Read naively off a table, both leak
the future. Here the cloud in force at bar t is the one computed at bar t - displacement (exactly
what the chart shows above bar t), and the chikou test compares close[t] with close[t -
displacement] (what the chikou line at t - displacement shows, known at t).

Lines: tenkan = midpoint of the last `fast_period` bars' high/low, kijun = same over `slow_period`,
span A = (tenkan + kijun) / 2, span B = midpoint over `senkou_period`. Long when close > cloud top *
(1 + entry), tenkan > kijun and close[t] / close[t - displacement] - 1 > filter; a long exits when
close < kijun * (1 - exit). Shorts mirror it.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class IchimokuSeed(RuleSeed):
    seed_type = SeedType.ICHIMOKU

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        periods = g.ints("fast_period"), g.ints("slow_period"), g.ints("senkou_period")
        mid, (tenkan, kijun, senkou) = ind.table("midpoint", *periods)
        args = (ind.bars.close, mid, tenkan, kijun, senkou, g.ints("signal_period"), *g.thresholds())
        return RuleInputs("ichimoku", args, ind.bars.close)
